/**
 * The cache's Effect `Metric`s.
 *
 * Names, units and attribute keys follow OpenTelemetry's semantic conventions
 * where one exists (`db.client.operation.duration` for latency in seconds with
 * its recommended buckets, `error.type` for failures, `{entry}`-style
 * annotation units, `By` for bytes). Every attribute has a small, fixed set of
 * values: keys, patterns and values never become attributes.
 *
 * The unit travels as the `unit` attribute, which is Effect's convention:
 * `@effect/opentelemetry` and `effect/observability`'s OTLP exporter turn it
 * into the instrument unit, and the Prometheus formatter leaves it out.
 *
 * `CacheMonitor` updates these metrics; nothing else needs to. They live in
 * whichever `Metric.MetricRegistry` was current when the monitor was built.
 *
 * @packageDocumentation
 * @since 0.1.0
 */
import { Metric } from "effect"

/**
 * Attribute keys used on the cache's metrics and spans.
 *
 * @since 0.1.0
 */
export const AttributeKeys = {
  /** The cache operation: get, set, delete, exists, ttl, clear, invalidate, getOrSet. */
  operation: "cache.operation",
  /** The tier that answered: l1, l2, miss (no tier had it) or none (writes). */
  tier: "cache.tier",
  /** hit | miss for reads, success for other operations, error for failures. */
  outcome: "cache.outcome",
  /** Whether a lookup was answered (spans only). */
  hit: "cache.hit",
  /** The optional name of the cache (the monitor's `cacheName` option). */
  cacheName: "cache.name",
  /** The tag of the error an operation failed with. */
  errorType: "error.type",
  /** A cache mode, in snake case: connected, memory_only, connecting, memory. */
  modeState: "cache.mode.state",
  /** The mode a switch left. */
  modeFrom: "cache.mode.from",
  /** The mode a switch entered. */
  modeTo: "cache.mode.to",
  /** success | failure of a reconnect attempt. */
  reconnectOutcome: "cache.reconnect.outcome",
  /** replayed | skipped | dropped: what became of a write queued while Redis was away. */
  replayResult: "cache.replay.result",
  /** encode | decode. */
  serializationOperation: "cache.serialization.operation",
  /** tracking | bus: how an L1 invalidation arrived. */
  invalidationMechanism: "cache.invalidation.mechanism",
  /** Why L1 was flushed: link_lost, link_established, reconnected, redis_flushed, remote_clear, version. */
  flushCause: "cache.l1.flush.cause",
  /** A resilience event of getOrSet (docs/resilience.md): stale_served, failsafe_activated, ... */
  resilienceEvent: "cache.resilience.event"
} as const

// The metrics updated on every operation are built by these makers, so that each series the
// monitor updates can have a metric object of its own (`seriesMetric` below).
const incrementalCounter = (id: string, description: string, unit: string) => (attributes: Record<string, string>) =>
  Metric.counter(id, { description, incremental: true, attributes: { unit, ...attributes } })

/**
 * Seconds: the semantic conventions' recommended boundaries for `db.client.operation.duration`, with
 * 0.1 ms and 0.5 ms in front because a nearby Redis answers in well under a millisecond.
 */
const durationBoundaries: ReadonlyArray<number> = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]

/** Bytes: 64 B to 16 MiB, each bucket four times the last. */
const sizeBoundaries: ReadonlyArray<number> = Metric.exponentialBoundaries({ start: 64, factor: 4, count: 10 })

const operationDurationWith = (attributes: Record<string, string>) =>
  Metric.histogram("cache.operation.duration", {
    description: "Duration of cache operations (L1 hits are not timed)",
    boundaries: durationBoundaries,
    attributes: { unit: "s", ...attributes }
  })

/**
 * Duration of the cache operations recorded by the monitor (every operation but
 * an L1 hit: L2 round trips, misses, writes, deletes, exists, ttl,
 * invalidations, clears). Seconds.
 * Attributes: `cache.operation`, `cache.tier`, `cache.outcome`, `error.type` on failure.
 *
 * @since 0.1.0
 */
export const operationDuration = operationDurationWith({})

const operationsWith = incrementalCounter("cache.operations", "Cache operations by operation, answering tier and outcome", "{operation}")

/**
 * Every cache operation: get (L1 hits included, read from L1's counters when
 * metrics are collected), set, delete, exists, ttl, invalidate, clear.
 * Attributes: `cache.operation`, `cache.tier`, `cache.outcome`.
 *
 * @since 0.1.0
 */
export const operations = operationsWith({})

const hitsWith = incrementalCounter("cache.hits", "Lookups answered by a tier", "{hit}")

/**
 * Lookups answered, by `cache.tier` (l1 | l2).
 *
 * @since 0.1.0
 */
export const hits = hitsWith({})

const missesWith = incrementalCounter("cache.misses", "Lookups a tier could not answer", "{miss}")

/**
 * Lookups a tier could not answer, by `cache.tier`: l1 counts L1 misses (each
 * goes on to Redis when connected); l2 counts lookups Redis was asked and did
 * not have.
 *
 * @since 0.1.0
 */
export const misses = missesWith({})

