/**
 * The monitor seen through a real cache: scripted sequences of operations on
 * `Cache.layerMemory` and on `Cache.layerRedis` against a real redis-server, then
 * the exact Effect metric values and analytics they must have produced.
 *
 * Every test gets a fresh `Metric.MetricRegistry`, provided outside the cache
 * layers, so the series read here are this test's alone.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Metric, Option, Schedule } from "effect"
import { Cache, type CacheService } from "../../src/Cache.js"
import * as CacheMetrics from "../../src/monitoring/CacheMetrics.js"
import { CacheMonitor } from "../../src/monitoring/CacheMonitor.js"
import { startRedisServer } from "../support/RedisServer.js"

type Attributes = Record<string, string>

/** Builds a cache layer in the test's scope and returns the cache with the monitor it uses. */
const build = <E>(layer: Layer.Layer<Cache | CacheMonitor, E>) =>
  Effect.map(Effect.orDie(Layer.build(layer)), (context) => ({
    cache: Context.get(context, Cache),
    monitor: Context.get(context, CacheMonitor)
  }))

/** A fresh registry per test, outside every layer the test builds. */
const isolated = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => body.pipe(Effect.provideService(Metric.MetricRegistry, new Map())))

const count = (metric: Metric.Counter<number>, attributes: Attributes) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.count)

const gauge = (metric: Metric.Gauge<number>, attributes: Attributes) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.value)

const histogram = (metric: Metric.Histogram<number>, attributes: Attributes) =>
  Metric.value(Metric.withAttributes(metric, attributes))

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** Polls `check` until it holds, failing after `withinMs` (a hang guard, not a timing claim). */
const eventually = <E, R>(label: string, check: Effect.Effect<boolean, E, R>, withinMs = 20_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + withinMs
    while (Date.now() < deadline) {
      if (yield* check) return
      yield* sleep(25)
    }
    assert.fail(`${label}: not reached within ${withinMs} ms`)
  })

const modeIs = (cache: CacheService, mode: string) => Effect.map(cache.status, (status) => status.mode === mode)

/** Every series in the current registry whose attributes mention `text` (keys must never become attributes). */
const seriesMentioning = (text: string) =>
  Effect.map(Metric.snapshot, (snapshots) =>
    snapshots.filter((s) => Object.values(s.attributes ?? {}).some((value) => String(value).includes(text))))

const modeGauges = (cacheName: string) =>
  Effect.all(Object.fromEntries(
    ["connected", "memory_only", "connecting", "memory"].map((state) => [
      state,
      gauge(CacheMetrics.mode, { "cache.name": cacheName, "cache.mode.state": state })
    ])
  ))

