/**
 * The AI response cache: the original `AIResponseCache` as a service built on
 * `Cache` (composition, not inheritance).
 *
 * ```ts
 * const summarize = Effect.fn("summarize")(function*(text: string) {
 *   const ai = yield* AIResponseCache
 *   const cached = yield* ai.getCachedResponse(text, "summarize", { max_length: 100 })
 *   if (Option.isSome(cached)) return cached.value
 *   const summary = yield* callTheModel(text)
 *   yield* ai.cacheResponse(text, "summarize", { max_length: 100 }, summary) // TTL: operationTtls.summarize
 *   return summary
 * })
 * ```
 *
 * Keys are the original's (see `CacheKeyGenerator`). What the original only
 * stored, this one applies: a response is stored with its operation's TTL from
 * `operationTtls`. Every key generation is recorded in the `CacheMonitor`, and the
 * AI metrics (hits and misses by operation, text tiers, latencies with
 * percentiles) count what goes through this service's own methods; a key read
 * with `Cache.get` directly is a plain cache read and is not counted here, which
 * keeps event callbacks off the cache's hot path.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Exit, Layer, Option, Result, Schema } from "effect"
import type { Redis } from "ioredis"
import { Cache, type CacheStatus, type SetOptions } from "../Cache.js"
import { intBetween, Ttl, validateOptions } from "../CacheOptions.js"
import { type CacheError, validationError, type ValidationError } from "../errors.js"
import { escapeGlob } from "../internal/pattern.js"
import type { KeyGenerationStats, PerformanceStats } from "../monitoring/Analytics.js"
import { CacheMonitor } from "../monitoring/CacheMonitor.js"
import { RedisTier } from "../tiers/RedisTier.js"
import {
  AI_KEY_PREFIX,
  type AIKeyOptions,
  codePointLength,
  type GeneratedKey,
  generateKey,
  keyInputIssues,
  operationKeyPrefix
} from "./CacheKeyGenerator.js"

/**
 * The bounds of the text size tiers, in characters: a text shorter than `small`
 * is small, shorter than `medium` medium, shorter than `large` large, else xlarge.
 *
 * @since 0.1.0
 */
export const TextSizeTiers = Schema.Struct({
  small: intBetween(1, 100_000_000),
  medium: intBetween(1, 100_000_000),
  large: intBetween(1, 100_000_000)
}).check(
  Schema.makeFilter((tiers) =>
    (tiers.small < tiers.medium && tiers.medium < tiers.large) || "must satisfy small < medium < large"
  )
)

/**
 * The type of {@link TextSizeTiers}.
 *
 * @since 0.1.0
 */
export type TextSizeTiers = typeof TextSizeTiers.Type

/**
 * A text's size tier.
 *
 * @since 0.1.0
 */
export type TextTier = "small" | "medium" | "large" | "xlarge"

const operationNameIssue = (name: string): string | undefined =>
  name.trim() === ""
    ? "operation names must not be empty"
    : name.includes("|")
    ? "operation names must not contain '|' (it separates the key's parts)"
    : undefined

const decodeTtl = Schema.decodeUnknownResult(Ttl)

// One filter checks every name and every value, so an empty name and a bad TTL are
// reported together: a Record schema checks its values before any filter runs (and
// stops there), and a key that fails a key schema is reported as an unknown option,
// which would hide the real rule.
const OperationTtls = Schema.declare(
  (u: unknown): u is Readonly<Record<string, Duration.Input>> =>
    typeof u === "object" && u !== null && !Array.isArray(u),
  { expected: "a record of operation names to TTLs" }
).check(
  Schema.makeFilter((ttls) =>
    Object.entries(ttls).flatMap(([name, ttl]): Array<Schema.FilterIssue> => {
      const issues: Array<Schema.FilterIssue> = []
      const nameIssue = operationNameIssue(name)
      if (nameIssue !== undefined) issues.push({ path: [name], issue: nameIssue })
      const decoded = decodeTtl(ttl)
      if (Result.isFailure(decoded)) issues.push({ path: [name], issue: decoded.failure.issue })
      return issues
    })
  )
)

/**
 * The AI-specific options (the factory adds them to the Redis cache options).
 *
 * @since 0.1.0
 */
