/**
 * Cross-instance L1 coherence, both mechanisms (tracking and the bus), tested the way it is
 * used: each cache instance is a separate Node process (test/support/workers.ts) on one
 * real redis-server.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { cacheAclRule, type RedisCacheOptions } from "../../src/index.js"
import { type RedisServerHandle, startRedisServer } from "../support/RedisServer.js"
import {
  awaitLinked,
  type CacheWorker,
  eventuallyReads,
  type Found,
  pollUntil,
  readKey,
  startCacheWorker,
  workerStatus
} from "../support/workers.js"

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))
const read = readKey
const status = workerStatus
const eventually = eventuallyReads

// Instances share the key prefix (that is what makes them one cache) but not their name, which
// names their connections in CLIENT LIST.
const instances = (server: RedisServerHandle, count: number, options: RedisCacheOptions = {}) =>
  Effect.gen(function*() {
    const workers = yield* Effect.all(
      Array.from({ length: count }, (_, i) =>
        startCacheWorker({
          redisUrl: server.url,
          cacheName: `instance-${i}`,
          invalidationPingInterval: "200 millis",
          ...options
        })),
      { concurrency: "unbounded" }
    )
    for (const worker of workers) yield* awaitLinked(worker)
    return workers
  })

/** Reads `key` twice on each worker, so that each holds an L1 copy. */
const warm = (workers: ReadonlyArray<CacheWorker>, key: string, expected: Found) =>
  Effect.forEach(workers, (worker) =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* read(worker, key), expected)
      assert.deepStrictEqual(yield* read(worker, key), expected)
    }), { discard: true })

/**
 * After a batch of A's own (its invalidations received counted from `before`): only B's write
 * reached A, and every key of the batch is then served from A's L1. B's write is a barrier: it
 * reaches A after anything A's own batch could have sent it, since one subscriber receives its
 * messages in order.
 */
const noEchoThenServedFromL1 = (a: CacheWorker, b: CacheWorker, keys: ReadonlyArray<string>, before: number) =>
  Effect.gen(function*() {
    yield* warm([a], "probe", { found: false })
    yield* b.call("set", { key: "probe", value: "from b" })
    yield* eventually(a, "probe", { found: true, value: "from b" })
    assert.strictEqual((yield* status(a)).invalidation.invalidationsReceived - before, 1)
    const stats = (yield* a.call("stats")) as { readonly l1Hits: number; readonly l2Hits: number }
    for (const key of keys) assert.deepStrictEqual(yield* read(a, key), { found: true, value: key })
    const after = (yield* a.call("stats")) as { readonly l1Hits: number; readonly l2Hits: number }
    assert.strictEqual(after.l1Hits - stats.l1Hits, keys.length)
    assert.strictEqual(after.l2Hits, stats.l2Hits)
  })

