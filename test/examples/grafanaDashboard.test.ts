/**
 * examples/grafana/effect-redis-cache.json against what the example really exports: the
 * HTTP example (examples/http-api) runs against a private redis-server through an outage
 * and a recovery, so that its connection series exist too, and its `/metrics` is scraped.
 * Every PromQL query of the dashboard must name only metrics of that scrape, filter and
 * group only by labels those metrics carry, and match label values the scrape shows.
 */
import * as fs from "node:fs"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { startHttpApp, waitUntil } from "../support/httpApp.js"
import { startRedisServer } from "../support/RedisServer.js"

const DASHBOARD = new URL("../../examples/grafana/effect-redis-cache.json", import.meta.url)
const DEADLINE_MS = 30_000

/**
 * Label values a dashboard query may match that a healthy run never produces: they appear
 * only after a fault the test does not cause (a failed operation, a full replay queue), or
 * by timing (a reconnect attempt fails only if one is made before the restarted Redis listens,
 * which CI's runs did not do).
 */
const faultOnlyValues: Readonly<Record<string, ReadonlyArray<string>>> = {
  cache_outcome: ["error"],
  cache_replay_result: ["dropped"],
  cache_reconnect_outcome: ["failure"]
}

interface Panel {
  readonly title?: string
  readonly type: string
  readonly datasource?: { readonly uid?: string }
  readonly targets?: ReadonlyArray<{ readonly expr: string; readonly datasource?: { readonly uid?: string } }>
  readonly panels?: ReadonlyArray<Panel>
}

interface Dashboard {
  readonly uid: string
  readonly panels: ReadonlyArray<Panel>
  readonly templating: { readonly list: ReadonlyArray<{ readonly name: string; readonly type: string; readonly definition?: string }> }
}

const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, "utf8")) as Dashboard

const allPanels = (panels: ReadonlyArray<Panel>): ReadonlyArray<Panel> =>
  panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])])

/** Every query of the dashboard: each panel target, and the `label_values(metric, label)` of each variable. */
const queries = (): ReadonlyArray<{ readonly where: string; readonly expr: string }> => [
  ...allPanels(dashboard.panels).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ where: `panel "${panel.title}"`, expr: target.expr }))
  ),
  ...dashboard.templating.list.flatMap((variable) =>
    variable.definition === undefined ? [] : [{ where: `variable $${variable.name}`, expr: variable.definition }]
  )
]

const IDENT = "[a-zA-Z_:][a-zA-Z0-9_:]*"
const KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"])

/** What one PromQL query refers to: metric names, label matchers per metric, grouping labels. */
interface Refs {
  readonly metrics: Set<string>
  readonly matchers: Array<{ readonly metric: string; readonly label: string; readonly op: string; readonly value: string }>
  readonly grouping: Set<string>
}

/**
 * A small reader of the PromQL this dashboard uses (selectors, `by (...)`, functions, ranges),
 * not a PromQL parser: an identifier outside braces, brackets and grouping clauses, not called
 * as a function and not a keyword, is a metric name.
 */
const refsOf = (expr: string): Refs => {
  const refs: Refs = { metrics: new Set(), matchers: [], grouping: new Set() }
  const labelValues = new RegExp(`^label_values\\((${IDENT}),\\s*(${IDENT})\\)$`).exec(expr)
  if (labelValues !== null) {
    refs.metrics.add(labelValues[1]!)
    refs.grouping.add(labelValues[2]!)
    return refs
  }
  for (const [, metric, body] of expr.matchAll(new RegExp(`(${IDENT})\\s*\\{([^}]*)\\}`, "g"))) {
    for (const [, label, op, value] of body!.matchAll(new RegExp(`(${IDENT})\\s*(=~|!~|!=|=)\\s*"([^"]*)"`, "g"))) {
      refs.matchers.push({ metric: metric!, label: label!, op: op!, value: value! })
    }
  }
  let rest = expr.replace(/\{[^}]*\}/g, " ").replace(/\[[^\]]*\]/g, " ")
  for (const [, labels] of rest.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) {
    for (const label of labels!.split(",")) refs.grouping.add(label.trim())
  }
  rest = rest.replace(/\b(?:by|without)\s*\([^)]*\)/g, " ")
  for (const match of rest.matchAll(new RegExp(`(${IDENT})(\\s*\\()?`, "g"))) {
    if (match[2] === undefined && !KEYWORDS.has(match[1]!)) refs.metrics.add(match[1]!)
  }
  return refs
}

