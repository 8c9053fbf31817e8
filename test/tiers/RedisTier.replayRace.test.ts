/**
 * A delete made while the writes queued during an outage are being replayed wins over them:
 * the last operation a caller was told succeeded is what every instance reads back. Each
 * delete is sent the moment the cache reports Connected, so it races the replay of the very
 * keys it deletes; another process then reads every key.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Option, Schedule, Stream } from "effect"
import type { CacheService } from "../../src/index.js"
import { startRedisServer } from "../support/RedisServer.js"
import { awaitMode, awaitReplayed, redisCache } from "../support/cache.js"
import { startCacheWorker } from "../support/workers.js"

const COUNT = 4_000
const keys = Array.from({ length: COUNT }, (_, i) => `race:${i}`)
const unbounded = { concurrency: "unbounded" } as const

const deletes: ReadonlyArray<readonly [string, (cache: CacheService) => Effect.Effect<unknown, unknown>]> = [
  ["delete", (cache) => Effect.forEach(keys, (key) => cache.delete(key), unbounded)],
  ["deleteMany", (cache) => cache.deleteMany(keys)],
  ["invalidatePattern", (cache) => cache.invalidatePattern("race:*", { glob: true })],
  ["clear", (cache) => cache.clear],
  // A tag's invalidation time is later than every queued write carrying it: those read as misses.
  ["invalidateTags", (cache) => cache.invalidateTags(["race"])]
]

describe("replay against deletes made while it runs", () => {
  for (const [name, remove] of deletes) {
    it.live(`${name} sent as the replay starts: no deleted key comes back, in any process`, () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* startRedisServer()
        const options = { redisUrl: server.url, commandTimeout: "200 millis", connectTimeout: "200 millis" } as const
        const reader = yield* startCacheWorker({ ...options, cacheName: "reader", enableL1: false })
        const cache = yield* redisCache({ ...options, cacheName: "writer", reconnectSchedule: Schedule.spaced("100 millis") })
        yield* server.pause
        // A read notices the pause (it times out): no write is left on the socket to land later.
        yield* cache.get("probe")
        yield* awaitMode(cache, "MemoryOnly")
        yield* Effect.forEach(keys, (key) => cache.set(key, `queued ${key}`, { tags: ["race"] }), unbounded)
        assert.strictEqual((yield* cache.status).pendingReplay, COUNT)
        // The delete starts as soon as the cache is Connected again, when the replay starts.
        const deleted = yield* Deferred.make<void, unknown>()
        yield* cache.events.pipe(
          Stream.filter((event) => event._tag === "ModeChanged" && event.to === "Connected"),
          Stream.take(1),
          Stream.runForEach(() => Deferred.into(Effect.asVoid(remove(cache)), deleted)),
          Effect.forkScoped
        )
        yield* server.resume
        yield* Deferred.await(deleted)
        yield* awaitReplayed(cache)
        assert.deepStrictEqual(yield* reader.call("present", { keys }), [])
        // and the writer itself reads none of them back
        assert.isTrue((yield* cache.getMany(keys)).every(Option.isNone))
      })))
  }
})