for (const mechanism of ["tracking", "bus"] as const) {
describe(`L1 coherence across processes (${mechanism})`, () => {
  it.live("after A's set, delete, clear and invalidatePattern, B and C stop serving the old value", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const [a, b, c] = yield* instances(server, 3, { l1Invalidation: mechanism })
      yield* a!.call("set", { key: "k", value: 1 })
      yield* warm([b!, c!], "k", { found: true, value: 1 })
      // The message for A's write may reach B after B read the new value and evict that copy
      // (conservative, never stale), so B's L1 hit is awaited rather than expected at once.
      yield* pollUntil(
        () => "B never served k from its L1",
        Effect.gen(function*() {
          assert.deepStrictEqual(yield* read(b!, "k"), { found: true, value: 1 })
          const stats = (yield* b!.call("stats")) as { readonly l1Hits: number }
          return stats.l1Hits >= 1
        })
      )

      yield* a!.call("set", { key: "k", value: 2 })
      yield* eventually(b!, "k", { found: true, value: 2 })
      yield* eventually(c!, "k", { found: true, value: 2 })

      yield* warm([b!, c!], "k", { found: true, value: 2 })
      yield* a!.call("delete", { key: "k" })
      yield* eventually(b!, "k", { found: false })
      yield* eventually(c!, "k", { found: false })

      for (const key of ["user:1", "user:2", "keep"]) yield* a!.call("set", { key, value: key })
      yield* warm([b!, c!], "user:1", { found: true, value: "user:1" })
      yield* warm([b!, c!], "keep", { found: true, value: "keep" })
      yield* a!.call("invalidatePattern", { pattern: "user:" })
      yield* eventually(b!, "user:1", { found: false })
      yield* eventually(c!, "user:1", { found: false })
      assert.deepStrictEqual(yield* read(b!, "keep"), { found: true, value: "keep" })

      yield* a!.call("clear")
      yield* eventually(b!, "keep", { found: false })
      yield* eventually(c!, "keep", { found: false })
    })))

  it.live("an instance's own writes do not evict its own L1 copy (NOLOOP, or its own bus messages)", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const [a] = yield* instances(server, 1, { l1Invalidation: mechanism })
      yield* a!.call("set", { key: "own", value: "mine" })
      yield* sleep(100)
      assert.deepStrictEqual(yield* read(a!, "own"), { found: true, value: "mine" })
      const stats = (yield* a!.call("stats")) as { readonly l1Hits: number; readonly l2Hits: number }
      assert.strictEqual(stats.l1Hits, 1)
      assert.strictEqual(stats.l2Hits, 0)
      assert.strictEqual((yield* status(a!)).invalidation.invalidationsReceived, 0)
    })))

  it.live("concurrent writes of one instance (one batched command) do not evict its own L1 copies", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const [a, b] = yield* instances(server, 2, { l1Invalidation: mechanism })
      const keys = Array.from({ length: 20 }, (_, i) => `batch:${i}`)
      const before = (yield* status(a!)).invalidation.invalidationsReceived
      yield* a!.call("setConcurrently", { keys })
      yield* noEchoThenServedFromL1(a!, b!, keys, before)
    })))

  it.live("deleteMany of one instance (one batched command) is not echoed back: the sets after it keep their L1 copies", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const [a, b] = yield* instances(server, 2, { l1Invalidation: mechanism })
      const keys = Array.from({ length: 20 }, (_, i) => `gone:${i}`)
      yield* a!.call("setConcurrently", { keys })
      const before = (yield* status(a!)).invalidation.invalidationsReceived
      assert.strictEqual(yield* a!.call("deleteMany", { keys }), keys.length)
      yield* a!.call("setConcurrently", { keys })
      yield* noEchoThenServedFromL1(a!, b!, keys, before)
    })))

  it.live("the server paused during another instance's write: after it resumes, no instance serves an older value", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const [a, b] = yield* instances(server, 2, { l1Invalidation: mechanism, commandTimeout: "300 millis" })
      yield* a!.call("set", { key: "k", value: "before" })
      yield* warm([b!], "k", { found: true, value: "before" })
      yield* server.pause
      // A's write times out and is queued for replay (acknowledged to A's caller as written).
      yield* a!.call("set", { key: "k", value: "during" })
      yield* sleep(800)
      yield* server.resume
      yield* awaitLinked(a!, 20_000)
      yield* awaitLinked(b!, 20_000)
      yield* eventually(b!, "k", { found: true, value: "during" })
      yield* eventually(a!, "k", { found: true, value: "during" })
    })))

  it.live("a Redis restart (empty) reaches every L1", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const [a, b] = yield* instances(server, 2, { l1Invalidation: mechanism })
      yield* a!.call("set", { key: "lost", value: "before restart" })
      yield* warm([a!, b!], "lost", { found: true, value: "before restart" })
      yield* server.restart
      yield* awaitLinked(a!, 20_000)
      yield* awaitLinked(b!, 20_000)
      yield* eventually(a!, "lost", { found: false })
      yield* eventually(b!, "lost", { found: false })
    })))

  // A bus sees only what caches of this library announce: this one is for tracking alone.
  if (mechanism === "tracking") {
    it.live("changes by other programs reach every L1: DEL, PEXPIRE, FLUSHALL", () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* startRedisServer()
        const [a, b] = yield* instances(server, 2)
        for (const key of ["deleted", "expiring", "flushed"]) yield* a!.call("set", { key, value: key })
        yield* warm([a!, b!], "deleted", { found: true, value: "deleted" })
        yield* warm([a!, b!], "expiring", { found: true, value: "expiring" })
        yield* server.cli("DEL", "cache:deleted")
        yield* eventually(a!, "deleted", { found: false })
        yield* eventually(b!, "deleted", { found: false })
        yield* server.cli("PEXPIRE", "cache:expiring", "50")
        yield* eventually(a!, "expiring", { found: false })
        yield* eventually(b!, "expiring", { found: false })

        yield* warm([a!, b!], "flushed", { found: true, value: "flushed" })
        yield* server.cli("FLUSHALL")
        yield* eventually(a!, "flushed", { found: false })
        yield* eventually(b!, "flushed", { found: false })
      })))
  }

  it.live("a killed subscriber or data connection flushes the victim's L1; it then reads the last acknowledged write", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const [a, b] = yield* instances(server, 2, { l1Invalidation: mechanism })
      yield* a!.call("set", { key: "k", value: "v1" })
      yield* warm([b!], "k", { found: true, value: "v1" })
      const killByName = (name: string) =>
        Effect.gen(function*() {
          const clients = (yield* server.cli("CLIENT", "LIST")).split("\n")
          const line = clients.find((client) => client.includes(`name=${name} `))
          assert.isDefined(line, `no connection named ${name}: ${clients.join("\n")}`)
          yield* server.cli("CLIENT", "KILL", "ID", /id=(\d+)/.exec(line!)![1]!)
        })

      const flushesBefore = (yield* status(b!)).invalidation.flushes
      yield* killByName("effect-redis-cache:instance-1:invalidations")
      yield* a!.call("set", { key: "k", value: "v2" })
      yield* eventually(b!, "k", { found: true, value: "v2" })
      yield* awaitLinked(b!)
      assert.isAbove((yield* status(b!)).invalidation.flushes, flushesBefore)

      yield* warm([b!], "k", { found: true, value: "v2" })
      yield* killByName("effect-redis-cache:instance-1")
      yield* a!.call("set", { key: "k", value: "v3" })
      yield* awaitLinked(b!, 20_000)
      yield* eventually(b!, "k", { found: true, value: "v3" })
    })))

})
}

