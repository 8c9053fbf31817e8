/**
 * The benchmark's chart renderer (bench/lib/chart.ts): results JSON in, SVG out. Each chart
 * is a well-formed document with one bar per row of its scenario found in the file, in the
 * scenario's order, scaled to the fastest row of its size; the committed results files,
 * which predate the peers suite, render too.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { type ChartInput, chartScenarios, escapeXml, renderChart, renderCharts } from "../../bench/lib/chart.js"

const resultsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../bench/results")

/**
 * Throws unless `svg` is well-formed XML of the subset the renderer writes: elements with
 * quoted attributes, text without a bare `<` or `&`, every element closed in order.
 */
const assertWellFormed = (svg: string): void => {
  const open: Array<string> = []
  const token = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/g
  let roots = 0
  for (const match of svg.matchAll(token)) {
    const [, closing, name, , selfClosing, text, stray] = match
    if (stray !== undefined) assert.fail(`a "<" that starts no tag at ${match.index}`)
    if (text !== undefined) {
      const bare = text.replace(/&(amp|lt|gt|quot|apos|#\d+);/g, "")
      assert.notInclude(bare, "&", `a bare "&" in ${JSON.stringify(text)}`)
      if (open.length === 0) assert.strictEqual(text.trim(), "", "text outside the root element")
      continue
    }
    if (open.length === 0) roots++
    if (closing === "/") assert.strictEqual(open.pop(), name, `</${name}> closes another element`)
    else if (selfClosing !== "/") open.push(name!)
  }
  assert.deepStrictEqual(open, [], "elements left open")
  assert.strictEqual(roots, 1, "one root element")
}

const barIds = (svg: string): ReadonlyArray<string> =>
  [...svg.matchAll(/<rect class="bar" data-id="([^"]+)"[^>]* width="([\d.]+)"/g)].map((m) => m[1]!)

const barWidths = (svg: string): ReadonlyArray<number> =>
  [...svg.matchAll(/<rect class="bar" [^>]* width="([\d.]+)"/g)].map((m) => Number(m[1]))

const scenario = (name: string) => chartScenarios.find((s) => s.name === name)!

const input: ChartInput = {
  date: "2026-12-07T14:00:00.000Z",
  environment: { node: "v24.21.0", loadAverage: [1.5, 1.2, 1] },
  cases: [
    { id: "baseline.redis.get.100.ap", size: "100B", opsPerSec: 80_000 },
    { id: "l2.get.100.plain", size: "100B", opsPerSec: 60_000 },
    { id: "peers.cache.l2.100", size: "100B", opsPerSec: 40_000 },
    { id: "peers.bentocache.l2.100", size: "100B", opsPerSec: 20_000 },
    { id: "peers.cacheable.l2.100", size: "100B", opsPerSec: 10_000 },
    { id: "peers.bentocache.l2.100", size: "2KB", opsPerSec: 5_000 },
    { id: "peers.cache.l2.100", size: "2KB", opsPerSec: 9_000 },
    { id: "l1.service", size: "100B", opsPerSec: 1_000_000 }
  ]
}

describe("bench chart", () => {
  it("draws one bar per row of the scenario, in its order, each size scaled to its fastest row", () => {
    const svg = renderChart(input, scenario("l2-100"))!
    assertWellFormed(svg)
    assert.deepStrictEqual(barIds(svg), [
      "baseline.redis.get.100.ap",
      "l2.get.100.plain",
      "peers.cache.l2.100",
      "peers.bentocache.l2.100",
      "peers.cacheable.l2.100",
      "peers.cache.l2.100",
      "peers.bentocache.l2.100"
    ])
    const widths = barWidths(svg)
    assert.closeTo(widths[1]! / widths[0]!, 0.75, 0.01)
    assert.closeTo(widths[4]! / widths[0]!, 0.125, 0.01)
    // 2KB has its own scale: its fastest row is as long as 100B's.
    assert.closeTo(widths[5]! / widths[0]!, 1, 0.01)
    assert.closeTo(widths[6]! / widths[5]!, 5 / 9, 0.01)
    assert.include(svg, ">20k<")
    assert.include(svg, "Node 24.21.0")
    assert.match(svg, /<title>L2 hit, 100 in flight: Run 2026-12-07 14:00 UTC/)
  })

  it("draws a chart only for the scenarios the file has rows of", () => {
    const charts = renderCharts(input)
    assert.deepStrictEqual(charts.map((c) => c.scenario), ["l1", "l2-100"])
    for (const chart of charts) assertWellFormed(chart.svg)
    assert.strictEqual(renderChart({ date: input.date, cases: [] }, scenario("l1")), undefined)
  })

  it("escapes what it writes from the file", () => {
    assert.strictEqual(escapeXml(`a<b>&"c"`), "a&lt;b&gt;&amp;&quot;c&quot;")
    const svg = renderChart({ date: "<&>", cases: [{ id: "l1.service", size: "1<2&3", opsPerSec: 5 }] }, scenario("l1"))!
    assertWellFormed(svg)
    assert.include(svg, "1&lt;2&amp;3")
  })

  it("renders the committed results files, which have no peers", () => {
    const files = fs.readdirSync(resultsDir).filter((name) => name.endsWith(".json"))
    assert.isNotEmpty(files)
    for (const file of files) {
      const results = JSON.parse(fs.readFileSync(path.join(resultsDir, file), "utf8")) as ChartInput
      const charts = renderCharts(results)
      assert.isNotEmpty(charts, file)
      for (const { scenario: name, svg } of charts) {
        assertWellFormed(svg)
        const expected = results.cases.filter((c) => scenario(name).bars.some((bar) => bar.id === c.id))
        assert.strictEqual(barIds(svg).length, expected.length, `${file} ${name}`)
      }
    }
  })
})
