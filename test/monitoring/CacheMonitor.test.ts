import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Metric, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as CacheMetrics from "../../src/monitoring/CacheMetrics.js"
import {
  type AnsweringTier,
  type CacheMonitorOptions,
  type CacheOperation,
  CacheMonitor,
  type L1Source
} from "../../src/monitoring/CacheMonitor.js"

const MiB = 1024 * 1024

/** A stand-in for L1's counters, mutated by the tests the way L1 would. */
const makeL1 = (initial: Partial<ReturnType<L1Source["stats"]>> = {}) => {
  const stats = {
    entries: 0,
    bytes: 0,
    maxEntries: 100,
    maxBytes: 64 * MiB,
    hits: 0,
    misses: 0,
    evictions: 0,
    expirations: 0,
    ...initial
  }
  return { stats, source: { stats: () => ({ ...stats }) } satisfies L1Source }
}

/** A monitor in a fresh metric registry, so tests never see each other's metrics. */
const withMonitor = <A, E>(
  options: CacheMonitorOptions,
  body: (monitor: CacheMonitor["Service"]) => Effect.Effect<A, E, Scope.Scope>
) =>
  Effect.gen(function*() {
    const monitor = yield* CacheMonitor.make(options)
    return yield* body(monitor)
  }).pipe(Effect.provideService(Metric.MetricRegistry, new Map()))

/** A successful operation of `durationMillis` answered by `tier`. */
const ok = (monitor: CacheMonitor["Service"], operation: CacheOperation, tier: AnsweringTier, durationMillis = 1) =>
  monitor.recordOperation({ operation, tier, durationMillis, success: true })

/** A failed operation. */
const failed = (monitor: CacheMonitor["Service"], operation: CacheOperation, errorTag: string, durationMillis = 1) =>
  monitor.recordOperation({ operation, tier: "none", durationMillis, success: false, errorTag })

const metricCount = (metric: Metric.Counter<number>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.count)

const gaugeValue = (metric: Metric.Gauge<number>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.value)

