/**
 * A results file (bench/results/*.json) as one SVG bar chart per scenario: ops/s of this
 * cache, its baselines (raw ioredis, lru-cache) and its peers, one group of bars per value size.
 *
 * The SVG is written by hand: a chart of horizontal bars is a few rectangles and labels,
 * and a charting package (with its own renderer, fonts or a headless browser) would be a
 * heavy dependency for that, and a network fetch for some. Pure: JSON in, SVG text out.
 */
import { formatRate } from "./report.js"

/** What the charts read of a results file (a `RunReport`, or an older one). */
export interface ChartInput {
  readonly date: string
  readonly quick?: boolean
  readonly environment?: { readonly node?: string; readonly loadAverage?: ReadonlyArray<number> }
  readonly cases: ReadonlyArray<{ readonly id: string; readonly size: string; readonly opsPerSec: number }>
}

/** Whose row a bar is: it sets the bar's colour. */
type Kind = "cache" | "baseline" | "peer"

interface BarSpec {
  readonly id: string
  readonly label: string
  readonly kind: Kind
}

/** A scenario: its chart's title and the rows it shows, in order. */
export interface ChartScenario {
  readonly name: string
  readonly title: string
  readonly bars: ReadonlyArray<BarSpec>
}

const peerBars = (scenario: string, viaClient: string): ReadonlyArray<BarSpec> => [
  { id: `peers.cache.${scenario}`, label: `effect-redis-cache (${viaClient})`, kind: "cache" },
  { id: `peers.bentocache.${scenario}`, label: "bentocache", kind: "peer" },
  { id: `peers.cacheable.${scenario}`, label: "cacheable", kind: "peer" }
]

const redisBars = (op: "get" | "mts", where: "100" | "seq"): ReadonlyArray<BarSpec> => [
  { id: `baseline.redis.${op}.${where}.ap`, label: "raw ioredis, auto-pipelining", kind: "baseline" },
  { id: `baseline.redis.${op}.${where}`, label: "raw ioredis", kind: "baseline" }
]

/** The scenarios charted, and which rows of a results file each one shows. */
export const chartScenarios: ReadonlyArray<ChartScenario> = [
  {
    name: "l1",
    title: "L1 hit",
    bars: [
      { id: "baseline.lru.get", label: "lru-cache get, called directly", kind: "baseline" },
      { id: "baseline.effect.sync", label: "Effect.sync(lru.get) loop", kind: "baseline" },
      { id: "l1.service", label: "effect-redis-cache (Effect)", kind: "cache" },
      { id: "baseline.promise.async", label: "await async lru.get", kind: "baseline" },
      { id: "l1.client", label: "effect-redis-cache (CacheClient)", kind: "cache" },
      ...peerBars("l1", "CacheClient, own process")
    ]
  },
  {
    name: "l2-100",
    title: "L2 hit, 100 in flight",
    bars: [
      ...redisBars("get", "100"),
      { id: "l2.get.100.plain", label: "effect-redis-cache (Effect, L1 off)", kind: "cache" },
      { id: "l2.get.100.l1", label: "effect-redis-cache (Effect, L1 on)", kind: "cache" },
      ...peerBars("l2.100", "CacheClient, L1 on")
    ]
  },
  {
    name: "l2-seq",
    title: "L2 hit, sequential",
    bars: [
      ...redisBars("get", "seq"),
      { id: "l2.get.seq.plain", label: "effect-redis-cache (Effect, L1 off)", kind: "cache" },
      { id: "l2.get.seq.l1", label: "effect-redis-cache (Effect, L1 on)", kind: "cache" },
      ...peerBars("l2.seq", "CacheClient, L1 on")
    ]
  },
  {
    name: "mts-100",
    title: "Miss then set, 100 in flight",
    bars: [
      ...redisBars("mts", "100"),
      { id: "mts.100.plain", label: "effect-redis-cache (Effect)", kind: "cache" },
      ...peerBars("mts.100", "CacheClient")
    ]
  },
  {
    name: "mts-seq",
    title: "Miss then set, sequential",
    bars: [
      ...redisBars("mts", "seq"),
      { id: "mts.seq.plain", label: "effect-redis-cache (Effect)", kind: "cache" },
      ...peerBars("mts.seq", "CacheClient")
    ]
  }
]

const colours: Readonly<Record<Kind, string>> = { cache: "#2f6fb0", baseline: "#9a9a9a", peer: "#d9822b" }

