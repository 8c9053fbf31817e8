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
import { Context, Duration, Effect, Layer, Option, type Request, type RequestResolver, Schedule, type Schema, type Stream } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { CacheLimits, MemoryCacheOptions, RedisCacheOptions, validateOptions, validateTopology } from "./CacheOptions.js"
import { l1InvalidationOf, primaryUrl, securityUrlOf, topologyOf } from "./tiers/RedisTopology.js"
import { Codec } from "./codec/Codec.js"
import { Compression } from "./codec/Compression.js"
import { Serializer } from "./codec/Serializer.js"
import type { CacheError, ConfigurationError, ConnectionError, ValidationError } from "./errors.js"
import type { CacheEvent, CacheModeName, CallbackEvent, CallbackSignatures } from "./events/CacheEvents.js"
import { CacheEvents } from "./events/CacheEvents.js"
import { CacheMonitor } from "./monitoring/CacheMonitor.js"
import { type CoreSettings, makeCore, type SchemaMismatchRule } from "./internal/cache/core.js"
import { makeInvalidation, makeTagInvalidation } from "./internal/cache/invalidation.js"
import { registerL1Peek } from "./internal/cache/l1Peek.js"
import { makeMultiKey } from "./internal/cache/multiKey.js"
import { makeResolver } from "./internal/cache/resolver.js"
import { namespaced } from "./internal/cache/namespace.js"
import { makeReadPath } from "./internal/cache/readPath.js"
import { makeSingleFlight } from "./internal/cache/singleFlight.js"
import { makeStats } from "./internal/cache/stats.js"
import { makeWritePath } from "./internal/cache/writePath.js"
import { resilienceDefaults } from "./internal/cache/resilienceSettings.js"
import { MemoryTier, type MemoryTierStats } from "./tiers/MemoryTier.js"
import { RedisTier } from "./tiers/RedisTier.js"
import { Invalidation, type InvalidationStatus } from "./coherence/Invalidation.js"
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
  /** Most time added at random to the TTL (0: none). Default: the cache's `ttlJitter`. See docs/resilience.md. */
  readonly ttlJitter?: Duration.Input
  /** How long past its TTL the entry is kept for `getOrSet`'s fail-safe (0: not at all). Default: the cache's `staleFor`. */
  readonly staleFor?: Duration.Input
  /** Encode the value with this schema before storing it (read it back with `get(key, schema)`). */
  readonly schema?: Schema.Codec<unknown, unknown>
  /** Tags of the entry: `invalidateTags` with any of them makes it a miss everywhere (docs/multi-key-and-tags.md). */
  readonly tags?: ReadonlyArray<string>
}

/**
 * Options of `Cache.getOrSet`: the TTL of the stored value, and a schema that
 * decodes what is found and encodes what the lookup returns.
 *
 * @since 0.1.0
 */
export interface GetOrSetOptions<A> {
  /**
   * Time to live of the stored value, or a function of the value that gives it
   * (adaptive TTL: e.g. `(user) => user.active ? "1 hour" : "1 day"`).
   */
  readonly ttl?: Duration.Input | ((value: A) => Duration.Input)
  /** Most time added at random to the stored value's TTL (0: none). Default: the cache's `ttlJitter`. */
  readonly ttlJitter?: Duration.Input
  /** How long past its TTL the stored value is kept for fail-safe. Default: the cache's `staleFor`. */
  readonly staleFor?: Duration.Input
  /** When the lookup (or Redis) fails and a stale value is at hand, answer with it. Default: the cache's `staleOnError`. */
  readonly staleOnError?: boolean
  /** A lookup that dies (a defect) counts as a failure for `staleOnError` too. Default false. */
  readonly staleOnDefect?: boolean
  /** How long fail-safe serves the stale value before it tries the lookup again. Default: the cache's (30 s). */
  readonly failSafeThrottle?: Duration.Input
  /** With a stale value at hand, answer with it after this long and let the lookup finish in the background. */
  readonly softTimeout?: Duration.Input
  /** Fail with a `LookupTimeoutError` after this long (the lookup is interrupted unless `completeInBackground`). */
  readonly hardTimeout?: Duration.Input
  /** A lookup past `hardTimeout` keeps running in the background and stores its value. Default false. */
  readonly completeInBackground?: boolean
  /** A hit after this fraction of the TTL (0 to 1) starts one background lookup that replaces the value. */
  readonly refreshAhead?: number
  /**
   * Negative caching, for a lookup that returns an `Option`: `Option.none()` is stored too,
   * for this long, and `getOrSet` answers an `Option` (docs/resilience.md). Default: off.
   */
  readonly missTtl?: Duration.Input
  /** One lookup across instances: a Redis lock; the others wait for the stored value (docs/resilience.md). */
  readonly distributedLock?: boolean
  /** Longest the lock lives. Default: the cache's (10 s). */
  readonly lockTtl?: Duration.Input
  /** Longest a caller waits for another instance's lock before it looks up itself. Default: the cache's (15 s). */
  readonly lockTimeout?: Duration.Input
  readonly schema?: Schema.Codec<A, unknown>
  /** Tags of the stored value (see `SetOptions.tags`). */
  readonly tags?: ReadonlyArray<string>
}

