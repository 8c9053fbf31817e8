/**
 * The cache monitor: the port of the original `CachePerformanceMonitor` as an
 * Effect service.
 *
 * The cache calls it from its slow paths (L2 round trips, misses, writes,
 * invalidations, mode switches). The L1 hit path never calls it: L1 keeps
 * plain counters, the cache registers them with {@link CacheMonitor}'s
 * `attachL1`, and the monitor reads them on demand: its L1 metric series are
 * read when metrics are collected (an exporter, `Metric.snapshot`), and every
 * analytics read sums them, so both are exact at any time. One monitor may
 * serve several caches: L1 counts and modes are kept per cache name and summed.
 * A fiber that lives as long as the monitor's layer keeps a memory snapshot
 * every `snapshotInterval`.
 *
 * Time comes from Effect's `Clock`. Every list keeps at most `maxMeasurements`
 * records and drops the ones older than `retention`, as the original did.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Layer, Metric, Schema } from "effect"
import type { Scope } from "effect"
import { PositiveDuration, validateOptions } from "../CacheOptions.js"
import { type ValidationError, validationError } from "../errors.js"
import * as Analytics from "./Analytics.js"
import type {
  AnsweringTier,
  CacheMode,
  CacheOperation,
  CompressionRecord,
  CompressionStats,
  ExportedMetrics,
  InvalidationRecommendation,
  InvalidationRecord,
  InvalidationStats,
  KeyGenerationRecord,
  MemoryMeasurement,
  MemoryUsageStats,
  MemoryWarning,
  ModeChangeRecord,
  OperationRecord,
  PerformanceStats,
  ReplayRecord,
  SlowOperations,
  Thresholds
} from "./Analytics.js"
import * as CacheMetrics from "./CacheMetrics.js"
import * as ServedCaches from "./ServedCaches.js"
import type { L1Source } from "./ServedCaches.js"

export type { L1Source } from "./ServedCaches.js"

export type {
  AnsweringTier,
  CacheMode,
  CacheOperation,
  CacheOperationStats,
  CompressionRecord,
  CompressionStats,
  ConnectionStats,
  DurationSummary,
  ExportedMetrics,
  InvalidationAlertLevel,
  InvalidationRecommendation,
  InvalidationRecord,
  InvalidationStats,
  KeyGenerationRecord,
  KeyGenerationStats,
  MemoryMeasurement,
  MemoryUsageStats,
  MemoryWarning,
  ModeChangeRecord,
  OperationRecord,
  PerformanceStats,
  ReplayRecord,
  SlowCompression,
  SlowOperation,
  SlowOperations
} from "./Analytics.js"

/**
 * One operation, as the cache reports it from a slow path.
 *
 * @since 0.1.0
 */
export interface OperationSample {
  readonly operation: CacheOperation
  readonly tier: AnsweringTier
  readonly durationMillis: number
  readonly success: boolean
  /** The `_tag` of the error a failed operation ended with. */
  readonly errorTag?: string
  readonly textLength?: number
  readonly cacheName?: string
}

/**
 * A compression, as the codec reports it.
 *
 * @since 0.1.0
 */
export interface CompressionSample {
  readonly originalSize: number
  readonly compressedSize: number
  readonly durationMillis: number
  readonly operation?: string
}

/**
 * A replay of the writes queued while Redis was away.
 *
 * @since 0.1.0
 */
export interface ReplaySample {
  readonly replayed: number
  readonly skipped: number
  readonly dropped: number
  readonly durationMillis: number
}

/**
 * A completed invalidation: a pattern invalidation, or a `clear` (as in the
 * original, a clear is an invalidation, of type `clear`). It is also counted
 * and timed as an operation: `clear` for the type `clear`, `invalidate`
 * otherwise. A failed one is reported with `recordOperation` instead.
 *
 * @since 0.1.0
 */
export interface InvalidationSample {
  readonly pattern: string
  readonly keysInvalidated: number
  readonly durationMillis: number
  /** e.g. manual (the default), glob, literal, clear, automatic, ttl_expired. */
  readonly invalidationType?: string
  readonly operationContext?: string
  readonly cacheName?: string
}

/**
 * A key generation of the AI cache.
 *
 * @since 0.1.0
 */
export interface KeyGenerationSample {
  readonly durationMillis: number
  readonly textLength: number
  readonly operation?: string
  readonly additionalData?: Record<string, unknown>
}

/**
 * Monitor options. Every field is optional; the defaults are the original's.
 *
 * @since 0.1.0
 */
export interface CacheMonitorOptions {
  /** How long records are kept. Default 1 hour. */
  readonly retention?: Duration.Input
  /** The most records kept per list. Default 1000. */
  readonly maxMeasurements?: number
  /** L1 bytes at which memory warnings start. Default 50 MiB. */
  readonly memoryWarningThresholdBytes?: number
  /** L1 bytes at which memory warnings turn critical. Default 100 MiB; not below the warning threshold. */
  readonly memoryCriticalThresholdBytes?: number
  /** An operation slower than this counts as slow. Default 50 ms. */
  readonly slowOperationThreshold?: Duration.Input
  /** A key generation slower than this counts as slow. Default 100 ms. */
  readonly keyGenerationThreshold?: Duration.Input
  /** Invalidations in the last hour that raise a warning. Default 50. */
  readonly invalidationWarningPerHour?: number
  /** Invalidations in the last hour that raise a critical alert. Default 100; not below the warning. */
  readonly invalidationCriticalPerHour?: number
  /** How often L1's size is snapshotted for the memory analytics. Default 10 seconds. */
  readonly snapshotInterval?: Duration.Input
  /** `cache.name` of every series recorded without a cache name of its own (see `forCache`). */
  readonly cacheName?: string
}

