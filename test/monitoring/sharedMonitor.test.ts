/**
 * The monitor tells the truth about real caches: one monitor shared by several
 * caches sees all of them, `Cache.resetStats` never takes a counter back, and the
 * L1 counts are current whenever metrics are read, without `monitor.snapshot`.
 *
 * Every test gets a fresh `Metric.MetricRegistry`, provided outside the layers.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Metric, Option, Scope } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { Cache } from "../../src/Cache.js"
import * as CacheMetrics from "../../src/monitoring/CacheMetrics.js"
import { CacheMonitor } from "../../src/monitoring/CacheMonitor.js"
import { startRedisServer } from "../support/RedisServer.js"

type Attributes = Record<string, string>

const isolated = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => body.pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

const count = (metric: Metric.Counter<number>, attributes: Attributes) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.count)

const gauge = (metric: Metric.Gauge<number>, attributes: Attributes) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.value)

const l1 = (cacheName: string): Attributes => ({ "cache.name": cacheName, "cache.tier": "l1" })

/** Builds a cache layer in `scope` (default: the test's) and returns its cache. */
const buildCache = <E, R>(layer: Layer.Layer<Cache, E, R>, scope?: Scope.Scope) =>
  Effect.map(
    Effect.orDie(scope === undefined ? Layer.build(layer) : Layer.buildWithScope(layer, scope)),
    (context) => Context.get(context, Cache)
  )

describe("one monitor shared by several caches", () => {
  it.live("sees the L1 of every cache, per-cache modes, and keeps a closed cache's counts", () =>
    isolated(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const monitor = yield* CacheMonitor.make({ cacheName: "shared" })
      const shared = Layer.succeed(CacheMonitor, monitor)
      const alphaScope = yield* Scope.make()
      const alpha = yield* buildCache(Cache.layerMemory({ cacheName: "alpha" }).pipe(Layer.provide(shared)), alphaScope)
      const beta = yield* buildCache(
        Cache.layerRedis({ redisUrl: server.url, cacheName: "beta", connectTimeout: "2 seconds" }).pipe(
          Layer.provide(shared)
        )
      )

      yield* alpha.set("a", 1)
      for (let i = 0; i < 3; i++) assert.deepStrictEqual(yield* alpha.get("a"), Option.some(1)) // 3 L1 hits
      assert.isTrue(Option.isNone(yield* alpha.get("absent"))) // a miss
      yield* beta.set("b", 2)
      for (let i = 0; i < 2; i++) assert.deepStrictEqual(yield* beta.get("b"), Option.some(2)) // 2 L1 hits
      assert.isTrue(Option.isNone(yield* beta.get("absent"))) // a miss in both tiers

      const stats = yield* monitor.getPerformanceStats
      assert.strictEqual(stats.l1Hits, 5)
      assert.strictEqual(stats.cacheMisses, 2)
      assert.strictEqual(stats.cacheHitRate, (5 / 7) * 100)
      assert.deepStrictEqual(stats.connection.modes, { alpha: "Memory", beta: "Connected" })
      assert.strictEqual(stats.connection.currentMode, "Connected")
      const memory = yield* monitor.getMemoryUsageStats
      if (memory.noMeasurements) return assert.fail("expected an L1 measurement")
      assert.strictEqual(memory.current.entries, 2) // one entry in each L1

      assert.strictEqual(yield* count(CacheMetrics.hits, l1("alpha")), 3)
      assert.strictEqual(yield* count(CacheMetrics.hits, l1("beta")), 2)
      assert.strictEqual(yield* gauge(CacheMetrics.l1Entries, { "cache.name": "alpha" }), 1)
      assert.strictEqual(yield* gauge(CacheMetrics.l1Entries, { "cache.name": "beta" }), 1)
      assert.strictEqual(yield* gauge(CacheMetrics.mode, { "cache.name": "alpha", "cache.mode.state": "memory" }), 1)
      assert.strictEqual(
        yield* gauge(CacheMetrics.mode, { "cache.name": "beta", "cache.mode.state": "connected" }),
        1
      )

      // alpha goes away: what it counted stays, its size leaves the gauges, beta is still read.
      yield* Scope.close(alphaScope, Exit.void)
      yield* beta.get("b")
      assert.strictEqual(yield* count(CacheMetrics.hits, l1("alpha")), 3)
      assert.strictEqual(yield* count(CacheMetrics.hits, l1("beta")), 3)
      assert.strictEqual(yield* gauge(CacheMetrics.l1Entries, { "cache.name": "alpha" }), 0)
      assert.strictEqual((yield* monitor.getPerformanceStats).l1Hits, 6)
    })))
})

