import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, Option } from "effect"
import { Cache, type CacheService } from "../../../src/index.js"
import { startRedisServer } from "../../support/RedisServer.js"
import { redisCache } from "../../support/cache.js"

const memoryCache = (options: Parameters<typeof Cache.layerMemory>[0]) =>
  Effect.map(Layer.build(Cache.layerMemory(options)), (context) => Context.get(context, Cache))

const ttlsOf = (cache: CacheService, keys: ReadonlyArray<string>) =>
  Effect.forEach(keys, (key) =>
    Effect.map(cache.ttl(key), (ttl) => Duration.toMillis(Option.getOrThrow(ttl))))

const keys = Array.from({ length: 40 }, (_, i) => `k${i}`)

describe("ttlJitter", () => {
  it.effect("spreads the TTLs of entries written together over [ttl, ttl + jitter] (memory, cache option)", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache({ maxEntries: 100, ttlJitter: "10 seconds" })
      yield* Effect.forEach(keys, (key) => cache.set(key, 1, { ttl: "1 minute" }))
      const ttls = yield* ttlsOf(cache, keys)
      assert.isTrue(ttls.every((ms) => ms >= 60_000 && ms <= 70_000), String(ttls))
      // 40 draws from 10,001 values: all equal only if there were no jitter
      assert.isAbove(new Set(ttls).size, 1)
    })))

  it.effect("a per-call ttlJitter of 0 turns it off; a per-call value overrides the cache's", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache({ maxEntries: 100, ttlJitter: "10 seconds" })
      yield* Effect.forEach(keys, (key) => cache.set(key, 1, { ttl: "1 minute", ttlJitter: 0 }))
      assert.deepStrictEqual(new Set(yield* ttlsOf(cache, keys)), new Set([60_000]))
      yield* Effect.forEach(keys, (key) => cache.getOrSet(`g${key}`, Effect.succeed(1), { ttl: "1 minute", ttlJitter: "1 hour" }))
      const ttls = yield* ttlsOf(cache, keys.map((key) => `g${key}`))
      assert.isTrue(ttls.every((ms) => ms >= 60_000 && ms <= 3_660_000), String(ttls))
      assert.isTrue(ttls.some((ms) => ms > 70_000), String(ttls))
    })))

  it.effect("an invalid ttlJitter is a ValidationError naming the field, as an option and per call", () =>
    Effect.scoped(Effect.gen(function*() {
      const built = yield* Effect.exit(memoryCache({ ttlJitter: -5 as never }))
      assert.isTrue(Exit.isFailure(built))
      const cache = yield* memoryCache({})
      const error = yield* Effect.flip(cache.set("k", 1, { ttlJitter: -1 }))
      assert.strictEqual(error._tag, "ValidationError")
      assert.include(error.message, "ttlJitter")
    })))

  it.live("Redis entries get jittered TTLs too (PTTL in Redis and the L1 copy)", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({ redisUrl: server.url, ttlJitter: "30 seconds" })
      yield* Effect.forEach(keys, (key) => cache.set(key, 1, { ttl: "1 minute" }))
      const ttls = yield* ttlsOf(cache, keys)
      assert.isTrue(ttls.every((ms) => ms > 50_000 && ms <= 90_000), String(ttls))
      assert.isAbove(new Set(ttls.map((ms) => Math.round(ms / 1000))).size, 3)
    })))
})
