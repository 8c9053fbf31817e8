import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Option } from "effect"
import { Cache } from "../../../src/index.js"
import { startRedisServer } from "../../support/RedisServer.js"
import { redisCache } from "../../support/cache.js"

const memoryCache = () => Effect.map(Layer.build(Cache.layerMemory()), (context) => Context.get(context, Cache))

interface User {
  readonly id: number
  readonly active: boolean
}
const ttlOf = (user: User): Duration.Input => user.active ? "1 minute" : "1 day"

describe("adaptive TTL: getOrSet(key, lookup, { ttl: (value) => ... })", () => {
  it.effect("the value decides its TTL (memory layer)", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache()
      yield* cache.getOrSet("u1", Effect.succeed<User>({ id: 1, active: true }), { ttl: ttlOf })
      yield* cache.getOrSet("u2", Effect.succeed<User>({ id: 2, active: false }), { ttl: ttlOf })
      assert.strictEqual(Duration.toMillis(Option.getOrThrow(yield* cache.ttl("u1"))), 60_000)
      assert.strictEqual(Duration.toMillis(Option.getOrThrow(yield* cache.ttl("u2"))), 86_400_000)
    })))

  it.effect("a TTL the function gives that breaks the rules is a ValidationError naming ttl", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache()
      const error = yield* Effect.flip(cache.getOrSet("k", Effect.succeed(1), { ttl: () => -1 }))
      assert.strictEqual(error._tag, "ValidationError")
      assert.include(error.message, "ttl")
    })))

  it.live("against a real redis-server: the Redis TTL follows the value", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({ redisUrl: server.url, enableL1: false })
      yield* cache.getOrSet("u1", Effect.succeed<User>({ id: 1, active: true }), { ttl: ttlOf })
      yield* cache.getOrSet("u2", Effect.succeed<User>({ id: 2, active: false }), { ttl: ttlOf })
      const u1 = Duration.toMillis(Option.getOrThrow(yield* cache.ttl("u1")))
      const u2 = Duration.toMillis(Option.getOrThrow(yield* cache.ttl("u2")))
      assert.isTrue(u1 > 50_000 && u1 <= 60_000, String(u1))
      assert.isTrue(u2 > 86_000_000 && u2 <= 86_400_000, String(u2))
    })))
})
