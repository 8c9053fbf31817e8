/**
 * Effect's `BackingPersistence` (`effect/persistence/Persistence`) backed by a `Cache`, and
 * the `Persistence` built on it: what `PersistedCache.make` and `RequestResolver.persisted`
 * store their results in.
 *
 * ```ts
 * const persistence = CacheBackingPersistence.layerPersistence()
 *   .pipe(Layer.provide(Cache.layerRedis({ redisUrl, enableL1: false })))
 * ```
 *
 * See docs/effect-integration.md, which also says why `enableL1: false` suits such a cache.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Layer, Option, Schema } from "effect"
import type * as Arr from "effect/Array"
import * as Persistence from "effect/persistence/Persistence"
import { Cache, type CacheService, type SetOptions } from "../Cache.js"
import { CacheLimits, validateOptions } from "../CacheOptions.js"
import type { CacheError, ValidationError } from "../errors.js"
import { escapeGlob } from "../internal/pattern.js"

/**
 * Options of {@link CacheBackingPersistence}.
 *
 * @since 0.1.0
 */
export interface CacheBackingPersistenceOptions {
  /** Every store lives under `<namespace>:` of the cache. Default: none (`<storeId>:` right under the `keyPrefix`). */
  readonly namespace?: string
}

const Options = Schema.Struct({ namespace: Schema.optionalKey(Schema.String) })

/**
 * Effect's rule for a store's namespace (`layerBackingRedis`, `layerBackingKvs`): `<storeId>:`
 * with `%` and `:` in the id percent-encoded, so that no two stores' keys can overlap.
 *
 * @since 0.1.0
 */
export const storeNamespace = (storeId: string): string =>
  `${storeId.replace(/%/g, "%25").replace(/:/g, "%3A")}:`

const { PersistenceError } = Persistence

const failure = (what: string, error: CacheError | ValidationError) =>
  new PersistenceError({ message: `${what}: ${error.message}`, cause: error })

// An exact TTL: no jitter and no stale copy past it, since Persistence decides expiry itself.
// `undefined` (Persistence's "never expires") is the longest TTL a cache allows, 365 days;
// a finite TTL is rounded up to whole milliseconds and capped there too.
const setOptionsOf = (ttl: Duration.Duration | undefined): SetOptions => ({
  ttl: ttl === undefined
    ? CacheLimits.maxTtlMillis
    : Math.min(Math.max(1, Math.ceil(Duration.toMillis(ttl))), CacheLimits.maxTtlMillis),
  ttlJitter: 0,
  staleFor: 0
})

const makeStore = (cache: CacheService, storeId: string): Persistence.BackingPersistenceStore => {
  const namespace = storeNamespace(storeId)
  const read = (key: string) =>
    Effect.mapError(cache.get(namespace + key), (error) => failure(`Failed to get key ${key} of store ${storeId}`, error))
  // Persistence stores encoded Exits, always objects: anything else was written by someone else.
  const isObject = (value: unknown): value is object => typeof value === "object" && value !== null
  const get = (key: string): Effect.Effect<object | undefined, Persistence.PersistenceError> =>
    Effect.flatMap(
      read(key),
      Option.match({
        onNone: () => Effect.undefined,
        onSome: (value) =>
          isObject(value)
            ? Effect.succeed(value)
            : Effect.fail(new PersistenceError({ message: `The value of key ${key} of store ${storeId} is not an object` }))
      })
    )
  const set = (key: string, value: object, ttl: Duration.Duration | undefined) =>
    Effect.mapError(
      cache.set(namespace + key, value, setOptionsOf(ttl)),
      (error) => failure(`Failed to set key ${key} of store ${storeId}`, error)
    )
  return {
    get,
    // Concurrent single-key reads: the Redis tier coalesces them into one batched command per
    // round trip (MGET-like, per slot on a cluster). Switch to Cache.getMany once it lands.
    getMany: (keys) =>
      Effect.forEach(
        keys,
        (key) => Effect.map(read(key), (found) => Option.isSome(found) && isObject(found.value) ? found.value : undefined),
        { concurrency: "unbounded" }
      ) as Effect.Effect<Arr.NonEmptyArray<object | undefined>, Persistence.PersistenceError>,
    set,
    // Likewise batched by the tier; switch to Cache.setMany once it lands.
    setMany: (entries) =>
      Effect.forEach(entries, ([key, value, ttl]) => set(key, value, ttl), { concurrency: "unbounded", discard: true }),
    remove: (key) =>
      Effect.mapError(
        Effect.asVoid(cache.delete(namespace + key)),
        (error) => failure(`Failed to remove key ${key} of store ${storeId}`, error)
      ),
    clear: Effect.mapError(
      Effect.asVoid(cache.invalidatePattern(`${escapeGlob(namespace)}*`, { glob: true })),
      (error) => failure(`Failed to clear store ${storeId}`, error)
    )
  }
}

const make = Effect.fn("CacheBackingPersistence.make")(function*(options: CacheBackingPersistenceOptions = {}) {
  const valid = yield* validateOptions(Options, options, "Invalid BackingPersistence options")
  const root = yield* Cache
  const cache = valid.namespace === undefined ? root : yield* root.namespace(valid.namespace)
  return Persistence.BackingPersistence.of({
    make: (storeId) => Effect.sync(() => makeStore(cache, storeId))
  })
})

/**
 * Effect's `BackingPersistence` on a `Cache`.
 *
 * - A store `storeId` keeps its keys under Effect's namespace for it (`storeNamespace`);
 *   `clear` removes that namespace only (both tiers, every instance's L1).
 * - TTL: a finite TTL is the entry's exact TTL (no jitter, no stale copy); `undefined`
 *   ("never expires") is the longest a cache allows, 365 days.
 * - `getMany`/`setMany` are concurrent single-key calls that the Redis tier batches.
 *   In `getMany` a value that is not an object reads as absent (Persistence then drops it).
 * - Every `CacheError` becomes a `PersistenceError` whose cause it is.
 * - While Redis is unavailable, the cache degrades as usual: reads from L1 (where it has
 *   the value), writes kept in L1 and replayed.
 *
 * @since 0.1.0
 */
export const CacheBackingPersistence = {
  /** The backing persistence as a value. */
  make,
  /** `BackingPersistence` on the `Cache` in context. */
  layer: (
    options: CacheBackingPersistenceOptions = {}
  ): Layer.Layer<Persistence.BackingPersistence, ValidationError, Cache> =>
    Layer.effect(Persistence.BackingPersistence, make(options)),
  /** Effect's `Persistence` (for `PersistedCache`, `RequestResolver.persisted`) on the `Cache` in context. */
  layerPersistence: (
    options: CacheBackingPersistenceOptions = {}
  ): Layer.Layer<Persistence.Persistence, ValidationError, Cache> =>
    Persistence.layer.pipe(Layer.provide(Layer.effect(Persistence.BackingPersistence, make(options))))
} as const