describe("CacheMonitor analytics", () => {
  it.effect("hit rate is hits / (hits + misses) over gets only, L1 hits included: 7 of 10 reads is 70%", () =>
    withMonitor({}, (monitor) =>
      Effect.gen(function*() {
        const l1 = makeL1({ hits: 5, misses: 5 })
        yield* monitor.attachL1(l1.source)
        for (let i = 0; i < 2; i++) yield* ok(monitor, "get", "l2")
        for (let i = 0; i < 3; i++) yield* ok(monitor, "get", "miss")
        // Writes must not dilute the hit rate (the original divided by every operation).
        for (let i = 0; i < 12; i++) yield* ok(monitor, "set", "none")
        const stats = yield* monitor.getPerformanceStats
        assert.strictEqual(stats.cacheHitRate, 70)
        assert.strictEqual(stats.cacheHits, 7)
        assert.strictEqual(stats.cacheMisses, 3)
        assert.strictEqual(stats.l1Hits, 5)
        assert.strictEqual(stats.l2Hits, 2)
        assert.strictEqual(stats.totalCacheOperations, 17 + 5)
      })))

  it.effect("a recorded L1 get counts once: L1's own counter is the truth when attached", () =>
    withMonitor({}, (monitor) =>
      Effect.gen(function*() {
        yield* monitor.recordOperation({ operation: "get", tier: "l1", durationMillis: 1, success: true })
        assert.strictEqual((yield* monitor.getPerformanceStats).l1Hits, 1)
        yield* monitor.attachL1(makeL1({ hits: 4 }).source)
        // Counted by the attached L1 already: timed, not counted again.
        yield* monitor.recordOperation({ operation: "get", tier: "l1", durationMillis: 1, success: true })
        const stats = yield* monitor.getPerformanceStats
        // The hit recorded before L1 was attached stays counted: counts never go back.
        assert.strictEqual(stats.l1Hits, 1 + 4)
        assert.strictEqual(stats.totalCacheOperations, 2 + 4)
        assert.strictEqual(stats.cacheHitRate, 100)
        assert.strictEqual(yield* metricCount(CacheMetrics.hits, { "cache.tier": "l1" }), 5)
      })))

  it.effect("duration statistics: mean, median, nearest-rank p95/p99, max, min, slow count, per operation", () =>
    withMonitor({}, (monitor) =>
      Effect.gen(function*() {
        for (let ms = 1; ms <= 100; ms++) {
          yield* ok(monitor, ms % 2 === 0 ? "set" : "get", "none", ms)
        }
        yield* failed(monitor, "delete", "ConnectionError", 5)
        const ops = (yield* monitor.getPerformanceStats).cacheOperations
        assert.isDefined(ops)
        assert.strictEqual(ops!.totalOperations, 101)
        assert.strictEqual(ops!.maxDurationMillis, 100)
        assert.strictEqual(ops!.minDurationMillis, 1)
        assert.strictEqual(ops!.medianDurationMillis, 50)
        // 101 samples (1..100 and one more 5 ms): nearest rank 96 and 100 of the sorted list.
        assert.strictEqual(ops!.p95DurationMillis, 95)
        assert.strictEqual(ops!.p99DurationMillis, 99)
        assert.strictEqual(ops!.slowOperations, 50) // 51..100 ms are above the 50 ms default
        assert.strictEqual(ops!.failedOperations, 1)
        assert.deepStrictEqual(ops!.errorsByType, { ConnectionError: 1 })
        const sets = ops!.byOperationType.set!
        assert.strictEqual(sets.count, 50)
        assert.strictEqual(sets.avgDurationMillis, 51)
        assert.strictEqual(sets.medianDurationMillis, 51)
        assert.strictEqual(sets.p95DurationMillis, 96)
        assert.strictEqual(sets.p99DurationMillis, 100)
        assert.strictEqual(sets.maxDurationMillis, 100)
        assert.strictEqual(ops!.byOperationType.delete!.count, 1)
      })))

  it.effect("compression: ratios, bytes processed and saved", () =>
    withMonitor({}, (monitor) =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* monitor.getCompressionStats, { noMeasurements: true })
        yield* monitor.recordCompression({ originalSize: 1000, compressedSize: 250, durationMillis: 2 })
        yield* monitor.recordCompression({ originalSize: 3000, compressedSize: 1500, durationMillis: 4 })
        const stats = yield* monitor.getCompressionStats
        assert.isFalse(stats.noMeasurements)
        if (stats.noMeasurements) return
        assert.strictEqual(stats.totalOperations, 2)
        assert.strictEqual(stats.bestCompressionRatio, 0.25)
        assert.strictEqual(stats.worstCompressionRatio, 0.5)
        assert.strictEqual(stats.avgCompressionRatio, 0.375)
        assert.strictEqual(stats.avgCompressionTimeMillis, 3)
        assert.strictEqual(stats.totalBytesProcessed, 4000)
        assert.strictEqual(stats.totalBytesSaved, 2250)
        assert.strictEqual(stats.overallSavingsPercent, 56.25)
        assert.isDefined((yield* monitor.getPerformanceStats).compression)
      })))

  it.effect("memory: thresholds crossing into warning, critical, and L1 near its real bounds", () =>
    withMonitor({ memoryWarningThresholdBytes: 50 * MiB, memoryCriticalThresholdBytes: 100 * MiB }, (monitor) =>
      Effect.gen(function*() {
        const empty = yield* monitor.getMemoryUsageStats
        assert.deepStrictEqual(empty, { noMeasurements: true, warningThresholdMiB: 50, criticalThresholdMiB: 100 })

        const l1 = makeL1({ entries: 10, bytes: 40 * MiB, maxEntries: 1000, maxBytes: 200 * MiB })
        yield* monitor.attachL1(l1.source)
        assert.deepStrictEqual(yield* monitor.getMemoryWarnings, [])

        l1.stats.bytes = 60 * MiB
        const warning = yield* monitor.getMemoryWarnings
        assert.deepStrictEqual(warning.map((w) => w.severity), ["warning"])
        assert.match(warning[0]!.message, /60\.0 MiB.*warning threshold of 50\.0 MiB/)

        l1.stats.bytes = 190 * MiB
        l1.stats.entries = 950
        const critical = yield* monitor.getMemoryWarnings
        assert.deepStrictEqual(critical.map((w) => w.severity), ["critical", "info", "info"])
        assert.match(critical[1]!.message, /95\.0% full \(950\/1000 entries\)/)
        assert.match(critical[2]!.message, /95\.0% of its byte bound/)

        const stats = yield* monitor.getMemoryUsageStats
        assert.isFalse(stats.noMeasurements)
        if (stats.noMeasurements) return
        assert.strictEqual(stats.current.sizeMiB, 190)
        assert.strictEqual(stats.current.byteUtilizationPercent, 95)
        assert.strictEqual(stats.current.entryUtilizationPercent, 95)
        assert.strictEqual(stats.current.cacheUtilizationPercent, 380)
        assert.strictEqual(stats.current.avgEntrySizeBytes, (190 * MiB) / 950)
        assert.isTrue(stats.thresholds.warningThresholdReached)
        assert.isTrue(stats.thresholds.criticalThresholdReached)
        assert.strictEqual(stats.trends.maxSizeMiB, 190)
        assert.strictEqual(stats.trends.maxEntryCount, 950)
      })))

  it.effect("memory trend: growth rate per hour over the last 10 snapshots", () =>
    withMonitor({ snapshotInterval: "1 minute" }, (monitor) =>
      Effect.gen(function*() {
        const l1 = makeL1({ entries: 1, bytes: 0, maxBytes: 1024 * MiB })
        yield* monitor.attachL1(l1.source) // snapshot at t = 0
        for (let minute = 1; minute <= 12; minute++) {
          l1.stats.bytes = minute * MiB
          yield* TestClock.adjust("1 minute") // a periodic snapshot per minute
        }
        const stats = yield* monitor.getMemoryUsageStats // one more snapshot, at 12 MiB
        if (stats.noMeasurements) return assert.fail("expected measurements")
        assert.strictEqual(stats.trends.totalMeasurements, 14)
        // The last 10 snapshots: 4 MiB at minute 4 ... 12 MiB twice at minute 12, so 8 MiB over 8 minutes.
        assert.strictEqual(stats.trends.growthRateMiBPerHour, 60)
        assert.strictEqual(stats.trends.maxSizeMiB, 12)
      })))

  it.effect("invalidation alert levels follow the events of the last hour", () =>
    withMonitor({ retention: "2 hours", invalidationWarningPerHour: 3, invalidationCriticalPerHour: 5 }, (monitor) =>
      Effect.gen(function*() {
        const none = yield* monitor.getInvalidationFrequencyStats
        assert.deepStrictEqual(none, {
          noInvalidations: true,
          totalInvalidations: 0,
          totalKeysInvalidated: 0,
          warningThresholdPerHour: 3,
          criticalThresholdPerHour: 5
        })
        const level = Effect.map(
          monitor.getInvalidationFrequencyStats,
          (s) => s.noInvalidations ? "none" : s.thresholds.currentAlertLevel
        )
        const invalidate = (pattern: string, keys: number) =>
          monitor.recordInvalidation({ pattern, keysInvalidated: keys, durationMillis: 2 })
        yield* invalidate("user:*", 2)
        yield* invalidate("user:*", 4)
        assert.strictEqual(yield* level, "normal")
        yield* invalidate("session:*", 6)
        assert.strictEqual(yield* level, "warning")
        yield* invalidate("user:*", 0)
        yield* invalidate("user:*", 3)
        assert.strictEqual(yield* level, "critical")
        const stats = yield* monitor.getInvalidationFrequencyStats
        if (stats.noInvalidations) return assert.fail("expected invalidations")
        assert.deepStrictEqual(stats.rates, { lastHour: 5, last24Hours: 5, averagePerHour: 2.5 })
        assert.deepStrictEqual(stats.patterns.mostCommonPatterns, [
          { pattern: "user:*", count: 4 },
          { pattern: "session:*", count: 1 }
        ])
        assert.deepStrictEqual(stats.patterns.invalidationTypes, { manual: 5 })
        assert.strictEqual(stats.efficiency.avgKeysPerInvalidation, 3)
        assert.strictEqual(stats.totalKeysInvalidated, 15)
        yield* TestClock.adjust("61 minutes")
        assert.strictEqual(yield* level, "normal") // still retained, but not in the last hour
      })))

  it.effect("invalidation recommendations: frequency, dominant pattern, low efficiency", () =>
    withMonitor({ invalidationWarningPerHour: 2, invalidationCriticalPerHour: 4 }, (monitor) =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* monitor.getInvalidationRecommendations, [])
        for (let i = 0; i < 3; i++) {
          yield* monitor.recordInvalidation({ pattern: "user:*", keysInvalidated: 0, durationMillis: 1 })
        }
        const recommendations = yield* monitor.getInvalidationRecommendations
        assert.deepStrictEqual(recommendations.map((r) => [r.issue, r.severity]), [
          ["High invalidation frequency", "warning"],
          ["Dominant invalidation pattern", "info"],
          ["Low invalidation efficiency", "info"]
        ])
        assert.strictEqual(recommendations[0]!.message, "Cache is being invalidated 3 times per hour")
        assert.strictEqual(recommendations[1]!.message, "Pattern 'user:*' accounts for 3 of the last 3 invalidations")
        yield* monitor.recordInvalidation({ pattern: "a:*", keysInvalidated: 0, durationMillis: 1 })
        const critical = yield* monitor.getInvalidationRecommendations
        assert.strictEqual(critical[0]!.severity, "critical")
      })))

  it.effect("invalidation recommendations: high impact, and no dominant pattern when patterns are spread", () =>
    withMonitor({}, (monitor) =>
      Effect.gen(function*() {
        yield* monitor.recordInvalidation({ pattern: "a:*", keysInvalidated: 150, durationMillis: 1 })
        yield* monitor.recordInvalidation({ pattern: "b:*", keysInvalidated: 250, durationMillis: 1 })
        const recommendations = yield* monitor.getInvalidationRecommendations
        assert.deepStrictEqual(
          recommendations.map((r) => [r.issue, r.severity]),
          [["High invalidation impact", "warning"]]
        )
        assert.strictEqual(recommendations[0]!.message, "Average of 200 keys invalidated per operation")
      })))

  it.effect("slow operations: baseline is the mean of the fastest 80%", () =>
    withMonitor({}, (monitor) =>
      Effect.gen(function*() {
        for (const ms of [10, 10, 10, 10, 10, 10, 10, 10, 20, 100]) {
          yield* monitor.recordOperation({ operation: "get", tier: "l2", durationMillis: ms, success: true })
        }
        yield* monitor.recordKeyGeneration({ durationMillis: 5, textLength: 10, operation: "summarize" })
        const slow = yield* monitor.getRecentSlowOperations()
        assert.deepStrictEqual(slow.cacheOperations.map((s) => [s.durationMillis, s.timesSlower]), [[20, 2], [100, 10]])
        assert.strictEqual(slow.cacheOperations[0]!.timestamp, new Date(0).toISOString())
        assert.deepStrictEqual(slow.keyGeneration, []) // a single sample is its own baseline: 1x
        assert.deepStrictEqual(slow.compression, [])
        const verySlow = yield* monitor.getRecentSlowOperations(5)
        assert.deepStrictEqual(verySlow.cacheOperations.map((s) => s.durationMillis), [100])
        const bad = yield* Effect.exit(monitor.getRecentSlowOperations(0))
        assert.isTrue(Exit.isFailure(bad))
      })))

  it.effect("key generation statistics", () =>
    withMonitor({}, (monitor) =>
      Effect.gen(function*() {
        yield* monitor.recordKeyGeneration({ durationMillis: 50, textLength: 100 })
        yield* monitor.recordKeyGeneration({ durationMillis: 150, textLength: 300, operation: "summarize" })
        const stats = (yield* monitor.getPerformanceStats).keyGeneration!
        assert.strictEqual(stats.totalOperations, 2)
        assert.strictEqual(stats.avgDurationMillis, 100)
        assert.strictEqual(stats.avgTextLength, 200)
        assert.strictEqual(stats.maxTextLength, 300)
        assert.strictEqual(stats.slowOperations, 1)
      })))

  it.effect("connection health: modes, reconnects, replays", () =>
    withMonitor({}, (monitor) =>
      Effect.gen(function*() {
        assert.strictEqual((yield* monitor.getPerformanceStats).connection.currentMode, "Unknown")
        yield* monitor.recordModeChange("Connecting", "Connecting", "starting")
        yield* monitor.recordModeChange("Connecting", "Connected", "connected")
        yield* monitor.recordModeChange("Connected", "MemoryOnly", "ECONNREFUSED")
        yield* monitor.recordReconnectAttempt(false)
        yield* monitor.recordReconnectAttempt(true)
        yield* monitor.recordModeChange("MemoryOnly", "Connected", "reconnected")
        yield* monitor.recordReplay({ replayed: 3, skipped: 1, dropped: 0, durationMillis: 4 })
        yield* monitor.recordSerializationError("decode")
        const stats = yield* monitor.getPerformanceStats
        assert.deepStrictEqual(stats.connection, {
          currentMode: "Connected",
          modes: { default: "Connected" },
          modeChanges: 3,
          reconnectAttempts: 2,
          reconnectFailures: 1,
          replayedWrites: 3,
          skippedWrites: 1,
          droppedWrites: 0
        })
        assert.deepStrictEqual(stats.serializationErrors, { encode: 0, decode: 1 })
        const exported = yield* monitor.exportMetrics
        assert.deepStrictEqual(exported.modeChanges.map((m) => m.to), ["Connected", "MemoryOnly", "Connected"])
        assert.strictEqual(exported.replays.length, 1)
      })))

  it.effect("resetStats forgets records and counters; L1 counts restart from the reset", () =>
    withMonitor({}, (monitor) =>
      Effect.gen(function*() {
        const l1 = makeL1({ hits: 10 })
        yield* monitor.attachL1(l1.source)
        yield* monitor.recordOperation({ operation: "get", tier: "miss", durationMillis: 1, success: true })
        yield* monitor.recordInvalidation({ pattern: "x", keysInvalidated: 1, durationMillis: 1 })
        yield* monitor.resetStats
        l1.stats.hits = 12
        const stats = yield* monitor.getPerformanceStats
        assert.strictEqual(stats.l1Hits, 2)
        assert.strictEqual(stats.cacheMisses, 0)
        assert.isUndefined(stats.cacheOperations)
        assert.isUndefined(stats.invalidation)
        const exported = yield* monitor.exportMetrics
        assert.strictEqual(exported.totalInvalidations, 0)
        assert.strictEqual(exported.cacheOperationTimes.length, 0)
      })))

  it.effect("exportMetrics returns every list and counter with a timestamp", () =>
    withMonitor({}, (monitor) =>
      Effect.gen(function*() {
        yield* TestClock.adjust("5 seconds")
        yield* monitor.recordOperation({
          operation: "set",
          tier: "none",
          durationMillis: 3,
          success: true,
          textLength: 42
        })
        yield* monitor.recordCompression({ originalSize: 10, compressedSize: 5, durationMillis: 1, operation: "set" })
        yield* monitor.recordKeyGeneration({ durationMillis: 1, textLength: 5, additionalData: { model: "x" } })
        const exported = yield* monitor.exportMetrics
        assert.deepStrictEqual(exported.cacheOperationTimes, [
          { timestamp: 5000, operation: "set", tier: "none", durationMillis: 3, success: true, textLength: 42 }
        ])
        assert.strictEqual(exported.compressionRatios[0]!.compressionRatio, 0.5)
        assert.deepStrictEqual(exported.keyGenerationTimes[0]!.additionalData, { model: "x" })
        assert.strictEqual(exported.totalOperations, 1)
        assert.strictEqual(exported.exportTimestamp, new Date(5000).toISOString())
      })))
})