/**
 * What getOrSet's resilience options did (docs/resilience.md).
 *
 * @since 0.1.0
 */
export type ResilienceEventName =
  | "stale_served"
  | "failsafe_activated"
  | "soft_timeout"
  | "hard_timeout"
  | "refresh_started"
  | "refresh_succeeded"
  | "refresh_failed"
  | "lock_acquired"
  | "lock_waited"
  | "lock_timed_out"
  | "lock_woken"

/**
 * Keys evicted from L1 by one invalidation message.
 *
 * @since 0.1.0
 */
export interface L1InvalidationSample {
  readonly keys: number
  readonly mechanism: "tracking" | "bus"
  /** Milliseconds from the writer's write to the eviction (bus messages carry the write time). */
  readonly lagMillis?: number | undefined
}

/**
 * The monitor's service: recorders for the cache's slow paths, and the analytics.
 *
 * @since 0.1.0
 */
export interface CacheMonitorService {
  /** Records an operation that reached the slow path. */
  readonly recordOperation: (sample: OperationSample) => Effect.Effect<void>
  /**
   * `recordOperation` done now, for code already running inside an effect (the cache's
   * Redis paths): returns what is left to run, `Effect.void` unless the operation was
   * slow enough to be logged.
   */
  readonly recordOperationUnsafe: (sample: OperationSample) => Effect.Effect<void>
  /** Records a compression: sizes, ratio and time. */
  readonly recordCompression: (sample: CompressionSample) => Effect.Effect<void>
  /** Records a value that could not be encoded or decoded. */
  readonly recordSerializationError: (operation: "encode" | "decode") => Effect.Effect<void>
  /** Records a stored value that did not fit the reader's schema and was read as a miss. */
  readonly recordSchemaMismatch: () => Effect.Effect<void>
  /** Records keys evicted from L1 by changes made elsewhere, with the lag when the message carried a write time. */
  readonly recordL1Invalidation: (sample: L1InvalidationSample) => Effect.Effect<void>
  /** Records a flush of L1 (a lost link, a recovery, a flushed Redis). */
  readonly recordL1Flush: (cause: string) => Effect.Effect<void>
  /** Counts a resilience event of getOrSet, at once (it runs inside the cache's own synchronous steps). */
  readonly recordResilienceEventUnsafe: (event: ResilienceEventName) => void
  /**
   * Records a mode switch of the cache named `cacheName` (default: the monitor's `cacheName`).
   * `from === to` reports the starting mode without counting a switch.
   */
  readonly recordModeChange: (from: CacheMode, to: CacheMode, reason: string, cacheName?: string) => Effect.Effect<void>
  /** Records an attempt to reconnect to Redis. */
  readonly recordReconnectAttempt: (success: boolean) => Effect.Effect<void>
  /** Records a replay of the writes queued while Redis was away. */
  readonly recordReplay: (sample: ReplaySample) => Effect.Effect<void>
  /** Records a completed invalidation or clear: the event, and the operation it was. */
  readonly recordInvalidation: (sample: InvalidationSample) => Effect.Effect<void>
  /** Records a key generation of the AI cache. */
  readonly recordKeyGeneration: (sample: KeyGenerationSample) => Effect.Effect<void>
  /**
   * Adds an L1 to the ones the monitor reads, until the scope closes. L1s of one cache
   * name are summed in that name's series; what a detached L1 counted stays counted.
   */
  readonly attachL1: (source: L1Source) => Effect.Effect<void, never, Scope.Scope>
  /**
   * The monitor as the cache named `cacheName` uses it: everything it records without a
   * cache name of its own (modes, reconnects, replays, compressions, L1...) is that cache's.
   * Reads and resets are the whole monitor's. `Cache.layerMemory`/`layerRedis` give their
   * cache (and its Redis tier) this view of a monitor provided to them.
   */
  readonly forCache: (cacheName: string) => CacheMonitorService
  /** Reads L1 now: keeps a memory snapshot and checks the memory thresholds. */
  readonly snapshot: Effect.Effect<void>
  /** Everything at once: hit rate, timings, compression, memory, invalidations, connection. */
  readonly getPerformanceStats: Effect.Effect<PerformanceStats>
  /** Compression efficiency over the retained records. */
  readonly getCompressionStats: Effect.Effect<CompressionStats>
  /** L1's size against its bounds and thresholds, with its trend. */
  readonly getMemoryUsageStats: Effect.Effect<MemoryUsageStats>
  /** Memory warnings with recommendations. */
  readonly getMemoryWarnings: Effect.Effect<ReadonlyArray<MemoryWarning>>
  /** Invalidation rates, alert level, patterns and efficiency. */
  readonly getInvalidationFrequencyStats: Effect.Effect<InvalidationStats>
  /** The original's four invalidation recommendations, where they apply. */
  readonly getInvalidationRecommendations: Effect.Effect<ReadonlyArray<InvalidationRecommendation>>
  /** Outliers against the mean of the fastest 80 %; `thresholdMultiplier` (default 2) must be positive. */
  readonly getRecentSlowOperations: (thresholdMultiplier?: number) => Effect.Effect<SlowOperations, ValidationError>
  /**
   * Forgets every record and counter of the analytics (L1's included: they count from here).
   * Effect metrics, L1 itself and `Cache.stats` are not reset: counters never go backwards.
   */
  readonly resetStats: Effect.Effect<void>
  /** Every retained record and counter. */
  readonly exportMetrics: Effect.Effect<ExportedMetrics>
}

const MiB = 1024 * 1024

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const Retention = PositiveDuration(7 * 24 * 3_600_000, "7 days")
const Threshold = PositiveDuration(3_600_000, "1 hour")
const SnapshotInterval = PositiveDuration(3_600_000, "1 hour")

