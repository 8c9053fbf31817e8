import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import { Cache, LookupTimeoutError } from "../../../src/index.js"
import { startRedisServer } from "../../support/RedisServer.js"
import { redisCache } from "../../support/cache.js"

const memoryCache = (options: Parameters<typeof Cache.layerMemory>[0] = {}) =>
  Effect.map(Layer.build(Cache.layerMemory(options)), (context) => Context.get(context, Cache))

const slow = (value: string, state: { runs: number; interrupted: number }) =>
  Effect.sleep("10 seconds").pipe(
    Effect.as(value),
    Effect.onInterrupt(() => Effect.sync(() => state.interrupted++)),
    Effect.tap(() => Effect.sync(() => state.runs++))
  )

// A stale "v1": written with a 1-minute TTL and a 10-minute grace, then 2 minutes pass.
const withStale = Effect.gen(function*() {
  const cache = yield* memoryCache()
  yield* cache.set("k", "v1", { ttl: "1 minute", staleFor: "10 minutes" })
  yield* TestClock.adjust("2 minutes")
  return cache
})

describe("softTimeout (memory layer, TestClock)", () => {
  it.effect("with a stale value: served after softTimeout, the lookup finishes in the background and stores", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* withStale
      const state = { runs: 0, interrupted: 0 }
      const call = yield* Effect.forkChild(cache.getOrSet("k", slow("v2", state), { softTimeout: "1 second" }))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(call), "v1")
      assert.deepStrictEqual(yield* cache.get("k"), Option.none())
      // a caller meanwhile joins the running lookup (no second run), and gets the stale value after its own softTimeout
      const second = yield* Effect.forkChild(cache.getOrSet("k", slow("v3", state), { softTimeout: "1 second" }))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(second), "v1")
      yield* TestClock.adjust("8 seconds")
      assert.deepStrictEqual(state, { runs: 1, interrupted: 0 })
      assert.deepStrictEqual(yield* cache.get("k"), Option.some("v2"))
      const stats = (yield* cache.stats).resilience
      assert.strictEqual(stats.softTimeouts, 2)
      assert.strictEqual(stats.backgroundRefreshesStarted, 1)
      assert.strictEqual(stats.backgroundRefreshesSucceeded, 1)
    })))

  it.effect("without a stale value the caller waits for the lookup", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache()
      const state = { runs: 0, interrupted: 0 }
      const call = yield* Effect.forkChild(cache.getOrSet("k", slow("v", state), { softTimeout: "1 second" }))
      yield* TestClock.adjust("5 seconds")
      assert.isUndefined(call.pollUnsafe())
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* Fiber.join(call), "v")
      assert.strictEqual((yield* cache.stats).resilience.softTimeouts, 0)
    })))
})

describe("hardTimeout (memory layer, TestClock)", () => {
  it.effect("fails with a LookupTimeoutError and interrupts the lookup", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache()
      const state = { runs: 0, interrupted: 0 }
      const call = yield* Effect.forkChild(Effect.flip(cache.getOrSet("k", slow("v", state), { hardTimeout: "2 seconds" })))
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(call)
      assert.instanceOf(error, LookupTimeoutError)
      assert.deepInclude(error, { key: "k", timeoutMillis: 2000, completesInBackground: false })
      yield* TestClock.adjust("20 seconds")
      assert.deepStrictEqual(state, { runs: 0, interrupted: 1 })
      assert.deepStrictEqual(yield* cache.get("k"), Option.none())
      assert.strictEqual((yield* cache.stats).resilience.hardTimeouts, 1)
    })))

  it.effect("with completeInBackground the lookup finishes and stores its value", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache({ hardTimeout: "2 seconds", completeInBackground: true })
      const state = { runs: 0, interrupted: 0 }
      const call = yield* Effect.forkChild(Effect.flip(cache.getOrSet("k", slow("v", state))))
      yield* TestClock.adjust("2 seconds")
      assert.deepInclude(yield* Fiber.join(call), { _tag: "LookupTimeoutError", completesInBackground: true })
      yield* TestClock.adjust("8 seconds")
      assert.deepStrictEqual(state, { runs: 1, interrupted: 0 })
      assert.deepStrictEqual(yield* cache.get("k"), Option.some("v"))
      assert.strictEqual((yield* cache.stats).resilience.backgroundRefreshesSucceeded, 1)
    })))

  it.effect("with staleOnError and a stale value, the hard timeout is answered with it", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* withStale
      const state = { runs: 0, interrupted: 0 }
      const call = yield* Effect.forkChild(cache.getOrSet("k", slow("v2", state), { hardTimeout: "2 seconds", staleOnError: true }))
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(yield* Fiber.join(call), "v1")
      assert.strictEqual((yield* cache.stats).resilience.failSafeActivations, 1)
    })))

  it.effect("an invalid timeout is a ValidationError naming it", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache()
      const error = yield* Effect.flip(cache.getOrSet("k", Effect.succeed(1), { hardTimeout: "soon" as never }))
      assert.strictEqual(error._tag, "ValidationError")
      assert.include(error.message, "hardTimeout")
    })))
})

describe("timeouts against a real redis-server", () => {
  it.live("soft timeout: the background lookup stores in Redis; another instance reads it", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({ redisUrl: server.url })
      yield* cache.set("k", "v1", { ttl: 200, staleFor: "1 minute" })
      yield* Effect.sleep("400 millis")
      const value = yield* cache.getOrSet("k", Effect.as(Effect.sleep("300 millis"), "v2"), { softTimeout: 50 })
      assert.strictEqual(value, "v1")
      const other = yield* redisCache({ redisUrl: server.url })
      const deadline = Date.now() + 10_000
      while (Option.isNone(yield* other.get("k")) && Date.now() < deadline) yield* Effect.sleep("20 millis")
      assert.deepStrictEqual(yield* other.get("k"), Option.some("v2"))
    })))

  it.live("Redis paused while the background lookup completes: its value is kept and reaches Redis after resume", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({ redisUrl: server.url, commandTimeout: "200 millis" })
      yield* cache.set("k", "v1", { ttl: 200, staleFor: "1 minute" })
      yield* Effect.sleep("400 millis")
      const value = yield* cache.getOrSet("k", Effect.as(Effect.sleep("300 millis"), "v2"), { softTimeout: 50 })
      assert.strictEqual(value, "v1")
      yield* server.pause
      yield* Effect.sleep("1 second")
      yield* server.resume
      const other = yield* redisCache({ redisUrl: server.url })
      const deadline = Date.now() + 15_000
      while (Option.getOrUndefined(yield* other.get("k")) !== "v2" && Date.now() < deadline) yield* Effect.sleep("50 millis")
      assert.deepStrictEqual(yield* other.get("k"), Option.some("v2"))
      assert.strictEqual((yield* cache.stats).resilience.backgroundRefreshesSucceeded, 1)
    })))
})
