/**
 * The `Cache` service: what Effect programs use.
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   yield* Cache.set("user:1", { name: "Ada" }, { ttl: "10 minutes" })
 *   const user = yield* Cache.get("user:1", User)   // Option<User>
 * }).pipe(Effect.provide(Cache.layerMemory()))
 * ```
 *
 * A cache is composed of services, each with its layer: `MemoryTier` (L1),
 * `RedisTier` (L2), `Codec` and `CacheEvents`. `layerMemory` and `layerRedis`
 * assemble them from validated options.
 *
 * @since 0.1.0
 */
import {
  Cause,
  Clock,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Layer,
  Option,
  Schedule,
  Schema,
  type Fiber,
  type Stream,
  Tracer
} from "effect"
import {
  CacheLimits,
  MemoryCacheOptions,
  RedisCacheOptions,
  validateOptions
} from "./CacheOptions.js"
import { Codec } from "./codec/Codec.js"
import { Serializer } from "./codec/Serializer.js"
import {
  type CacheError,
  SerializationError,
  type ConfigurationError,
  type ConnectionError,
  InfrastructureError,
  validationError,
  type ValidationError,
  type ValidationIssue
} from "./errors.js"
import {
  type CacheEvent,
  CacheEvents,
  type CacheModeName,
  type CallbackEvent,
  type CallbackSignatures
} from "./events/CacheEvents.js"
import { type AnsweringTier, CacheMonitor, type CacheOperation } from "./monitoring/CacheMonitor.js"
import { CacheTracingOptions, redisSpanOptions, spanAttributes } from "./monitoring/Tracing.js"
import { matcher, toRedisMatch } from "./internal/pattern.js"
import { MemoryTier, type MemoryTierStats } from "./tiers/MemoryTier.js"
import { type RedisRead, type RedisReplyError, RedisTier } from "./tiers/RedisTier.js"
import { CacheSecurity } from "./security/CacheSecurity.js"
import { validateSecurityConfig } from "./security/SecurityConfig.js"

/**
 * Options of `Cache.set`.
 *
 * @since 0.1.0
 */
export interface SetOptions {
  /** Time to live; a bare number means milliseconds (Effect's `Duration.Input`). Default: the cache's `defaultTtl`. */
  readonly ttl?: Duration.Input
  /** Encode the value with this schema before storing it (read it back with `get(key, schema)`). */
  readonly schema?: Schema.Codec<unknown, unknown>
}

/**
 * Options of `Cache.getOrSet`: the TTL of the stored value, and a schema that
 * decodes what is found and encodes what the lookup returns.
 *
 * @since 0.1.0
 */
export interface GetOrSetOptions<A> {
  readonly ttl?: Duration.Input
  readonly schema?: Schema.Codec<A, unknown>
}

/**
 * Where a cache stands: its mode, the last connection error (never with a
 * password), and the L1 counters.
 *
 * @since 0.1.0
 */
export interface CacheStatus {
  readonly mode: CacheModeName
  readonly url: Option.Option<string>
  readonly since: number
  readonly lastError: Option.Option<string>
  readonly reconnectAttempts: number
  readonly pendingReplay: number
  readonly droppedWhileDegraded: number
  readonly l1: MemoryTierStats
}

/**
 * Counters of a cache since it started (or since `resetStats`).
 *
 * @since 0.1.0
 */
export interface CacheStats {
  readonly l1: MemoryTierStats
  readonly l1Hits: number
  readonly l2Hits: number
  readonly misses: number
  /** Hits over reads, 0 to 1 (sets and deletes do not count). */
  readonly hitRate: number
  readonly sets: number
  readonly deletes: number
  readonly serializationErrors: number
}

/**
 * The cache service interface.
 *
 * @since 0.1.0
 */
export interface CacheService {
  /** Reads a key: L1, then Redis. `Option.none()` on a miss. With a schema, the stored value is decoded by it. */
  readonly get: {
    (key: string): Effect.Effect<Option.Option<unknown>, CacheError>
    <A, I>(key: string, schema: Schema.Codec<A, I>): Effect.Effect<Option.Option<A>, CacheError>
  }
  /** Stores a value (Redis first, then L1). `undefined` cannot be stored; `null` can. */
  readonly set: (key: string, value: unknown, options?: SetOptions) => Effect.Effect<void, CacheError>
  /**
   * Reads a key, or runs `lookup` on a miss, stores its value and returns it.
   * Concurrent misses on one key in this process share one lookup (single flight);
   * a failed lookup is not cached, and every caller waiting on it gets its error.
   */
  readonly getOrSet: <A, E, R>(
    key: string,
    lookup: Effect.Effect<A, E, R>,
    options?: GetOrSetOptions<A>
  ) => Effect.Effect<A, E | CacheError, R>
  /** Removes a key from both tiers; whether it existed in either. */
  readonly delete: (key: string) => Effect.Effect<boolean, CacheError>
  /** Whether a key is present (L1, then Redis). */
  readonly exists: (key: string) => Effect.Effect<boolean, CacheError>
  /** The remaining time to live of a key. */
  readonly ttl: (key: string) => Effect.Effect<Option.Option<Duration.Duration>, CacheError>
  /** Removes every key of this cache (only this cache's `keyPrefix` in Redis). */
  readonly clear: Effect.Effect<void, CacheError>
  /**
   * Removes the keys matching `pattern`: keys that contain it as literal text, or,
   * with `{ glob: true }`, keys matching it as a Redis glob. Returns how many keys were removed.
   */
  readonly invalidatePattern: (
    pattern: string,
    options?: { readonly glob?: boolean }
  ) => Effect.Effect<number, CacheError>
  /** The mode and connection state. */
  readonly status: Effect.Effect<CacheStatus>
  /** Counters. */
  readonly stats: Effect.Effect<CacheStats>
  /** Resets the counters. */
  readonly resetStats: Effect.Effect<void>
  /** Registers a callback for one of the original's events (plus `mode_change`). */
  readonly registerCallback: <E extends CallbackEvent>(event: E, callback: CallbackSignatures[E]) => Effect.Effect<void>
  /** Every event as a stream. */
  readonly events: Stream.Stream<CacheEvent>
}