const defaults = {
  retention: Duration.hours(1),
  maxMeasurements: 1000,
  memoryWarningThresholdBytes: 50 * MiB,
  memoryCriticalThresholdBytes: 100 * MiB,
  slowOperationThreshold: Duration.millis(50),
  keyGenerationThreshold: Duration.millis(100),
  invalidationWarningPerHour: 50,
  invalidationCriticalPerHour: 100,
  snapshotInterval: Duration.seconds(10)
} as const

/**
 * The schema the monitor's options are checked with. A warning threshold above
 * its critical threshold (defaults included) is rejected: the original kept it.
 *
 * @since 0.1.0
 */
export const CacheMonitorOptionsSchema = Schema.Struct({
  retention: Schema.optionalKey(Retention),
  maxMeasurements: Schema.optionalKey(PositiveInt.check(Schema.isLessThanOrEqualTo(1_000_000))),
  memoryWarningThresholdBytes: Schema.optionalKey(PositiveInt),
  memoryCriticalThresholdBytes: Schema.optionalKey(PositiveInt),
  slowOperationThreshold: Schema.optionalKey(Threshold),
  keyGenerationThreshold: Schema.optionalKey(Threshold),
  invalidationWarningPerHour: Schema.optionalKey(PositiveInt),
  invalidationCriticalPerHour: Schema.optionalKey(PositiveInt),
  snapshotInterval: Schema.optionalKey(SnapshotInterval),
  cacheName: Schema.optionalKey(Schema.NonEmptyString)
}).check(Schema.makeFilter((options) => {
  const issues: Array<{ readonly path: ReadonlyArray<PropertyKey>; readonly issue: string }> = []
  const memoryWarning = options.memoryWarningThresholdBytes ?? defaults.memoryWarningThresholdBytes
  const memoryCritical = options.memoryCriticalThresholdBytes ?? defaults.memoryCriticalThresholdBytes
  if (memoryWarning > memoryCritical) {
    issues.push({
      path: ["memoryWarningThresholdBytes"],
      issue: `must not exceed memoryCriticalThresholdBytes (${memoryCritical})`
    })
  }
  const invalidationWarning = options.invalidationWarningPerHour ?? defaults.invalidationWarningPerHour
  const invalidationCritical = options.invalidationCriticalPerHour ?? defaults.invalidationCriticalPerHour
  if (invalidationWarning > invalidationCritical) {
    issues.push({
      path: ["invalidationWarningPerHour"],
      issue: `must not exceed invalidationCriticalPerHour (${invalidationCritical})`
    })
  }
  return issues.length === 0 ? undefined : issues
}))

/**
 * Options with defaults applied and durations in milliseconds.
 *
 * @since 0.1.0
 */
export interface ResolvedMonitorOptions {
  readonly retentionMillis: number
  readonly maxMeasurements: number
  readonly snapshotIntervalMillis: number
  readonly thresholds: Thresholds
  readonly cacheName?: string
}

const resolve = (options: Schema.Schema.Type<typeof CacheMonitorOptionsSchema>): ResolvedMonitorOptions => ({
  retentionMillis: Duration.toMillis(options.retention ?? defaults.retention),
  maxMeasurements: options.maxMeasurements ?? defaults.maxMeasurements,
  snapshotIntervalMillis: Duration.toMillis(options.snapshotInterval ?? defaults.snapshotInterval),
  thresholds: {
    memoryWarningBytes: options.memoryWarningThresholdBytes ?? defaults.memoryWarningThresholdBytes,
    memoryCriticalBytes: options.memoryCriticalThresholdBytes ?? defaults.memoryCriticalThresholdBytes,
    slowOperationMillis: Duration.toMillis(options.slowOperationThreshold ?? defaults.slowOperationThreshold),
    slowKeyGenerationMillis: Duration.toMillis(options.keyGenerationThreshold ?? defaults.keyGenerationThreshold),
    invalidationWarningPerHour: options.invalidationWarningPerHour ?? defaults.invalidationWarningPerHour,
    invalidationCriticalPerHour: options.invalidationCriticalPerHour ?? defaults.invalidationCriticalPerHour
  },
  ...(options.cacheName === undefined ? {} : { cacheName: options.cacheName })
})

/**
 * Checks monitor options and applies the defaults. Fails with a
 * `ValidationError` whose issues name every offending field (unknown fields included).
 *
 * @since 0.1.0
 */
export const resolveOptions = (options: unknown): Effect.Effect<ResolvedMonitorOptions, ValidationError> =>
  Effect.map(validateOptions(CacheMonitorOptionsSchema, options, "Invalid CacheMonitor options"), resolve)

/** One metric with its attributes fixed: updated without building a context per update. */
interface Series<Input> {
  readonly updateUnsafe: (input: Input) => void
}

const modeStates: ReadonlyArray<readonly [CacheMode, string]> = [
  ["Connected", "connected"],
  ["MemoryOnly", "memory_only"],
  ["Connecting", "connecting"],
  ["Memory", "memory"]
]

const modeState = (mode: CacheMode): string => modeStates.find(([m]) => m === mode)![1]

type AlertLevel = "normal" | "warning" | "critical"

const severity = { normal: 0, warning: 1, critical: 2 } as const

/** Threshold crossings are logged when they happen, upwards only, not on every record above a threshold. */
const rose = (previous: AlertLevel, level: AlertLevel): boolean => severity[level] > severity[previous]

const processMemoryMiB = (): number => process.memoryUsage.rss() / MiB

// Only lookups hit or miss; exists and ttl answered by a tier simply succeed.
const isLookup = (operation: CacheOperation): boolean => operation === "get" || operation === "getOrSet"

