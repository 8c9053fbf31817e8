/**
 * Effect's `KeyValueStore` (`effect/persistence/KeyValueStore`) backed by a `Cache`: both
 * tiers, degradation, coherence and metrics for whatever Effect code asks a key-value store.
 *
 * ```ts
 * const store = CacheKeyValueStore.layer({ namespace: "sessions", ttl: "1 day" })
 *   .pipe(Layer.provide(Cache.layerRedis({ redisUrl })))
 * ```
 *
 * See docs/effect-integration.md.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Layer, Option, Schema } from "effect"
import * as Base64 from "effect/encoding/Base64"
import * as KeyValueStore from "effect/persistence/KeyValueStore"
import { Cache, type CacheService } from "../Cache.js"
import { Ttl, validateOptions } from "../CacheOptions.js"
import type { CacheError, ValidationError } from "../errors.js"
import { escapeGlob } from "../internal/pattern.js"
import { MemoryTier } from "../tiers/MemoryTier.js"
import { RedisTier } from "../tiers/RedisTier.js"

/**
 * Options of {@link CacheKeyValueStore}.
 *
 * @since 0.1.0
 */
export interface CacheKeyValueStoreOptions {
  /**
   * The store's keys live under `<namespace>:` of the cache (`Cache.namespace`), so that its
   * `clear`, `keys` and `size` see only them. Default: none, the store is the whole cache
   * (its `keyPrefix`), and `clear` clears the cache.
   */
  readonly namespace?: string
  /**
   * The TTL of every entry the store writes: the `KeyValueStore` interface has none, and a
   * cache entry always expires. Default: the cache's `defaultTtl` (1 hour unless set).
   * At most 365 days.
   */
  readonly ttl?: Duration.Input
}

const Options = Schema.Struct({
  namespace: Schema.optionalKey(Schema.String),
  ttl: Schema.optionalKey(Ttl)
})

// What the store writes into the cache: a string as itself, bytes as `{ bytes: <base64> }`,
// so that both survive every serializer (JSON has no bytes) and read back as what they were.
const Stored = Schema.Union([Schema.String, Schema.Struct({ bytes: Schema.Uint8ArrayFromBase64 })])
const storedSchema = Stored as unknown as Schema.Codec<unknown, unknown>

const encoder = new TextEncoder()

const failure = (method: string, key: string | undefined, error: CacheError | ValidationError) =>
  new KeyValueStoreError(
    key === undefined
      ? { method, message: `KeyValueStore.${method} failed: ${error.message}`, cause: error }
      : { method, key, message: `KeyValueStore.${method} failed for key ${key}: ${error.message}`, cause: error }
  )

const { KeyValueStoreError } = KeyValueStore

/**
 * Builds a `KeyValueStore` on the `Cache` in context. Needs the root cache (not a
 * `Cache.layerNamespace` view): `keys` SCANs Redis under the cache's `keyPrefix` and
 * the store's own namespace, which a view does not reveal.
 *
 * @since 0.1.0
 */
