/**
 * The table printed after a run (Markdown, so it can be pasted into docs/benchmarks.md)
 * and the JSON written under bench/results/.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import type { HeapResult } from "../suites/heap.js"
import type { LockResult } from "../suites/lock.js"
import type { Environment } from "./environment.js"
import type { CaseResult, Plan } from "./harness.js"
import { libraryNames, peerComparisons, scenarioLabels } from "./peers.js"

/** A target of issue 7 section 2, checked. */
export interface TargetCheck {
  readonly what: string
  readonly size: string
  readonly ratio: number
  readonly target: string
  readonly met: boolean
}

/**
 * A case with its ratio to its baseline (when it has one): `ratio` of ops/s (higher is better),
 * `p50Ratio` and `p99Ratio` of latencies (this case's over the baseline's: lower is better).
 */
export type CaseRow = CaseResult & {
  readonly ratio?: number
  readonly p50Ratio?: number
  readonly p99Ratio?: number
}

/** Everything a run produced. */
export interface RunReport {
  readonly date: string
  readonly quick: boolean
  readonly environment: Environment
  readonly plan: Plan
  readonly cases: ReadonlyArray<CaseRow>
  readonly heap: ReadonlyArray<HeapResult> | undefined
  /** The `lock` suite's rows, when it ran. */
  readonly lock?: ReadonlyArray<LockResult> | undefined
  readonly targets: ReadonlyArray<TargetCheck>
}

/** `12.3M`, `456k`, `7,890`. */
export const formatRate = (opsPerSec: number): string =>
  opsPerSec >= 1e6
    ? `${(opsPerSec / 1e6).toFixed(opsPerSec >= 1e7 ? 1 : 2)}M`
    : opsPerSec >= 1e4
    ? `${(opsPerSec / 1e3).toFixed(0)}k`
    : opsPerSec.toFixed(0)

/** `85 ns`, `12.3 µs`, `1.20 ms`. */
export const formatMicros = (us: number): string =>
  us < 1 ? `${(us * 1000).toFixed(0)} ns` : us < 1000 ? `${us.toFixed(us < 10 ? 2 : 1)} µs` : `${(us / 1000).toFixed(2)} ms`

/** `1.00`, `0.13`: commands per operation. */
export const formatCommands = (perOp: number): string => perOp.toFixed(2)

const baselineOf = (result: CaseResult, all: ReadonlyArray<CaseResult>): CaseResult | undefined =>
  result.baseline === undefined
    ? undefined
    : all.find((other) => other.id === result.baseline && other.size === result.size)

// ` p99; p50 +210 µs`: beside a lag row's p99 ratio, what it adds to its floor's p50 (often ~0, no base for a ratio).
const lagNote = (result: CaseResult, all: ReadonlyArray<CaseResult>): string => {
  const baseline = baselineOf(result, all)
  return baseline === undefined ? "" : ` p99; p50 +${formatMicros(Math.max(0, result.p50Us - baseline.p50Us))}`
}

const withRatios = (result: CaseResult, all: ReadonlyArray<CaseResult>): CaseRow => {
  const baseline = baselineOf(result, all)
  if (baseline === undefined) return result
  // Measured round for round beside its baseline: those ratios, not two medians minutes apart.
  if (result.paired !== undefined) {
    const { p50Ratio, p99Ratio, ratio } = result.paired
    return { ...result, ratio, p50Ratio, p99Ratio }
  }
  return {
    ...result,
    ratio: result.ratioBy === "lag" ? result.p99Us / baseline.p99Us : result.opsPerSec / baseline.opsPerSec,
    p50Ratio: result.p50Us / baseline.p50Us,
    p99Ratio: result.p99Us / baseline.p99Us
  }
}

const latencyChecks = (result: CaseRow): Array<TargetCheck> => {
  const bound = result.latencyTarget
  if (bound === undefined || result.p50Ratio === undefined || result.p99Ratio === undefined) return []
  const check = (quantile: string, ratio: number, most: number): TargetCheck => ({
    what: `${quantile} of ${result.label} vs ${result.baseline}`,
    size: result.size,
    ratio,
    target: `<= ${most}`,
    met: ratio <= most
  })
  return [check("p50", result.p50Ratio, bound.p50), check("p99", result.p99Ratio, bound.p99)]
}