/** A Prometheus text scrape: each series name with the values seen per label. */
const parseScrape = (text: string): Map<string, Map<string, Set<string>>> => {
  const series = new Map<string, Map<string, Set<string>>>()
  for (const line of text.split("\n")) {
    const match = new RegExp(`^(${IDENT})(?:\\{([^}]*)\\})? `).exec(line)
    if (match === null) continue
    const labels = series.get(match[1]!) ?? new Map<string, Set<string>>()
    series.set(match[1]!, labels)
    for (const [, label, value] of (match[2] ?? "").matchAll(new RegExp(`(${IDENT})="([^"]*)"`, "g"))) {
      const values = labels.get(label!) ?? new Set<string>()
      values.add(value!)
      labels.set(label!, values)
    }
  }
  return series
}

describe("examples/grafana/effect-redis-cache.json", () => {
  it("is an importable dashboard whose panels all query the chosen Prometheus data source", () => {
    assert.strictEqual(dashboard.uid, "effect-redis-cache")
    const variables = dashboard.templating.list.map((variable) => `${variable.type}:${variable.name}`)
    assert.deepStrictEqual(variables, ["datasource:datasource", "query:cache_name"])
    const panels = allPanels(dashboard.panels).filter((panel) => panel.type !== "row")
    assert.isAtLeast(panels.length, 10)
    for (const panel of panels) {
      assert.strictEqual(panel.datasource?.uid, "${datasource}", `panel "${panel.title}"`)
      assert.isNotEmpty(panel.targets ?? [], `panel "${panel.title}" has no query`)
      for (const target of panel.targets ?? []) {
        assert.strictEqual(target.datasource?.uid, "${datasource}", `panel "${panel.title}"`)
        assert.include(target.expr, `cache_name=~"$cache_name"`, `panel "${panel.title}" ignores the cache variable`)
      }
    }
  })

  it("reads PromQL as intended", () => {
    const refs = refsOf(
      `histogram_quantile(0.99, sum by (le, cache_tier) (rate(x_bucket{a=~"$v",b="l1"}[$__rate_interval]))) / y or vector(0)`
    )
    assert.deepStrictEqual([...refs.metrics], ["x_bucket", "y"])
    assert.deepStrictEqual([...refs.grouping], ["le", "cache_tier"])
    assert.deepStrictEqual(refs.matchers.map((m) => `${m.metric}:${m.label}${m.op}${m.value}`), [
      "x_bucket:a=~$v",
      "x_bucket:b=l1"
    ])
  })

  it.live("names only metrics, labels and label values that the running example exports", () =>
    Effect.gen(function*() {
      const redis = yield* startRedisServer()
      const app = yield* startHttpApp({ REDIS_URL: redis.url, UPSTREAM_DELAY: "10 millis" })
      const ready = (code: number) => Effect.map(app.get("/health"), (answer) => answer.status === code)
      assert.isTrue(yield* waitUntil(ready(200), DEADLINE_MS), app.output())
      // Traffic, then an outage with a write (replayed later) and a recovery: every series the dashboard shows.
      for (const id of [1, 1, 2]) yield* app.get(`/products/${id}`)
      yield* redis.kill
      assert.isTrue(yield* waitUntil(ready(503), DEADLINE_MS), app.output())
      yield* app.get("/products/3")
      yield* redis.restart
      assert.isTrue(yield* waitUntil(ready(200), DEADLINE_MS), app.output())
      const replayed = yield* waitUntil(
        Effect.map(app.get("/metrics"), (scrape) => scrape.text.includes(`cache_replay_result="replayed"`)),
        DEADLINE_MS
      )
      assert.isTrue(replayed, app.output())

      const scrape = parseScrape((yield* app.get("/metrics")).text)
      const problems: Array<string> = []
      for (const { expr, where } of queries()) {
        const refs = refsOf(expr)
        if (refs.metrics.size === 0) problems.push(`${where}: no metric in ${expr}`)
        for (const metric of refs.metrics) {
          if (!scrape.has(metric)) problems.push(`${where}: ${metric} is not exported`)
        }
        for (const { label, metric, op, value } of refs.matchers) {
          const values = scrape.get(metric)?.get(label)
          if (values === undefined) {
            problems.push(`${where}: ${metric} has no label ${label}`)
          } else if (op === "=" && !values.has(value) && !(faultOnlyValues[label] ?? []).includes(value)) {
            problems.push(`${where}: ${metric}{${label}="${value}"} never appears (seen: ${[...values].join(", ")})`)
          }
        }
        for (const label of refs.grouping) {
          const carried = [...refs.metrics].some((metric) => scrape.get(metric)?.has(label) === true)
          if (!carried) problems.push(`${where}: no metric of ${expr} carries ${label}`)
        }
      }
      assert.deepStrictEqual(problems, [])
      assert.isAtLeast(queries().length, 20)
    }), { timeout: 180_000 })
})