/**
 * The cache. Programs `yield* Cache.get(key)` (module accessors), or take the
 * service once with `const cache = yield* Cache` for the fastest loops.
 *
 * @since 0.1.0
 */
export class Cache extends Context.Service<Cache, CacheService>()("effect-redis-cache/Cache") {
  /** Reads a key. */
  static get(key: string): Effect.Effect<Option.Option<unknown>, CacheError, Cache>
  static get<A, I>(key: string, schema: Schema.Codec<A, I>): Effect.Effect<Option.Option<A>, CacheError, Cache>
  static get(key: string, schema?: Schema.Codec<unknown, unknown>) {
    return Cache.use((cache) => schema === undefined ? cache.get(key) : cache.get(key, schema))
  }
  /** Stores a value. */
  static set(key: string, value: unknown, options?: SetOptions): Effect.Effect<void, CacheError, Cache> {
    return Cache.use((cache) => cache.set(key, value, options))
  }
  /** Reads a key, or computes, stores and returns it (single flight per key). */
  static getOrSet<A, E, R>(
    key: string,
    lookup: Effect.Effect<A, E, R>,
    options?: GetOrSetOptions<A>
  ): Effect.Effect<A, E | CacheError, R | Cache> {
    return Cache.use((cache) => cache.getOrSet(key, lookup, options))
  }
  /** Removes a key; whether it existed. */
  static delete(key: string): Effect.Effect<boolean, CacheError, Cache> {
    return Cache.use((cache) => cache.delete(key))
  }
  /** Whether a key is present. */
  static exists(key: string): Effect.Effect<boolean, CacheError, Cache> {
    return Cache.use((cache) => cache.exists(key))
  }
  /** The remaining time to live of a key. */
  static ttl(key: string): Effect.Effect<Option.Option<Duration.Duration>, CacheError, Cache> {
    return Cache.use((cache) => cache.ttl(key))
  }
  /** Removes every key of this cache. */
  static clear(): Effect.Effect<void, CacheError, Cache> {
    return Cache.use((cache) => cache.clear)
  }
  /** Removes keys by literal text or glob. */
  static invalidatePattern(
    pattern: string,
    options?: { readonly glob?: boolean }
  ): Effect.Effect<number, CacheError, Cache> {
    return Cache.use((cache) => cache.invalidatePattern(pattern, options))
  }
  /** The mode and connection state. */
  static status(): Effect.Effect<CacheStatus, never, Cache> {
    return Cache.use((cache) => cache.status)
  }
  /** Counters. */
  static stats(): Effect.Effect<CacheStats, never, Cache> {
    return Cache.use((cache) => cache.stats)
  }
  /** Registers a callback. */
  static registerCallback<E extends CallbackEvent>(
    event: E,
    callback: CallbackSignatures[E]
  ): Effect.Effect<void, never, Cache> {
    return Cache.use((cache) => cache.registerCallback(event, callback))
  }

  /**
   * A complete cache on L1 alone: the original's `InMemoryCache`, and the layer to
   * give your own tests. Values go through the serializer to be weighed and checked,
   * so what this cache accepts is exactly what the Redis cache accepts.
   *
   * @since 0.1.0
   */
  static layerMemory(
    options: MemoryCacheOptions = {}
  ): Layer.Layer<Cache | CacheMonitor | CacheSecurity, ValidationError> {
    return Layer.unwrap(Effect.map(
      validateOptions(MemoryCacheOptions, options, "Invalid memory cache options"),
      (valid) => {
        const settings = memorySettings(valid)
        const parts = Layer.mergeAll(
          MemoryTier.layer({
            maxEntries: settings.maxEntries,
            maxBytes: settings.maxBytes,
            sweepInterval: settings.sweepInterval
          }),
          Codec.layer({ serializer: settings.serializer }),
          CacheEvents.layer(),
          monitorLayer(settings.cacheName),
          CacheSecurity.layerNotConfigured
        )
        return Layer.effect(Cache, makeCache(settings)).pipe(Layer.provideMerge(parts))
      }
    ))
  }