describe("monitoring end to end: memory cache", () => {
  it.live("metrics and analytics after a scripted sequence: 7 L1 hits of 10 reads, an eviction, an invalidation, an unserializable value", () =>
    isolated(Effect.gen(function*() {
      const { cache, monitor } = yield* build(Cache.layerMemory({ cacheName: "mem", maxEntries: 4 }))
      const named = (attributes: Attributes = {}): Attributes => ({ "cache.name": "mem", ...attributes })

      // 4 sets fill L1 to its bound.
      for (const key of ["user:1", "user:2", "user:3", "keep:1"]) yield* cache.set(key, { key })
      // 7 reads answered by L1, leaving user:1 the least recently used.
      for (const key of ["user:1", "keep:1", "user:2", "user:3", "keep:1", "user:2", "user:3"]) {
        assert.isTrue(Option.isSome(yield* cache.get(key)), key)
      }
      // 3 misses.
      for (const key of ["absent:1", "absent:2", "absent:3"]) assert.isTrue(Option.isNone(yield* cache.get(key)))

      const reads = yield* monitor.getPerformanceStats
      assert.strictEqual(reads.cacheHitRate, 70)
      assert.strictEqual(reads.cacheHits, 7)
      assert.strictEqual(reads.cacheMisses, 3)
      assert.strictEqual(reads.l1Hits, 7)
      assert.strictEqual(reads.l2Hits, 0)

      // A fifth set evicts user:1; the invalidation removes user:2 and user:3.
      yield* cache.set("keep:2", { key: "keep:2" })
      assert.strictEqual(yield* cache.invalidatePattern("user:"), 2)
      // `exists` reads L1 without counting a hit or a miss.
      assert.deepStrictEqual(
        yield* Effect.forEach(["user:1", "user:2", "user:3", "keep:1", "keep:2"], cache.exists),
        [false, false, false, true, true]
      )
      // A value the JSON serializer refuses: a SerializationError on encode, nothing stored.
      const refused = yield* Effect.flip(cache.set("bigint", 10n))
      assert.strictEqual(refused._tag, "SerializationError")

      const stats = yield* cache.stats
      // L1's counters, read by the metrics themselves (no snapshot needed).
      assert.strictEqual(yield* count(CacheMetrics.hits, named({ "cache.tier": "l1" })), 7)
      assert.strictEqual(yield* count(CacheMetrics.misses, named({ "cache.tier": "l1" })), 3)
      assert.strictEqual(yield* count(CacheMetrics.hits, named({ "cache.tier": "l2" })), 0)
      assert.strictEqual(yield* count(CacheMetrics.misses, named({ "cache.tier": "l2" })), 0) // no Redis was asked
      assert.strictEqual(yield* count(CacheMetrics.l1Evictions, named()), 1)
      assert.strictEqual(yield* count(CacheMetrics.l1Expirations, named()), 0)
      assert.strictEqual(yield* gauge(CacheMetrics.l1Entries, named()), 2)
      assert.strictEqual(yield* gauge(CacheMetrics.l1EntriesLimit, named()), 4)
      assert.strictEqual(yield* gauge(CacheMetrics.l1MemoryUsage, named()), stats.l1.bytes)
      assert.strictEqual(yield* gauge(CacheMetrics.l1MemoryLimit, named()), 64 * 1024 * 1024)
      // Operations: L1 hits from L1's counters; misses, sets and the invalidation recorded from the slow path.
      const op = (operation: string, tier: string, outcome: string) =>
        named({ "cache.operation": operation, "cache.tier": tier, "cache.outcome": outcome })
      assert.strictEqual(yield* count(CacheMetrics.operations, op("get", "l1", "hit")), 7)
      assert.strictEqual(yield* count(CacheMetrics.operations, op("get", "miss", "miss")), 3)
      assert.strictEqual(yield* count(CacheMetrics.operations, op("set", "none", "success")), 5)
      assert.strictEqual((yield* histogram(CacheMetrics.operationDuration, op("get", "miss", "miss"))).count, 3)
      assert.strictEqual((yield* histogram(CacheMetrics.operationDuration, op("set", "none", "success"))).count, 5)
      assert.strictEqual(yield* count(CacheMetrics.operations, op("invalidate", "none", "success")), 1)
      const invalidated = yield* histogram(CacheMetrics.operationDuration, op("invalidate", "none", "success"))
      assert.strictEqual(invalidated.count, 1)
      // A memory cache reports its mode once, without counting a switch.
      assert.deepStrictEqual(yield* modeGauges("mem"), { connected: 0, memory_only: 0, connecting: 0, memory: 1 })
      assert.strictEqual(
        yield* count(CacheMetrics.modeChanges, named({ "cache.mode.from": "memory", "cache.mode.to": "memory" })),
        0
      )
      assert.strictEqual(yield* count(CacheMetrics.invalidations, named()), 1)
      assert.strictEqual(yield* count(CacheMetrics.invalidatedKeys, named()), 2)
      assert.strictEqual(
        yield* count(CacheMetrics.serializationErrors, named({ "cache.serialization.operation": "encode" })),
        1
      )
      assert.strictEqual((yield* histogram(CacheMetrics.compressionUncompressedSize, named())).count, 0)
      for (const key of ["user:", "keep:", "absent:", "bigint"]) assert.deepStrictEqual(yield* seriesMentioning(key), [])

      const performance = yield* monitor.getPerformanceStats
      assert.strictEqual(performance.cacheHitRate, 70)
      // 3 misses, 5 sets, 7 L1 hits, the invalidation and the 5 exists
      assert.strictEqual(performance.totalCacheOperations, 3 + 5 + 7 + 1 + 5)
      assert.deepStrictEqual(performance.serializationErrors, { encode: 1, decode: 0 })
      assert.strictEqual(performance.connection.currentMode, "Memory")
      assert.strictEqual(performance.connection.modeChanges, 0)
      assert.isUndefined(performance.compression)
      assert.strictEqual(performance.cacheOperations?.totalOperations, 8 + 1 + 5)
      assert.strictEqual(performance.cacheOperations?.byOperationType.invalidate?.count, 1)
      assert.strictEqual(performance.cacheOperations?.byOperationType.get?.count, 3)
      assert.strictEqual(performance.cacheOperations?.byOperationType.set?.count, 5)
      const invalidation = performance.invalidation
      assert.isTrue(invalidation !== undefined && !invalidation.noInvalidations)
      if (invalidation !== undefined && !invalidation.noInvalidations) {
        assert.strictEqual(invalidation.totalInvalidations, 1)
        assert.strictEqual(invalidation.totalKeysInvalidated, 2)
        assert.deepStrictEqual(invalidation.patterns.mostCommonPatterns, [{ pattern: "user:", count: 1 }])
        assert.deepStrictEqual(invalidation.patterns.invalidationTypes, { literal: 1 })
        assert.strictEqual(invalidation.efficiency.avgKeysPerInvalidation, 2)
      }
      const memoryUsage = performance.memoryUsage
      assert.isTrue(memoryUsage !== undefined && !memoryUsage.noMeasurements)
      if (memoryUsage !== undefined && !memoryUsage.noMeasurements) {
        assert.strictEqual(memoryUsage.current.entries, 2)
        assert.strictEqual(memoryUsage.current.maxEntries, 4)
        assert.strictEqual(memoryUsage.current.entryUtilizationPercent, 50)
      }
      // The cache's own counters agree with the monitor.
      assert.strictEqual(stats.hitRate, 0.7)
      assert.strictEqual(stats.l1Hits, 7)
      assert.strictEqual(stats.misses, 3)
      assert.strictEqual(stats.sets, 5)
      assert.strictEqual(stats.serializationErrors, 1)
    })))
})