/**
 * One entry of `Cache.setMany`: a key, its value and, over the call's options, its own.
 *
 * @since 0.1.0
 */
export interface SetManyEntry {
  readonly key: string
  readonly value: unknown
  /** This entry's options; each one given here replaces the call's. */
  readonly options?: SetOptions
}

/**
 * Options of `Cache.getOrSetMany`: those of `getOrSet` that shape what is stored. The
 * per-key resilience options do not apply to a batch lookup (docs/multi-key-and-tags.md).
 *
 * @since 0.1.0
 */
export type GetOrSetManyOptions<A> = Pick<GetOrSetOptions<A>, "ttl" | "ttlJitter" | "staleFor" | "schema">

/**
 * Options of `Cache.resolver`: the cache key of a request, the batch lookup of the
 * requests whose keys the cache does not have, and the error of a request the lookup
 * did not answer. The request's error type must include `CacheError`.
 *
 * @since 0.1.0
 */
export interface CacheResolverOptions<Req extends Request.Any, R = never> {
  /** The cache key of a request. */
  readonly key: (request: Req) => string
  /** One call per batch, with the requests missing in both tiers; answers `[key, value]` pairs (a `Map` is one). */
  readonly lookupMany: (
    requests: NonEmptyReadonlyArray<Req>
  ) => Effect.Effect<Iterable<readonly [string, Request.Success<Req>]>, Request.Error<Req>, R>
  /** The failure of a request whose key the lookup did not answer (nothing is stored for it). */
  readonly onMissing: (request: Req) => Request.Error<Req>
  /** The options of the `getOrSetMany` behind each batch. */
  readonly options?: GetOrSetManyOptions<Request.Success<Req>>
}

/** A resolver's requests fail with the cache's errors too: their error type must admit them. */
type AdmitsCacheErrors<Req extends Request.Any> = [CacheError] extends [Request.Error<Req>] ? unknown
  : { readonly "the request's error type must include CacheError": never }

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
  /** Cross-instance coherence of L1: the mechanism, whether its link is up, what it received. */
  readonly invalidation: InvalidationStatus
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
  /** Stored values that did not fit the reader's schema and were read as misses (`onSchemaMismatch: "miss"`). */
  readonly schemaMismatches: number
  /** What the resilience options did (docs/resilience.md). */
  readonly resilience: ResilienceStats
}

/**
 * Counters of the resilience options of `getOrSet` (docs/resilience.md).
 *
 * @since 0.1.0
 */