  /**
   * The two-tier cache: L1 in memory, L2 Redis. Degrades to memory-only when Redis
   * is unreachable (at start or later), reconnects on `reconnectSchedule`, replays
   * what was written meanwhile; or, with `failOnConnectionError`, fails to build with
   * a `ConnectionError`.
   *
   * @since 0.1.0
   */
  static layerRedis(
    options: RedisCacheOptions = {}
  ): Layer.Layer<
    Cache | CacheMonitor | CacheSecurity | RedisTier,
    ValidationError | ConnectionError | ConfigurationError
  > {
    return Layer.unwrap(
      validateOptions(RedisCacheOptions, options, "Invalid Redis cache options").pipe(
        Effect.tap((valid): Effect.Effect<unknown, ConfigurationError> =>
          valid.security === undefined ? Effect.void : validateSecurityConfig(valid.security)
        ),
        Effect.map((valid) => redisLayer(redisSettings(valid)))
      )
    )
  }
}

interface Settings {
  readonly cacheName: string
  readonly defaultTtlMillis: number
  readonly enableL1: boolean
  readonly keyPrefix: string
}

const DEFAULT_TTL = Duration.hours(1)
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024

const builtInSerializer = (option: RedisCacheOptions["serializer"]): Serializer =>
  option === undefined || option === "json" ? Serializer.json : option === "structured" ? Serializer.structured : option

const memorySettings = (valid: MemoryCacheOptions) => ({
  cacheName: valid.cacheName ?? "default",
  defaultTtlMillis: Duration.toMillis(valid.defaultTtl ?? DEFAULT_TTL),
  enableL1: true,
  keyPrefix: "",
  maxEntries: valid.maxEntries ?? 1000,
  maxBytes: valid.maxBytes ?? DEFAULT_MAX_BYTES,
  sweepInterval: valid.sweepInterval ?? Duration.seconds(30),
  serializer: builtInSerializer(valid.serializer)
})

/**
 * The default reconnection schedule: exponential from 100 ms, doubled each time,
 * capped at 10 seconds, jittered, for ever.
 *
 * @since 0.1.0
 */
export const defaultReconnectSchedule: Schedule.Schedule<unknown, unknown> = Schedule.exponential("100 millis", 2).pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(10)))),
  Schedule.jittered
)

const exponentialFrom = (base: Duration.Duration): Schedule.Schedule<unknown, unknown> =>
  Schedule.exponential(Duration.max(base, Duration.millis(10)), 2).pipe(
    Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(10)))),
    Schedule.jittered
  )

const redisSettings = (valid: RedisCacheOptions) => ({
  cacheName: valid.cacheName ?? "default",
  defaultTtlMillis: Duration.toMillis(valid.defaultTtl ?? DEFAULT_TTL),
  enableL1: valid.enableL1 ?? true,
  keyPrefix: valid.keyPrefix ?? "cache:",
  maxEntries: valid.l1MaxEntries ?? 1000,
  maxBytes: valid.l1MaxBytes ?? DEFAULT_MAX_BYTES,
  sweepInterval: valid.sweepInterval ?? Duration.seconds(30),
  serializer: builtInSerializer(valid.serializer),
  compressionThreshold: valid.compressionThreshold ?? 1000,
  compressionLevel: valid.compressionLevel ?? 6,
  redisUrl: valid.redisUrl ?? "redis://127.0.0.1:6379",
  commandTimeout: valid.commandTimeout ?? Duration.seconds(1),
  connectTimeout: valid.connectTimeout ?? Duration.seconds(2),
  reconnectSchedule: valid.reconnectSchedule ??
    (valid.security === undefined ? defaultReconnectSchedule : exponentialFrom(valid.security.retryDelay)),
  failOnConnectionError: valid.failOnConnectionError ?? false,
  connectAttempts: valid.connectAttempts ?? (valid.security === undefined
    ? 3
    : Math.max(1, Math.floor(valid.security.maxRetries) + 1)),
  replayQueueLimit: valid.replayQueueLimit ?? 10_000,
  security: Option.fromNullishOr(valid.security)
})

const redisLayer = (settings: ReturnType<typeof redisSettings>) => {
  const base = Layer.mergeAll(
    MemoryTier.layer({
      maxEntries: settings.maxEntries,
      maxBytes: settings.maxBytes,
      sweepInterval: settings.sweepInterval
    }),
    Codec.layer({
      serializer: settings.serializer,
      compressionThreshold: settings.compressionThreshold,
      compressionLevel: settings.compressionLevel
    }),
    CacheEvents.layer(),
    monitorLayer(settings.cacheName)
  )
  const withRedis = RedisTier.layer(settings).pipe(Layer.provideMerge(base))
  const security = Layer.effect(
    CacheSecurity,
    RedisTier.use((tier) =>
      CacheSecurity.make({ url: settings.redisUrl, config: settings.security, client: tier.client }))
  )
  return Layer.mergeAll(Layer.effect(Cache, makeCache(settings)), security).pipe(Layer.provideMerge(withRedis))
}