const make = Effect.fn("CacheKeyValueStore.make")(function*(options: CacheKeyValueStoreOptions = {}) {
  const valid = yield* validateOptions(Options, options, "Invalid KeyValueStore options")
  const root = yield* Cache
  const cache: CacheService = valid.namespace === undefined ? root : yield* root.namespace(valid.namespace)
  const namespacePrefix = valid.namespace === undefined ? "" : `${valid.namespace}:`
  const tier = Option.getOrUndefined(yield* Effect.serviceOption(RedisTier))
  // Both layers of a cache carry their tiers; a Cache built otherwise has none to list keys from.
  const memory = Option.getOrUndefined(yield* Effect.serviceOption(MemoryTier))
  const setOptions = valid.ttl === undefined
    ? { schema: storedSchema }
    : { schema: storedSchema, ttl: Duration.fromInputUnsafe(valid.ttl) }

  const read = (method: string, key: string) =>
    Effect.mapError(
      cache.get(key, storedSchema) as Effect.Effect<Option.Option<typeof Stored.Type>, CacheError>,
      (error) => failure(method, key, error)
    )

  // Redis holds every key (L1 only some): with Redis there, its SCAN answers; a memory-only
  // cache answers from L1, which then is the whole cache.
  const fullPrefix = (tier?.keyPrefix ?? "") + namespacePrefix
  const keys: Effect.Effect<ReadonlyArray<string>, KeyValueStore.KeyValueStoreError> = tier !== undefined
    ? tier.keysMatching(`${escapeGlob(fullPrefix)}*`).pipe(
      Effect.mapError((error) =>
        new KeyValueStoreError({ method: "keys", message: `KeyValueStore.keys failed: ${error.message}`, cause: error })
      ),
      Effect.flatMap((found) =>
        found === undefined
          ? Effect.fail(
            new KeyValueStoreError({
              method: "keys",
              message: "KeyValueStore.keys failed: Redis is unavailable (the cache is memory-only), and L1 holds only some keys"
            })
          )
          : Effect.succeed(found.map((key) => key.slice(fullPrefix.length)))
      )
    )
    : memory !== undefined
    ? Effect.sync(() =>
      memory.keys().flatMap((key) => key.startsWith(namespacePrefix) ? [key.slice(namespacePrefix.length)] : [])
    )
    : Effect.fail(
      new KeyValueStoreError({ method: "keys", message: "KeyValueStore.keys failed: the Cache in context has no tier to list" })
    )

  return KeyValueStore.make({
    get: (key) =>
      Effect.map(read("get", key), (found) =>
        Option.match(found, {
          onNone: () => undefined,
          onSome: (value) => typeof value === "string" ? value : Base64.encode(value.bytes)
        })),
    getUint8Array: (key) =>
      Effect.map(read("getUint8Array", key), (found) =>
        Option.match(found, {
          onNone: () => undefined,
          onSome: (value) => typeof value === "string" ? encoder.encode(value) : value.bytes
        })),
    set: (key, value) =>
      Effect.mapError(
        cache.set(key, typeof value === "string" ? value : { bytes: value }, setOptions),
        (error) => failure("set", key, error)
      ),
    remove: (key) => Effect.mapError(Effect.asVoid(cache.delete(key)), (error) => failure("remove", key, error)),
    has: (key) => Effect.mapError(cache.exists(key), (error) => failure("has", key, error)),
    clear: Effect.mapError(cache.clear, (error) => failure("clear", undefined, error)),
    // A glob of the prefix escaped, so that `*`, `?`, `[` in it mean themselves.
    clearPrefix: (prefix) =>
      prefix === ""
        ? Effect.mapError(cache.clear, (error) => failure("clearPrefix", prefix, error))
        : Effect.mapError(
          Effect.asVoid(cache.invalidatePattern(`${escapeGlob(prefix)}*`, { glob: true })),
          (error) => failure("clearPrefix", prefix, error)
        ),
    keys,
    size: Effect.map(keys, (all) => all.length)
  })
})

/**
 * Effect's `KeyValueStore` on a `Cache`.
 *
 * - Strings and bytes: a string reads back as itself; bytes read back as bytes from
 *   `getUint8Array` and as base64 from `get` (as Effect's own stores do).
 * - TTL: every entry expires after `ttl` (default: the cache's `defaultTtl`).
 * - `keys` and `size` SCAN Redis (every master of a cluster) under the store's prefix;
 *   while Redis is unavailable they fail with a `KeyValueStoreError` (L1 holds only some
 *   keys), while `get`, `set` and `remove` go on as the cache does (L1, replay).
 * - `clearPrefix` takes its prefix literally, glob characters included.
 * - Every `CacheError` becomes a `KeyValueStoreError` with the method, key and cause.
 *
 * @since 0.1.0
 */
export const CacheKeyValueStore = {
  /** The store as a value. */
  make,
  /** The store as a layer, on the `Cache` (and its tiers) in context. */
  layer: (
    options: CacheKeyValueStoreOptions = {}
  ): Layer.Layer<KeyValueStore.KeyValueStore, ValidationError, Cache> =>
    Layer.effect(KeyValueStore.KeyValueStore, make(options))
} as const
