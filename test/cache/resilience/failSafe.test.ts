import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Option, Stream } from "effect"
import { Redis } from "ioredis"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { cacheAclRule } from "../../../src/security/aclRule.js"
import { TestClock } from "effect/testing"
import { Cache, type CacheEvent, type CacheService, InfrastructureError } from "../../../src/index.js"
import { startRedisServer } from "../../support/RedisServer.js"
import { redisCache } from "../../support/cache.js"

const memoryCache = (options: Parameters<typeof Cache.layerMemory>[0] = {}) =>
  Effect.map(Layer.build(Cache.layerMemory(options)), (context) => Context.get(context, Cache))

const boom = Effect.fail(new InfrastructureError({ message: "backend down", context: {} }))

const collect = (cache: CacheService) =>
  Effect.gen(function*() {
    const seen: Array<CacheEvent> = []
    yield* cache.events.pipe(Stream.runForEach((event) => Effect.sync(() => seen.push(event))), Effect.forkScoped)
    yield* Effect.yieldNow
    return seen
  })

const failSafe = { ttl: "1 minute", staleFor: "10 minutes", staleOnError: true } as const

describe("fail-safe (memory layer, TestClock)", () => {
  it.effect("a failing lookup gets the stale value; get, exists and ttl see no entry; the throttle holds the lookup back", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache()
      const seen = yield* collect(cache)
      assert.strictEqual(yield* cache.getOrSet("k", Effect.succeed("v1"), failSafe), "v1")
      yield* TestClock.adjust("2 minutes")
      // past its TTL: a miss for everyone but getOrSet's fail-safe
      assert.deepStrictEqual(yield* cache.get("k"), Option.none())
      assert.isFalse(yield* cache.exists("k"))
      assert.deepStrictEqual(yield* cache.ttl("k"), Option.none())

      assert.strictEqual(yield* cache.getOrSet("k", boom, failSafe), "v1")
      let runs = 0
      const counted = Effect.sync(() => ++runs).pipe(Effect.as("v2"))
      // within failSafeThrottle (30 s): served stale without a lookup
      yield* TestClock.adjust("29 seconds")
      assert.strictEqual(yield* cache.getOrSet("k", counted, failSafe), "v1")
      assert.strictEqual(runs, 0)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(yield* cache.getOrSet("k", counted, failSafe), "v2")
      assert.strictEqual(runs, 1)
      assert.deepStrictEqual(yield* cache.get("k"), Option.some("v2"))

      const stats = (yield* cache.stats).resilience
      assert.strictEqual(stats.failSafeActivations, 1)
      assert.strictEqual(stats.staleServed, 2)
      yield* Effect.yieldNow
      const tags = seen.filter((e) => e._tag === "StaleServed" || e._tag === "FailSafeActivated")
      assert.deepStrictEqual(tags, [
        { _tag: "FailSafeActivated", key: "k", error: "InfrastructureError" },
        { _tag: "StaleServed", key: "k", cause: "lookupFailed" },
        { _tag: "StaleServed", key: "k", cause: "throttled" }
      ])
    })))

  it.effect("without staleOnError, or past staleFor, or with no stale copy, the lookup's error is the caller's", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache()
      yield* cache.getOrSet("k", Effect.succeed("v1"), failSafe)
      yield* TestClock.adjust("2 minutes")
      const plain = yield* Effect.flip(cache.getOrSet("k", boom, { staleFor: "10 minutes" }))
      assert.strictEqual(plain._tag, "InfrastructureError")
      yield* TestClock.adjust("10 minutes")
      assert.strictEqual((yield* Effect.flip(cache.getOrSet("k", boom, failSafe)))._tag, "InfrastructureError")
      assert.strictEqual((yield* Effect.flip(cache.getOrSet("cold", boom, failSafe)))._tag, "InfrastructureError")
    })))

  it.effect("a lookup that dies is served stale only with staleOnDefect", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache({ staleFor: "10 minutes", staleOnError: true, failSafeThrottle: 0 })
      yield* cache.getOrSet("k", Effect.succeed("v1"), { ttl: "1 minute" })
      yield* TestClock.adjust("2 minutes")
      const died = yield* Effect.exit(cache.getOrSet("k", Effect.die("bug")))
      assert.strictEqual(died._tag, "Failure")
      assert.strictEqual(yield* cache.getOrSet("k", Effect.die("bug"), { staleOnDefect: true }), "v1")
    })))

  it.effect("an entry written without staleFor is gone at its TTL, as before", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache()
      yield* cache.getOrSet("k", Effect.succeed("v1"), { ttl: "1 minute" })
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual((yield* Effect.flip(cache.getOrSet("k", boom, { staleOnError: true })))._tag, "InfrastructureError")
      assert.strictEqual((yield* cache.stats).l1.entries, 0)
    })))

  it.effect("stale entries leave L1 when their grace is over (sweep) and on invalidatePattern", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache({ sweepInterval: "1 minute" })
      yield* cache.set("a", 1, { ttl: "1 minute", staleFor: "5 minutes" })
      yield* cache.set("b", 2, { ttl: "1 minute", staleFor: "5 minutes" })
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual((yield* cache.stats).l1.entries, 2)
      assert.strictEqual(yield* cache.invalidatePattern("a"), 1)
      assert.strictEqual((yield* Effect.flip(cache.getOrSet("a", boom, failSafe)))._tag, "InfrastructureError")
      yield* TestClock.adjust("5 minutes")
      assert.strictEqual((yield* cache.stats).l1.entries, 0)
    })))
})