/** Adds each case's ratio to its baseline and checks the targets. */
export const buildReport = (
  options: Omit<RunReport, "cases" | "targets"> & { readonly results: ReadonlyArray<CaseResult> }
): RunReport => {
  const cases = options.results.map((result) => withRatios(result, options.results))
  const targets: Array<TargetCheck> = []
  for (const result of cases) {
    targets.push(...latencyChecks(result))
    if (result.target === undefined || result.ratio === undefined) continue
    targets.push({
      what: `${result.label} vs ${result.baseline}`,
      size: result.size,
      ratio: result.ratio,
      target: `>= ${result.target}`,
      met: result.ratio >= result.target
    })
  }
  for (const heap of options.heap ?? []) {
    targets.push({
      what: `heap per entry, ${heap.entries} entries in L1 vs lru-cache`,
      size: heap.size,
      ratio: heap.ratio,
      target: `<= ${heap.target}`,
      met: heap.ratio <= heap.target
    })
  }
  const { results: _results, ...rest } = options
  return { ...rest, cases, targets }
}

const row = (cells: ReadonlyArray<string>) => `| ${cells.join(" | ")} |`

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

// One cold key, several processes: lookup runs and the time until every caller was served.
const renderLock = (rows: ReadonlyArray<LockResult>): Array<string> => [
  "",
  row(["one cold key, all callers at once", "lookup", "lookup runs, per round", "all served (median)", "all served, per round"]),
  row(["---", "---:", "---", "---:", "---"]),
  ...rows.map((lock) =>
    row([
      `${lock.processes} processes x ${lock.callersPerProcess.toLocaleString("en-US")} callers, distributedLock: ${lock.distributedLock}`,
      `${lock.lookupMillis} ms`,
      lock.lookupRuns.join(", "),
      `${median(lock.allServedMillis).toFixed(0)} ms`,
      lock.allServedMillis.map((ms) => `${ms.toFixed(0)} ms`).join(", ")
    ])
  )
]