describe("monitoring end to end: Redis cache", () => {
  it.live("metrics and analytics after a scripted sequence: L1 and L2 hits, misses, compression, eviction, invalidation, a corrupt value", () =>
    isolated(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const { cache: writer, monitor: writerMonitor } = yield* build(
        Cache.layerRedis({ redisUrl: server.url, cacheName: "writer", connectTimeout: "2 seconds" })
      )
      const { cache: reader, monitor } = yield* build(Cache.layerRedis({
        redisUrl: server.url,
        cacheName: "reader",
        connectTimeout: "2 seconds",
        l1MaxEntries: 3,
        compressionThreshold: 0
      }))
      const named = (attributes: Attributes = {}): Attributes => ({ "cache.name": "reader", ...attributes })
      const op = (operation: string, tier: string, outcome: string) =>
        named({ "cache.operation": operation, "cache.tier": tier, "cache.outcome": outcome })

      // The writer stores 3 keys; the reader has none of them in L1.
      for (const key of ["user:1", "user:2", "keep:1"]) yield* writer.set(key, { key })
      // 3 reads answered by Redis (L2), which fill the reader's L1 to its bound of 3.
      for (const key of ["user:1", "user:2", "keep:1"]) assert.deepStrictEqual(yield* reader.get(key), Option.some({ key }))
      // 4 reads answered by L1, leaving keep:1 the least recently used.
      for (const key of ["keep:1", "user:1", "user:2", "user:1"]) assert.isTrue(Option.isSome(yield* reader.get(key)))
      // 3 misses in both tiers.
      for (const key of ["absent:1", "absent:2", "absent:3"]) assert.isTrue(Option.isNone(yield* reader.get(key)))

      const reads = yield* monitor.getPerformanceStats
      assert.strictEqual(reads.cacheHitRate, 70)
      assert.strictEqual(reads.cacheHits, 7)
      assert.strictEqual(reads.cacheMisses, 3)
      assert.strictEqual(reads.l1Hits, 4)
      assert.strictEqual(reads.l2Hits, 3)

      // A compressed set (threshold 0, a compressible value) that evicts keep:1 from the full L1.
      const big = "abc".repeat(2000)
      yield* reader.set("big", big)
      const originalSize = Buffer.byteLength(JSON.stringify(big))
      const storedSize = Number(yield* server.cli("STRLEN", "cache:big"))
      assert.isBelow(storedSize, originalSize)
      // The invalidation finds user:1 and user:2 in both the reader's L1 and Redis.
      assert.strictEqual(yield* reader.invalidatePattern("user:"), 2)
      // A value that is not ours: a SerializationError on decode.
      yield* server.cli("SET", "cache:corrupt", "not an effect-redis-cache envelope")
      const corrupt = yield* Effect.flip(reader.get("corrupt"))
      assert.strictEqual(corrupt._tag, "SerializationError")
      assert.strictEqual((corrupt as { operation?: string }).operation, "decode")

      yield* monitor.snapshot
      const stats = yield* reader.stats
      assert.strictEqual(yield* count(CacheMetrics.hits, named({ "cache.tier": "l1" })), 4)
      assert.strictEqual(yield* count(CacheMetrics.hits, named({ "cache.tier": "l2" })), 3)
      // Every lookup passed through L1: 3 that Redis answered, 3 absent, 1 corrupt.
      assert.strictEqual(yield* count(CacheMetrics.misses, named({ "cache.tier": "l1" })), 7)
      assert.strictEqual(yield* count(CacheMetrics.misses, named({ "cache.tier": "l2" })), 3)
      assert.strictEqual(yield* count(CacheMetrics.operations, op("get", "l1", "hit")), 4)
      assert.strictEqual(yield* count(CacheMetrics.operations, op("get", "l2", "hit")), 3)
      assert.strictEqual(yield* count(CacheMetrics.operations, op("get", "miss", "miss")), 3)
      assert.strictEqual(yield* count(CacheMetrics.operations, op("set", "none", "success")), 1)
      const l2Latency = yield* histogram(CacheMetrics.operationDuration, op("get", "l2", "hit"))
      assert.strictEqual(l2Latency.count, 3)
      assert.isAbove(l2Latency.sum, 0)
      assert.strictEqual((yield* histogram(CacheMetrics.operationDuration, op("get", "miss", "miss"))).count, 3)
      assert.strictEqual(yield* count(CacheMetrics.l1Evictions, named()), 1)
      assert.strictEqual(yield* gauge(CacheMetrics.l1Entries, named()), 1) // "big" alone
      assert.strictEqual(yield* gauge(CacheMetrics.l1EntriesLimit, named()), 3)
      assert.strictEqual(yield* gauge(CacheMetrics.l1MemoryUsage, named()), stats.l1.bytes)
      assert.strictEqual(yield* gauge(CacheMetrics.l1MemoryUsage, named()), originalSize) // L1 weighs the uncompressed size
      const uncompressed = yield* histogram(CacheMetrics.compressionUncompressedSize, named())
      const compressed = yield* histogram(CacheMetrics.compressionCompressedSize, named())
      assert.deepStrictEqual([uncompressed.count, uncompressed.sum], [1, originalSize])
      assert.deepStrictEqual([compressed.count, compressed.sum], [1, storedSize])
      assert.strictEqual((yield* histogram(CacheMetrics.compressionDuration, named())).count, 1)
      assert.strictEqual(yield* count(CacheMetrics.invalidations, named()), 1)
      assert.strictEqual(yield* count(CacheMetrics.invalidatedKeys, named()), 2)
      assert.strictEqual(
        yield* count(CacheMetrics.serializationErrors, named({ "cache.serialization.operation": "decode" })),
        1
      )
      assert.deepStrictEqual(yield* modeGauges("reader"), { connected: 1, memory_only: 0, connecting: 0, memory: 0 })
      assert.strictEqual(
        yield* count(CacheMetrics.modeChanges, named({ "cache.mode.from": "connecting", "cache.mode.to": "connected" })),
        1
      )
      // The writer's series are its own.
      const writerSets = { "cache.name": "writer", "cache.operation": "set", "cache.tier": "none", "cache.outcome": "success" }
      assert.strictEqual(yield* count(CacheMetrics.operations, writerSets), 3)
      assert.strictEqual(yield* count(CacheMetrics.hits, { "cache.name": "writer", "cache.tier": "l2" }), 0)
      assert.strictEqual((yield* writerMonitor.getPerformanceStats).cacheHits, 0)
      for (const key of ["user:", "keep:", "absent:", "corrupt", "big"]) {
        assert.deepStrictEqual(yield* seriesMentioning(key), [])
      }

      const performance = yield* monitor.getPerformanceStats
      assert.strictEqual(performance.cacheHitRate, 70)
      assert.strictEqual(performance.l1Hits, 4)
      assert.strictEqual(performance.l2Hits, 3)
      // the recorded operations above, plus the failed (corrupt) get and the invalidation
      assert.strictEqual(performance.totalCacheOperations, 3 + 3 + 1 + 4 + 1 + 1)
      assert.deepStrictEqual(performance.serializationErrors, { encode: 0, decode: 1 })
      assert.strictEqual(performance.connection.currentMode, "Connected")
      assert.strictEqual(performance.connection.modeChanges, 1)
      assert.strictEqual(performance.connection.reconnectAttempts, 0)
      const compression = yield* monitor.getCompressionStats
      assert.isFalse(compression.noMeasurements)
      if (!compression.noMeasurements) {
        assert.strictEqual(compression.totalOperations, 1)
        assert.strictEqual(compression.totalBytesProcessed, originalSize)
        assert.strictEqual(compression.totalBytesSaved, originalSize - storedSize)
        assert.strictEqual(compression.avgCompressionRatio, storedSize / originalSize)
      }
      assert.deepStrictEqual(performance.compression, compression)
      const invalidation = yield* monitor.getInvalidationFrequencyStats
      assert.isFalse(invalidation.noInvalidations)
      if (!invalidation.noInvalidations) {
        assert.strictEqual(invalidation.totalInvalidations, 1)
        assert.strictEqual(invalidation.totalKeysInvalidated, 2)
        assert.strictEqual(invalidation.rates.lastHour, 1)
        assert.strictEqual(invalidation.thresholds.currentAlertLevel, "normal")
        assert.deepStrictEqual(invalidation.patterns.mostCommonPatterns, [{ pattern: "user:", count: 1 }])
      }
      assert.strictEqual(stats.hitRate, 0.7)
      assert.deepStrictEqual([stats.l1Hits, stats.l2Hits, stats.misses, stats.sets], [4, 3, 3, 1])
      assert.strictEqual(stats.serializationErrors, 1)
    })))

  // A failed operation reaches the monitor with its error's tag.
  it.live("a get that fails on a corrupt value is counted in cache.errors and the failed operations", () =>
    isolated(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const { cache, monitor } = yield* build(
        Cache.layerRedis({ redisUrl: server.url, cacheName: "errors", connectTimeout: "2 seconds" })
      )
      yield* server.cli("SET", "cache:corrupt", "not an effect-redis-cache envelope")
      assert.strictEqual((yield* Effect.flip(cache.get("corrupt")))._tag, "SerializationError")
      const failures = { "cache.name": "errors", "cache.operation": "get", "error.type": "SerializationError" }
      const performance = yield* monitor.getPerformanceStats
      assert.strictEqual(performance.cacheOperations?.failedOperations, 1)
      assert.deepStrictEqual(performance.cacheOperations?.errorsByType, { SerializationError: 1 })
      assert.strictEqual(yield* count(CacheMetrics.errors, failures), 1)
    })))

  // Keys found in Redis only are counted, and a connected cache queues nothing for replay.
  it.live("invalidatePattern on a connected cache counts the keys Redis removed and queues nothing", () =>
    isolated(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const { cache: writer } = yield* build(
        Cache.layerRedis({ redisUrl: server.url, cacheName: "writer", connectTimeout: "2 seconds" })
      )
      const { cache, monitor } = yield* build(
        Cache.layerRedis({ redisUrl: server.url, cacheName: "invalidator", connectTimeout: "2 seconds" })
      )
      for (const key of ["user:1", "user:2", "user:3"]) yield* writer.set(key, key)
      // The invalidator has none of them in its L1: only Redis can say how many went.
      assert.strictEqual(yield* cache.invalidatePattern("user:"), 3)
      assert.strictEqual(yield* server.cli("DBSIZE"), "0")
      assert.strictEqual((yield* cache.status).pendingReplay, 0)
      const invalidation = yield* monitor.getInvalidationFrequencyStats
      assert.isTrue(!invalidation.noInvalidations && invalidation.totalKeysInvalidated === 3)
      assert.strictEqual(yield* count(CacheMetrics.invalidatedKeys, { "cache.name": "invalidator" }), 3)
    })))

  it.live("degraded switches, reconnect attempts and replayed writes when Redis is killed and restarted", () =>
    isolated(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const { cache, monitor } = yield* build(Cache.layerRedis({
        redisUrl: server.url,
        cacheName: "flaky",
        connectTimeout: "500 millis",
        commandTimeout: "300 millis",
        reconnectSchedule: Schedule.spaced("100 millis")
      }))
      const named = (attributes: Attributes = {}): Attributes => ({ "cache.name": "flaky", ...attributes })
      const switches = (from: string, to: string) =>
        count(CacheMetrics.modeChanges, named({ "cache.mode.from": from, "cache.mode.to": to }))
      const attempts = (outcome: "success" | "failure") =>
        count(CacheMetrics.reconnectAttempts, named({ "cache.reconnect.outcome": outcome }))
      const replays = (result: "replayed" | "skipped" | "dropped") =>
        count(CacheMetrics.replayedWrites, named({ "cache.replay.result": result }))
      const modes: Array<string> = []
      yield* cache.registerCallback("mode_change", (from, to) => modes.push(`${from}->${to}`))
      yield* cache.set("before", 1)
      assert.deepStrictEqual(yield* modeGauges("flaky"), { connected: 1, memory_only: 0, connecting: 0, memory: 0 })

      yield* server.kill
      yield* eventually("MemoryOnly after the kill", modeIs(cache, "MemoryOnly"))
      assert.deepStrictEqual(yield* modeGauges("flaky"), { connected: 0, memory_only: 1, connecting: 0, memory: 0 })
      assert.strictEqual(yield* switches("connected", "memory_only"), 1)
      // While degraded: 3 writes and a delete are queued; a lookup misses in L1 alone.
      for (const key of ["during:1", "during:2", "during:3"]) yield* cache.set(key, key)
      yield* cache.delete("before")
      assert.isTrue(Option.isNone(yield* cache.get("absent")))
      yield* eventually("two failed reconnect attempts", Effect.map(attempts("failure"), (n) => n >= 2))
      assert.strictEqual(yield* attempts("success"), 0)

      yield* server.restart
      yield* eventually("Connected after the restart", modeIs(cache, "Connected"))
      yield* eventually(
        "the replay recorded",
        Effect.map(monitor.exportMetrics, (exported) => exported.replays.length === 1)
      )
      yield* monitor.snapshot

      assert.deepStrictEqual(modes, ["Connected->MemoryOnly", "MemoryOnly->Connected"])
      assert.deepStrictEqual(yield* modeGauges("flaky"), { connected: 1, memory_only: 0, connecting: 0, memory: 0 })
      assert.strictEqual(yield* switches("connecting", "connected"), 1)
      assert.strictEqual(yield* switches("connected", "memory_only"), 1)
      assert.strictEqual(yield* switches("memory_only", "connected"), 1)
      const status = yield* cache.status
      const failures = yield* attempts("failure")
      assert.strictEqual(yield* attempts("success"), 1)
      assert.isAtLeast(failures, 2)
      assert.strictEqual(status.reconnectAttempts, failures + 1)
      assert.strictEqual(status.pendingReplay, 0)
      assert.deepStrictEqual([yield* replays("replayed"), yield* replays("skipped"), yield* replays("dropped")], [4, 0, 0])
      // The degraded lookup missed in L1 only: Redis was not asked.
      assert.strictEqual(yield* count(CacheMetrics.misses, named({ "cache.tier": "l2" })), 0)
      assert.strictEqual(yield* count(CacheMetrics.misses, named({ "cache.tier": "l1" })), 1)
      const missedGets = named({ "cache.operation": "get", "cache.tier": "miss", "cache.outcome": "miss" })
      assert.strictEqual(yield* count(CacheMetrics.operations, missedGets), 1)

      const performance = yield* monitor.getPerformanceStats
      assert.deepStrictEqual(performance.connection, {
        currentMode: "Connected",
        modes: { flaky: "Connected" },
        modeChanges: 3,
        reconnectAttempts: failures + 1,
        reconnectFailures: failures,
        replayedWrites: 4,
        skippedWrites: 0,
        droppedWrites: 0
      })
      const exported = yield* monitor.exportMetrics
      assert.deepStrictEqual(exported.modeChanges.map((c) => `${c.from}->${c.to}`), [
        "Connecting->Connected",
        "Connected->MemoryOnly",
        "MemoryOnly->Connected"
      ])
      assert.deepStrictEqual(exported.replays.map((r) => [r.replayed, r.skipped, r.dropped]), [[4, 0, 0]])
      // The replay reached Redis.
      assert.strictEqual(yield* server.cli("EXISTS", "cache:during:1", "cache:during:2", "cache:during:3"), "3")
      assert.strictEqual(yield* server.cli("EXISTS", "cache:before"), "0")
    })))

  it.live("retention through the cache: a provided monitor with maxMeasurements 10 keeps 10 of 50 operations", () =>
    isolated(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const { cache, monitor } = yield* build(
        Cache.layerRedis({ redisUrl: server.url, cacheName: "bounded", connectTimeout: "2 seconds" }).pipe(
          Layer.provide(CacheMonitor.layer({ maxMeasurements: 10, cacheName: "bounded" }))
        )
      )
      // 25 writes then 25 misses: 50 operations that all reach Redis.
      for (let i = 0; i < 25; i++) yield* cache.set(`bounded:${i}`, i)
      for (let i = 0; i < 25; i++) assert.isTrue(Option.isNone(yield* cache.get(`missing:${i}`)))
      // Each analytics read takes a memory snapshot: 15 reads, at most 10 kept.
      for (let i = 0; i < 15; i++) yield* monitor.getPerformanceStats

      const exported = yield* monitor.exportMetrics
      assert.strictEqual(exported.cacheOperationTimes.length, 10)
      // The newest are kept: the last 10 were misses.
      assert.isTrue(exported.cacheOperationTimes.every((record) => record.operation === "get" && record.tier === "miss"))
      assert.strictEqual(exported.memoryUsageMeasurements.length, 10)
      assert.strictEqual(exported.totalOperations, 50)
      assert.strictEqual(exported.cacheMisses, 25)
      assert.strictEqual(
        (yield* monitor.getPerformanceStats).cacheOperations?.totalOperations,
        10,
        "timings are computed over the retained records"
      )
      // The counters are not bounded by the retention.
      const sets = { "cache.name": "bounded", "cache.operation": "set", "cache.tier": "none", "cache.outcome": "success" }
      assert.strictEqual(yield* count(CacheMetrics.operations, sets), 25)
    })))
})