describe("L1 coherence: the other modes", () => {
  it.live("tracking refused by the ACL falls back to the bus, and stays coherent", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      // a user who may publish but not track: cacheAclRule for the bus, plus the tracking channel
      const rule = cacheAclRule({ prefix: "cache:", l1Invalidation: "bus" })
      yield* server.cli("ACL", "SETUSER", "app", "on", ">app-password", ...rule.split(" "))
      const url = server.url.replace("redis://", "redis://app:app-password@")
      const [a, b] = yield* Effect.all([
        startCacheWorker({ redisUrl: url, cacheName: "a", invalidationPingInterval: "200 millis" }),
        startCacheWorker({ redisUrl: url, cacheName: "b", invalidationPingInterval: "200 millis" })
      ])
      yield* awaitLinked(a)
      yield* awaitLinked(b)
      assert.strictEqual((yield* status(b)).invalidation.mechanism, "bus")
      yield* a.call("set", { key: "k", value: 1 })
      yield* warm([b], "k", { found: true, value: 1 })
      yield* a.call("set", { key: "k", value: 2 })
      yield* eventually(b, "k", { found: true, value: 2 })
      const log = yield* server.cli("ACL", "LOG")
      assert.notInclude(log, "publish", log)
    })))

  it.live("l1Invalidation: \"off\" keeps an L1 copy for its TTL (the documented window)", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const a = yield* startCacheWorker({ redisUrl: server.url, l1Invalidation: "off" })
      const b = yield* startCacheWorker({ redisUrl: server.url, l1Invalidation: "off" })
      yield* a.call("set", { key: "k", value: 1 })
      yield* warm([b], "k", { found: true, value: 1 })
      yield* a.call("set", { key: "k", value: 2 })
      yield* sleep(200)
      assert.deepStrictEqual(yield* read(b, "k"), { found: true, value: 1 })
      const current = yield* status(b)
      assert.strictEqual(current.invalidation.linked, true)
      assert.strictEqual(current.invalidation.mechanism, "off")
    })))
})