const kindNames: Readonly<Record<Kind, string>> = { cache: "this cache", baseline: "baseline", peer: "peer" }

const WIDTH = 760
const LABEL_WIDTH = 270
const BAR_AREA = 380
const BAR_HEIGHT = 16
const BAR_GAP = 6
const GROUP_GAP = 14
const HEADER = 58

/** Text made safe inside an SVG element or attribute. */
export const escapeXml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

interface Bar extends BarSpec {
  readonly opsPerSec: number
}

/** The bars of `scenario` at each size of `input`, sizes in the file's order; sizes with no bar left out. */
export const barsOf = (
  input: ChartInput,
  scenario: ChartScenario
): ReadonlyArray<{ readonly size: string; readonly bars: ReadonlyArray<Bar> }> => {
  const sizes = [...new Set(input.cases.map((c) => c.size))]
  return sizes
    .map((size) => ({
      size,
      bars: scenario.bars.flatMap((spec) => {
        const found = input.cases.find((c) => c.id === spec.id && c.size === size)
        return found === undefined || !(found.opsPerSec > 0) ? [] : [{ ...spec, opsPerSec: found.opsPerSec }]
      })
    }))
    .filter((group) => group.bars.length > 0)
}

const subtitle = (input: ChartInput): string => {
  const load = input.environment?.loadAverage?.[0]
  return [
    `Run ${input.date.slice(0, 16).replace("T", " ")} UTC`,
    input.environment?.node === undefined ? undefined : `Node ${input.environment.node.replace(/^v/, "")}`,
    load === undefined ? undefined : `load ${load}`,
    input.quick === true ? "--quick (rough)" : undefined,
    "ops/s, longer is faster; bars scaled per size"
  ].filter((part) => part !== undefined).join(" · ")
}

const legend = (): string =>
  (["cache", "baseline", "peer"] as const).map((kind, i) => {
    const x = WIDTH - 300 + i * 100
    return `<rect x="${x}" y="12" width="10" height="10" fill="${colours[kind]}"/><text x="${x + 14}" y="21">${
      kindNames[kind]
    }</text>`
  }).join("\n")

const barRow = (bar: Bar, y: number, max: number): string => {
  const width = Math.max(1, (bar.opsPerSec / max) * BAR_AREA)
  const textY = y + BAR_HEIGHT - 4
  return [
    `<text x="${LABEL_WIDTH - 8}" y="${textY}" text-anchor="end">${escapeXml(bar.label)}</text>`,
    `<rect class="bar" data-id="${escapeXml(bar.id)}" x="${LABEL_WIDTH}" y="${y}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${
      colours[bar.kind]
    }"/>`,
    `<text x="${(LABEL_WIDTH + width + 6).toFixed(1)}" y="${textY}">${formatRate(bar.opsPerSec)}</text>`
  ].join("\n")
}

/** The chart of `scenario` for `input` as an SVG document; `undefined` when the file has none of its rows. */
export const renderChart = (input: ChartInput, scenario: ChartScenario): string | undefined => {
  const groups = barsOf(input, scenario)
  if (groups.length === 0) return undefined
  const parts: Array<string> = []
  let y = HEADER
  for (const group of groups) {
    parts.push(`<text class="size" x="8" y="${y + 12}">${escapeXml(group.size)}</text>`)
    y += 20
    const max = Math.max(...group.bars.map((bar) => bar.opsPerSec))
    for (const bar of group.bars) {
      parts.push(barRow(bar, y, max))
      y += BAR_HEIGHT + BAR_GAP
    }
    y += GROUP_GAP
  }
  const height = y
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12" role="img">`,
    // The accessible name: what a screen reader says, and what a browser shows on hover.
    `<title>${escapeXml(`${scenario.title}: ${subtitle(input)}`)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text class="title" x="8" y="22" font-size="16" font-weight="bold">${escapeXml(scenario.title)}</text>`,
    `<text x="8" y="42" fill="#555555">${escapeXml(subtitle(input))}</text>`,
    legend(),
    ...parts,
    "</svg>",
    ""
  ].join("\n")
}

/** Every chart of `input`: one per scenario that has rows in it. */
export const renderCharts = (input: ChartInput): ReadonlyArray<{ readonly scenario: string; readonly svg: string }> =>
  chartScenarios.flatMap((scenario) => {
    const svg = renderChart(input, scenario)
    return svg === undefined ? [] : [{ scenario: scenario.name, svg }]
  })