describe("CacheMonitor retention", () => {
  it.effect("drops records older than the retention (by the Effect Clock)", () =>
    withMonitor({ retention: "1 minute" }, (monitor) =>
      Effect.gen(function*() {
        yield* monitor.recordOperation({ operation: "get", tier: "miss", durationMillis: 1, success: true })
        yield* monitor.recordInvalidation({ pattern: "p", keysInvalidated: 1, durationMillis: 1 })
        yield* TestClock.adjust("30 seconds")
        yield* monitor.recordOperation({ operation: "get", tier: "miss", durationMillis: 2, success: true })
        // The invalidation is an operation too.
        assert.strictEqual((yield* monitor.exportMetrics).cacheOperationTimes.length, 3)
        yield* TestClock.adjust("31 seconds")
        const exported = yield* monitor.exportMetrics
        assert.deepStrictEqual(exported.cacheOperationTimes.map((r) => r.durationMillis), [2])
        assert.strictEqual(exported.invalidationEvents.length, 0)
        // Counters are lifetime (since the last reset), not windowed.
        assert.strictEqual(exported.cacheMisses, 2)
        assert.strictEqual(exported.totalInvalidations, 1)
      })))

  it.effect("keeps at most maxMeasurements records per list, the newest", () =>
    withMonitor({ maxMeasurements: 3 }, (monitor) =>
      Effect.gen(function*() {
        for (let ms = 1; ms <= 5; ms++) {
          yield* monitor.recordOperation({ operation: "set", tier: "none", durationMillis: ms, success: true })
          yield* monitor.recordCompression({ originalSize: ms, compressedSize: ms, durationMillis: ms })
        }
        const exported = yield* monitor.exportMetrics
        assert.deepStrictEqual(exported.cacheOperationTimes.map((r) => r.durationMillis), [3, 4, 5])
        assert.deepStrictEqual(exported.compressionRatios.map((r) => r.originalSize), [3, 4, 5])
      })))
})