export interface ResilienceStats {
  /** Stale values served, whatever the cause (each is also a `StaleServed` event). */
  readonly staleServed: number
  /** Lookups that failed and were answered with a stale value. */
  readonly failSafeActivations: number
  readonly softTimeouts: number
  readonly hardTimeouts: number
  readonly backgroundRefreshesStarted: number
  readonly backgroundRefreshesSucceeded: number
  readonly backgroundRefreshesFailed: number
  /** `distributedLock`: locks this cache took, waits for another holder, waits that timed out. */
  readonly locksAcquired: number
  readonly locksWaited: number
  readonly lockTimeouts: number
  /** `distributedLock`: times a waiter was woken by a change notification rather than by its poll. */
  readonly lockWakeups: number
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
  /**
   * Reads many keys: L1 first, then the rest from Redis in batched commands. The answer
   * is in key order, one `Option` per key (a key given twice is read once, answered twice).
   * Fails with the first error in key order, after every read has finished.
   */
  readonly getMany: {
    (keys: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<Option.Option<unknown>>, CacheError>
    <A, I>(keys: ReadonlyArray<string>, schema: Schema.Codec<A, I>): Effect.Effect<ReadonlyArray<Option.Option<A>>, CacheError>
  }
  /**
   * Stores many values. Every entry is checked first (key, value, TTLs, schema,
   * `maxValueBytes`): one bad entry fails the call and nothing is written.
   */
  readonly setMany: (entries: ReadonlyArray<SetManyEntry>, options?: SetOptions) => Effect.Effect<void, CacheError>
  /** Removes many keys from both tiers; how many of them existed in either. */
  readonly deleteMany: (keys: ReadonlyArray<string>) => Effect.Effect<number, CacheError>
  /**
   * Reads many keys, and calls `lookupMany` once with those missing in both tiers; stores
   * and returns what it answers. A key it does not answer is `Option.none()` and is not
   * stored. Single-flighted per key with concurrent `getOrSet` and `getOrSetMany` calls.
   */
  readonly getOrSetMany: <A, E, R>(
    keys: ReadonlyArray<string>,
    lookupMany: (missing: NonEmptyReadonlyArray<string>) => Effect.Effect<Iterable<readonly [string, A]>, E, R>,
    options?: GetOrSetManyOptions<A>
  ) => Effect.Effect<ReadonlyArray<Option.Option<A>>, E | CacheError, R>
  /**
   * A `RequestResolver` whose batches go through `getOrSetMany`: `Effect.request` reads
   * the cache first and looks up the misses of a batch in one call.
   */
  readonly resolver: <Req extends Request.Any, R = never>(
    options: CacheResolverOptions<Req, R> & AdmitsCacheErrors<Req>
  ) => Effect.Effect<RequestResolver.RequestResolver<Req>, never, R>
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
  /**
   * Makes every entry carrying any of `tags` a miss, in every instance (L1 and Redis).
   * Pattern invalidation and `clear` do not remove tag invalidations. See docs/multi-key-and-tags.md.
   */
  readonly invalidateTags: (tags: ReadonlyArray<string>) => Effect.Effect<void, CacheError>
  /**
   * A view of this cache whose keys, `clear` and pattern invalidation stay under `<name>:`
   * (nested namespaces compose). It shares this cache's L1, connection, counters and events.
   */
  readonly namespace: (name: string) => Effect.Effect<CacheService, ValidationError>
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
  /** Reads many keys, in key order. */
  static getMany(keys: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<Option.Option<unknown>>, CacheError, Cache>
  static getMany<A, I>(
    keys: ReadonlyArray<string>,
    schema: Schema.Codec<A, I>
  ): Effect.Effect<ReadonlyArray<Option.Option<A>>, CacheError, Cache>
  static getMany(keys: ReadonlyArray<string>, schema?: Schema.Codec<unknown, unknown>) {
    return Cache.use((cache) => schema === undefined ? cache.getMany(keys) : cache.getMany(keys, schema))
  }
  /** Stores many values; nothing is written when an entry is invalid. */
  static setMany(entries: ReadonlyArray<SetManyEntry>, options?: SetOptions): Effect.Effect<void, CacheError, Cache> {
    return Cache.use((cache) => cache.setMany(entries, options))
  }
  /** Removes many keys; how many existed. */
  static deleteMany(keys: ReadonlyArray<string>): Effect.Effect<number, CacheError, Cache> {
    return Cache.use((cache) => cache.deleteMany(keys))
  }
  /** Reads many keys, looking up the missing ones in one call (single flight per key). */
  static getOrSetMany<A, E, R>(
    keys: ReadonlyArray<string>,
    lookupMany: (missing: NonEmptyReadonlyArray<string>) => Effect.Effect<Iterable<readonly [string, A]>, E, R>,
    options?: GetOrSetManyOptions<A>
  ): Effect.Effect<ReadonlyArray<Option.Option<A>>, E | CacheError, R | Cache> {
    return Cache.use((cache) => cache.getOrSetMany(keys, lookupMany, options))
  }
  /** A `RequestResolver` that answers through the cache (docs/multi-key-and-tags.md). */
  static resolver<Req extends Request.Any, R = never>(
    options: CacheResolverOptions<Req, R> & AdmitsCacheErrors<Req>
  ): Effect.Effect<RequestResolver.RequestResolver<Req>, never, R | Cache> {
    return Cache.use((cache) => cache.resolver(options))
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
  /** Makes every entry carrying any of `tags` a miss, in every instance. */
  static invalidateTags(tags: ReadonlyArray<string>): Effect.Effect<void, CacheError, Cache> {
    return Cache.use((cache) => cache.invalidateTags(tags))
  }
  /** The view of the cache under `<name>:` (docs/multi-key-and-tags.md, "Namespaces"). */
  static namespace(name: string): Effect.Effect<CacheService, ValidationError, Cache> {
    return Cache.use((cache) => cache.namespace(name))
  }
  /**
   * Replaces the `Cache` in context with its view under `<name>:`, so that a part of an
   * application (a module, a tenant) gets a cache of its own without knowing the prefix.
   *
   * @since 0.1.0
   */
  static layerNamespace(name: string): Layer.Layer<Cache, ValidationError, Cache> {
    return Layer.effect(Cache, Cache.use((cache) => cache.namespace(name)))
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
          Codec.layer({ serializer: settings.serializer, maxValueBytes: settings.maxValueBytes }),
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
        Effect.flatMap(validateTopology),
        Effect.tap((valid) => Option.match(Option.fromNullishOr(l1InvalidationOf(valid).notice), {
          onNone: () => Effect.void,
          onSome: (notice) => Effect.logWarning(`Redis cache '${valid.cacheName ?? "default"}': ${notice}`)
        })),
        Effect.map((valid) => redisLayer(redisSettings(valid)))
      )
    )
  }
}

const DEFAULT_TTL = Duration.hours(1)
// An entry lives at most its TTL plus its staleFor, each at most the longest TTL: a tag's
// invalidation must outlive every entry written before it.
const DEFAULT_TAG_RETENTION_MILLIS = 2 * CacheLimits.maxTtlMillis
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024

const compressionOf = (option: RedisCacheOptions["compression"]): Compression =>
  option === undefined || option === "zlib"
    ? Compression.zlib
    : option === "zstd"
    ? Compression.zstd
    : option === "none"
    ? Compression.none
    : option

const builtInSerializer = (option: RedisCacheOptions["serializer"]): Serializer =>
  option === undefined || option === "json" ? Serializer.json : option === "structured" ? Serializer.structured : option

const schemaMismatchRule = (valid: { readonly onSchemaMismatch?: SchemaMismatchRule }): SchemaMismatchRule =>
  valid.onSchemaMismatch ?? "miss"

const memorySettings = (valid: MemoryCacheOptions) => ({
  cacheName: valid.cacheName ?? "default",
  onSchemaMismatch: schemaMismatchRule(valid),
  resilience: resilienceDefaults(valid),
  defaultTtlMillis: Duration.toMillis(valid.defaultTtl ?? DEFAULT_TTL),
  tagRetentionMillis: DEFAULT_TAG_RETENTION_MILLIS,
  enableL1: true,
  keyPrefix: "",
  maxEntries: valid.maxEntries ?? 1000,
  maxBytes: valid.maxBytes ?? DEFAULT_MAX_BYTES,
  sweepInterval: valid.sweepInterval ?? Duration.seconds(30),
  serializer: builtInSerializer(valid.serializer),
  maxValueBytes: valid.maxValueBytes
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
  onSchemaMismatch: schemaMismatchRule(valid),
  resilience: resilienceDefaults(valid),
  defaultTtlMillis: Duration.toMillis(valid.defaultTtl ?? DEFAULT_TTL),
  tagRetentionMillis: valid.tagRetention === undefined
    ? DEFAULT_TAG_RETENTION_MILLIS
    : Duration.toMillis(Duration.fromInputUnsafe(valid.tagRetention)),
  enableL1: valid.enableL1 ?? true,
  keyPrefix: valid.keyPrefix ?? "cache:",
  maxEntries: valid.l1MaxEntries ?? 1000,
  maxBytes: valid.l1MaxBytes ?? DEFAULT_MAX_BYTES,
  sweepInterval: valid.sweepInterval ?? Duration.seconds(30),
  serializer: builtInSerializer(valid.serializer),
  maxValueBytes: valid.maxValueBytes,
  compressionThreshold: valid.compressionThreshold ?? 1000,
  compressionLevel: valid.compressionLevel ?? 6,
  compression: compressionOf(valid.compression),
  redisUrl: primaryUrl(valid.redisUrl) ?? "redis://127.0.0.1:6379",
  topology: topologyOf(valid),
  commandTimeout: valid.commandTimeout ?? Duration.seconds(1),
  connectTimeout: valid.connectTimeout ?? Duration.seconds(2),
  reconnectSchedule: valid.reconnectSchedule ??
    (valid.security === undefined ? defaultReconnectSchedule : exponentialFrom(valid.security.retryDelay)),
  failOnConnectionError: valid.failOnConnectionError ?? false,
  connectAttempts: valid.connectAttempts ?? (valid.security === undefined
    ? 3
    : Math.max(1, Math.floor(valid.security.maxRetries) + 1)),
  replayQueueLimit: valid.replayQueueLimit ?? 10_000,
  security: Option.fromNullishOr(valid.security),
  mechanism: l1InvalidationOf(valid).mechanism,
  pingInterval: valid.invalidationPingInterval ?? Duration.seconds(1)
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
      compressionLevel: settings.compressionLevel,
      compression: settings.compression,
      maxValueBytes: settings.maxValueBytes
    }),
    CacheEvents.layer(),
    monitorLayer(settings.cacheName)
  )
  const withInvalidation = Invalidation.layer(settings).pipe(Layer.provideMerge(base))
  const withRedis = RedisTier.layer(settings).pipe(Layer.provideMerge(withInvalidation))
  const security = Layer.effect(
    CacheSecurity,
    Effect.gen(function*() {
      const tier = yield* RedisTier
      const invalidation = yield* Invalidation
      const client = yield* tier.client
      return yield* CacheSecurity.make({
        url: securityUrlOf(settings.topology, settings.redisUrl, client),
        config: settings.security,
        topology: settings.topology,
        client: tier.client,
        invalidation: invalidation.status
      })
    })
  )
  return Layer.mergeAll(Layer.effect(Cache, makeCache(settings)), security).pipe(Layer.provideMerge(withRedis))
}

