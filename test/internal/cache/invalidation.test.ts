/**
 * Invalidation by pattern and `clear` against a real redis-server, with a read or a set of a
 * matching key running beside them: once both are answered, L1 holds nothing that Redis does
 * not (the SCAN takes a round trip before the UNLINK, and the concurrent read or set is
 * answered in between). Found by the coherence property test (test/coherence/property.test.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import type { CacheService } from "../../../src/index.js"
import { awaitLinked, redisCache } from "../../support/cache.js"
import { startRedisServer } from "../../support/RedisServer.js"

const removals = {
  invalidatePattern: (cache: CacheService) => cache.invalidatePattern("k*", { glob: true }),
  clear: (cache: CacheService) => cache.clear
}

// L1 agrees with Redis: the cache reads what Redis holds, and holds nothing Redis does not.
const agreesWithRedis = (cache: CacheService, reference: CacheService) =>
  Effect.gen(function*() {
    const truth = yield* reference.get("k")
    assert.deepStrictEqual(yield* cache.get("k"), truth, "the cache reads what Redis holds")
    if (Option.isNone(truth)) assert.strictEqual((yield* cache.stats).l1.entries, 0)
  })

describe("pattern invalidation, clear and the reads and writes around them (real redis-server)", () => {
  for (const mechanism of ["off", "tracking", "bus"] as const) {
    for (const [name, remove] of Object.entries(removals)) {
      it.live(`${mechanism}: a read beside ${name} does not refill L1 with a key it removed`, () =>
        Effect.scoped(Effect.gen(function*() {
          const server = yield* startRedisServer()
          const cache = yield* redisCache({ redisUrl: server.url, l1Invalidation: mechanism })
          const reference = yield* redisCache({ redisUrl: server.url, enableL1: false, l1Invalidation: "off" })
          yield* awaitLinked(cache)
          yield* cache.set("k", "old")
          yield* Effect.all([remove(cache), cache.get("k")], { concurrency: "unbounded" })
          assert.strictEqual(yield* server.cli("EXISTS", "cache:k"), "0")
          yield* agreesWithRedis(cache, reference)
        })))

      it.live(`${mechanism}: a set beside ${name} keeps no value in L1 that Redis does not hold`, () =>
        Effect.scoped(Effect.gen(function*() {
          const server = yield* startRedisServer()
          const cache = yield* redisCache({ redisUrl: server.url, l1Invalidation: mechanism })
          const reference = yield* redisCache({ redisUrl: server.url, enableL1: false, l1Invalidation: "off" })
          yield* awaitLinked(cache)
          yield* Effect.all([remove(cache), cache.set("k", "new")], { concurrency: "unbounded" })
          yield* agreesWithRedis(cache, reference)
        })))
    }
  }
})
