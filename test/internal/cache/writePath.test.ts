/**
 * The write path against a real redis-server: a read that starts after a delete or a set
 * but is sent to Redis ahead of its UNLINK or SET (its batch was due first in the same
 * tick) must not leave the old value in L1, whatever the coherence mechanism (an instance
 * hears no echo of its own writes).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { awaitLinked, redisCache } from "../../support/cache.js"
import { startRedisServer } from "../../support/RedisServer.js"

describe("writes and the reads around them (real redis-server)", () => {
  for (const mechanism of ["off", "tracking", "bus"] as const) {
    it.live(`${mechanism}: a read sent ahead of a delete's UNLINK does not leave the deleted value in L1`, () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* startRedisServer()
        const cache = yield* redisCache({ redisUrl: server.url, l1Invalidation: mechanism, failOnConnectionError: true })
        yield* awaitLinked(cache)
        yield* cache.set("k", "old")
        // Started in this order in one tick: the first read opens the read batch, the delete its
        // own, and the read of k joins the first batch, which is sent before the UNLINK.
        const [, existed, concurrent] = yield* Effect.all([cache.get("other"), cache.delete("k"), cache.get("k")], {
          concurrency: "unbounded"
        })
        assert.isTrue(existed)
        // Concurrent with the delete, the read may see either value (here Redis answers it first);
        // after the delete, nobody may.
        assert.deepStrictEqual(concurrent, Option.some("old"), "the read was answered before the UNLINK")
        assert.strictEqual(yield* server.cli("EXISTS", "cache:k"), "0")
        assert.deepStrictEqual(yield* cache.get("k"), Option.none())
        assert.strictEqual((yield* cache.stats).l1.entries, 0)
      })))
  }

  for (const mechanism of ["off", "tracking", "bus"] as const) {
    it.live(`${mechanism}: a read answered before a set, and resumed after it, does not leave the old value in L1`, () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* startRedisServer()
        const cache = yield* redisCache({ redisUrl: server.url, l1Invalidation: mechanism, failOnConnectionError: true })
        // Writes "old" to Redis and not to the cache's L1 (a cache with no L1 that announces nothing).
        const writer = yield* redisCache({ redisUrl: server.url, enableL1: false, l1Invalidation: "off" })
        yield* awaitLinked(cache)
        yield* writer.set("k", "old")
        // Tracking reports the writer's SET; the eviction it makes must not fall in the step below.
        yield* Effect.sleep("100 millis")
        // One read batch for "absent" and k: MGET answers k's old value at once, and the batch
        // then asks EXISTS for "absent" (MGET's nil). The set, sent after the MGET, is answered
        // in between, so the read of k resumes after the set has put "new" in L1.
        const [, , concurrent] = yield* Effect.all([cache.get("absent"), cache.set("k", "new"), cache.get("k")], {
          concurrency: "unbounded"
        })
        assert.deepStrictEqual(concurrent, Option.some("old"), "the read was answered before the SET")
        assert.deepStrictEqual(yield* writer.get("k"), Option.some("new"))
        assert.deepStrictEqual(yield* cache.get("k"), Option.some("new"), "L1 does not take the read's older value")
      })))
  }

  for (const mechanism of ["off", "tracking"] as const) {
    it.live(`${mechanism}: a setMany of more keys than the refill guard's minimum (1,000) keeps all of them in an L1 that holds them`, () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* startRedisServer()
        const cache = yield* redisCache({ redisUrl: server.url, l1Invalidation: mechanism, l1MaxEntries: 5_000 })
        yield* awaitLinked(cache)
        // Every write is remembered before the first is answered: with a bound of 1,000, the
        // guard used to forget them all and keep none of the 3,000 in L1.
        yield* cache.setMany(Array.from({ length: 3_000 }, (_, i) => ({ key: `k${i}`, value: i })))
        assert.strictEqual((yield* cache.stats).l1.entries, 3_000)
        assert.strictEqual(yield* server.cli("DBSIZE"), "3000")
      })))
  }
})