// The monitor a user provided, or a default one: a cache always has a monitor.
const monitorLayer = (cacheName: string): Layer.Layer<CacheMonitor> =>
  Layer.effect(
    CacheMonitor,
    Effect.flatMap(
      Effect.serviceOption(CacheMonitor),
      // A provided monitor may serve several caches: this one records under its own name.
      Option.match({
        onNone: () => Effect.orDie(CacheMonitor.make({ cacheName })),
        onSome: (monitor) => Effect.succeed(monitor.forCache(cacheName))
      })
    )
  )

// A cache is a small core (services, counters, refill guard) with one module per path
// around it: the read path, the write path, invalidation, single flight and stats.
const makeCache = Effect.fnUntraced(function*(settings: CoreSettings) {
  const core = yield* makeCore(settings)
  // The monitor reads L1's monotonic totals: Cache.resetStats restarts memory.stats only.
  yield* core.monitor.attachL1({ stats: core.memory.totals })
  if (core.redis === undefined) yield* core.monitor.recordModeChange("Memory", "Memory", "start")
  const reads = makeReadPath(core)
  const writes = makeWritePath(core)
  const { getOrSet, leaders } = makeSingleFlight(core, { get: reads.get, set: writes.set })
  const multiKey = makeMultiKey(core, { get: reads.get, set: writes.set, delete: writes.delete, leaders })
  const service: CacheService = Cache.of({
    namespace: (name) => namespaced(service, name),
    get: reads.get as CacheService["get"],
    getOrSet,
    set: writes.set,
    delete: writes.delete,
    getMany: multiKey.getMany as CacheService["getMany"],
    setMany: multiKey.setMany,
    deleteMany: multiKey.deleteMany,
    getOrSetMany: multiKey.getOrSetMany,
    resolver: (options) => makeResolver(service)(options),
    exists: reads.exists,
    ttl: reads.ttl,
    ...makeInvalidation(core),
    invalidateTags: makeTagInvalidation(core),
    ...makeStats(core),
    registerCallback: core.events.registerCallback,
    events: core.events.events
  })
  registerL1Peek(service, reads.peekL1)
  return service
})