const errorsWith = incrementalCounter("cache.errors", "Failed cache operations by error type", "{error}")

/**
 * Failed operations, by `cache.operation` and `error.type` (the error's tag).
 *
 * @since 0.1.0
 */
export const errors = errorsWith({})

/**
 * Values that could not be encoded or decoded, by `cache.serialization.operation`.
 *
 * @since 0.1.0
 */
export const serializationErrors = Metric.counter("cache.serialization.errors", {
  description: "Values that could not be encoded or decoded",
  incremental: true,
  attributes: { unit: "{error}" }
})

/**
 * Stored values that did not fit the reader's schema and were read as misses
 * (`onSchemaMismatch: "miss"`, the default): a deploy changed a schema.
 *
 * @since 0.1.0
 */
export const schemaMismatches = Metric.counter("cache.schema.mismatches", {
  description: "Stored values that did not fit the reader's schema and were read as misses",
  incremental: true,
  attributes: { unit: "{value}" }
})

/**
 * Keys evicted from L1 because they changed elsewhere (another instance, another program,
 * expiry in Redis), by `cache.invalidation.mechanism`.
 *
 * @since 0.1.0
 */
export const l1Invalidations = Metric.counter("cache.l1.invalidations", {
  description: "Keys evicted from L1 because they changed elsewhere",
  incremental: true,
  attributes: { unit: "{key}" }
})

/**
 * Times L1 was emptied because changes may have been missed (or Redis was flushed), by
 * `cache.l1.flush.cause`.
 *
 * @since 0.1.0
 */
export const l1Flushes = Metric.counter("cache.l1.flushes", {
  description: "Times L1 was emptied because changes made elsewhere may have been missed",
  incremental: true,
  attributes: { unit: "{flush}" }
})

/**
 * Bus invalidations: seconds from the writer's write to the eviction here (clock skew
 * between the two hosts included).
 *
 * @since 0.1.0
 */
export const invalidationLag = Metric.histogram("cache.l1.invalidation.lag", {
  description: "Time from a write on another instance to the eviction of the key from this L1",
  boundaries: durationBoundaries,
  attributes: { unit: "s" }
})

/**
 * What getOrSet's resilience options did (docs/resilience.md), by `cache.resilience.event`:
 * `stale_served`, `failsafe_activated`, `soft_timeout`, `hard_timeout`, `refresh_started`,
 * `refresh_succeeded`, `refresh_failed`, `lock_acquired`, `lock_waited`, `lock_timed_out`, `lock_woken`.
 *
 * @since 0.1.0
 */
export const resilienceEvents = Metric.counter("cache.resilience.events", {
  description: "Stale values served, fail-safe activations, lookup timeouts, background refreshes and lock waits",
  incremental: true,
  attributes: { unit: "{event}" }
})

/**
 * L1 entries evicted to stay within the entry or byte bound.
 *
 * @since 0.1.0
 */
export const l1Evictions = Metric.counter("cache.l1.evictions", {
  description: "L1 entries evicted to stay within the entry or byte bound",
  incremental: true,
  attributes: { unit: "{entry}" }
})

/**
 * L1 entries dropped because their TTL ran out.
 *
 * @since 0.1.0
 */
export const l1Expirations = Metric.counter("cache.l1.expirations", {
  description: "L1 entries dropped because their TTL ran out",
  incremental: true,
  attributes: { unit: "{entry}" }
})

/**
 * Entries held in L1.
 *
 * @since 0.1.0
 */
export const l1Entries = Metric.gauge("cache.l1.entries", {
  description: "Entries held in L1",
  attributes: { unit: "{entry}" }
})

/**
 * The most entries L1 may hold.
 *
 * @since 0.1.0
 */
export const l1EntriesLimit = Metric.gauge("cache.l1.entries.limit", {
  description: "The most entries L1 may hold",
  attributes: { unit: "{entry}" }
})

/**
 * Bytes held in L1, as L1 accounts them.
 *
 * @since 0.1.0
 */
export const l1MemoryUsage = Metric.gauge("cache.l1.memory.usage", {
  description: "Bytes held in L1",
  attributes: { unit: "By" }
})

/**
 * The most bytes L1 may hold.
 *
 * @since 0.1.0
 */
export const l1MemoryLimit = Metric.gauge("cache.l1.memory.limit", {
  description: "The most bytes L1 may hold",
  attributes: { unit: "By" }
})

/**
 * The cache's mode as a state set: one series per `cache.mode.state`, 1 for
 * the current mode and 0 for the others.
 *
 * @since 0.1.0
 */
export const mode = Metric.gauge("cache.mode", {
  description: "1 for the cache's current mode, 0 for the others",
  attributes: { unit: "1" }
})

/**
 * Mode switches, by `cache.mode.from` and `cache.mode.to`.
 *
 * @since 0.1.0
 */
export const modeChanges = Metric.counter("cache.mode.changes", {
  description: "Switches between connected and degraded modes",
  incremental: true,
  attributes: { unit: "{change}" }
})

/**
 * Attempts to reconnect to Redis, by `cache.reconnect.outcome` (success | failure).
 *
 * @since 0.1.0
 */