export const AIResponseCacheOptions = Schema.Struct({
  /** Texts longer than this many characters are hashed in keys. Default 1000 (the factory's AI app: 500). */
  textHashThreshold: Schema.optionalKey(intBetween(1, 100_000)),
  /** Default `{ small: 500, medium: 5000, large: 50000 }`. */
  textSizeTiers: Schema.optionalKey(TextSizeTiers),
  /** TTL per operation, applied when a response is stored. Other operations get the cache's default TTL. */
  operationTtls: Schema.optionalKey(OperationTtls),
  /** Longest text accepted, in characters; longer texts are a `ValidationError`. Default: no limit. */
  maxTextLength: Schema.optionalKey(intBetween(1, 100_000_000))
})

/**
 * The options of {@link AIResponseCache.layer}.
 *
 * @since 0.1.0
 */
export type AIResponseCacheOptions = typeof AIResponseCacheOptions.Type

/**
 * The default text size tiers (the original's).
 *
 * @since 0.1.0
 */
export const defaultTextSizeTiers: TextSizeTiers = { small: 500, medium: 5000, large: 50_000 }

/**
 * The tier of a text of `length` characters.
 *
 * @since 0.1.0
 */
export const textTierOf = (length: number, tiers: TextSizeTiers): TextTier =>
  length < tiers.small ? "small" : length < tiers.medium ? "medium" : length < tiers.large ? "large" : "xlarge"

/**
 * Latency percentiles and counts of one operation, over the last 1000 AI calls.
 *
 * @since 0.1.0
 */
export interface OperationPerformance {
  readonly count: number
  readonly reads: number
  readonly writes: number
  readonly hits: number
  readonly misses: number
  /** hits / (hits + misses) × 100 over the counted reads. */
  readonly hitRate: number
  readonly avgDurationMillis: number
  readonly minDurationMillis: number
  readonly maxDurationMillis: number
  readonly p50DurationMillis: number
  readonly p95DurationMillis: number
  readonly p99DurationMillis: number
  /** The TTL its responses are stored with; none = the cache's default. */
  readonly configuredTtlMillis: number | undefined
}

/**
 * One AI call, as kept for latency statistics (the last 1000).
 *
 * @since 0.1.0
 */
export interface AIOperationRecord {
  readonly timestamp: number
  readonly operation: string
  readonly kind: "get" | "set"
  /** For reads: whether it was a hit. */
  readonly hit: boolean | undefined
  readonly textTier: TextTier
  readonly textLength: number
  readonly durationMillis: number
}

/**
 * Hits, misses and hit rate (percent).
 *
 * @since 0.1.0
 */
export interface HitCounts {
  readonly hits: number
  readonly misses: number
  readonly hitRate: number
}

/**
 * The AI metrics, counted since start or the last reset.
 *
 * @since 0.1.0
 */
export interface AIMetrics {
  readonly cacheHitsByOperation: Readonly<Record<string, number>>
  readonly cacheMissesByOperation: Readonly<Record<string, number>>
  readonly textTierDistribution: Readonly<Record<TextTier, number>>
  readonly operationsTracked: number
}

/**
 * The original's `get_cache_stats`: Redis, memory, performance and AI sections.
 *
 * @since 0.1.0
 */
export interface AICacheStats {
  readonly redis:
    | { readonly status: "not_configured" | "unavailable"; readonly mode: CacheStatus["mode"] }
    | { readonly status: "error"; readonly mode: CacheStatus["mode"]; readonly error: string }
    | {
      readonly status: "connected"
      readonly mode: CacheStatus["mode"]
      readonly keys: number
      readonly memoryUsed: string
      readonly memoryUsedBytes: number
      readonly connectedClients: number
    }
  readonly memory: {
    readonly memoryCacheEntries: number
    readonly memoryCacheSizeLimit: number
    readonly memoryCacheUtilization: string
    readonly memoryCacheBytes: number
  }
  readonly performance: PerformanceStats
  readonly aiMetrics: AIMetrics
}

/**
 * The original's `get_performance_summary`.
 *
 * @since 0.1.0
 */
export interface PerformanceSummary {
  /** Percent, from the monitor: hits / (hits + misses) over every read of the cache. */
  readonly hitRatio: number
  readonly totalOperations: number
  readonly cacheHits: number
  readonly cacheMisses: number
  /** Mean duration of the last 10 AI calls. */
  readonly recentAvgCacheOperationTimeMillis: number
  readonly aiOperationMetrics: Readonly<Record<string, number>>
  readonly aiMissMetrics: Readonly<Record<string, number>>
  readonly textTierDistribution: Readonly<Record<TextTier, number>>
  readonly recentAiOperations: ReadonlyArray<AIOperationRecord>
}

