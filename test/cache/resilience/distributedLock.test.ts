import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Stream } from "effect"
import { Redis } from "ioredis"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { cacheAclRule } from "../../../src/security/aclRule.js"
import type { CacheEvent } from "../../../src/index.js"
import { startRedisServer, type RedisServerHandle } from "../../support/RedisServer.js"
import { redisCache } from "../../support/cache.js"
import { awaitLinked, startCacheWorker } from "../../support/workers.js"

const rawClient = (server: RedisServerHandle) =>
  Effect.acquireRelease(
    Effect.sync(() => new Redis(server.port, server.host)),
    (client) => Effect.promise(() => client.quit())
  )

const counterOf = (client: Redis, key: string) => Effect.promise(() => client.get(key).then((n) => Number(n ?? 0)))

describe("distributedLock against a real redis-server", () => {
  it.live("3 processes x 1,000 concurrent callers on one cold key: the lookup runs once", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const raw = yield* rawClient(server)
      const workers = yield* Effect.all(
        Array.from({ length: 3 }, (_, i) => startCacheWorker({ redisUrl: server.url, cacheName: `w${i}`, distributedLock: true })),
        { concurrency: "unbounded" }
      )
      // Each process runs its 1,000 callers itself (one message each way), so all of them are in flight at once.
      const answers = yield* Effect.all(
        workers.map((worker) =>
          worker.call("getOrSetCounted", {
            key: "cold",
            value: "computed",
            counter: "lookups:cold",
            sleepMs: 500,
            callers: 1000
          })
        ),
        { concurrency: "unbounded" }
      )
      const flat = answers.flatMap((perProcess) => perProcess as ReadonlyArray<unknown>)
      assert.strictEqual(flat.length, 3000)
      assert.isTrue(flat.every((answer) => answer === "computed"))
      const runs = yield* counterOf(raw, "lookups:cold")
      console.log(`distributedLock: 3 processes x 1,000 callers, lookup runs: ${runs}`)
      assert.strictEqual(runs, 1)
      // the lock is gone once its owner released it
      assert.deepStrictEqual(yield* Effect.promise(() => raw.keys("cache:*")), ["cache:cold"])
      const stats = yield* Effect.forEach(workers, (worker) => worker.call("stats"))
      assert.strictEqual(stats.length, 3)
    })))

  for (const mechanism of ["tracking", "bus"] as const) {
    it.live(`a waiter in another process is woken by the holder's write (${mechanism}), not by its poll`, () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* startRedisServer()
        const raw = yield* rawClient(server)
        const options = { redisUrl: server.url, distributedLock: true, l1Invalidation: mechanism } as const
        const holder = yield* startCacheWorker({ ...options, cacheName: "holder" })
        const waiter = yield* startCacheWorker({ ...options, cacheName: "waiter" })
        yield* awaitLinked(waiter)
        const held = yield* Effect.forkChild(
          holder.call("getOrSetCounted", { key: "w", value: "from holder", counter: "lookups:w", sleepMs: 700 })
        )
        const deadline = Date.now() + 10_000
        while ((yield* counterOf(raw, "lookups:w")) < 1 && Date.now() < deadline) yield* Effect.sleep("10 millis")
        // While linked the fallback poll comes a second after the wait starts; the holder stores
        // within 700 ms, so only a notification wakes the waiter before its poll.
        const answer = yield* waiter.call("getOrSetCounted", { key: "w", value: "from waiter", counter: "lookups:w" })
        assert.strictEqual(answer, "from holder")
        assert.strictEqual(yield* Fiber.join(held), "from holder")
        assert.strictEqual(yield* counterOf(raw, "lookups:w"), 1)
        const { resilience } = (yield* waiter.call("stats")) as {
          readonly resilience: { readonly locksWaited: number; readonly lockWakeups: number }
        }
        assert.strictEqual(resilience.locksWaited, 1)
        assert.isAtLeast(resilience.lockWakeups, 1)
      })))
  }

  it.live("the lock holder killed mid-lookup: the others proceed after lockTtl", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const raw = yield* rawClient(server)
      const options = { redisUrl: server.url, distributedLock: true, lockTtl: "1 second", lockTimeout: "20 seconds" } as const
      const holder = yield* startCacheWorker({ ...options, cacheName: "holder" })
      const other = yield* startCacheWorker({ ...options, cacheName: "other" })
      const held = yield* Effect.forkChild(
        Effect.exit(holder.call("getOrSetCounted", { key: "k", value: "never", counter: "lookups:k", sleepMs: 60_000 }))
      )
      const deadline = Date.now() + 10_000
      while ((yield* counterOf(raw, "lookups:k")) < 1 && Date.now() < deadline) yield* Effect.sleep("10 millis")
      const waiting = yield* Effect.forkChild(
        other.call("getOrSetCounted", { key: "k", value: "from other", counter: "lookups:k", sleepMs: 0 })
      )
      yield* holder.kill
      assert.strictEqual(yield* Fiber.join(waiting), "from other")
      assert.strictEqual(yield* counterOf(raw, "lookups:k"), 2)
      yield* Fiber.interrupt(held)
    })))

  it.live("an instance that cannot take the lock waits and reads the holder's value; lockTimeout bounds the wait", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const a = yield* redisCache({ redisUrl: server.url, distributedLock: true })
      const b = yield* redisCache({ redisUrl: server.url, distributedLock: true, lockTimeout: 300 })
      const seen: Array<CacheEvent> = []
      yield* b.events.pipe(Stream.runForEach((event) => Effect.sync(() => seen.push(event))), Effect.forkScoped)
      let runs = 0
      const slow = (value: string) => Effect.as(Effect.andThen(Effect.sync(() => runs++), Effect.sleep("400 millis")), value)
      // b's invalidation link is up (else it polls every 50 ms, and no wake-up can be seen).
      while (!(yield* b.status).invalidation.linked) yield* Effect.sleep("20 millis")
      const first = yield* Effect.forkChild(a.getOrSet("k", slow("from a")))
      yield* Effect.sleep("50 millis")
      assert.strictEqual(yield* b.getOrSet("k", slow("from b"), { lockTimeout: "5 seconds" }), "from a")
      assert.strictEqual(yield* Fiber.join(first), "from a")
      assert.strictEqual(runs, 1)
      // b was woken by the tracking invalidation of a's write (its fallback poll is a second
      // away while linked, and a's lookup takes 400 ms), not by its poll.
      assert.isAtLeast((yield* b.stats).resilience.lockWakeups, 1)
      // A holder far slower than lockTimeout (300 ms): the waiter looks up itself. The margin is
      // wide so that a loaded machine cannot let the holder finish first (then the waiter
      // rightly reads the holder's value).
      const second = yield* Effect.forkChild(a.getOrSet("k2", Effect.as(Effect.sleep("5 seconds"), "a2")))
      yield* Effect.sleep("50 millis")
      assert.strictEqual(yield* b.getOrSet("k2", slow("b2")), "b2")
      yield* Fiber.interrupt(second)
      const lock = (yield* b.stats).resilience
      assert.deepInclude(lock, { locksWaited: 2, lockTimeouts: 1 })
      assert.strictEqual((yield* a.stats).resilience.locksAcquired, 2)
      assert.isTrue(seen.some((e) => e._tag === "DistributedLock" && e.outcome === "timedOut"))
    })))

  it.live("Redis unreachable: the in-process single flight alone, no error", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({ redisUrl: server.url, distributedLock: true, commandTimeout: "200 millis" })
      yield* server.kill
      let runs = 0
      const answers = yield* Effect.all(
        Array.from({ length: 20 }, () => cache.getOrSet("k", Effect.as(Effect.sync(() => runs++), "v"))),
        { concurrency: "unbounded" }
      )
      assert.isTrue(answers.every((answer) => answer === "v"))
      assert.strictEqual(runs, 1)
      assert.deepStrictEqual(yield* cache.get("k"), Option.some("v"))
    })))

  it.live("under the cache's ACL rule (no command beyond it): the lock is taken, waited for and released", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-redis-cache-lock-acl-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const aclFile = path.join(dir, "users.acl")
      fs.writeFileSync(aclFile, `user default off\nuser cache on >cache-Password-0123 ${cacheAclRule({ prefix: "cache:" })}\n`)
      const server = yield* startRedisServer({ aclFile })
      const redisUrl = `redis://cache:cache-Password-0123@127.0.0.1:${server.port}`
      const a = yield* redisCache({ redisUrl, distributedLock: true })
      const b = yield* redisCache({ redisUrl, distributedLock: true })
      let runs = 0
      const slow = Effect.as(Effect.andThen(Effect.sync(() => runs++), Effect.sleep("300 millis")), "v")
      const first = yield* Effect.forkChild(a.getOrSet("k", slow))
      yield* Effect.sleep("50 millis")
      assert.strictEqual(yield* b.getOrSet("k", slow), "v")
      assert.strictEqual(yield* Fiber.join(first), "v")
      assert.strictEqual(runs, 1)
      assert.deepInclude((yield* b.stats).resilience, { locksWaited: 1, lockTimeouts: 0 })
      assert.strictEqual((yield* a.stats).resilience.locksAcquired, 1)
    })))
})