// Operation series by cache name, operation, tier, outcome and error tag.
type Branch<A> = Map<string | undefined, A>
type SeriesTree<A> = Branch<Branch<Branch<Branch<Branch<A>>>>>

// The branch of `tree` at `key`, made empty the first time.
const branch = <A>(tree: Branch<Branch<A>>, key: string | undefined): Branch<A> => {
  let found = tree.get(key)
  if (found === undefined) {
    found = new Map()
    tree.set(key, found)
  }
  return found
}

const makeService = Effect.fnUntraced(function*(options: ResolvedMonitorOptions) {
  const clock = yield* Clock.Clock
  // Metrics go to the registry current when the monitor is built, whichever fiber records.
  const context = yield* Effect.context<never>()
  const { maxMeasurements, retentionMillis, thresholds } = options
  const baseAttributes: Record<string, string> = options.cacheName === undefined
    ? {}
    : { [CacheMetrics.AttributeKeys.cacheName]: options.cacheName }

  // What Metric.withAttributes does on every update (a copy of the context with the
  // attributes merged in), done once per series: the registry then finds it by a cached key.
  const contextFor = (attributes: Record<string, string>): Context.Context<never> =>
    Context.add(context, Metric.CurrentMetricAttributes, {
      ...Context.get(context, Metric.CurrentMetricAttributes),
      ...baseAttributes,
      ...attributes
    })
  // The metrics updated on every operation get a metric object per series instead, with the
  // attributes built in and updated in a context that adds none (`CacheMetrics.seriesMetric`):
  // a metric object updated for several series in turn would rebuild its key on every update.
  const noAttributes = Context.add(context, Metric.CurrentMetricAttributes, {})
  const seriesCache = new Map<string, Series<never>>()
  const series = <Input>(metric: Metric.Metric<Input, unknown>, attributes: Record<string, string>): Series<Input> => {
    const cacheKey = `${metric.id}\u0000${Object.entries(attributes).map(([k, v]) => `${k}=${v}`).join("\u0000")}`
    let cached = seriesCache.get(cacheKey) as Series<Input> | undefined
    if (cached === undefined) {
      const own = CacheMetrics.seriesMetric(metric, {
        ...Context.get(context, Metric.CurrentMetricAttributes),
        ...baseAttributes,
        ...attributes
      })
      const seriesContext = own === undefined ? contextFor(attributes) : noAttributes
      const target = own ?? metric
      cached = { updateUnsafe: (input) => target.updateUnsafe(input, seriesContext) }
      seriesCache.set(cacheKey, cached as Series<never>)
    }
    return cached
  }
  const update = <Input>(metric: Metric.Metric<Input, unknown>, attributes: Record<string, string>, input: Input) =>
    series(metric, attributes).updateUnsafe(input)

  // Records, oldest first.
  const operations: Array<OperationRecord> = []
  const keyGenerations: Array<KeyGenerationRecord> = []
  const compressions: Array<CompressionRecord> = []
  const memory: Array<MemoryMeasurement> = []
  const invalidations: Array<InvalidationRecord> = []
  const modeChanges: Array<ModeChangeRecord> = []
  const replays: Array<ReplayRecord> = []

  // Counters since the last reset.
  let totalOperations = 0
  let l2Hits = 0
  let recordedL1Hits = 0
  let cacheMisses = 0
  let totalInvalidations = 0
  let totalKeysInvalidated = 0
  let encodeErrors = 0
  let decodeErrors = 0
  let modeChangeCount = 0
  let reconnectAttempts = 0
  let reconnectFailures = 0
  let replayedWrites = 0
  let skippedWrites = 0
  let droppedWrites = 0

  // The caches served, by name: L1 sources (pulled by the metrics) and modes.
  const caches = ServedCaches.make(contextFor)
  yield* Effect.addFinalizer(() => Effect.sync(caches.close))
  // A record's cache: its own name, else the view's (`forCache`), else the monitor's.
  const nameOf = (cacheName: string | undefined, view?: string): string | undefined =>
    cacheName ?? view ?? options.cacheName
  const named = (name: string | undefined): Record<string, string> =>
    name === undefined ? {} : { [CacheMetrics.AttributeKeys.cacheName]: name }
  let l1Baseline = caches.counts() // the analytics' zero for L1's own counts (moved by resetStats)
  let memoryLevel: AlertLevel = "normal"
  let invalidationLevel: AlertLevel = "normal"

  // In place: a full list drops its oldest record per append without copying the rest.
  const prune = (list: Array<{ readonly timestamp: number }>, now: number): void => {
    const cutoff = now - retentionMillis
    let stale = 0
    while (stale < list.length && list[stale]!.timestamp <= cutoff) stale++
    stale = Math.max(stale, list.length - maxMeasurements)
    if (stale > 0) list.splice(0, stale)
  }

  // On the write path: trims by count only once a list holds twice its bound, so a record
  // costs no array shift; reads prune exactly (by age and count) before they look.
  const trim = (list: Array<{ readonly timestamp: number }>, now: number): void => {
    if (list.length >= 2 * maxMeasurements) prune(list, now)
  }

  const lists = [operations, keyGenerations, compressions, memory, invalidations, modeChanges, replays]
  const pruneAll = (now: number): void => {
    for (const list of lists) prune(list, now)
  }

  /** L1 hits since the last reset that L1 counted itself (not recorded as operations). */
  const countedL1Hits = (): number => Math.max(0, caches.counts().hits - l1Baseline.hits)
  const l1Hits = (): number => countedL1Hits() + recordedL1Hits

  const outcomeOf = (sample: OperationSample): string => {
    if (!sample.success) return "error"
    if (!isLookup(sample.operation)) return "success"
    if (sample.tier === "l1" || sample.tier === "l2") return "hit"
    return sample.tier === "miss" ? "miss" : "success"
  }

  /** Reads L1's size and keeps a memory snapshot; its metric series are read by the exporters themselves. */
  const snapshot: Effect.Effect<void> = Effect.suspend(() => {
    const stats = caches.size()
    if (stats === undefined) return Effect.void
    const now = clock.currentTimeMillisUnsafe()
    memory.push({
      timestamp: now,
      entries: stats.entries,
      bytes: stats.bytes,
      maxEntries: stats.maxEntries,
      maxBytes: stats.maxBytes,
      avgEntrySizeBytes: stats.entries > 0 ? stats.bytes / stats.entries : 0,
      processMemoryMiB: processMemoryMiB()
    })
    prune(memory, now)
    const level: AlertLevel = stats.bytes >= thresholds.memoryCriticalBytes
      ? "critical"
      : stats.bytes >= thresholds.memoryWarningBytes
      ? "warning"
      : "normal"
    const previous = memoryLevel
    memoryLevel = level
    if (!rose(previous, level)) return Effect.void
    const message = `L1 memory usage ${(stats.bytes / MiB).toFixed(1)} MiB reached the ${level} threshold of ${
      ((level === "critical" ? thresholds.memoryCriticalBytes : thresholds.memoryWarningBytes) / MiB).toFixed(1)
    } MiB`
    return level === "critical" ? Effect.logError(message) : Effect.logWarning(message)
  })

  /** A snapshot, then a pruned view of the records at the current time. */
  const read = <A>(f: (now: number) => A): Effect.Effect<A> =>
    Effect.flatMap(snapshot, () =>
      Effect.sync(() => {
        const now = clock.currentTimeMillisUnsafe()
        pruneAll(now)
        return f(now)
      }))

  const connectionStats = (): Analytics.ConnectionStats => ({
    currentMode: caches.worstMode() ?? "Unknown",
    modes: caches.modes(),
    modeChanges: modeChangeCount,
    reconnectAttempts,
    reconnectFailures,
    replayedWrites,
    skippedWrites,
    droppedWrites
  })

  const invalidationStatsAt = (now: number): InvalidationStats =>
    Analytics.invalidationStats(
      invalidations,
      { invalidations: totalInvalidations, keysInvalidated: totalKeysInvalidated },
      now,
      retentionMillis / 3_600_000,
      thresholds
    )

  // The metric series an operation sample updates, built once per distinct sample shape:
  // building attribute sets per call cost more than the Redis round trip being recorded.
  interface OperationSeries {
    readonly l2Hit: Series<number>
    readonly l2Miss: Series<number>
    readonly operations: Series<number>
    readonly errors: Series<number> | undefined
    readonly duration: Series<number>
  }
  // Found by nested lookups rather than a key string, which was garbage made on every record.
  const operationSeries: SeriesTree<OperationSeries> = new Map()
  const seriesOf = (sample: OperationSample, outcome: string, name: string | undefined): OperationSeries => {
    const byErrorTag = branch(branch(branch(branch(operationSeries, name), sample.operation), sample.tier), outcome)
    let found = byErrorTag.get(sample.errorTag)
    if (found === undefined) {
      // A monitor shared by several caches tells them apart by name.
      const cache = named(name)
      const shape = {
        ...cache,
        [CacheMetrics.AttributeKeys.operation]: sample.operation,
        [CacheMetrics.AttributeKeys.tier]: sample.tier,
        [CacheMetrics.AttributeKeys.outcome]: outcome
      }
      const errorType = sample.errorTag ?? "_OTHER"
      found = {
        l2Hit: series(CacheMetrics.hits, { ...cache, [CacheMetrics.AttributeKeys.tier]: "l2" }),
        l2Miss: series(CacheMetrics.misses, { ...cache, [CacheMetrics.AttributeKeys.tier]: "l2" }),
        operations: series(CacheMetrics.operations, shape),
        errors: sample.success ? undefined : series(CacheMetrics.errors, {
          ...cache,
          [CacheMetrics.AttributeKeys.operation]: sample.operation,
          [CacheMetrics.AttributeKeys.errorType]: errorType
        }),
        duration: series(
          CacheMetrics.operationDuration,
          sample.success ? shape : { ...shape, [CacheMetrics.AttributeKeys.errorType]: errorType }
        )
      }
      byErrorTag.set(sample.errorTag, found)
    }
    return found
  }

  const recordOperationUnsafe = (sample: OperationSample, view?: string): Effect.Effect<void> => {
    const now = clock.currentTimeMillisUnsafe()
    const durationMillis = Number.isFinite(sample.durationMillis) ? Math.max(0, sample.durationMillis) : 0
    const textLength = sample.textLength ?? 0
    const { errorTag, operation, success, tier } = sample
    operations.push(
      errorTag === undefined
        ? { timestamp: now, operation, tier, durationMillis, success, textLength }
        : { timestamp: now, operation, tier, durationMillis, success, errorTag, textLength }
    )
    trim(operations, now)
    totalOperations++

    const outcome = outcomeOf(sample)
    const name = nameOf(sample.cacheName, view)
    const metrics = seriesOf(sample, outcome, name)
    if (operation === "get" && success) {
      if (tier === "l1") {
        // L1 hits live in the pulled L1 series: an attached L1 counts its own (this one is only
        // timed), and the served caches count one recorded for a cache without an attached L1.
        if (caches.recordL1Hit(name)) recordedL1Hits++
      } else if (tier === "l2") {
        l2Hits++
        metrics.l2Hit.updateUnsafe(1)
      } else if (tier === "miss") {
        cacheMisses++
        // Only a connected cache asked Redis; a degraded one missed in L1 alone.
        if (caches.modeOf(name) === "Connected") metrics.l2Miss.updateUnsafe(1)
      }
    }
    if (!(operation === "get" && success && tier === "l1")) metrics.operations.updateUnsafe(1)
    metrics.errors?.updateUnsafe(1)
    metrics.duration.updateUnsafe(durationMillis / 1000)
    return durationMillis > thresholds.slowOperationMillis
      ? Effect.logDebug(`Slow cache ${sample.operation}: ${durationMillis.toFixed(1)} ms (tier ${sample.tier})`)
      : Effect.void
  }

  // Per cache name, resolved once (compressed writes are frequent). Resolving a series
  // registers nothing: a cache that never compresses still exports no such series.
  const compressionSeries = new Map<string | undefined, ReadonlyArray<Series<number>>>()
  const compressionSeriesOf = (name: string | undefined): ReadonlyArray<Series<number>> => {
    let found = compressionSeries.get(name)
    if (found === undefined) {
      const cache = named(name)
      found = [
        series(CacheMetrics.compressionUncompressedSize, cache),
        series(CacheMetrics.compressionCompressedSize, cache),
        series(CacheMetrics.compressionDuration, cache)
      ]
      compressionSeries.set(name, found)
    }
    return found
  }
  const recordCompression = (sample: CompressionSample, view?: string): Effect.Effect<void> =>
    Effect.sync(() => {
      const now = clock.currentTimeMillisUnsafe()
      const durationMillis = Math.max(0, sample.durationMillis)
      compressions.push({
        timestamp: now,
        originalSize: sample.originalSize,
        compressedSize: sample.compressedSize,
        compressionRatio: sample.originalSize > 0 ? sample.compressedSize / sample.originalSize : 1,
        durationMillis,
        operation: sample.operation ?? ""
      })
      trim(compressions, now)
      const [uncompressed, compressed, duration] = compressionSeriesOf(nameOf(undefined, view))
      uncompressed!.updateUnsafe(sample.originalSize)
      compressed!.updateUnsafe(sample.compressedSize)
      duration!.updateUnsafe(durationMillis / 1000)
    })

  const recordSerializationError = (operation: "encode" | "decode", view?: string): Effect.Effect<void> =>
    Effect.sync(() => {
      if (operation === "encode") encodeErrors++
      else decodeErrors++
      update(CacheMetrics.serializationErrors, {
        ...named(nameOf(undefined, view)),
        [CacheMetrics.AttributeKeys.serializationOperation]: operation
      }, 1)
    })

  const recordL1Invalidation = (sample: L1InvalidationSample, view?: string): Effect.Effect<void> =>
    Effect.sync(() => {
      const attributes = named(nameOf(undefined, view))
      update(CacheMetrics.l1Invalidations, {
        ...attributes,
        [CacheMetrics.AttributeKeys.invalidationMechanism]: sample.mechanism
      }, sample.keys)
      if (sample.lagMillis !== undefined) update(CacheMetrics.invalidationLag, attributes, sample.lagMillis / 1000)
    })

  const recordL1Flush = (cause: string, view?: string): Effect.Effect<void> =>
    Effect.sync(() =>
      update(CacheMetrics.l1Flushes, {
        ...named(nameOf(undefined, view)),
        [CacheMetrics.AttributeKeys.flushCause]: cause
      }, 1)
    )

  const recordResilienceEventUnsafe = (event: ResilienceEventName, view?: string): void =>
    update(CacheMetrics.resilienceEvents, {
      ...named(nameOf(undefined, view)),
      [CacheMetrics.AttributeKeys.resilienceEvent]: event
    }, 1)

  const recordSchemaMismatch = (view?: string): Effect.Effect<void> =>
    Effect.sync(() => update(CacheMetrics.schemaMismatches, named(nameOf(undefined, view)), 1))

  const recordModeChange = (
    from: CacheMode,
    to: CacheMode,
    reason: string,
    cacheName?: string,
    view?: string
  ): Effect.Effect<void> =>
    Effect.sync(() => {
      const name = nameOf(cacheName, view)
      caches.setMode(name, to)
      const cache = named(name)
      for (const [mode, state] of modeStates) {
        update(CacheMetrics.mode, { ...cache, [CacheMetrics.AttributeKeys.modeState]: state }, mode === to ? 1 : 0)
      }
      if (from === to) return
      const now = clock.currentTimeMillisUnsafe()
      modeChangeCount++
      modeChanges.push(
        name === undefined ? { timestamp: now, from, to, reason } : { timestamp: now, from, to, reason, cacheName: name }
      )
      trim(modeChanges, now)
      update(CacheMetrics.modeChanges, {
        ...cache,
        [CacheMetrics.AttributeKeys.modeFrom]: modeState(from),
        [CacheMetrics.AttributeKeys.modeTo]: modeState(to)
      }, 1)
    })

  const recordReconnectAttempt = (success: boolean, view?: string): Effect.Effect<void> =>
    Effect.sync(() => {
      reconnectAttempts++
      if (!success) reconnectFailures++
      update(CacheMetrics.reconnectAttempts, {
        ...named(nameOf(undefined, view)),
        [CacheMetrics.AttributeKeys.reconnectOutcome]: success ? "success" : "failure"
      }, 1)
    })

  const recordReplay = (sample: ReplaySample, view?: string): Effect.Effect<void> =>
    Effect.sync(() => {
      const now = clock.currentTimeMillisUnsafe()
      replays.push({ timestamp: now, ...sample })
      trim(replays, now)
      replayedWrites += sample.replayed
      skippedWrites += sample.skipped
      droppedWrites += sample.dropped
      const result = CacheMetrics.AttributeKeys.replayResult
      const cache = named(nameOf(undefined, view))
      update(CacheMetrics.replayedWrites, { ...cache, [result]: "replayed" }, sample.replayed)
      update(CacheMetrics.replayedWrites, { ...cache, [result]: "skipped" }, sample.skipped)
      update(CacheMetrics.replayedWrites, { ...cache, [result]: "dropped" }, sample.dropped)
    })

  const recordInvalidation = (sample: InvalidationSample, view?: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      const now = clock.currentTimeMillisUnsafe()
      const durationMillis = Number.isFinite(sample.durationMillis) ? Math.max(0, sample.durationMillis) : 0
      const invalidationType = sample.invalidationType ?? "manual"
      invalidations.push({
        timestamp: now,
        pattern: sample.pattern,
        keysInvalidated: sample.keysInvalidated,
        durationMillis,
        invalidationType,
        operationContext: sample.operationContext ?? ""
      })
      trim(invalidations, now)
      totalInvalidations++
      totalKeysInvalidated += sample.keysInvalidated
      const name = nameOf(sample.cacheName, view)
      update(CacheMetrics.invalidations, named(name), 1)
      update(CacheMetrics.invalidatedKeys, named(name), sample.keysInvalidated)
      // An invalidation is also an operation: counted, timed and in byOperationType.
      const slow = recordOperationUnsafe({
        operation: invalidationType === "clear" ? "clear" : "invalidate",
        tier: "none",
        durationMillis,
        success: true,
        ...(name === undefined ? {} : { cacheName: name })
      })
      const alert = invalidationAlert(now)
      return alert === Effect.void ? slow : slow === Effect.void ? alert : Effect.andThen(slow, alert)
    })

  /** Logs a rise of the invalidation alert level, once per rise. */
  const invalidationAlert = (now: number): Effect.Effect<void> => {
    const lastHour = invalidations.filter((event) => event.timestamp > now - 3_600_000).length
    const level = Analytics.invalidationAlertLevel(lastHour, thresholds)
    const previous = invalidationLevel
    invalidationLevel = level
    if (!rose(previous, level)) return Effect.void
    const threshold = level === "critical"
      ? thresholds.invalidationCriticalPerHour
      : thresholds.invalidationWarningPerHour
    const message = `Invalidation rate: ${lastHour} in the last hour reached the ${level} threshold of ${threshold}`
    return level === "critical" ? Effect.logError(message) : Effect.logWarning(message)
  }

  const recordKeyGeneration = (sample: KeyGenerationSample, view?: string): Effect.Effect<void> =>
    Effect.suspend(() => {
      const now = clock.currentTimeMillisUnsafe()
      const durationMillis = Math.max(0, sample.durationMillis)
      keyGenerations.push({
        timestamp: now,
        durationMillis,
        textLength: sample.textLength,
        operation: sample.operation ?? "",
        additionalData: sample.additionalData ?? {}
      })
      trim(keyGenerations, now)
      update(CacheMetrics.keyGenerationDuration, named(nameOf(undefined, view)), durationMillis / 1000)
      return durationMillis > thresholds.slowKeyGenerationMillis
        ? Effect.logDebug(`Slow key generation: ${durationMillis.toFixed(1)} ms for ${sample.textLength} chars`)
        : Effect.void
    })

  const attachL1 = (source: L1Source, view?: string): Effect.Effect<void, never, Scope.Scope> =>
    Effect.flatMap(
      Effect.acquireRelease(
        Effect.sync(() => caches.attach(source, nameOf(source.cacheName, view))),
        (detach) => Effect.sync(detach)
      ),
      () => snapshot
    )

  const getMemoryUsageStats = read(() => Analytics.memoryUsageStats(memory, thresholds))

  const getInvalidationFrequencyStats = read(invalidationStatsAt)

  const getPerformanceStats = read((now): PerformanceStats => {
    const l1 = l1Hits()
    const hits = l1 + l2Hits
    const keyGeneration = Analytics.keyGenerationStats(keyGenerations, thresholds)
    const cacheOperations = Analytics.cacheOperationStats(operations, thresholds)
    return {
      timestamp: Analytics.isoTimestamp(now),
      retentionHours: retentionMillis / 3_600_000,
      cacheHitRate: Analytics.hitRate(hits, cacheMisses),
      // A recorded L1 hit is already in totalOperations; those L1 counted itself are not.
      totalCacheOperations: totalOperations + countedL1Hits(),
      cacheHits: hits,
      cacheMisses,
      l1Hits: l1,
      l2Hits,
      serializationErrors: { encode: encodeErrors, decode: decodeErrors },
      connection: connectionStats(),
      ...(keyGeneration === undefined ? {} : { keyGeneration }),
      ...(cacheOperations === undefined ? {} : { cacheOperations }),
      ...(compressions.length === 0 ? {} : { compression: Analytics.compressionStats(compressions) }),
      ...(memory.length === 0 ? {} : { memoryUsage: Analytics.memoryUsageStats(memory, thresholds) }),
      ...(invalidations.length === 0 ? {} : { invalidation: invalidationStatsAt(now) })
    }
  })

  const resetStats = Effect.sync(() => {
    for (const list of lists) list.length = 0
    totalOperations = 0
    l2Hits = 0
    recordedL1Hits = 0
    cacheMisses = 0
    totalInvalidations = 0
    totalKeysInvalidated = 0
    encodeErrors = 0
    decodeErrors = 0
    modeChangeCount = 0
    reconnectAttempts = 0
    reconnectFailures = 0
    replayedWrites = 0
    skippedWrites = 0
    droppedWrites = 0
    l1Baseline = caches.counts()
  })

  const exportMetrics = read((now): ExportedMetrics => {
    const l1 = l1Hits()
    return {
      keyGenerationTimes: [...keyGenerations],
      cacheOperationTimes: [...operations],
      compressionRatios: [...compressions],
      memoryUsageMeasurements: [...memory],
      invalidationEvents: [...invalidations],
      modeChanges: [...modeChanges],
      replays: [...replays],
      cacheHits: l1 + l2Hits,
      cacheMisses,
      l1Hits: l1,
      l2Hits,
      totalOperations: totalOperations + countedL1Hits(),
      totalInvalidations,
      totalKeysInvalidated,
      serializationErrors: { encode: encodeErrors, decode: decodeErrors },
      connection: connectionStats(),
      exportTimestamp: Analytics.isoTimestamp(now)
    }
  })

  const getRecentSlowOperations = (thresholdMultiplier = 2): Effect.Effect<SlowOperations, ValidationError> =>
    Number.isFinite(thresholdMultiplier) && thresholdMultiplier > 0
      ? read(() =>
        Analytics.slowOperations(
          { keyGeneration: keyGenerations, operations, compression: compressions },
          thresholdMultiplier
        )
      )
      : Effect.fail(validationError([{
        field: "thresholdMultiplier",
        value: String(thresholdMultiplier),
        rule: "must be a positive, finite number"
      }], { subject: "Invalid slow-operation query" }))

  // Sleep first: attachL1 takes the first snapshot, so the loop's start time does not matter.
  yield* snapshot.pipe(
    Effect.delay(Duration.millis(options.snapshotIntervalMillis)),
    Effect.forever,
    Effect.forkScoped
  )

  // The recorders as the cache named `view` uses them (the monitor's own name without one).
  const recordersFor = (view: string | undefined) => ({
    recordOperation: (sample: OperationSample) => Effect.suspend(() => recordOperationUnsafe(sample, view)),
    recordOperationUnsafe: (sample: OperationSample) => recordOperationUnsafe(sample, view),
    recordCompression: (sample: CompressionSample) => recordCompression(sample, view),
    recordSerializationError: (operation: "encode" | "decode") => recordSerializationError(operation, view),
    recordSchemaMismatch: () => recordSchemaMismatch(view),
    recordL1Invalidation: (sample: L1InvalidationSample) => recordL1Invalidation(sample, view),
    recordL1Flush: (cause: string) => recordL1Flush(cause, view),
    recordResilienceEventUnsafe: (event: ResilienceEventName) => recordResilienceEventUnsafe(event, view),
    recordModeChange: (from: CacheMode, to: CacheMode, reason: string, cacheName?: string) =>
      recordModeChange(from, to, reason, cacheName, view),
    recordReconnectAttempt: (success: boolean) => recordReconnectAttempt(success, view),
    recordReplay: (sample: ReplaySample) => recordReplay(sample, view),
    recordInvalidation: (sample: InvalidationSample) => recordInvalidation(sample, view),
    recordKeyGeneration: (sample: KeyGenerationSample) => recordKeyGeneration(sample, view),
    attachL1: (source: L1Source) => attachL1(source, view)
  })

  const service: CacheMonitorService = CacheMonitor.of({
    ...recordersFor(undefined),
    forCache: (cacheName) => CacheMonitor.of({ ...service, ...recordersFor(cacheName) }),
    snapshot,
    getPerformanceStats,
    getCompressionStats: read(() => Analytics.compressionStats(compressions)),
    getMemoryUsageStats,
    getMemoryWarnings: read(() => Analytics.memoryWarnings(memory, thresholds)),
    getInvalidationFrequencyStats,
    getInvalidationRecommendations: read((now) => Analytics.invalidationRecommendations(invalidationStatsAt(now))),
    getRecentSlowOperations,
    resetStats,
    exportMetrics
  })
  return service
})