describe("CacheMonitor options", () => {
  const failure = (options: CacheMonitorOptions) =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(CacheMonitor.make(options)))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isSuccess(exit)) return assert.fail("expected a ValidationError")
      const error = exit.cause.reasons.find((r) => r._tag === "Fail")
      if (error === undefined || error._tag !== "Fail") return assert.fail("expected a typed failure")
      assert.strictEqual(error.error._tag, "ValidationError")
      return error.error
    })

  it.effect("names every bad field with its value and rule", () =>
    Effect.gen(function*() {
      const error = yield* failure({
        retention: "soon" as never,
        maxMeasurements: 0,
        cacheName: "",
        snapshotInterval: -5
      })
      assert.deepStrictEqual(
        error.issues.map((i) => i.field).sort(),
        ["cacheName", "maxMeasurements", "retention", "snapshotInterval"]
      )
      const retention = error.issues.find((i) => i.field === "retention")!
      assert.strictEqual(retention.value, "\"soon\"")
      assert.match(retention.rule, /duration/)
      assert.match(error.issues.find((i) => i.field === "snapshotInterval")!.rule, /must be positive/)
      assert.match(error.message, /^Invalid CacheMonitor options: /)
    }))

  it.effect("rejects unknown fields and durations beyond their bound", () =>
    Effect.gen(function*() {
      const error = yield* failure({ retention: "30 days", slowOperationTreshold: 5 } as CacheMonitorOptions)
      assert.deepStrictEqual(error.issues.map((i) => [i.field, i.rule]).sort(), [
        ["retention", "must be at most 7 days"],
        ["slowOperationTreshold", "is not a known option"]
      ])
    }))

  it.effect("rejects an inverted memory threshold pair", () =>
    Effect.gen(function*() {
      const error = yield* failure({ memoryWarningThresholdBytes: 2000, memoryCriticalThresholdBytes: 1000 })
      assert.deepStrictEqual(error.issues, [{
        field: "memoryWarningThresholdBytes",
        value: "2000",
        rule: "must not exceed memoryCriticalThresholdBytes (1000)"
      }])
    }))

  it.effect("checks a single threshold against the other's default", () =>
    Effect.gen(function*() {
      const error = yield* failure({ invalidationWarningPerHour: 150 })
      assert.deepStrictEqual(error.issues.map((i) => i.field), ["invalidationWarningPerHour"])
    }))

  it.effect("accepts every valid form", () =>
    Effect.scoped(CacheMonitor.make({
      retention: 90_000,
      maxMeasurements: 10,
      memoryWarningThresholdBytes: 1000,
      memoryCriticalThresholdBytes: 1000,
      slowOperationThreshold: "20 millis",
      keyGenerationThreshold: { milliseconds: 200 },
      invalidationWarningPerHour: 1,
      invalidationCriticalPerHour: 2,
      snapshotInterval: "1 second",
      cacheName: "sessions"
    })))
})