export const reconnectAttempts = Metric.counter("cache.reconnect.attempts", {
  description: "Attempts to reconnect to Redis",
  incremental: true,
  attributes: { unit: "{attempt}" }
})

/**
 * Writes queued while Redis was away, by `cache.replay.result` (replayed |
 * skipped | dropped) once the connection came back.
 *
 * @since 0.1.0
 */
export const replayedWrites = Metric.counter("cache.replay.writes", {
  description: "Writes queued while Redis was away, by what became of them on recovery",
  incremental: true,
  attributes: { unit: "{write}" }
})

/**
 * Size of values before compression. Bytes.
 *
 * @since 0.1.0
 */
export const compressionUncompressedSize = Metric.histogram("cache.compression.uncompressed.size", {
  description: "Size of values before compression",
  boundaries: sizeBoundaries,
  attributes: { unit: "By" }
})

/**
 * Size of values after compression. Bytes.
 *
 * @since 0.1.0
 */
export const compressionCompressedSize = Metric.histogram("cache.compression.compressed.size", {
  description: "Size of values after compression",
  boundaries: sizeBoundaries,
  attributes: { unit: "By" }
})

/**
 * Time spent compressing values. Seconds.
 *
 * @since 0.1.0
 */
export const compressionDuration = Metric.histogram("cache.compression.duration", {
  description: "Time spent compressing values",
  boundaries: durationBoundaries,
  attributes: { unit: "s" }
})

/**
 * Pattern invalidations and clears run (a clear is an invalidation, as in the original).
 *
 * @since 0.1.0
 */
export const invalidations = Metric.counter("cache.invalidations", {
  description: "Pattern invalidations and clears run",
  incremental: true,
  attributes: { unit: "{invalidation}" }
})

/**
 * Keys removed by pattern invalidations and clears.
 *
 * @since 0.1.0
 */
export const invalidatedKeys = Metric.counter("cache.invalidation.keys", {
  description: "Keys removed by pattern invalidations and clears",
  incremental: true,
  attributes: { unit: "{key}" }
})

/**
 * Time spent generating cache keys (the AI cache's key generator). Seconds.
 *
 * @since 0.1.0
 */
export const keyGenerationDuration = Metric.histogram("cache.key_generation.duration", {
  description: "Time spent generating cache keys",
  boundaries: durationBoundaries,
  attributes: { unit: "s" }
})

/**
 * Every metric of the cache, for documentation, dashboards and tests.
 *
 * @since 0.1.0
 */
export const all = [
  operationDuration,
  operations,
  hits,
  misses,
  errors,
  serializationErrors,
  schemaMismatches,
  l1Invalidations,
  l1Flushes,
  invalidationLag,
  resilienceEvents,
  l1Evictions,
  l1Expirations,
  l1Entries,
  l1EntriesLimit,
  l1MemoryUsage,
  l1MemoryLimit,
  mode,
  modeChanges,
  reconnectAttempts,
  replayedWrites,
  compressionUncompressedSize,
  compressionCompressedSize,
  compressionDuration,
  invalidations,
  invalidatedKeys,
  keyGenerationDuration
] as const

const prometheusNames: ReadonlyMap<string, string> = new Map(
  all.map((metric) => {
    const unit = metric.attributes?.unit
    const base = metric.id.replace(/\./g, "_")
    const withUnit = unit === "s" ? `${base}_seconds` : unit === "By" ? `${base}_bytes` : base
    return [metric.id, metric.type === "Counter" ? `${withUnit}_total` : withUnit] as const
  })
)

/**
 * Maps the cache's metric names to Prometheus names the way OpenTelemetry's
 * Prometheus exporter does (unit suffix, `_total` on counters), for
 * `PrometheusMetrics.format({ metricNameMapper })`. Other names pass through.
 *
 * @since 0.1.0
 */
export const prometheusNameMapper = (name: string): string => prometheusNames.get(name) ?? name

const seriesMakers = new Map<Metric.Metric<number, unknown>, (attributes: Record<string, string>) => Metric.Metric<number, unknown>>([
  [operationDuration, operationDurationWith],
  [operations, operationsWith],
  [hits, hitsWith],
  [misses, missesWith],
  [errors, errorsWith]
])

/**
 * One series of a metric updated on every operation, as a metric object of its own with the
 * series' attributes built in; `undefined` for other metrics. Updated with a context that adds
 * no attributes, it lands in the same registry entry as `metric` updated in a context carrying
 * those attributes. Why: an Effect metric caches the registry key of the last attribute set it
 * was updated with, so one metric object updated for two series in turn (a miss, then a set)
 * rebuilt its key, a sorted and stringified copy of the attributes, on every update.
 *
 * @internal
 */
export const seriesMetric = <Input>(
  metric: Metric.Metric<Input, unknown>,
  attributes: Record<string, string>
): Metric.Metric<Input, unknown> | undefined =>
  // Every metric in the map takes numbers, and the found maker builds one like `metric`.
  seriesMakers.get(metric as unknown as Metric.Metric<number, unknown>)?.(attributes) as
    | Metric.Metric<Input, unknown>
    | undefined