/**
 * Builds a monitor in the current scope (its snapshot fiber ends with the scope).
 * Without options it cannot fail; with options it checks them first.
 *
 * @since 0.1.0
 */
export interface MakeCacheMonitor {
  (): Effect.Effect<CacheMonitorService, never, Scope.Scope>
  (options: CacheMonitorOptions): Effect.Effect<CacheMonitorService, ValidationError, Scope.Scope>
}

/**
 * A layer of the monitor. Without options it cannot fail; with options it
 * fails with a `ValidationError` naming every bad field.
 *
 * @since 0.1.0
 */
export interface CacheMonitorLayer {
  (): Layer.Layer<CacheMonitor>
  (options: CacheMonitorOptions): Layer.Layer<CacheMonitor, ValidationError>
}

function make(): Effect.Effect<CacheMonitorService, never, Scope.Scope>
function make(options: CacheMonitorOptions): Effect.Effect<CacheMonitorService, ValidationError, Scope.Scope>
function make(options?: CacheMonitorOptions): Effect.Effect<CacheMonitorService, ValidationError, Scope.Scope> {
  return options === undefined ? makeService(resolve({})) : Effect.flatMap(resolveOptions(options), makeService)
}

function layer(): Layer.Layer<CacheMonitor>
function layer(options: CacheMonitorOptions): Layer.Layer<CacheMonitor, ValidationError>
function layer(options?: CacheMonitorOptions): Layer.Layer<CacheMonitor, ValidationError> {
  return Layer.effect(CacheMonitor, options === undefined ? make() : make(options))
}

/**
 * The cache monitor service. A cache always has one: `CacheMonitor.layer()`
 * is the default, and a user may provide their own.
 *
 * @since 0.1.0
 */
export class CacheMonitor extends Context.Service<CacheMonitor, CacheMonitorService>()(
  "effect-redis-cache/CacheMonitor"
) {
  /**
   * Builds a monitor in the current scope.
   *
   * @since 0.1.0
   */
  static readonly make: MakeCacheMonitor = make

  /**
   * The monitor as a layer; its snapshot fiber lives as long as the layer.
   *
   * @since 0.1.0
   */
  static readonly layer: CacheMonitorLayer = layer
}
