/**
 * Tag invalidation across instances, each a separate Node process on one real
 * redis-server (test/support/workers.ts), for both link mechanisms: A sets with tags, B and
 * C hold L1 copies, A invalidates a tag and B and C miss; another program's write of the
 * tag key does the same (tracking: the bus carries only what instances announce); a clear
 * leaves the tag keys in Redis; an invalidation A makes while Redis is paused is replayed and
 * reaches B.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Redis } from "ioredis"
import { startRedisServer } from "../support/RedisServer.js"
import { awaitLinked, eventuallyReads, pollUntil, readKey, startCacheWorker } from "../support/workers.js"

const rawClient = (url: string) =>
  Effect.acquireRelease(Effect.sync(() => new Redis(url)), (client) =>
    Effect.promise(() => client.quit().catch(() => "closed")))

const l1Hits = (worker: { readonly call: (op: string) => Effect.Effect<unknown, string> }) =>
  Effect.map(worker.call("stats"), (stats) => (stats as { readonly l1Hits: number }).l1Hits)

for (const mechanism of ["tracking", "bus"] as const) {
  describe(`tags across processes (${mechanism})`, () => {
    it.live("an invalidateTags in A, or another program's write of the tag key, makes B and C miss", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* startRedisServer()
        const raw = yield* rawClient(server.url)
        const [a, b, c] = yield* Effect.all(
          ["a", "b", "c"].map((name) =>
            startCacheWorker({
              redisUrl: server.url,
              cacheName: `tags-${name}`,
              l1Invalidation: mechanism,
              invalidationPingInterval: "200 millis"
            })
          ),
          { concurrency: "unbounded" }
        )
        for (const worker of [a!, b!, c!]) yield* awaitLinked(worker)

        yield* a!.call("set", { key: "user:1", value: "ada", tags: ["user:1", "users"] })
        yield* a!.call("set", { key: "user:2", value: "grace", tags: ["user:2", "users"] })
        // B serves user:1 from its L1 (awaited: the message for A's write may evict B's first copy).
        yield* pollUntil(
          () => "B never served user:1 from its L1",
          Effect.gen(function*() {
            const before = yield* l1Hits(b!)
            assert.deepStrictEqual(yield* readKey(b!, "user:1"), { found: true, value: "ada" })
            return (yield* l1Hits(b!)) > before
          })
        )
        assert.deepStrictEqual(yield* readKey(c!, "user:1"), { found: true, value: "ada" })

        yield* a!.call("invalidateTags", { tags: ["user:1"] })
        yield* eventuallyReads(b!, "user:1", { found: false })
        yield* eventuallyReads(c!, "user:1", { found: false })
        assert.deepStrictEqual(yield* readKey(b!, "user:2"), { found: true, value: "grace" })

        // Another program invalidates "users" by writing its tag key (milliseconds since the epoch).
        // Tracking reports any program's write; the bus only what instances announce.
        assert.deepStrictEqual(yield* readKey(c!, "user:2"), { found: true, value: "grace" })
        if (mechanism === "tracking") {
          yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2)))
          yield* Effect.promise(() => raw.set("cache:__tag:users", String(Date.now())))
        } else {
          yield* a!.call("invalidateTags", { tags: ["users"] })
        }
        yield* eventuallyReads(b!, "user:2", { found: false })
        yield* eventuallyReads(c!, "user:2", { found: false })

        // A clear leaves the tag keys: removing one would bring back what it invalidated.
        yield* b!.call("clear")
        assert.strictEqual(yield* Effect.promise(() => raw.exists("cache:__tag:user:1", "cache:__tag:users")), 2)
      })))

    it.live("an invalidateTags A makes while Redis is paused is replayed, and B, which held the entry in L1, misses", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* startRedisServer()
        const [a, b] = yield* Effect.all(
          ["a", "b"].map((name) =>
            startCacheWorker({
              redisUrl: server.url,
              cacheName: `tags-replay-${name}`,
              l1Invalidation: mechanism,
              invalidationPingInterval: "200 millis",
              commandTimeout: "300 millis"
            })
          ),
          { concurrency: "unbounded" }
        )
        for (const worker of [a!, b!]) yield* awaitLinked(worker)
        yield* a!.call("set", { key: "k", value: "v", tags: ["t"] })
        yield* eventuallyReads(b!, "k", { found: true, value: "v" })

        // Paused, the server keeps k; A's write of the tag key times out and is queued.
        yield* server.pause
        yield* a!.call("invalidateTags", { tags: ["t"] })
        assert.deepStrictEqual(yield* readKey(a!, "k"), { found: false }, "A's own L1 copy went at once")
        const pending = (yield* a!.call("status")) as { readonly mode: string }
        assert.strictEqual(pending.mode, "MemoryOnly")
        yield* server.resume
        yield* awaitLinked(a!)
        yield* awaitLinked(b!)
        // B may read k from Redis before A's replay lands; the replayed tag key then reaches it.
        yield* eventuallyReads(b!, "k", { found: false }, 15_000)
        const raw = yield* rawClient(server.url)
        assert.isNotNull(yield* Effect.promise(() => raw.getBuffer("cache:k")), "k itself is still in Redis")
        assert.strictEqual(yield* Effect.promise(() => raw.exists("cache:__tag:t")), 1)
      })))
  })
}