// The monitor a user provided, or a default one: a cache always has a monitor.
const monitorLayer = (cacheName: string): Layer.Layer<CacheMonitor> =>
  Layer.effect(
    CacheMonitor,
    Effect.flatMap(
      Effect.serviceOption(CacheMonitor),
      Option.match({ onNone: () => Effect.orDie(CacheMonitor.make({ cacheName })), onSome: Effect.succeed })
    )
  )

// Effect.withSpan is used in its data-first form: the pipeable form captures a stack
// trace whatever the options say (effect 4.1), which matters once per Redis round trip.
// Spans are made only for a tracer that exports them: Effect's built-in tracer keeps
// them nowhere, and a span costs about as much as a batched round trip's client work.
const exportsSpans = (fiber: Fiber.Fiber<unknown, unknown>): boolean => {
  const tracer = fiber.cache.tracer
  return tracer !== undefined && tracer !== Tracer.nativeTracer && fiber.cache.tracerEnabled
}

const MISS_EXIT: Exit.Exit<Option.Option<never>> = Exit.succeed(Option.none())

const l2HitAttributes = { "cache.tier": "l2", "cache.hit": true }
const missAttributes = { "cache.tier": "miss", "cache.hit": false }
const lookupAttributes = (found: Option.Option<unknown>) => Option.isSome(found) ? l2HitAttributes : missAttributes

const invalidKeyIssue = (key: unknown): ValidationIssue | undefined => {
  if (typeof key !== "string") return { field: "key", value: String(key), rule: "must be a string" }
  if (key.length === 0) return { field: "key", value: "\"\"", rule: "must not be empty" }
  if (key.length > CacheLimits.maxKeyLength) {
    return {
      field: "key",
      value: `${JSON.stringify(key.slice(0, 32))}... (${key.length} characters)`,
      rule: `must be at most ${CacheLimits.maxKeyLength} characters`
    }
  }
  return undefined
}

const keyError = (key: unknown) =>
  Exit.fail(validationError([invalidKeyIssue(key)!], {
    subject: "Invalid cache key",
    ...(typeof key === "string" ? { key: key.slice(0, 64) } : {})
  }))

const ttlMillisOf = (key: string, ttl: Duration.Input | undefined, fallback: number): number | ValidationError => {
  if (ttl === undefined) return fallback
  const duration = Duration.fromInput(ttl)
  if (Option.isNone(duration)) {
    return validationError([{ field: "ttl", value: String(ttl), rule: "must be a duration" }], {
      subject: "Invalid TTL",
      key
    })
  }
  const millis = Duration.toMillis(duration.value)
  if (!(millis > 0) || millis > CacheLimits.maxTtlMillis) {
    return validationError([{
      field: "ttl",
      value: Duration.format(duration.value),
      rule: millis > 0
        ? "must be at most 365 days"
        : "must be positive (zero or negative TTLs are rejected, not read as \"forever\")"
    }], { subject: "Invalid TTL", key })
  }
  return Math.ceil(millis)
}

type SchemaStep = (input: unknown) => Exit.Exit<unknown, Schema.SchemaError>

// A schema's canonical JSON codec: what it stores survives every serializer, and the
// derived codec and its parsers are built once per schema, not per call.
const perSchema = (make: (codec: Schema.Codec<unknown, unknown>) => SchemaStep) => {
  const built = new WeakMap<object, SchemaStep>()
  return (schema: Schema.Codec<unknown, unknown>): SchemaStep => {
    let step = built.get(schema)
    if (step === undefined) {
      step = make(Schema.toCodecJson(schema))
      built.set(schema, step)
    }
    return step
  }
}
const schemaDecoder = perSchema((codec) => Schema.decodeUnknownExit(codec))
const schemaEncoder = perSchema((codec) => Schema.encodeUnknownExit(codec))

const schemaFailure = (key: string, operation: "encode" | "decode", exit: Exit.Failure<unknown, Schema.SchemaError>) => {
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  const reason = failure !== undefined && Schema.isSchemaError(failure.error)
    ? failure.error.message
    : "the schema failed"
  return new SerializationError({
    message: operation === "decode"
      ? `The value stored under "${key}" does not fit the schema: ${reason}`
      : `The value for "${key}" could not be encoded by its schema: ${reason}`,
    key,
    operation,
    reason
  })
}