describe("CacheMonitor metrics", () => {
  const l1Tier = { "cache.tier": "l1" }

  it.effect("L1 series are read when metrics are read: current with no snapshot, and never backwards", () =>
    withMonitor({ snapshotInterval: "10 seconds" }, (monitor) =>
      Effect.gen(function*() {
        const l1 = makeL1({ hits: 3, misses: 1, entries: 2, bytes: 100, maxEntries: 50, maxBytes: 4096 })
        yield* monitor.attachL1(l1.source)
        assert.strictEqual(yield* metricCount(CacheMetrics.hits, l1Tier), 3)
        assert.strictEqual(yield* gaugeValue(CacheMetrics.l1Entries, {}), 2)
        assert.strictEqual(yield* gaugeValue(CacheMetrics.l1MemoryLimit, {}), 4096)

        l1.stats.hits = 10
        l1.stats.evictions = 2
        l1.stats.expirations = 1
        l1.stats.entries = 7
        l1.stats.bytes = 900
        // No snapshot, no clock tick: the series read L1 themselves.
        assert.strictEqual(yield* metricCount(CacheMetrics.hits, l1Tier), 10)
        assert.strictEqual(yield* metricCount(CacheMetrics.misses, l1Tier), 1)
        assert.strictEqual(yield* metricCount(CacheMetrics.l1Evictions, {}), 2)
        assert.strictEqual(yield* metricCount(CacheMetrics.l1Expirations, {}), 1)
        assert.strictEqual(yield* gaugeValue(CacheMetrics.l1Entries, {}), 7)
        assert.strictEqual(yield* gaugeValue(CacheMetrics.l1MemoryUsage, {}), 900)
        const l1Gets = { "cache.operation": "get", "cache.tier": "l1", "cache.outcome": "hit" }
        assert.strictEqual(yield* metricCount(CacheMetrics.operations, l1Gets), 10)
        const snapshot = (yield* Metric.snapshot).find((m) => m.id === "cache.hits")
        assert.deepStrictEqual(snapshot?.state, { count: 10, incremental: true })

        // A source that breaks its contract and goes down does not take the counter back.
        l1.stats.hits = 4
        assert.strictEqual(yield* metricCount(CacheMetrics.hits, l1Tier), 10)
      })))

  it.effect("a detached L1 keeps its counts in the counters and leaves the gauges", () =>
    withMonitor({}, (monitor) =>
      Effect.gen(function*() {
        const kept = makeL1({ hits: 2, entries: 1 })
        const gone = makeL1({ hits: 5, misses: 3, entries: 4 })
        yield* monitor.attachL1(kept.source)
        const scope = yield* Scope.make()
        yield* monitor.attachL1(gone.source).pipe(Scope.provide(scope))
        assert.strictEqual(yield* metricCount(CacheMetrics.hits, l1Tier), 7)
        assert.strictEqual(yield* gaugeValue(CacheMetrics.l1Entries, {}), 5)
        gone.stats.hits = 6
        yield* Scope.close(scope, Exit.void)
        gone.stats.hits = 100 // read no more
        assert.strictEqual(yield* metricCount(CacheMetrics.hits, l1Tier), 8)
        assert.strictEqual(yield* metricCount(CacheMetrics.misses, l1Tier), 3)
        assert.strictEqual(yield* gaugeValue(CacheMetrics.l1Entries, {}), 1)
        assert.strictEqual((yield* monitor.getPerformanceStats).l1Hits, 8)
      })))

  it.effect("slow-path operations update hits, misses, operations, errors and the latency histogram", () =>
    withMonitor({}, (monitor) =>
      Effect.gen(function*() {
        yield* monitor.recordModeChange("Connecting", "Connected", "connected")
        yield* monitor.recordOperation({ operation: "get", tier: "l2", durationMillis: 2, success: true })
        yield* monitor.recordOperation({ operation: "get", tier: "miss", durationMillis: 3, success: true })
        yield* monitor.recordModeChange("Connected", "MemoryOnly", "down")
        yield* ok(monitor, "get", "miss") // Redis was not asked
        yield* failed(monitor, "set", "SerializationError", 4)
        assert.strictEqual(yield* metricCount(CacheMetrics.hits, { "cache.tier": "l2" }), 1)
        assert.strictEqual(yield* metricCount(CacheMetrics.misses, { "cache.tier": "l2" }), 1)
        const missedGets = { "cache.operation": "get", "cache.tier": "miss", "cache.outcome": "miss" }
        assert.strictEqual(yield* metricCount(CacheMetrics.operations, missedGets), 2)
        assert.strictEqual(
          yield* metricCount(CacheMetrics.errors, { "cache.operation": "set", "error.type": "SerializationError" }),
          1
        )
        const latency = yield* Metric.value(Metric.withAttributes(CacheMetrics.operationDuration, {
          "cache.operation": "get",
          "cache.tier": "l2",
          "cache.outcome": "hit"
        }))
        assert.strictEqual(latency.count, 1)
        assert.strictEqual(latency.sum, 0.002) // seconds
        assert.strictEqual(yield* gaugeValue(CacheMetrics.mode, { "cache.mode.state": "memory_only" }), 1)
        assert.strictEqual(yield* gaugeValue(CacheMetrics.mode, { "cache.mode.state": "connected" }), 0)
        const degraded = { "cache.mode.from": "connected", "cache.mode.to": "memory_only" }
        assert.strictEqual(yield* metricCount(CacheMetrics.modeChanges, degraded), 1)
      })))

  it.effect("exists, ttl, invalidate and clear are counted and timed as operations, with their own names", () =>
    withMonitor({ cacheName: "ops" }, (monitor) =>
      Effect.gen(function*() {
        yield* ok(monitor, "exists", "l1", 1) // answered by L1
        yield* ok(monitor, "exists", "l2", 2) // answered by Redis
        yield* ok(monitor, "ttl", "l2", 3)
        yield* failed(monitor, "ttl", "InfrastructureError", 4)
        const invalidation = (pattern: string, keysInvalidated: number, durationMillis: number, type: string) =>
          monitor.recordInvalidation({ pattern, keysInvalidated, durationMillis, invalidationType: type })
        yield* invalidation("user:", 2, 5, "literal")
        yield* invalidation("*", 7, 6, "clear")
        yield* failed(monitor, "clear", "InfrastructureError", 7)

        const named = (attributes: Record<string, string>) => ({ "cache.name": "ops", ...attributes })
        const op = (operation: string, tier: string, outcome: string) =>
          named({ "cache.operation": operation, "cache.tier": tier, "cache.outcome": outcome })
        // exists and ttl are not lookups: they succeed or fail, they do not hit or miss.
        assert.strictEqual(yield* metricCount(CacheMetrics.operations, op("exists", "l1", "success")), 1)
        assert.strictEqual(yield* metricCount(CacheMetrics.operations, op("exists", "l2", "success")), 1)
        assert.strictEqual(yield* metricCount(CacheMetrics.operations, op("ttl", "l2", "success")), 1)
        assert.strictEqual(yield* metricCount(CacheMetrics.operations, op("ttl", "none", "error")), 1)
        assert.strictEqual(yield* metricCount(CacheMetrics.operations, op("invalidate", "none", "success")), 1)
        assert.strictEqual(yield* metricCount(CacheMetrics.operations, op("clear", "none", "success")), 1)
        assert.strictEqual(yield* metricCount(CacheMetrics.operations, op("clear", "none", "error")), 1)
        const clearLatency = yield* Metric.value(
          Metric.withAttributes(CacheMetrics.operationDuration, op("clear", "none", "success"))
        )
        assert.deepStrictEqual([clearLatency.count, clearLatency.sum], [1, 0.006])
        assert.strictEqual(
          yield* metricCount(
            CacheMetrics.errors,
            named({ "cache.operation": "clear", "error.type": "InfrastructureError" })
          ),
          1
        )
        // A clear is an invalidation, as in the original.
        assert.strictEqual(yield* metricCount(CacheMetrics.invalidations, named({})), 2)
        assert.strictEqual(yield* metricCount(CacheMetrics.invalidatedKeys, named({})), 9)
        assert.strictEqual(yield* metricCount(CacheMetrics.hits, named({ "cache.tier": "l1" })), 0)

        const stats = yield* monitor.getPerformanceStats
        assert.strictEqual(stats.totalCacheOperations, 7)
        assert.strictEqual(stats.cacheHitRate, 0) // none of them is a read
        const byType = stats.cacheOperations!.byOperationType
        assert.deepStrictEqual(
          Object.fromEntries(Object.entries(byType).map(([name, summary]) => [name, summary!.count])),
          { exists: 2, ttl: 2, invalidate: 1, clear: 2 }
        )
        assert.strictEqual(byType.clear!.maxDurationMillis, 7)
        assert.deepStrictEqual(stats.cacheOperations!.errorsByType, { InfrastructureError: 2 })
        const frequency = yield* monitor.getInvalidationFrequencyStats
        if (frequency.noInvalidations) return assert.fail("expected invalidations")
        assert.deepStrictEqual(frequency.patterns.invalidationTypes, { literal: 1, clear: 1 })
      })))

  it.effect("forCache: a view records under its cache's name and reads the whole monitor", () =>
    withMonitor({ cacheName: "shared" }, (monitor) =>
      Effect.gen(function*() {
        const alpha = monitor.forCache("alpha")
        const beta = monitor.forCache("beta")
        yield* alpha.recordModeChange("Memory", "Memory", "start")
        yield* beta.recordModeChange("Connecting", "Connected", "connected")
        yield* beta.recordModeChange("Connected", "MemoryOnly", "down")
        yield* beta.recordReconnectAttempt(false)
        yield* alpha.attachL1(makeL1({ hits: 2 }).source)
        yield* beta.attachL1(makeL1({ hits: 3 }).source)
        yield* beta.recordOperation({ operation: "get", tier: "miss", durationMillis: 1, success: true })
        yield* monitor.recordOperation({ operation: "get", tier: "l2", durationMillis: 1, success: true })

        const stats = yield* alpha.getPerformanceStats
        assert.deepStrictEqual(stats.connection.modes, { alpha: "Memory", beta: "MemoryOnly" })
        assert.strictEqual(stats.connection.currentMode, "MemoryOnly") // the least healthy cache
        assert.deepStrictEqual([stats.l1Hits, stats.l2Hits, stats.cacheMisses], [5, 1, 1])
        assert.strictEqual(yield* metricCount(CacheMetrics.hits, { "cache.name": "alpha", "cache.tier": "l1" }), 2)
        assert.strictEqual(yield* metricCount(CacheMetrics.hits, { "cache.name": "beta", "cache.tier": "l1" }), 3)
        assert.strictEqual(yield* metricCount(CacheMetrics.hits, { "cache.name": "shared", "cache.tier": "l2" }), 1)
        const mode = (cacheName: string, state: string) =>
          gaugeValue(CacheMetrics.mode, { "cache.name": cacheName, "cache.mode.state": state })
        assert.strictEqual(yield* mode("beta", "memory_only"), 1)
        assert.strictEqual(yield* mode("alpha", "memory"), 1)
        const failures = { "cache.name": "beta", "cache.reconnect.outcome": "failure" }
        assert.strictEqual(yield* metricCount(CacheMetrics.reconnectAttempts, failures), 1)
        // beta was degraded: its miss never asked Redis.
        assert.strictEqual(yield* metricCount(CacheMetrics.misses, { "cache.name": "beta", "cache.tier": "l2" }), 0)
        assert.deepStrictEqual((yield* monitor.exportMetrics).modeChanges.map((m) => m.cacheName), ["beta", "beta"])
      })))

  it.effect("cacheName becomes the cache.name attribute of every series", () =>
    withMonitor({ cacheName: "sessions" }, (monitor) =>
      Effect.gen(function*() {
        yield* monitor.recordReconnectAttempt(false)
        yield* monitor.recordCompression({ originalSize: 100, compressedSize: 40, durationMillis: 1 })
        const failedAttempts = { "cache.name": "sessions", "cache.reconnect.outcome": "failure" }
        assert.strictEqual(yield* metricCount(CacheMetrics.reconnectAttempts, failedAttempts), 1)
        const sessions = { "cache.name": "sessions" }
        const sizes = yield* Metric.value(Metric.withAttributes(CacheMetrics.compressionCompressedSize, sessions))
        assert.strictEqual(sizes.sum, 40)
      })))

  it.effect("the layer without options needs nothing and cannot fail", () =>
    Effect.gen(function*() {
      const monitor = yield* CacheMonitor
      yield* monitor.recordOperation({ operation: "get", tier: "miss", durationMillis: 1, success: true })
      assert.strictEqual((yield* monitor.getPerformanceStats).cacheMisses, 1)
    }).pipe(Effect.provide(CacheMonitor.layer()), Effect.provideService(Metric.MetricRegistry, new Map())))
})
