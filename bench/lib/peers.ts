/**
 * The names shared by the peers suite, its child processes, the report and the chart:
 * which libraries run, which scenarios each runs, and how a row's id says both.
 */
import type { CaseResult } from "./harness.js"

/** The libraries of the peers suite; `cache` is this one, through its Promise facade. */
export const peerLibraries = ["cache", "bentocache", "cacheable"] as const

/** One library of the peers suite. */
export type PeerLibrary = (typeof peerLibraries)[number]

/** The scenarios every library runs, in the order of the table. */
export const peerScenarios = ["l1", "l2.seq", "l2.100", "mts.seq", "mts.100"] as const

/** One scenario of the peers suite. */
export type PeerScenario = (typeof peerScenarios)[number]

/** What one operation of each scenario is, for the table and the chart. */
export const scenarioLabels: Readonly<Record<PeerScenario, string>> = {
  "l1": "L1 hit, two tiers (await get(k))",
  "l2.seq": "L2 hit, L1 of 16 entries, sequential",
  "l2.100": "L2 hit, L1 of 16 entries, 100 in flight",
  "mts.seq": "get (miss) then set, sequential",
  "mts.100": "get (miss) then set, 100 in flight"
}

/** The display name of each library. */
export const libraryNames: Readonly<Record<PeerLibrary, string>> = {
  cache: "effect-redis-cache",
  bentocache: "bentocache",
  cacheable: "cacheable"
}

/** The id of a row of the peers suite: `peers.<library>.<scenario>`. */
export const peerCaseId = (library: PeerLibrary, scenario: PeerScenario): string => `peers.${library}.${scenario}`

/** The library and scenario of a peers row, or `undefined` for any other row. */
export const parsePeerCaseId = (
  id: string
): { readonly library: PeerLibrary; readonly scenario: PeerScenario } | undefined => {
  const match = /^peers\.([^.]+)\.(.+)$/.exec(id)
  if (match === null) return undefined
  const library = peerLibraries.find((name) => name === match[1])
  const scenario = peerScenarios.find((name) => name === match[2])
  return library === undefined || scenario === undefined ? undefined : { library, scenario }
}

/** A peer's row beside this cache's row of the same scenario and size. */
export interface PeerComparison {
  readonly scenario: PeerScenario
  readonly size: string
  readonly library: Exclude<PeerLibrary, "cache">
  readonly peer: CaseResult
  readonly cache: CaseResult | undefined
  /** This cache's ops/s over the peer's (higher: this cache is faster). */
  readonly ratio: number | undefined
}

/** Every peer row of `cases` beside this cache's row of the same scenario and size. */
export const peerComparisons = (cases: ReadonlyArray<CaseResult>): ReadonlyArray<PeerComparison> => {
  const comparisons: Array<PeerComparison> = []
  for (const peer of cases) {
    const parsed = parsePeerCaseId(peer.id)
    if (parsed === undefined || parsed.library === "cache") continue
    const cacheId = peerCaseId("cache", parsed.scenario)
    const cache = cases.find((other) => other.id === cacheId && other.size === peer.size)
    comparisons.push({
      scenario: parsed.scenario,
      size: peer.size,
      library: parsed.library,
      peer,
      cache,
      ratio: cache === undefined ? undefined : cache.opsPerSec / peer.opsPerSec
    })
  }
  // By size (in the run's order), then scenario, then peer: each size's scenarios read together.
  const sizes = [...new Set(cases.map((result) => result.size))]
  const rank = (c: PeerComparison) =>
    (sizes.indexOf(c.peer.size) * peerScenarios.length + peerScenarios.indexOf(c.scenario)) * peerLibraries.length +
    peerLibraries.indexOf(c.library)
  return comparisons.sort((a, b) => rank(a) - rank(b))
}