/**
 * A suggestion drawn from the AI metrics.
 *
 * @since 0.1.0
 */
export interface AIOptimizationRecommendation {
  readonly severity: "warning" | "info"
  readonly operation?: string
  readonly issue: string
  readonly message: string
  readonly suggestions: ReadonlyArray<string>
}

/**
 * The original's `get_ai_performance_summary`.
 *
 * @since 0.1.0
 */
export interface AIPerformanceSummary {
  readonly timestamp: string
  /** Reads and writes through this service. */
  readonly totalOperations: number
  /** Percent over the reads through this service. */
  readonly overallHitRate: number
  readonly hitRateByOperation: Readonly<Record<string, HitCounts>>
  readonly textTierDistribution: Readonly<Record<TextTier, number>>
  readonly keyGeneration: KeyGenerationStatistics
  readonly operationPerformance: Readonly<Record<string, OperationPerformance>>
  readonly optimizationRecommendations: ReadonlyArray<AIOptimizationRecommendation>
}

/**
 * The original's `get_text_tier_statistics`.
 *
 * @since 0.1.0
 */
export interface TextTierStatistics {
  readonly tierConfiguration: TextSizeTiers
  readonly tierDistribution: Readonly<Record<TextTier, number>>
  readonly tierPerformance: Readonly<Record<TextTier, HitCounts & { readonly avgDurationMillis: number }>>
}

/**
 * The original key generator's `get_key_generation_stats`, plus the monitor's timings.
 *
 * @since 0.1.0
 */
export interface KeyGenerationStatistics {
  readonly totalKeysGenerated: number
  readonly averageGenerationTimeMillis: number
  /** `small` = text kept in the key, `large` = text hashed. */
  readonly textSizeDistribution: {
    readonly small: number
    readonly large: number
    readonly averageSize: number
    readonly maxSize: number
  }
  readonly operationDistribution: Readonly<Record<string, number>>
  readonly recentPerformance: { readonly recentAverageTimeMillis: number; readonly recentMeasurements: number }
  /** The monitor's summary of the retained key generations; absent before the first. */
  readonly monitor: KeyGenerationStats | undefined
}

/**
 * The AI cache's settings in force.
 *
 * @since 0.1.0
 */
export interface AIResponseCacheSettings {
  readonly textHashThreshold: number
  readonly textSizeTiers: TextSizeTiers
  readonly operationTtls: Readonly<Record<string, Duration.Duration>>
  readonly maxTextLength: number | undefined
}

/**
 * The AI response cache's operations.
 *
 * @since 0.1.0
 */
export interface AIResponseCacheService {
  /** The key of a response: the original's format, deterministic, independent of the options' key order. */
  readonly buildKey: (text: string, operation: string, options?: AIKeyOptions) => Effect.Effect<string, ValidationError>
  /** Stores a response, with the operation's TTL from `operationTtls` unless `setOptions.ttl` says otherwise. */
  readonly cacheResponse: (
    text: string,
    operation: string,
    options: AIKeyOptions | undefined,
    response: unknown,
    setOptions?: SetOptions
  ) => Effect.Effect<void, CacheError>
  /** Reads a stored response; with a schema, decoded by it. */
  readonly getCachedResponse: {
    (text: string, operation: string, options?: AIKeyOptions): Effect.Effect<Option.Option<unknown>, CacheError>
    <A, I>(
      text: string,
      operation: string,
      options: AIKeyOptions | undefined,
      schema: Schema.Codec<A, I>
    ): Effect.Effect<Option.Option<A>, CacheError>
  }
  /** Removes every response of one operation; how many keys were removed. */
  readonly invalidateByOperation: (operation: string) => Effect.Effect<number, CacheError>
  /** Removes the AI responses whose key contains `pattern` (literal text); how many keys were removed. */
  readonly invalidatePattern: (pattern: string) => Effect.Effect<number, CacheError>
  /** Removes every AI response (keys under `ai_cache:`), nothing else; how many keys were removed. */
  readonly clear: Effect.Effect<number, CacheError>
  /** The size tier of a text. */
  readonly getTextTier: (text: string) => Effect.Effect<TextTier, ValidationError>
  /** The TTL a response of `operation` is stored with; none = the cache's default. */
  readonly ttlFor: (operation: string) => Option.Option<Duration.Duration>
  readonly getCacheStats: Effect.Effect<AICacheStats>
  /** Percent, from the monitor: hits / (hits + misses) over every read of the cache. */
  readonly getCacheHitRatio: Effect.Effect<number>
  readonly getPerformanceSummary: Effect.Effect<PerformanceSummary>
  readonly getAIPerformanceSummary: Effect.Effect<AIPerformanceSummary>
  readonly getTextTierStatistics: Effect.Effect<TextTierStatistics>
  /** Latencies (p50/p95/p99) and counts per operation, over the last 1000 AI calls. */
  readonly getOperationPerformance: Effect.Effect<Readonly<Record<string, OperationPerformance>>>
  readonly getKeyGenerationStats: Effect.Effect<KeyGenerationStatistics>
  readonly getOptimizationRecommendations: Effect.Effect<ReadonlyArray<AIOptimizationRecommendation>>
  readonly getAIMetrics: Effect.Effect<AIMetrics>
  /** Resets the AI metrics (not the cache's or the monitor's). */
  readonly resetAIMetrics: Effect.Effect<void>
  readonly settings: AIResponseCacheSettings
}

