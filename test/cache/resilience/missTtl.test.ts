import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Duration, Effect, Fiber, Layer, Option, Schema } from "effect"
import { TestClock } from "effect/testing"
import { Cache } from "../../../src/index.js"
import { startRedisServer } from "../../support/RedisServer.js"
import { redisCache } from "../../support/cache.js"
import { pollUntil, startCacheWorker } from "../../support/workers.js"
import { NEGATIVE_ENTRY } from "../../../src/internal/cache/negativeCache.js"
import type { RedisServerHandle } from "../../support/RedisServer.js"

const counterOf = (server: RedisServerHandle, key: string) => Effect.map(server.cli("GET", key), (n) => n === "1")

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

describe("missTtl: callers that join a leader get what they would read back", () => {
  // The leader's lookup waits on a gate, so that every other caller joins it while it runs.
  const gated = <A>(answer: A) =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const state = { runs: 0 }
      const lookup = Effect.andThen(Effect.sync(() => state.runs++), Effect.as(Deferred.await(gate), answer))
      return { gate, state, lookup }
    })

  for (const [name, answer, stored] of [
    ["Option.some(value)", Option.some("Ada"), "Ada"],
    ["Option.none()", Option.none(), NEGATIVE_ENTRY]
  ] as const) {
    it.live(`in one process, ${name}: an Option with missTtl, the stored value without it or from getOrSetMany`, () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* startRedisServer()
        const cache = yield* redisCache({ redisUrl: server.url })
        const { gate, lookup, state } = yield* gated<Option.Option<string>>(answer)
        const options = { missTtl: "1 minute" } as const
        const leader = yield* Effect.forkChild(cache.getOrSet("k", lookup, options), { startImmediately: true })
        while (state.runs === 0) yield* Effect.sleep("5 millis")
        const withMissTtl = yield* Effect.forkChild(cache.getOrSet("k", lookup, options), { startImmediately: true })
        const without = yield* Effect.forkChild(cache.getOrSet("k", Effect.succeed<unknown>("own")), { startImmediately: true })
        const many = yield* Effect.forkChild(
          cache.getOrSetMany(["k"], () => Effect.succeed([["k", "own" as unknown] as const])),
          { startImmediately: true }
        )
        yield* Deferred.succeed(gate, undefined)
        assert.deepStrictEqual(yield* Fiber.join(leader), answer)
        assert.deepStrictEqual(yield* Fiber.join(withMissTtl), answer)
        assert.deepStrictEqual(yield* Fiber.join(without), stored)
        assert.deepStrictEqual(yield* Fiber.join(many), [Option.some(stored)])
        assert.strictEqual(state.runs, 1)
        // ... which is what each of them reads back afterwards
        assert.deepStrictEqual(yield* cache.getOrSet("k", lookup, options), answer)
        assert.deepStrictEqual(yield* cache.getOrSet("k", Effect.succeed<unknown>("own")), stored)
        assert.deepStrictEqual(yield* cache.get("k"), Option.some(stored))
      })))
  }

  it.effect("a follower whose leader is interrupted looks up itself and still answers one Option (memory layer)", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache()
      const options = { missTtl: "1 minute" } as const
      const leader = yield* Effect.forkChild(cache.getOrSet("k", Effect.never, options), { startImmediately: true })
      const follower = yield* Effect.forkChild(cache.getOrSet("k", Effect.succeed(Option.some("Ada")), options), {
        startImmediately: true
      })
      yield* Fiber.interrupt(leader)
      assert.deepStrictEqual(yield* Fiber.join(follower), Option.some("Ada"))
      assert.deepStrictEqual(yield* cache.get("k"), Option.some("Ada"))
    })))

  it.live("across processes with distributedLock: a waiter gets the Option the holder's lookup gave", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const options = { redisUrl: server.url, distributedLock: true } as const
      const [holder, waiter] = yield* Effect.all(
        [startCacheWorker({ ...options, cacheName: "holder" }), startCacheWorker({ ...options, cacheName: "waiter" })],
        { concurrency: "unbounded" }
      )
      for (const [key, value] of [["some", "Ada"], ["none", null]] as const) {
        const counter = `lookups:${key}`
        const call = { key, value, counter, missTtl: 60_000 }
        const held = yield* Effect.forkChild(holder.call("getOrSetCounted", { ...call, sleepMs: 500, callers: 3 }))
        yield* pollUntil(() => `the holder did not start its lookup of ${key}`, counterOf(server, counter))
        const waited = yield* waiter.call("getOrSetCounted", { ...call, value: "from the waiter", callers: 3 })
        const expected = value === null ? { found: false } : { found: true, value }
        assert.deepStrictEqual(waited, [expected, expected, expected])
        assert.deepStrictEqual(yield* Fiber.join(held), [expected, expected, expected])
        assert.strictEqual(yield* server.cli("GET", counter), "1")
      }
    })))
})