const makeCache = Effect.fnUntraced(function*(settings: Settings) {
  const memory = yield* MemoryTier
  const codec = yield* Codec
  const events = yield* CacheEvents
  const monitor = yield* CacheMonitor
  const redisOption = yield* Effect.serviceOption(RedisTier)
  const redis = Option.getOrUndefined(redisOption)
  const clock = yield* Clock.Clock
  const { cacheName, defaultTtlMillis, enableL1, keyPrefix } = settings

  yield* monitor.attachL1({ stats: memory.stats })
  if (redis === undefined) yield* monitor.recordModeChange("Memory", "Memory", "start")

  // Read once: the switches are fixed for the life of the cache, and the L1 hit path
  // must not look anything up.
  const tracing = yield* CacheTracingOptions
  const server = redis === undefined ? undefined : new URL(redis.url)
  const spanOptionsFor = (operation: CacheOperation, dbOperation: string, key: string | undefined) =>
    redisSpanOptions(tracing, {
      operation,
      cacheName,
      key,
      dbOperation,
      serverAddress: server?.hostname,
      serverPort: server === undefined || server.port === "" ? 6379 : Number(server.port)
    })
  // Without key hashes the options of an operation's span never change: build them once.
  const spanOptionsByOperation = new Map<string, ReturnType<typeof spanOptionsFor>>()
  const redisSpan = (operation: CacheOperation, dbOperation: string, key: string | undefined) => {
    if (tracing.includeKeys && key !== undefined) return spanOptionsFor(operation, dbOperation, key)
    let options = spanOptionsByOperation.get(operation)
    if (options === undefined) {
      options = spanOptionsFor(operation, dbOperation, undefined)
      spanOptionsByOperation.set(operation, options)
    }
    return options
  }
  const spanRedis = tracing.spanRedis !== false
  // A span around a Redis operation, when a tracer will receive it; `attributesOf` adds
  // what is only known from the result.
  const traceRedis = <A, E, R>(
    self: Effect.Effect<A, E, R>,
    name: string,
    operation: CacheOperation,
    dbOperation: string,
    key: string | undefined,
    attributesOf?: (result: A) => Record<string, unknown>
  ): Effect.Effect<A, E, R> =>
    spanRedis
      ? Effect.withFiber((fiber) =>
        exportsSpans(fiber)
          ? Effect.withSpan(
            attributesOf === undefined
              ? self
              : Effect.tap(self, (result) => Effect.annotateCurrentSpan(attributesOf(result))),
            name,
            redisSpan(operation, dbOperation, key)
          )
          : self
      )
      : self
  const redisTraced =
    (name: string, operation: CacheOperation, dbOperation: string, key: string | undefined) =>
    <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      traceRedis(self, name, operation, dbOperation, key)
  // Samples of work that takes no measurable time: allocated once, not per call.
  const memoryMiss = { operation: "get", tier: "miss", durationMillis: 0, success: true, cacheName } as const
  const memorySet = { operation: "set", tier: "none", durationMillis: 0, success: true, cacheName } as const

  // Bumped by every write: a Redis read that raced a write must not refill L1 with the
  // value it read, which may be older than what the write just put in L1.
  let writeEpoch = 0
  let l2Hits = 0
  let misses = 0
  let sets = 0
  let deletes = 0
  let serializationErrors = 0

  const l1Always = redis === undefined || enableL1

  const nanos = () => clock.currentTimeNanosUnsafe()
  // Records now: every caller is already running. What is left (a slow-operation log) is returned.
  const record = (operation: CacheOperation, tier: AnsweringTier, started: bigint, success: boolean, errorTag?: string) => {
    const durationMillis = Number(nanos() - started) / 1e6
    return monitor.recordOperationUnsafe(
      errorTag === undefined
        ? { operation, tier, durationMillis, success, cacheName }
        : { operation, tier, durationMillis, success, cacheName, errorTag }
    )
  }
  const recordThen = <A, E>(
    result: Effect.Effect<A, E>,
    operation: CacheOperation,
    tier: AnsweringTier,
    started: bigint,
    success: boolean,
    errorTag?: string
  ): Effect.Effect<A, E> => {
    const rest = record(operation, tier, started, success, errorTag)
    return rest === Effect.void ? result : Effect.andThen(rest, result)
  }

  const countSerializationError = (operation: "encode" | "decode") =>
    Effect.suspend(() => {
      serializationErrors++
      return monitor.recordSerializationError(operation)
    })

  const replyError = (error: RedisReplyError, key: string): InfrastructureError | SerializationError =>
    error.reply.startsWith("WRONGTYPE")
      ? new SerializationError({
        message: `The Redis key for "${key}" holds a value of another type, not one written by effect-redis-cache`,
        key,
        operation: "decode",
        reason: error.reply
      })
      : new InfrastructureError({
      message: `${error.message} (cache '${cacheName}')`,
      context: { command: error.command, key, cache: cacheName }
    })

  const fitSchema = (
    key: string,
    value: unknown,
    schema: Schema.Codec<unknown, unknown> | undefined
  ): Effect.Effect<Option.Option<unknown>, SerializationError> => {
    if (schema === undefined) return Exit.succeed(Option.some(value))
    const decoded = schemaDecoder(schema)(value)
    if (Exit.isSuccess(decoded)) return Exit.succeed(Option.some(decoded.value))
    return Effect.andThen(countSerializationError("decode"), Exit.fail(schemaFailure(key, "decode", decoded)))
  }

  const hit = (key: string, value: unknown, schema: Schema.Codec<unknown, unknown> | undefined, tier: "l1" | "l2") => {
    const result = fitSchema(key, value, schema)
    if (!events.isActive()) return result
    return Effect.tap(result, () => events.emit({ _tag: "GetSuccess", key, value, tier }))
  }

  const miss = (key: string): Effect.Effect<Option.Option<unknown>> =>
    events.isActive()
      ? Effect.as(events.emit({ _tag: "GetMiss", key }), Option.none())
      : MISS_EXIT

  // The L2 read path: one batched read, then one synchronous continuation (decode, L1
  // refill, counters) that answers with an Exit; effects only where there is work to run.
  const getFromRedis = (tier: RedisTier["Service"], key: string, schema: Schema.Codec<unknown, unknown> | undefined) => {
    const started = nanos()
    const epoch = writeEpoch
    const lookup = Effect.matchEffect(tier.read(key, enableL1), {
      onFailure: (error) => {
        const failure = replyError(error, key)
        const failed = recordThen(Exit.fail(failure), "get", "none", started, false, failure._tag)
        return failure._tag === "SerializationError" ? Effect.andThen(countSerializationError("decode"), failed) : failed
      },
      onSuccess: (read) => afterRead(read, key, schema, started, epoch)
    })
    return traceRedis(lookup, "Cache.get", "get", "GET", key, lookupAttributes)
  }

  const afterRead = (
    read: RedisRead,
    key: string,
    schema: Schema.Codec<unknown, unknown> | undefined,
    started: bigint,
    epoch: number
  ): Effect.Effect<Option.Option<unknown>, CacheError> => {
    if (read._tag !== "Hit") {
      misses++
      return recordThen(miss(key), "get", "miss", started, true)
    }
    const decoded = codec.decodeSizedExit(key, read.bytes)
    if (Exit.isFailure(decoded)) {
      return Effect.andThen(
        countSerializationError("decode"),
        recordThen(Exit.failCause(decoded.cause), "get", "none", started, false, "SerializationError")
      )
    }
    const { size, value } = decoded.value
    // L1 never outlives the Redis entry: it gets the entry's remaining TTL.
    if (enableL1 && read.pttlMillis > 0 && epoch === writeEpoch) memory.set(key, value, size, read.pttlMillis)
    l2Hits++
    return recordThen(hit(key, value, schema, "l2"), "get", "l2", started, true)
  }

  const spanL1Hits = tracing.spanL1Hits

  const getAfterL1Miss = (key: string, schema: Schema.Codec<unknown, unknown> | undefined) => {
    if (redis === undefined) return Effect.andThen(monitor.recordOperation(memoryMiss), miss(key))
    if (!redis.isConnected()) {
      misses++
      return Effect.andThen(monitor.recordOperation(memoryMiss), miss(key))
    }
    return getFromRedis(redis, key, schema)
  }

  // The L1 hit path: one Effect.suspend around a synchronous tier lookup, nothing else
  // unless a schema, a listener or per-hit spans ask for it. A key is checked when the
  // effect is made: the check depends on the argument alone, so doing it early is
  // indistinguishable from doing it when the effect runs, and keeps it off the hot loop.
  const get = ((key: string, schema?: Schema.Codec<unknown, unknown>) => {
    if (typeof key !== "string" || key.length === 0 || key.length > CacheLimits.maxKeyLength) return keyError(key)
    return Effect.suspend((): Effect.Effect<Option.Option<unknown>, CacheError> => {
      if (l1Always || !redis.isConnected()) {
        const value = memory.get(key)
        if (value !== undefined) {
          if (schema === undefined && !spanL1Hits && !events.isActive()) return Exit.succeed(Option.some(value))
          return spanL1Hits
            ? Effect.withSpan(hit(key, value, schema, "l1"), "Cache.get", {
              attributes: spanAttributes(tracing, { operation: "get", tier: "l1", hit: true, key, cacheName })
            })
            : hit(key, value, schema, "l1")
        }
      }
      return getAfterL1Miss(key, schema)
    })
  }) as CacheService["get"]

  const set = (key: string, input: unknown, options?: SetOptions): Effect.Effect<void, CacheError> =>
    Effect.suspend((): Effect.Effect<void, CacheError> => {
      if (invalidKeyIssue(key) !== undefined) return keyError(key)
      const ttlMillis = ttlMillisOf(key, options?.ttl, defaultTtlMillis)
      if (typeof ttlMillis !== "number") return Exit.fail(ttlMillis)
      if (input === undefined) {
        return Exit.fail(validationError([{
          field: "value",
          value: "undefined",
          rule: "undefined cannot be stored (null can)"
        }], { subject: "Invalid cache value", key }))
      }
      writeEpoch++
      let value: unknown = input
      if (options?.schema !== undefined) {
        const encoded = schemaEncoder(options.schema)(input)
        if (Exit.isFailure(encoded)) {
          return Effect.andThen(countSerializationError("encode"), Exit.fail(schemaFailure(key, "encode", encoded)))
        }
        value = encoded.value
      }
      return redis === undefined
        ? setInMemory(key, value, ttlMillis)
        : setInRedis(redis, key, value, ttlMillis)
    })

  const afterSet = (key: string, value: unknown, ttlMillis: number) => {
    sets++
    return events.isActive() ? events.emit({ _tag: "SetSuccess", key, value, ttlMillis }) : Effect.void
  }

  const setInMemory = (key: string, value: unknown, ttlMillis: number) =>
    codec.measure(key, value).pipe(
      Effect.tapError(() => countSerializationError("encode")),
      Effect.flatMap((weight) => {
        memory.set(key, value, weight, ttlMillis)
        return Effect.andThen(monitor.recordOperation(memorySet), afterSet(key, value, ttlMillis))
      })
    )

  // Encodes now, then one write whose continuation answers with an Exit unless a listener
  // or a slow-operation log has work to run. The span covers the round trip.
  const setInRedis = (tier: RedisTier["Service"], key: string, value: unknown, ttlMillis: number) => {
    const started = nanos()
    const writtenAt = clock.currentTimeMillisUnsafe()
    const encoded = codec.encodeExit(key, value, { writtenAt })
    if (Exit.isFailure(encoded)) {
      return Effect.andThen(
        countSerializationError("encode"),
        recordThen(Exit.failCause(encoded.cause), "set", "none", started, false, "SerializationError")
      )
    }
    const { compressed, compressionNanos, size, storedSize } = encoded.value
    const write = Effect.matchEffect(tier.write(key, encoded.value, ttlMillis, writtenAt), {
      onFailure: (error) => {
        // A ValidationError (a value above the server's proto-max-bulk-len) is already the caller's error.
        const failure = "_tag" in error ? error : replyError(error, key)
        return recordThen(Exit.fail(failure), "set", "none", started, false, failure._tag)
      },
      onSuccess: (outcome) => {
        if (enableL1 || outcome === "queued") memory.set(key, value, size, ttlMillis)
        else memory.delete(key)
        return recordThen(afterSet(key, value, ttlMillis), "set", "none", started, true)
      }
    })
    const traced = traceRedis(write, "Cache.set", "set", "SET", key)
    return compressed
      ? Effect.andThen(
        monitor.recordCompression({
          originalSize: size,
          compressedSize: storedSize,
          durationMillis: compressionNanos / 1e6,
          operation: "set"
        }),
        traced
      )
      : traced
  }

  const remove = (key: string): Effect.Effect<boolean, CacheError> =>
    Effect.suspend((): Effect.Effect<boolean, CacheError> => {
      if (invalidKeyIssue(key) !== undefined) return keyError(key)
      writeEpoch++
      const inMemory = memory.delete(key)
      const done = (existed: boolean) => {
        deletes++
        return existed && events.isActive()
          ? Effect.as(events.emit({ _tag: "DeleteSuccess", key }), existed)
          : Exit.succeed(existed)
      }
      if (redis === undefined) return done(inMemory)
      const started = nanos()
      return redis.remove(key, clock.currentTimeMillisUnsafe()).pipe(
        Effect.mapError((error) => replyError(error, key)),
        Effect.tapError((error) => record("delete", "none", started, false, error._tag)),
        Effect.tap(() => record("delete", "none", started, true)),
        Effect.flatMap((inRedis) => done(inMemory || inRedis === true)),
        redisTraced("Cache.delete", "delete", "UNLINK", key)
      )
    })

  const exists = (key: string): Effect.Effect<boolean, CacheError> =>
    Effect.suspend((): Effect.Effect<boolean, CacheError> => {
      if (invalidKeyIssue(key) !== undefined) return keyError(key)
      if ((l1Always || redis?.isConnected() === false) && memory.has(key)) return Exit.succeed(true)
      if (redis === undefined) return Exit.succeed(false)
      const started = nanos()
      return redis.exists(key).pipe(
        Effect.mapError((error) => replyError(error, key)),
        Effect.tapError((error) => record("exists", "none", started, false, error._tag)),
        Effect.map((found) => found === true || (found === undefined && memory.has(key))),
        redisTraced("Cache.exists", "exists", "EXISTS", key)
      )
    })

  const ttl = (key: string): Effect.Effect<Option.Option<Duration.Duration>, CacheError> =>
    Effect.suspend((): Effect.Effect<Option.Option<Duration.Duration>, CacheError> => {
      if (invalidKeyIssue(key) !== undefined) return keyError(key)
      const fromMemory = () => Option.map(Option.fromNullishOr(memory.remainingTtl(key)), Duration.millis)
      if (redis === undefined) return Exit.succeed(fromMemory())
      const started = nanos()
      return redis.pttl(key).pipe(
        Effect.mapError((error) => replyError(error, key)),
        Effect.tapError((error) => record("ttl", "none", started, false, error._tag)),
        Effect.map((remaining) => remaining === undefined ? fromMemory() : Option.map(remaining, Duration.millis)),
        redisTraced("Cache.ttl", "ttl", "PTTL", key)
      )
    })

  const invalidatePattern = (pattern: string, options?: { readonly glob?: boolean }) =>
    Effect.suspend((): Effect.Effect<number, CacheError> => {
      if (typeof pattern !== "string") {
        return Exit.fail(validationError([{ field: "pattern", value: String(pattern), rule: "must be a string" }], {
          subject: "Invalid pattern"
        }))
      }
      writeEpoch++
      const glob = options?.glob === true
      const started = nanos()
      const matches = matcher(pattern, { glob })
      const keys = new Set<string>()
      memory.removeWhere((key) => {
        if (!matches(key)) return false
        keys.add(key)
        return true
      })
      const finish = (removedInRedis: number) =>
        Effect.as(
          monitor.recordInvalidation({
            pattern,
            keysInvalidated: Math.max(keys.size, removedInRedis),
            durationMillis: Number(nanos() - started) / 1e6,
            invalidationType: glob ? "glob" : "literal"
          }),
          Math.max(keys.size, removedInRedis)
        )
      if (redis === undefined) return finish(0)
      const redisPattern = toRedisMatch(pattern, { glob, keyPrefix })
      return redis.removeMatching(redisPattern, clock.currentTimeMillisUnsafe()).pipe(
        Effect.mapError((error) => replyError(error, pattern)),
        Effect.tapError((error) => record("invalidate", "none", started, false, error._tag)),
        Effect.flatMap((removed) => finish(removed ?? 0)),
        redisTraced("Cache.invalidatePattern", "invalidate", "SCAN", undefined)
      )
    })

  const clear: Effect.Effect<void, CacheError> = Effect.suspend(() => {
    writeEpoch++
    memory.clear()
    if (redis === undefined) return Effect.void
    return redis.removeMatching(toRedisMatch("", { glob: false, keyPrefix }), clock.currentTimeMillisUnsafe()).pipe(
      Effect.mapError((error) => replyError(error, "*")),
      Effect.asVoid,
      redisTraced("Cache.clear", "clear", "SCAN", undefined)
    )
  })

  const startedAt = clock.currentTimeMillisUnsafe()
  const status: Effect.Effect<CacheStatus> = redis === undefined
    ? Effect.sync(() => ({
      mode: "Memory" as const,
      url: Option.none(),
      since: startedAt,
      lastError: Option.none(),
      reconnectAttempts: 0,
      pendingReplay: 0,
      droppedWhileDegraded: 0,
      l1: memory.stats()
    }))
    : Effect.map(redis.status, (s) => ({ ...s, url: Option.some(s.url), l1: memory.stats() }))

  const stats: Effect.Effect<CacheStats> = Effect.sync(() => {
    const l1 = memory.stats()
    const allMisses = redis === undefined ? l1.misses : misses
    const reads = l1.hits + l2Hits + allMisses
    return {
      l1,
      l1Hits: l1.hits,
      l2Hits,
      misses: allMisses,
      hitRate: reads === 0 ? 0 : (l1.hits + l2Hits) / reads,
      sets,
      deletes,
      serializationErrors
    }
  })

  // One lookup in flight per key: later misses on the key wait for its outcome.
  const loads = new Map<string, Deferred.Deferred<unknown, unknown>>()

  const getOrSet = <A, E, R>(
    key: string,
    lookup: Effect.Effect<A, E, R>,
    options?: GetOrSetOptions<A>
  ): Effect.Effect<A, E | CacheError, R> => {
    const schema = options?.schema as Schema.Codec<unknown, unknown> | undefined
    return Effect.flatMap(get(key, schema as Schema.Codec<unknown, unknown>), (found) => {
      if (Option.isSome(found)) return Effect.succeed(found.value as A)
      return Effect.suspend((): Effect.Effect<A, E | CacheError, R> => {
        const inflight = loads.get(key)
        if (inflight !== undefined) {
          // The leading caller was interrupted: its lookup proved nothing, so look up again.
          return (Deferred.await(inflight) as Effect.Effect<A, E | CacheError>).pipe(
            Effect.catchCause((cause) =>
              Cause.hasInterruptsOnly(cause) ? getOrSet(key, lookup, options) : Effect.failCause(cause)
            )
          )
        }
        const deferred = Deferred.makeUnsafe<unknown, unknown>()
        loads.set(key, deferred)
        const setOptions = {
          ...(options?.ttl === undefined ? {} : { ttl: options.ttl }),
          ...(schema === undefined ? {} : { schema })
        }
        return lookup.pipe(
          Effect.tap((value) => set(key, value, setOptions)),
          Effect.onExit((exit) => {
            loads.delete(key)
            return Deferred.done(deferred, exit)
          }),
          // always a span: the user's lookup runs in it and may read it (logs, currentSpan)
          (self) =>
            Effect.withSpan(self, "Cache.getOrSet.lookup", {
              attributes: { "cache.name": cacheName, "cache.operation": "getOrSet" },
              captureStackTrace: false
            })
        )
      })
    })
  }

  return Cache.of({
    get,
    getOrSet,
    set,
    delete: remove,
    exists,
    ttl,
    clear,
    invalidatePattern,
    status,
    stats,
    resetStats: Effect.sync(() => {
      memory.resetStats()
      l2Hits = misses = sets = deletes = serializationErrors = 0
    }),
    registerCallback: events.registerCallback,
    events: events.events
  })
})