/**
 * The AI response cache. Build it on a cache with {@link AIResponseCache.layer}
 * or take both from `CacheFactory.forAIApp`.
 *
 * @since 0.1.0
 */
export class AIResponseCache extends Context.Service<AIResponseCache, AIResponseCacheService>()(
  "effect-redis-cache/AIResponseCache"
) {
  /**
   * The AI response cache on top of the `Cache` (and its `CacheMonitor`) in context.
   * Options are validated; every problem is reported at once in one `ValidationError`.
   *
   * @since 0.1.0
   */
  static layer(
    options: AIResponseCacheOptions = {}
  ): Layer.Layer<AIResponseCache, ValidationError, Cache | CacheMonitor> {
    return Layer.effect(
      AIResponseCache,
      Effect.flatMap(validateOptions(AIResponseCacheOptions, options, "Invalid AI response cache options"), make)
    )
  }
}

const RECORD_LIMIT = 1000
const RECENT_KEY_TIMES = 100
const MIN_SAMPLES = 10
const SLOW_OPERATION_MILLIS = 50
const tiers: ReadonlyArray<TextTier> = ["small", "medium", "large", "xlarge"]

const percent = (part: number, whole: number) => (whole === 0 ? 0 : (part / whole) * 100)

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

const mean = (values: ReadonlyArray<number>) =>
  values.length === 0 ? 0 : values.reduce((sum, v) => sum + v, 0) / values.length

const zeroTiers = (): Record<TextTier, number> => ({ small: 0, medium: 0, large: 0, xlarge: 0 })

const increment = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1)

const humanBytes = (bytes: number): string =>
  bytes < 1024 ? `${bytes}B` : bytes < 1024 ** 2 ? `${(bytes / 1024).toFixed(1)}K` : `${(bytes / 1024 ** 2).toFixed(1)}M`

const infoField = (info: string, field: string): number => {
  const match = new RegExp(`^${field}:(\\d+)`, "m").exec(info)
  return match === null ? 0 : Number(match[1])
}

// The key count from INFO keyspace rather than DBSIZE: the cache's least-privilege
// ACL rule (cacheAclRule) allows INFO, which ioredis' ready check needs anyway.
const keyspaceKeys = (keyspace: string, db: number): number => {
  const match = new RegExp(`^db${db}:keys=(\\d+)`, "m").exec(keyspace)
  return match === null ? 0 : Number(match[1])
}

const readRedisInfo = (client: Redis) =>
  Effect.tryPromise({
    try: async () => {
      const [keyspace, memory, clients] = await Promise.all([
        client.info("keyspace"),
        client.info("memory"),
        client.info("clients")
      ])
      const memoryUsedBytes = infoField(memory, "used_memory")
      return {
        keys: keyspaceKeys(keyspace, client.options.db ?? 0),
        memoryUsed: humanBytes(memoryUsedBytes),
        memoryUsedBytes,
        connectedClients: infoField(clients, "connected_clients")
      }
    },
    catch: (error) => (error instanceof Error ? error.message : String(error))
  }).pipe(Effect.timeoutOrElse({ duration: "2 seconds", orElse: () => Effect.fail("INFO timed out") }))

