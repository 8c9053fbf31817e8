/**
 * A Promise facade over a `Cache` layer, for code outside Effect (an Express handler, a
 * Nest service, a script): the same cache, with its L1, Redis, coherence, events and
 * stats, behind `get`/`set`/`getOrSet`/`delete` that return Promises.
 *
 * An L1 hit starts no fiber: `get` reads L1 directly when the Effect API would answer from
 * it with nothing else to do (no schema, no per-hit span, no event listener), counting the
 * hit the same way; everything else runs through a `ManagedRuntime` built from the layer.
 * Failures reject the Promise with the cache's own typed errors (`ValidationError`,
 * `SerializationError`, ...), which are `Error`s with a `_tag`.
 *
 * ```ts
 * const client = await CacheClient.make(Cache.layerRedis({ redisUrl: process.env.REDIS_URL }))
 * await client.set("user:1", { name: "Ada" }, { ttl: "10 minutes" })
 * const user = await client.get("user:1") // { name: "Ada" } or undefined
 * await client.close()
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Effect, Exit, type Layer, ManagedRuntime, Option, type Schema } from "effect"
import { Cache, type CacheService, type GetOrSetOptions, type SetOptions } from "./Cache.js"
import { l1PeekOf } from "./internal/cache/l1Peek.js"

/**
 * The Promise facade of a cache (see the module documentation).
 *
 * @since 0.1.0
 */
export interface CacheClient {
  /** The value stored at `key`, or `undefined` when there is none; with a schema, decoded by it. */
  readonly get: {
    (key: string): Promise<unknown>
    <A, I>(key: string, schema: Schema.Codec<A, I>): Promise<A | undefined>
  }
  /** Stores `value` at `key` (the options of `Cache.set`). */
  readonly set: (key: string, value: unknown, options?: SetOptions) => Promise<void>
  /**
   * The value at `key`, or the one `lookup` gives, stored: one lookup per key at a time in
   * this process, with the resilience options of `Cache.getOrSet`. A `lookup` that rejects
   * rejects this call with its reason, and nothing is stored.
   */
  readonly getOrSet: <A>(key: string, lookup: () => Promise<A>, options?: GetOrSetOptions<A>) => Promise<A>
  /** Removes `key`; whether it existed. */
  readonly delete: (key: string) => Promise<boolean>
  /** Runs any Effect that needs the `Cache` (every other operation, `stats`, `status`...). */
  readonly run: <A, E>(effect: Effect.Effect<A, E, Cache>) => Promise<A>
  /** Closes the cache: its Redis connections and background work end. Later calls reject. */
  readonly close: () => Promise<void>
}

// A lookup's rejection, carried through the Effect failure channel and rejected as it was.
class LookupRejected {
  constructor(readonly reason: unknown) {}
}

const settle = <A, E>(exit: Exit.Exit<A, E>): Promise<A> => {
  if (Exit.isSuccess(exit)) return Promise.resolve(exit.value)
  const error = Cause.squash(exit.cause)
  return Promise.reject(error instanceof LookupRejected ? error.reason : error)
}

const makeClient = (runtime: ManagedRuntime.ManagedRuntime<Cache, unknown>, cache: CacheService): CacheClient => {
  const run = <A, E>(effect: Effect.Effect<A, E, Cache>): Promise<A> => runtime.runPromiseExit(effect).then(settle)
  const peek = l1PeekOf(cache)
  const viaEffect = (key: string, schema?: Schema.Codec<unknown, unknown>): Promise<unknown> =>
    run(Effect.map(schema === undefined ? cache.get(key) : cache.get(key, schema), Option.getOrUndefined))
  const get = (key: string, schema?: Schema.Codec<unknown, unknown>): Promise<unknown> => {
    if (schema === undefined && peek !== undefined) {
      const value = peek(key)
      if (value !== undefined) return Promise.resolve(value)
    }
    return viaEffect(key, schema)
  }
  return {
    get: get as CacheClient["get"],
    set: (key, value, options) => run(cache.set(key, value, options)),
    getOrSet: (key, lookup, options) =>
      run(
        cache.getOrSet(
          key,
          Effect.tryPromise({ try: lookup, catch: (reason) => new LookupRejected(reason) }),
          options
        )
      ),
    delete: (key) => run(cache.delete(key)),
    run,
    close: () => runtime.dispose()
  }
}

/**
 * Builds the facade from a layer that provides `Cache` (`Cache.layerRedis(...)`,
 * `Cache.layerMemory()`, a factory layer). The Promise rejects with the layer's error
 * (a `ValidationError` for bad options, a `ConnectionError` with `failOnConnectionError`).
 *
 * @since 0.1.0
 */
export const make = async <E>(layer: Layer.Layer<Cache, E>): Promise<CacheClient> => {
  const runtime = ManagedRuntime.make(layer) as ManagedRuntime.ManagedRuntime<Cache, unknown>
  const built: Exit.Exit<CacheService, unknown> = await runtime.runPromiseExit(Cache)
  if (Exit.isFailure(built)) {
    await runtime.dispose()
    return Promise.reject(Cause.squash(built.cause))
  }
  return makeClient(runtime, built.value)
}

/**
 * The Promise facade's constructor: `await CacheClient.make(layer)`.
 *
 * @since 0.1.0
 */
export const CacheClient: {
  /** Builds the facade from a layer that provides `Cache`. */
  readonly make: typeof make
} = { make }
