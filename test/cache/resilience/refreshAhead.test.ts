import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import { Cache } from "../../../src/index.js"
import { startRedisServer } from "../../support/RedisServer.js"
import { redisCache } from "../../support/cache.js"

const memoryCache = (options: Parameters<typeof Cache.layerMemory>[0] = {}) =>
  Effect.map(Layer.build(Cache.layerMemory(options)), (context) => Context.get(context, Cache))

describe("refreshAhead (memory layer, TestClock)", () => {
  it.effect("a hit past the fraction answers at once and starts one background lookup that replaces the value", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache()
      let runs = 0
      const lookup = Effect.suspend(() => {
        runs++
        return runs === 1 ? Effect.succeed("v1") : Effect.as(Effect.sleep("1 second"), `v${runs}`)
      })
      const options = { ttl: "10 seconds", refreshAhead: 0.8 } as const
      assert.strictEqual(yield* cache.getOrSet("k", lookup, options), "v1")
      yield* TestClock.adjust("7 seconds")
      assert.strictEqual(yield* cache.getOrSet("k", lookup, options), "v1")
      assert.strictEqual(runs, 1)
      yield* TestClock.adjust("1500 millis")
      // past 80 % of the TTL: the current value at once, one refresh for all these callers
      const answers = yield* Effect.all(Array.from({ length: 5 }, () => cache.getOrSet("k", lookup, options)), {
        concurrency: "unbounded"
      })
      assert.deepStrictEqual(answers, ["v1", "v1", "v1", "v1", "v1"])
      yield* Effect.yieldNow
      assert.strictEqual(runs, 2)
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* cache.get("k"), Option.some("v2"))
      assert.isAbove(Duration.toMillis(Option.getOrThrow(yield* cache.ttl("k"))), 9000)
      const stats = (yield* cache.stats).resilience
      assert.strictEqual(stats.backgroundRefreshesStarted, 1)
      assert.strictEqual(stats.backgroundRefreshesSucceeded, 1)
    })))

  it.effect("a failing refresh keeps the current value until its TTL, counted as failed", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache({ refreshAhead: 0.5, defaultTtl: "10 seconds" })
      yield* cache.getOrSet("k", Effect.succeed("v1"))
      yield* TestClock.adjust("6 seconds")
      assert.strictEqual(yield* cache.getOrSet("k", Effect.fail("down")), "v1")
      yield* Effect.yieldNow
      assert.deepStrictEqual(yield* cache.get("k"), Option.some("v1"))
      assert.strictEqual((yield* cache.stats).resilience.backgroundRefreshesFailed, 1)
    })))

  it.effect("without refreshAhead a hit never looks up; an invalid fraction is a ValidationError", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache()
      yield* cache.getOrSet("k", Effect.succeed("v1"), { ttl: "10 seconds" })
      yield* TestClock.adjust("9 seconds")
      assert.strictEqual(yield* cache.getOrSet("k", Effect.die("not called"), { ttl: "10 seconds" }), "v1")
      const error = yield* Effect.flip(cache.getOrSet("k", Effect.succeed(1), { refreshAhead: 1.5 }))
      assert.include(error.message, "refreshAhead")
    })))
})

describe("refreshAhead against a real redis-server", () => {
  it.live("the background refresh writes Redis: another instance reads the new value", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({ redisUrl: server.url, refreshAhead: 0.5 })
      let runs = 0
      const lookup = Effect.sync(() => `v${++runs}`)
      assert.strictEqual(yield* cache.getOrSet("k", lookup, { ttl: "2 seconds" }), "v1")
      yield* Effect.sleep("1200 millis")
      assert.strictEqual(yield* cache.getOrSet("k", lookup, { ttl: "2 seconds" }), "v1")
      const other = yield* redisCache({ redisUrl: server.url })
      const deadline = Date.now() + 10_000
      while (Option.getOrUndefined(yield* other.get("k")) !== "v2" && Date.now() < deadline) {
        yield* Effect.sleep("20 millis")
      }
      assert.deepStrictEqual(yield* other.get("k"), Option.some("v2"))
    })))
})