const make = Effect.fnUntraced(function*(options: AIResponseCacheOptions) {
  const cache = yield* Cache
  const monitor = yield* CacheMonitor
  const redisTier = yield* Effect.serviceOption(RedisTier)
  const clock = yield* Clock.Clock

  const settings: AIResponseCacheSettings = {
    textHashThreshold: options.textHashThreshold ?? 1000,
    textSizeTiers: options.textSizeTiers ?? defaultTextSizeTiers,
    operationTtls: Object.fromEntries(
      Object.entries(options.operationTtls ?? {}).map(([op, ttl]) => [op, Duration.fromInputUnsafe(ttl)])
    ),
    maxTextLength: options.maxTextLength
  }
  const nanos = () => clock.currentTimeNanosUnsafe()
  const sinceMillis = (started: bigint) => Number(nanos() - started) / 1e6

  // AI metrics: plain counters, updated on the AI slow path only.
  const hitsByOperation = new Map<string, number>()
  const missesByOperation = new Map<string, number>()
  let tierDistribution = zeroTiers()
  let records: Array<AIOperationRecord> = []
  let nextRecord = 0
  let keysGenerated = 0
  let keyTimeTotal = 0
  let keysHashed = 0
  let keyTextTotal = 0
  let keyTextMax = 0
  const keysByOperation = new Map<string, number>()
  let recentKeyTimes: Array<number> = []

  const remember = (record: AIOperationRecord) => {
    if (records.length < RECORD_LIMIT) records.push(record)
    else records[nextRecord] = record
    nextRecord = (nextRecord + 1) % RECORD_LIMIT
  }
  // Oldest first.
  const orderedRecords = (): ReadonlyArray<AIOperationRecord> =>
    records.length < RECORD_LIMIT ? records : [...records.slice(nextRecord), ...records.slice(0, nextRecord)]

  const invalid = (issues: ReturnType<typeof keyInputIssues>) =>
    Exit.fail(validationError(issues, { subject: "Invalid AI cache key input" }))

  // Validates, builds the key and records the generation in the monitor.
  const keyOf = (
    text: string,
    operation: string,
    options: AIKeyOptions | undefined
  ): Effect.Effect<GeneratedKey, ValidationError> =>
    Effect.suspend(() => {
      const issues = keyInputIssues(text, operation, options)
      if (issues.length > 0) return invalid(issues)
      if (settings.maxTextLength !== undefined && codePointLength(text) > settings.maxTextLength) {
        return invalid([{
          field: "text",
          value: `(${codePointLength(text)} characters)`,
          rule: `must be at most ${settings.maxTextLength} characters (maxTextLength)`
        }])
      }
      const started = nanos()
      const generated = generateKey(text, operation, options, settings.textHashThreshold)
      const durationMillis = sinceMillis(started)
      keysGenerated++
      keyTimeTotal += durationMillis
      if (generated.hashed) keysHashed++
      keyTextTotal += generated.textLength
      keyTextMax = Math.max(keyTextMax, generated.textLength)
      increment(keysByOperation, operation)
      recentKeyTimes.push(durationMillis)
      if (recentKeyTimes.length > RECENT_KEY_TIMES) recentKeyTimes.shift()
      return Effect.as(
        monitor.recordKeyGeneration({
          durationMillis,
          textLength: generated.textLength,
          operation,
          additionalData: {
            textTier: generated.hashed ? "large" : "small",
            hasOptions: generated.hasOptions,
            hasQuestion: generated.hasQuestion
          }
        }),
        generated
      )
    })

  const ttlFor = (operation: string) => Option.fromNullishOr(settings.operationTtls[operation])

  const cacheResponse = Effect.fn("AIResponseCache.cacheResponse")(function*(
    text: string,
    operation: string,
    options: AIKeyOptions | undefined,
    response: unknown,
    setOptions?: SetOptions
  ) {
    const started = nanos()
    const generated = yield* keyOf(text, operation, options)
    const ttl = setOptions?.ttl ?? settings.operationTtls[operation]
    yield* cache.set(generated.key, response, {
      ...(ttl === undefined ? {} : { ttl }),
      ...(setOptions?.schema === undefined ? {} : { schema: setOptions.schema })
    })
    const textTier = textTierOf(generated.textLength, settings.textSizeTiers)
    tierDistribution[textTier]++
    remember({
      timestamp: clock.currentTimeMillisUnsafe(),
      operation,
      kind: "set",
      hit: undefined,
      textTier,
      textLength: generated.textLength,
      durationMillis: sinceMillis(started)
    })
  })

  const getCachedResponse = Effect.fn("AIResponseCache.getCachedResponse")(function*(
    text: string,
    operation: string,
    options?: AIKeyOptions,
    schema?: Schema.Codec<unknown, unknown>
  ) {
    const started = nanos()
    const generated = yield* keyOf(text, operation, options)
    const found = schema === undefined ? yield* cache.get(generated.key) : yield* cache.get(generated.key, schema)
    const hit = Option.isSome(found)
    increment(hit ? hitsByOperation : missesByOperation, operation)
    const textTier = textTierOf(generated.textLength, settings.textSizeTiers)
    tierDistribution[textTier]++
    remember({
      timestamp: clock.currentTimeMillisUnsafe(),
      operation,
      kind: "get",
      hit,
      textTier,
      textLength: generated.textLength,
      durationMillis: sinceMillis(started)
    })
    return found
  }) as AIResponseCacheService["getCachedResponse"]

  // AI keys are removed by an anchored glob over their escaped literal prefix, so
  // user text never widens an invalidation and other keys of the cache are never touched.
  const removeUnder = (literalPrefix: string, contains = "") =>
    cache.invalidatePattern(
      `${escapeGlob(literalPrefix)}*${contains === "" ? "" : `${escapeGlob(contains)}*`}`,
      { glob: true }
    )

  const invalidateByOperation = Effect.fn("AIResponseCache.invalidateByOperation")(function*(operation: string) {
    const issues = keyInputIssues("", operation, undefined)
    if (issues.length > 0) return yield* invalid(issues)
    return yield* removeUnder(operationKeyPrefix(operation))
  })

  const invalidatePattern = Effect.fn("AIResponseCache.invalidatePattern")(function*(pattern: string) {
    if (typeof pattern !== "string") {
      return yield* invalid([{ field: "pattern", value: String(pattern), rule: "must be a string" }])
    }
    return yield* removeUnder(AI_KEY_PREFIX, pattern)
  })

  const getTextTier = (text: string): Effect.Effect<TextTier, ValidationError> =>
    typeof text === "string"
      ? Effect.succeed(textTierOf(codePointLength(text), settings.textSizeTiers))
      : invalid([{ field: "text", value: String(text), rule: "must be a string" }])

  const getAIMetrics = Effect.sync((): AIMetrics => ({
    cacheHitsByOperation: Object.fromEntries(hitsByOperation),
    cacheMissesByOperation: Object.fromEntries(missesByOperation),
    textTierDistribution: { ...tierDistribution },
    operationsTracked: records.length
  }))

  const operationPerformanceNow = (): Record<string, OperationPerformance> => {
    const byOperation = new Map<string, Array<AIOperationRecord>>()
    for (const record of records) {
      const list = byOperation.get(record.operation)
      if (list === undefined) byOperation.set(record.operation, [record])
      else list.push(record)
    }
    const out: Record<string, OperationPerformance> = {}
    for (const [operation, list] of byOperation) {
      const durations = list.map((r) => r.durationMillis).sort((a, b) => a - b)
      const reads = list.filter((r) => r.kind === "get")
      const hits = reads.filter((r) => r.hit === true).length
      const ttl = settings.operationTtls[operation]
      out[operation] = {
        count: list.length,
        reads: reads.length,
        writes: list.length - reads.length,
        hits,
        misses: reads.length - hits,
        hitRate: percent(hits, reads.length),
        avgDurationMillis: mean(durations),
        minDurationMillis: durations[0] ?? 0,
        maxDurationMillis: durations[durations.length - 1] ?? 0,
        p50DurationMillis: percentile(durations, 50),
        p95DurationMillis: percentile(durations, 95),
        p99DurationMillis: percentile(durations, 99),
        configuredTtlMillis: ttl === undefined ? undefined : Duration.toMillis(ttl)
      }
    }
    return out
  }

  const hitCountsByOperation = (): Record<string, HitCounts> => {
    const out: Record<string, HitCounts> = {}
    for (const operation of new Set([...hitsByOperation.keys(), ...missesByOperation.keys()])) {
      const hits = hitsByOperation.get(operation) ?? 0
      const misses = missesByOperation.get(operation) ?? 0
      out[operation] = { hits, misses, hitRate: percent(hits, hits + misses) }
    }
    return out
  }

  const getKeyGenerationStats = Effect.map(monitor.getPerformanceStats, (stats): KeyGenerationStatistics => ({
    totalKeysGenerated: keysGenerated,
    averageGenerationTimeMillis: keysGenerated === 0 ? 0 : keyTimeTotal / keysGenerated,
    textSizeDistribution: {
      small: keysGenerated - keysHashed,
      large: keysHashed,
      averageSize: keysGenerated === 0 ? 0 : keyTextTotal / keysGenerated,
      maxSize: keyTextMax
    },
    operationDistribution: Object.fromEntries(keysByOperation),
    recentPerformance: { recentAverageTimeMillis: mean(recentKeyTimes), recentMeasurements: recentKeyTimes.length },
    monitor: stats.keyGeneration
  }))

  const recommendationsFor = (
    performance: Record<string, OperationPerformance>,
    keyGeneration: KeyGenerationStatistics
  ): Array<AIOptimizationRecommendation> => {
    const out: Array<AIOptimizationRecommendation> = []
    for (const [operation, counts] of Object.entries(hitCountsByOperation())) {
      const reads = counts.hits + counts.misses
      if (reads < MIN_SAMPLES) continue
      const ttl = ttlFor(operation)
      const ttlText = Option.match(ttl, { onNone: () => "the cache's default", onSome: Duration.format })
      if (counts.hitRate < 30) {
        out.push({
          severity: "warning",
          operation,
          issue: "Low hit rate",
          message: `'${operation}' hits ${counts.hitRate.toFixed(1)}% of ${reads} reads`,
          suggestions: [
            `Raise its TTL in operationTtls (now ${ttlText})`,
            "Check whether its options vary between calls: each distinct set of options is a distinct key"
          ]
        })
      } else if (counts.hitRate > 90) {
        out.push({
          severity: "info",
          operation,
          issue: "High hit rate",
          message: `'${operation}' hits ${counts.hitRate.toFixed(1)}% of ${reads} reads`,
          suggestions: [`A TTL longer than ${ttlText} could save more model calls`]
        })
      }
      if (Option.isNone(ttl) && Object.keys(settings.operationTtls).length > 0) {
        out.push({
          severity: "info",
          operation,
          issue: "No operation TTL",
          message: `'${operation}' has no entry in operationTtls and is stored with the cache's default TTL`,
          suggestions: [`Add operationTtls["${operation}"]`]
        })
      }
    }
    for (const [operation, stats] of Object.entries(performance)) {
      if (stats.count >= MIN_SAMPLES && stats.p95DurationMillis > SLOW_OPERATION_MILLIS) {
        out.push({
          severity: "warning",
          operation,
          issue: "Slow cache operations",
          message: `p95 of '${operation}' cache calls is ${stats.p95DurationMillis.toFixed(1)} ms`,
          suggestions: ["Check Redis latency and the size of the stored responses", "Lower compressionLevel for large responses"]
        })
      }
    }
    const texts = tiers.reduce((sum, tier) => sum + tierDistribution[tier], 0)
    if (texts >= MIN_SAMPLES && tierDistribution.xlarge / texts > 0.2) {
      out.push({
        severity: "info",
        issue: "Many very large texts",
        message: `${percent(tierDistribution.xlarge, texts).toFixed(1)}% of texts are at least ${settings.textSizeTiers.large} characters`,
        suggestions: ["Their keys are hashed; make sure their responses are compressed (compressionThreshold)"]
      })
    }
    if ((keyGeneration.monitor?.slowOperations ?? 0) > 0) {
      out.push({
        severity: "warning",
        issue: "Slow key generation",
        message: `${keyGeneration.monitor?.slowOperations} key generations exceeded the monitor's threshold`,
        suggestions: ["Very long texts cost a sha256 each; a maxTextLength bounds them"]
      })
    }
    return out
  }

  const getOptimizationRecommendations = Effect.map(
    getKeyGenerationStats,
    (keyGeneration) => recommendationsFor(operationPerformanceNow(), keyGeneration)
  )

  const getCacheStats = Effect.gen(function*() {
    const status = yield* cache.status
    const performance = yield* monitor.getPerformanceStats
    const aiMetrics = yield* getAIMetrics
    const client = Option.isSome(redisTier) ? yield* redisTier.value.client : Option.none<Redis>()
    let redis: AICacheStats["redis"]
    if (Option.isNone(redisTier)) redis = { status: "not_configured", mode: status.mode }
    else if (Option.isNone(client)) redis = { status: "unavailable", mode: status.mode }
    else {
      const info = yield* Effect.result(readRedisInfo(client.value))
      redis = info._tag === "Success"
        ? { status: "connected", mode: status.mode, ...info.success }
        : { status: "error", mode: status.mode, error: info.failure }
    }
    return {
      redis,
      memory: {
        memoryCacheEntries: status.l1.entries,
        memoryCacheSizeLimit: status.l1.maxEntries,
        memoryCacheUtilization: `${status.l1.entries}/${status.l1.maxEntries}`,
        memoryCacheBytes: status.l1.bytes
      },
      performance,
      aiMetrics
    } satisfies AICacheStats
  })

  const getPerformanceSummary = Effect.map(monitor.getPerformanceStats, (stats): PerformanceSummary => {
    const recent = orderedRecords().slice(-10)
    return {
      hitRatio: stats.cacheHitRate,
      totalOperations: stats.totalCacheOperations,
      cacheHits: stats.cacheHits,
      cacheMisses: stats.cacheMisses,
      recentAvgCacheOperationTimeMillis: mean(recent.map((r) => r.durationMillis)),
      aiOperationMetrics: Object.fromEntries(hitsByOperation),
      aiMissMetrics: Object.fromEntries(missesByOperation),
      textTierDistribution: { ...tierDistribution },
      recentAiOperations: recent
    }
  })

  const getAIPerformanceSummary = Effect.map(getKeyGenerationStats, (keyGeneration): AIPerformanceSummary => {
    const hits = Array.from(hitsByOperation.values()).reduce((a, b) => a + b, 0)
    const misses = Array.from(missesByOperation.values()).reduce((a, b) => a + b, 0)
    const performance = operationPerformanceNow()
    return {
      timestamp: new Date(clock.currentTimeMillisUnsafe()).toISOString(),
      totalOperations: records.length,
      overallHitRate: percent(hits, hits + misses),
      hitRateByOperation: hitCountsByOperation(),
      textTierDistribution: { ...tierDistribution },
      keyGeneration,
      operationPerformance: performance,
      optimizationRecommendations: recommendationsFor(performance, keyGeneration)
    }
  })

  const getTextTierStatistics = Effect.sync((): TextTierStatistics => {
    const tierPerformance = {} as Record<TextTier, HitCounts & { readonly avgDurationMillis: number }>
    for (const tier of tiers) {
      const list = records.filter((r) => r.textTier === tier)
      const reads = list.filter((r) => r.kind === "get")
      const hits = reads.filter((r) => r.hit === true).length
      tierPerformance[tier] = {
        hits,
        misses: reads.length - hits,
        hitRate: percent(hits, reads.length),
        avgDurationMillis: mean(list.map((r) => r.durationMillis))
      }
    }
    return {
      tierConfiguration: settings.textSizeTiers,
      tierDistribution: { ...tierDistribution },
      tierPerformance
    }
  })

  return AIResponseCache.of({
    buildKey: (text, operation, options) => Effect.map(keyOf(text, operation, options), (generated) => generated.key),
    cacheResponse,
    getCachedResponse,
    invalidateByOperation,
    invalidatePattern,
    clear: Effect.suspend(() => removeUnder(AI_KEY_PREFIX)),
    getTextTier,
    ttlFor,
    getCacheStats,
    getCacheHitRatio: Effect.map(monitor.getPerformanceStats, (stats) => stats.cacheHitRate),
    getPerformanceSummary,
    getAIPerformanceSummary,
    getTextTierStatistics,
    getOperationPerformance: Effect.sync(operationPerformanceNow),
    getKeyGenerationStats,
    getOptimizationRecommendations,
    getAIMetrics,
    resetAIMetrics: Effect.sync(() => {
      hitsByOperation.clear()
      missesByOperation.clear()
      tierDistribution = zeroTiers()
      records = []
      nextRecord = 0
      keysGenerated = keyTimeTotal = keysHashed = keyTextTotal = keyTextMax = 0
      keysByOperation.clear()
      recentKeyTimes = []
    }),
    settings
  })
})
