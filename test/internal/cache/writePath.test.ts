/**
 * The delete path against a real redis-server: a read that starts after a delete but is
 * sent to Redis ahead of its UNLINK (its batch was due first in the same tick) must not
 * leave the deleted value in L1, whatever the coherence mechanism (an instance hears no
 * echo of its own delete).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import type { CacheService } from "../../../src/index.js"
import { redisCache } from "../../support/cache.js"
import { startRedisServer } from "../../support/RedisServer.js"

// L1 takes copies only once the invalidation link is up (at once for "off").
const awaitLinked = (cache: CacheService) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 10_000
    while (!(yield* cache.status).invalidation.linked) {
      if (Date.now() > deadline) assert.fail("the invalidation link did not come up")
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
    }
  })

describe("delete and the reads around it (real redis-server)", () => {
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
})
