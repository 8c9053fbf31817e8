/**
 * Builds caches inside a test's Scope, so that several caches (two "instances" on
 * one Redis) can live side by side and close with the test.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import { Cache, type CacheService, type RedisCacheOptions } from "../../src/index.js"

/** A Redis-backed cache that lives in the current scope. */
export const redisCache = (options: RedisCacheOptions) =>
  Effect.map(Layer.build(Cache.layerRedis({ connectTimeout: "500 millis", ...options })), (context) =>
    Context.get(context, Cache)) as Effect.Effect<CacheService, never, Scope.Scope>

/** The same, keeping the layer's failure (for fail-fast tests). */
export const redisCacheExit = (options: RedisCacheOptions) =>
  Effect.exit(Effect.map(Layer.build(Cache.layerRedis(options)), (context) => Context.get(context, Cache)))
