import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Option, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Cache } from "../../../src/index.js"
import { startRedisServer } from "../../support/RedisServer.js"
import { redisCache } from "../../support/cache.js"

const memoryCache = () => Effect.map(Layer.build(Cache.layerMemory()), (context) => Context.get(context, Cache))

const counting = (answer: () => Option.Option<string>) => {
  const state = { runs: 0 }
  const lookup = Effect.sync(() => {
    state.runs++
    return answer()
  })
  return { state, lookup }
}

describe("missTtl: negative caching of a lookup that returns Option", () => {
  it.effect("Option.none() is cached for missTtl, then looked up again (memory layer, TestClock)", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache()
      const { lookup, state } = counting(() => Option.none())
      const options = { ttl: "1 hour", missTtl: "30 seconds" } as const
      assert.deepStrictEqual(yield* cache.getOrSet("user:404", lookup, options), Option.none())
      assert.deepStrictEqual(yield* cache.getOrSet("user:404", lookup, options), Option.none())
      assert.strictEqual(state.runs, 1)
      assert.strictEqual(Duration.toMillis(Option.getOrThrow(yield* cache.ttl("user:404"))), 30_000)
      yield* TestClock.adjust("31 seconds")
      assert.deepStrictEqual(yield* cache.getOrSet("user:404", lookup, options), Option.none())
      assert.strictEqual(state.runs, 2)
    })))

  it.effect("Option.some(value) is stored as the value, with the call's ttl; without missTtl nothing changes", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache()
      const { lookup, state } = counting(() => Option.some("Ada"))
      const options = { ttl: "1 hour", missTtl: "30 seconds" } as const
      assert.deepStrictEqual(yield* cache.getOrSet("user:1", lookup, options), Option.some("Ada"))
      assert.deepStrictEqual(yield* cache.get("user:1"), Option.some("Ada"))
      assert.deepStrictEqual(yield* cache.getOrSet("user:1", lookup, options), Option.some("Ada"))
      assert.strictEqual(state.runs, 1)
      assert.strictEqual(Duration.toMillis(Option.getOrThrow(yield* cache.ttl("user:1"))), 3_600_000)
      const error = yield* Effect.flip(cache.getOrSet("k", lookup, { missTtl: "1 second", schema: Schema.Option(Schema.String) }))
      assert.strictEqual(error._tag, "ValidationError")
    })))

  it.live("against a real redis-server: another instance reads the negative entry as None, no lookup", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const a = yield* redisCache({ redisUrl: server.url })
      const b = yield* redisCache({ redisUrl: server.url })
      const { lookup, state } = counting(() => Option.none())
      assert.deepStrictEqual(yield* a.getOrSet("user:404", lookup, { missTtl: "1 minute" }), Option.none())
      assert.deepStrictEqual(yield* b.getOrSet("user:404", lookup, { missTtl: "1 minute" }), Option.none())
      assert.strictEqual(state.runs, 1)
      const ttl = Duration.toMillis(Option.getOrThrow(yield* b.ttl("user:404")))
      assert.isTrue(ttl > 50_000 && ttl <= 60_000, String(ttl))
    })))
})
