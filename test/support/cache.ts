/**
 * Builds caches inside a test's Scope, so that several caches (two "instances" on
 * one Redis) can live side by side and close with the test.
 */
import { assert } from "@effect/vitest"
import { Context, Effect, Layer, type Scope } from "effect"
import { Cache, type CacheService, type RedisCacheOptions } from "../../src/index.js"

/** A Redis-backed cache that lives in the current scope. */
export const redisCache = (options: RedisCacheOptions) =>
  Effect.map(Layer.build(Cache.layerRedis({ connectTimeout: "500 millis", ...options })), (context) =>
    Context.get(context, Cache)) as Effect.Effect<CacheService, never, Scope.Scope>

/** The same, keeping the layer's failure (for fail-fast tests). */
export const redisCacheExit = (options: RedisCacheOptions) =>
  Effect.exit(Effect.map(Layer.build(Cache.layerRedis(options)), (context) => Context.get(context, Cache)))

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** Polls until the cache reports `mode`, failing the test after `withinMs` (a hang guard, not a timing claim). */
export const awaitMode = (cache: CacheService, mode: string, withinMs = 20_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + withinMs
    while (Date.now() < deadline) {
      if ((yield* cache.status).mode === mode) return
      yield* sleep(50)
    }
    assert.fail(`the cache did not reach ${mode} within ${withinMs} ms: ${JSON.stringify(yield* cache.status)}`)
  })

/** Polls until nothing waits for replay (the cache is Connected while it replays). */
export const awaitReplayed = (cache: CacheService, withinMs = 20_000) =>
  Effect.gen(function*() {
    yield* awaitMode(cache, "Connected", withinMs)
    const deadline = Date.now() + withinMs
    while ((yield* cache.status).pendingReplay > 0) {
      if (Date.now() > deadline) assert.fail(`replay did not finish: ${JSON.stringify(yield* cache.status)}`)
      yield* sleep(20)
    }
  })

/** Polls until the cache's invalidation link is up: L1 takes copies only then (at once for "off"). */
export const awaitLinked = (cache: CacheService, withinMs = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + withinMs
    while (!(yield* cache.status).invalidation.linked) {
      if (Date.now() > deadline) assert.fail(`the invalidation link did not come up within ${withinMs} ms`)
      yield* sleep(20)
    }
  })
