import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import * as CacheMetrics from "../../src/monitoring/CacheMetrics.js"
import { CacheMonitor } from "../../src/monitoring/CacheMonitor.js"

describe("CacheMetrics", () => {
  it("every metric has a unit, a description and a unique OpenTelemetry-style name", () => {
    const names = CacheMetrics.all.map((metric) => metric.id)
    assert.strictEqual(new Set(names).size, names.length)
    for (const metric of CacheMetrics.all) {
      assert.match(metric.id, /^cache\.[a-z0-9_.]+$/)
      assert.isString(metric.attributes?.unit)
      assert.isString(metric.description)
    }
  })

  it("prometheusNameMapper adds unit suffixes and _total the way the OpenTelemetry exporter does", () => {
    const map = CacheMetrics.prometheusNameMapper
    assert.strictEqual(map("cache.operation.duration"), "cache_operation_duration_seconds")
    assert.strictEqual(map("cache.hits"), "cache_hits_total")
    assert.strictEqual(map("cache.l1.memory.usage"), "cache_l1_memory_usage_bytes")
    assert.strictEqual(map("cache.l1.entries"), "cache_l1_entries")
    assert.strictEqual(map("some.other"), "some.other")
  })

  it.effect("series updated in turn (a miss, then a set) land in the registry entries Metric.withAttributes reads, once each", () =>
    Effect.gen(function*() {
      const monitor = yield* CacheMonitor.make({ cacheName: "alternating" })
      for (let i = 0; i < 5; i++) {
        yield* monitor.recordOperation({ operation: "get", tier: "miss", durationMillis: 1, success: true })
        yield* monitor.recordOperation({ operation: "set", tier: "none", durationMillis: 2, success: true })
      }
      const cache = { "cache.name": "alternating" }
      const miss = { ...cache, "cache.operation": "get", "cache.tier": "miss", "cache.outcome": "miss" }
      const set = { ...cache, "cache.operation": "set", "cache.tier": "none", "cache.outcome": "success" }
      const count = (attributes: Record<string, string>) =>
        Effect.map(Metric.value(Metric.withAttributes(CacheMetrics.operations, attributes)), (state) => state.count)
      const timed = (attributes: Record<string, string>) =>
        Effect.map(Metric.value(Metric.withAttributes(CacheMetrics.operationDuration, attributes)), (state) => state.count)
      assert.strictEqual(yield* count(miss), 5)
      assert.strictEqual(yield* count(set), 5)
      assert.strictEqual(yield* timed(miss), 5)
      assert.strictEqual(yield* timed(set), 5)
      // One series per attribute set: the monitor's own metric objects share the entries.
      const text = yield* PrometheusMetrics.format({ metricNameMapper: CacheMetrics.prometheusNameMapper })
      const setLines = text.split("\n").filter((line) =>
        line.startsWith("cache_operations_total{") && line.includes('cache_name="alternating"') &&
        line.includes('cache_operation="set"')
      )
      assert.deepStrictEqual(setLines.length, 1)
    }))

  it.effect("the Prometheus text format carries the series with their labels and no unit label", () =>
    Effect.gen(function*() {
      const monitor = yield* CacheMonitor.make({ cacheName: "sessions" })
      yield* monitor.attachL1({
        stats: () => ({
          entries: 2, bytes: 64, maxEntries: 10, maxBytes: 1024, hits: 3, misses: 1, evictions: 0, expirations: 0
        })
      })
      yield* monitor.recordOperation({ operation: "get", tier: "l2", durationMillis: 2, success: true })
      const text = yield* PrometheusMetrics.format({ metricNameMapper: CacheMetrics.prometheusNameMapper })
      assert.include(text, "# TYPE cache_hits_total counter")
      assert.match(text, /cache_hits_total\{cache_name="sessions",cache_tier="l1"\} 3/)
      assert.match(text, /cache_l1_memory_usage_bytes\{cache_name="sessions"\} 64/)
      assert.include(text, "# TYPE cache_operation_duration_seconds histogram")
      assert.match(text, /cache_operation_duration_seconds_bucket\{[^}]*le="0\.005"\} 1/)
      assert.notInclude(text, "unit=")
    }).pipe(Effect.provideService(Metric.MetricRegistry, new Map())))
})