describe("Cache.resetStats", () => {
  it.effect("restarts Cache.stats only: the monitor's hit rate stays right and no metric goes backwards", () =>
    isolated(Effect.gen(function*() {
      const context = yield* Effect.orDie(Layer.build(Cache.layerMemory({ cacheName: "reset" })))
      const cache = Context.get(context, Cache)
      const monitor = Context.get(context, CacheMonitor)
      const nineOfTen = Effect.gen(function*() {
        for (let i = 0; i < 9; i++) yield* cache.get("k")
        yield* cache.get("absent")
      })
      yield* cache.set("k", "v")
      yield* nineOfTen
      assert.strictEqual((yield* monitor.getPerformanceStats).cacheHitRate, 90)
      yield* cache.resetStats
      const zeroed = yield* cache.stats
      assert.deepStrictEqual([zeroed.l1Hits, zeroed.misses, zeroed.sets, zeroed.l1.hits], [0, 0, 0, 0])
      yield* nineOfTen

      const since = yield* cache.stats
      assert.deepStrictEqual([since.l1Hits, since.misses, since.hitRate], [9, 1, 0.9])
      const monitored = yield* monitor.getPerformanceStats
      assert.strictEqual(monitored.cacheHitRate, 90)
      assert.deepStrictEqual([monitored.l1Hits, monitored.cacheMisses], [18, 2])
      assert.strictEqual(yield* count(CacheMetrics.hits, l1("reset")), 18)
      assert.strictEqual(yield* count(CacheMetrics.misses, l1("reset")), 2)

      // The monitor's own reset restarts its analytics only.
      yield* monitor.resetStats
      yield* cache.get("k")
      assert.strictEqual((yield* monitor.getPerformanceStats).l1Hits, 1)
      assert.strictEqual((yield* cache.stats).l1Hits, 10)
      assert.strictEqual(yield* count(CacheMetrics.hits, l1("reset")), 19)
    })))
})

describe("L1 counts at collection time", () => {
  it.effect("Metric.snapshot and a Prometheus scrape see L1 hits made just before, with no monitor snapshot", () =>
    isolated(Effect.gen(function*() {
      // Under the TestClock the monitor's periodic snapshot never runs: only the read can see L1.
      const context = yield* Effect.orDie(Layer.build(Cache.layerMemory({ cacheName: "fresh" })))
      const cache = Context.get(context, Cache)
      yield* cache.set("k", "v")
      for (let i = 0; i < 4; i++) yield* cache.get("k")
      const series = (id: string) =>
        Effect.map(Metric.snapshot, (all) => all.find((s) => s.id === id && s.attributes?.["cache.name"] === "fresh"))
      assert.deepStrictEqual((yield* series("cache.hits"))?.state, { count: 4, incremental: true })
      assert.deepStrictEqual((yield* series("cache.l1.entries"))?.state, { value: 1 })
      yield* cache.get("k")
      const text = yield* PrometheusMetrics.format({ metricNameMapper: CacheMetrics.prometheusNameMapper })
      assert.match(text, /cache_hits_total\{cache_name="fresh",cache_tier="l1"\} 5/)
      const l1Gets = text.split("\n").find((line) =>
        line.startsWith("cache_operations_total{") && line.includes(`cache_operation="get"`) &&
        line.includes(`cache_tier="l1"`)
      )
      assert.match(l1Gets ?? "", /\} 5$/)
    })))
})