/** The report as Markdown: environment, throughput table, heap table, lock table, targets. */
export const renderReport = (report: RunReport): string => {
  const env = report.environment
  const lines: Array<string> = [
    `Run ${report.date}${report.quick ? " (--quick: numbers are rough)" : ""}: Node ${env.node} (V8 ${env.v8}), ${env.cpu} x${env.cpus}, ` +
    `${env.memoryGiB} GiB, ${env.platform}`,
    `Redis ${env.redis}; effect ${env.packages.effect}, ioredis ${env.packages.ioredis}, lru-cache ${
      env.packages["lru-cache"]
    }; ${env.pinning}; load average at start ${env.loadAverage.join(" ")}`,
    `Code: commit ${env.commit}${env.uncommittedSrc.length > 0 ? ` plus ${env.uncommittedSrc.length} uncommitted src/ changes` : ""}. ` +
    `Plan: ${report.plan.rounds} rounds of ~${report.plan.roundMs} ms after >= ${report.plan.warmupMs} ms of warm-up; ops/s is the median round.`,
    "",
    row([
      "case",
      "size",
      "ops/s",
      "p50",
      "p99",
      "p99.9",
      "Redis cmds/op",
      "Redis CPU/op",
      "ratio",
      "p50 / p99 ratio",
      "to baseline",
      "target"
    ]),
    row(["---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---", "---"])
  ]
  for (const result of report.cases) {
    const ratio = result.ratio === undefined ? "" : `${result.ratio.toFixed(2)}x${result.ratioBy === "lag" ? lagNote(result, report.cases) : ""}`
    const latencyRatio = result.p50Ratio === undefined || result.p99Ratio === undefined
      ? ""
      : `${result.p50Ratio.toFixed(2)}x / ${result.p99Ratio.toFixed(2)}x`
    const target = [
      result.target === undefined || result.ratio === undefined
        ? ""
        : `>= ${result.target}: ${result.ratio >= result.target ? "met" : "**MISSED**"}`,
      ...latencyChecks(result).map((check) =>
        `${check.what.slice(0, 3)} ${check.target}: ${check.met ? "met" : "**MISSED**"}`
      )
    ].filter((text) => text !== "").join("; ")
    lines.push(row([
      `${result.label}${result.latency === "per-op" ? "" : " ¹"}`,
      result.size,
      formatRate(result.opsPerSec),
      formatMicros(result.p50Us),
      formatMicros(result.p99Us),
      result.p999Us === undefined ? "" : formatMicros(result.p999Us),
      result.redisCommandsPerOp === undefined ? "" : formatCommands(result.redisCommandsPerOp),
      result.redisCpuUsPerOp === undefined ? "" : formatMicros(result.redisCpuUsPerOp),
      ratio,
      latencyRatio,
      result.baseline ?? "",
      target
    ]))
  }
  lines.push(
    "",
    "¹ latency per operation is the mean of a timed batch (1000 operations in an Effect or plain loop, 100 across the " +
      "Promise boundary); p50/p99/p99.9 are over batches. Other rows time every operation from its start to its completion.",
    "Ratios and p50/p99 ratios of a case with a baseline measured earlier in the run are paired: each timed round of " +
      "the case alternates with a round of its baseline, the ratio is the median of the pairs' ops/s ratios, and the " +
      "latency ratios pool the interleaved rounds (the baseline's own row keeps its own rounds).",
    "Lag rows with a ratio: this row's p99 lag over its raw-ioredis floor's (lower is better), and what it adds to the " +
      "floor's p50 (which is often near 0: the raw reader's GET can finish before the writer has read its own reply).",
    "² burst rows: ops/s is keys evicted per second from the first write to the last eviction; p50/p99 are the " +
      "reader's event-loop delay (`monitorEventLoopDelay`, 1 ms resolution) during the burst; all of them the reader's " +
      "second burst (its first, which runs the eviction and decoding code for the first time, is in the label).",
    "Redis cmds/op and CPU/op: `INFO commandstats` (a script's own commands included) and `INFO cpu` (user + system) " +
      "deltas over the timed rounds, divided by their operations; on a loaded machine the CPU figure is rough."
  )
  lines.push(...renderPeers(report.cases))
  if (report.heap !== undefined) {
    lines.push(
      "",
      row(["heap per entry", "size", "entries", "values alone", "lru-cache", "cache L1", "ratio", "target"]),
      row(["---", "---", "---:", "---:", "---:", "---:", "---:", "---"])
    )
    for (const heap of report.heap) {
      lines.push(row([
        "fresh values held",
        heap.size,
        heap.entries.toLocaleString("en-US"),
        `${heap.valuesBytesPerEntry.toFixed(0)} B`,
        `${heap.lruBytesPerEntry.toFixed(0)} B`,
        `${heap.cacheBytesPerEntry.toFixed(0)} B`,
        `${heap.ratio.toFixed(2)}x`,
        `<= ${heap.target}: ${heap.ratio <= heap.target ? "met" : "**MISSED**"}`
      ]))
    }
  }
  if (report.lock !== undefined) lines.push(...renderLock(report.lock))
  const missed = report.targets.filter((check) => !check.met)
  lines.push(
    "",
    `Targets of issues 7 and 20: ${report.targets.length - missed.length} of ${report.targets.length} met.` +
      (missed.length === 0 ? "" : " Missed:"),
    ...missed.map((check) => `- ${check.what} (${check.size}): ${check.ratio.toFixed(2)}x, target ${check.target}`)
  )
  return lines.join("\n")
}

/** The peers suite's rows as a table of each peer beside this cache (none when the run has no peers). */
export const renderPeers = (cases: ReadonlyArray<CaseResult>): ReadonlyArray<string> => {
  const comparisons = peerComparisons(cases)
  if (comparisons.length === 0) return []
  const lines = [
    "",
    row(["scenario", "size", "peer", "peer ops/s", "peer p50", "peer p99", "this cache ops/s", "p50", "p99", "this cache / peer"]),
    row(["---", "---", "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:"])
  ]
  for (const { cache, peer, ...c } of comparisons) {
    lines.push(row([
      scenarioLabels[c.scenario],
      c.size,
      libraryNames[c.library],
      formatRate(peer.opsPerSec),
      formatMicros(peer.p50Us),
      formatMicros(peer.p99Us),
      cache === undefined ? "" : formatRate(cache.opsPerSec),
      cache === undefined ? "" : formatMicros(cache.p50Us),
      cache === undefined ? "" : formatMicros(cache.p99Us),
      c.ratio === undefined ? "" : `${c.ratio.toFixed(2)}x`
    ]))
  }
  return lines
}

/** Writes the report as `bench/results/<date>-node<version>[-quick].json`; the path written. */
export const writeReport = (report: RunReport, directory: string): string => {
  fs.mkdirSync(directory, { recursive: true })
  const file = path.join(
    directory,
    `${report.date.slice(0, 10)}-node${report.environment.node.replace(/^v/, "")}${report.quick ? "-quick" : ""}.json`
  )
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
  return file
}