describe("fail-safe against a real redis-server", () => {
  it.live("the stale entry lives TTL + staleFor in Redis; another instance's get misses it, its getOrSet serves it", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const writer = yield* redisCache({ redisUrl: server.url })
      yield* writer.getOrSet("k", Effect.succeed("v1"), { ttl: 300, staleFor: "1 minute" })
      yield* Effect.sleep("500 millis")
      const reader = yield* redisCache({ redisUrl: server.url, staleFor: "1 minute" })
      assert.deepStrictEqual(yield* reader.get("k"), Option.none())
      assert.isFalse(yield* reader.exists("k"))
      assert.deepStrictEqual(yield* reader.ttl("k"), Option.none())
      const raw = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis(server.port, server.host, { lazyConnect: false })),
        (client) => Effect.promise(() => client.quit())
      )
      const physical = yield* Effect.promise(() => raw.pttl("cache:k"))
      assert.isAbove(physical, 50_000)
      assert.strictEqual(yield* reader.getOrSet("k", boom, { staleOnError: true }), "v1")
      assert.strictEqual((yield* reader.stats).resilience.failSafeActivations, 1)
      // a fresh write is a hit again, with its logical TTL
      yield* reader.getOrSet("k2", Effect.succeed("x"), { ttl: "1 minute" })
      const ttl = Duration.toMillis(Option.getOrThrow(yield* reader.ttl("k2")))
      assert.isTrue(ttl > 50_000 && ttl <= 60_000, String(ttl))
    })))

  it.live("Redis paused and the lookup failing: L1's stale copy answers", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({ redisUrl: server.url, commandTimeout: "200 millis", staleOnError: true })
      yield* cache.getOrSet("k", Effect.succeed("v1"), { ttl: 300, staleFor: "1 minute" })
      yield* Effect.sleep("500 millis")
      yield* server.pause
      const value = yield* cache.getOrSet("k", boom, { staleFor: "1 minute" })
      yield* server.resume
      assert.strictEqual(value, "v1")
      assert.strictEqual((yield* cache.stats).resilience.failSafeActivations, 1)
    })))
})

describe("stale on Redis error (real redis-server)", () => {
  it.live("the leader's Redis read fails with an InfrastructureError: L1's stale copy answers, no lookup", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-redis-cache-stale-acl-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const aclFile = path.join(dir, "users.acl")
      // a user that may write but not GET: every read of Redis fails with a NOPERM reply
      const noGet = cacheAclRule({ prefix: "cache:" }).replace("+get ", "")
      fs.writeFileSync(aclFile, `user default off\nuser cache on >cache-Password-0123 ${noGet}\n`)
      const server = yield* startRedisServer({ aclFile })
      const cache = yield* redisCache({
        redisUrl: `redis://cache:cache-Password-0123@127.0.0.1:${server.port}`,
        staleOnError: true,
        l1Invalidation: "off"
      })
      yield* cache.set("k", "v1", { ttl: 200, staleFor: "1 minute" })
      yield* Effect.sleep("400 millis")
      const plain = yield* Effect.flip(cache.getOrSet("k", Effect.succeed("v2"), { staleOnError: false }))
      assert.strictEqual(plain._tag, "InfrastructureError")
      const seen = yield* collect(cache)
      let runs = 0
      assert.strictEqual(yield* cache.getOrSet("k", Effect.sync(() => `v${++runs}`)), "v1")
      assert.strictEqual(runs, 0)
      yield* Effect.yieldNow
      assert.isTrue(seen.some((e) => e._tag === "StaleServed" && e.cause === "redisError"), JSON.stringify(seen))
    })))
})
