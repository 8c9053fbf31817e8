import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Queue, Schedule } from "effect"
import * as CircuitBreaker from "effect/persistence/CircuitBreaker"
import * as Persistence from "effect/persistence/Persistence"
import * as RateLimiter from "effect/persistence/RateLimiter"
import * as Redis from "effect/persistence/Redis"
import { Cache, CacheRedis, type RedisCacheOptions } from "../../src/index.js"
import { startRedisServer } from "../support/RedisServer.js"
import { awaitMode } from "../support/cache.js"
import { forEachTopology, freshTopology } from "../support/topologies.js"
import { inAnotherProcess } from "./instances.js"

const servicesOn = (options: RedisCacheOptions) =>
  Layer.build(
    CacheRedis.layer.pipe(Layer.provideMerge(Cache.layerRedis({ connectTimeout: "500 millis", ...options })))
  )

const redisOn = (options: RedisCacheOptions) => Effect.map(servicesOn(options), (context) => Context.get(context, Redis.Redis))

const counter = Redis.script((key: string, by: number) => [key, by], {
  numberOfKeys: 1,
  lua: `return redis.call("INCRBY", KEYS[1], ARGV[1])`
}).withReturnType<number>()

const limiterOn = (redis: Redis.Redis["Service"]) =>
  Effect.map(
    Layer.build(RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreRedis()), Layer.provide(Layer.succeed(Redis.Redis, redis)))),
    (context) => Context.get(context, RateLimiter.RateLimiter)
  )

const breakerOn = (redis: Redis.Redis["Service"]) =>
  Effect.map(
    Layer.build(
      CircuitBreaker.layer({ tripPolicy: CircuitBreaker.consecutive(2), openDuration: "1 hour" }).pipe(
        Layer.provide(CircuitBreaker.layerStoreRedis()),
        Layer.provide(Layer.succeed(Redis.Redis, redis))
      )
    ),
    (context) => Context.get(context, CircuitBreaker.CircuitBreaker)
  )

forEachTopology((it, topology) => {
  it.effect("send: commands and their replies; an error reply is a RedisError", () =>
    Effect.gen(function*() {
      const server = yield* freshTopology
      const redis = yield* redisOn(server.connect())
      assert.strictEqual(yield* redis.send("SET", "effect:k", "v"), "OK")
      assert.strictEqual(yield* redis.send("GET", "effect:k"), "v")
      assert.strictEqual(yield* redis.send("GET", "effect:missing"), null)
      assert.strictEqual(yield* server.cli("GET", "effect:k"), "v")
      const error = yield* Effect.flip(redis.send("INCR", "effect:k"))
      assert.strictEqual(error._tag, "RedisError")
      assert.include(String(error.cause), "not an integer")
    }))

  it.effect("eval: a script runs by EVALSHA, and again after SCRIPT FLUSH (NOSCRIPT reloads it)", () =>
    Effect.gen(function*() {
      const server = yield* freshTopology
      const redis = yield* redisOn(server.connect())
      const increment = redis.eval(counter)
      assert.strictEqual(yield* increment("{effect}:n", 2), 2)
      yield* server.everyMaster("SCRIPT", "FLUSH")
      assert.strictEqual(yield* increment("{effect}:n", 3), 5)
      assert.strictEqual(yield* increment("{other}:n", 1), 1)
    }))

  it.effect("subscribe: a message published with send arrives on the queue", () =>
    Effect.gen(function*() {
      const server = yield* freshTopology
      const redis = yield* redisOn(server.connect())
      const queue = yield* redis.subscribe("effect:channel")
      // The subscription is made before subscribe returns; publish until it is seen (a hang guard, not a timing).
      const published = yield* Effect.forkChild(
        redis.send("PUBLISH", "effect:channel", "hello").pipe(Effect.repeat(Schedule.spaced("50 millis")))
      )
      const message = yield* Queue.take(queue)
      assert.deepStrictEqual(message, { channel: "effect:channel", message: "hello" })
      yield* Fiber.interrupt(published)
    }))

  it.effect("reserve: a connection of its own, which can block", () =>
    Effect.gen(function*() {
      const server = yield* freshTopology
      const redis = yield* redisOn({ ...server.connect(), commandTimeout: "200 millis" })
      const connection = yield* redis.reserve
      const popped = yield* Effect.forkChild(connection.send<[string, string]>("BLPOP", "effect:list", "0"), {
        startImmediately: true
      })
      // Either order works: BLPOP blocks (past the 200 ms command timeout) until RPUSH, or finds the item.
      yield* redis.send("RPUSH", "effect:list", "item")
      const exit = yield* Fiber.await(popped)
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.deepStrictEqual(Exit.isSuccess(exit) ? exit.value : undefined, ["effect:list", "item"])
    }))

  it.effect("RateLimiter.layerStoreRedis: fixed window and token bucket, counted in Redis", () =>
    Effect.gen(function*() {
      const server = yield* freshTopology
      const limiter = yield* limiterOn(yield* redisOn(server.connect()))
      // A hash tag keeps a token bucket's two keys in one slot of a cluster.
      for (const algorithm of ["fixed-window", "token-bucket"] as const) {
        const key = `{${algorithm}}`
        const consume = limiter.consume({ algorithm, key, limit: 2, window: "1 hour", onExceeded: "fail" })
        assert.strictEqual((yield* consume).remaining, 1)
        assert.strictEqual((yield* consume).remaining, 0)
        const error = yield* Effect.flip(consume)
        assert.strictEqual(error._tag, "RateLimiterError")
        assert.strictEqual(error.reason._tag, "RateLimitExceeded")
      }
      assert.notStrictEqual(yield* server.cli("GET", "ratelimiter:{fixed-window}"), "")
    }))

  // Across processes on standalone and cluster (on Sentinel each process's discovery makes it slow, and the
  // store's logic is the same).
  if (topology !== "sentinel") {
    it.effect("RateLimiter: another instance, in a process of its own, shares the counts", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const limiter = yield* limiterOn(yield* redisOn(server.connect()))
        const consume = limiter.consume({ key: "{shared}", limit: 3, window: "1 hour", onExceeded: "fail" })
        assert.strictEqual((yield* consume).remaining, 2)
        assert.deepStrictEqual(yield* inAnotherProcess(server.connect(), "consume", { key: "{shared}", limit: 3 }), {
          remaining: 1
        })
        assert.strictEqual((yield* consume).remaining, 0)
        assert.deepStrictEqual(yield* inAnotherProcess(server.connect(), "consume", { key: "{shared}", limit: 3 }), {
          refused: "RateLimitExceeded"
        })
      }))

    it.effect("CircuitBreaker.layerStoreRedis: trips after the failures; another process sees it open", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const breaker = yield* breakerOn(yield* redisOn(server.connect()))
        const failing = breaker.execute(Effect.fail("boom"), { key: "upstream" })
        assert.strictEqual(yield* Effect.flip(failing), "boom")
        assert.strictEqual((yield* breaker.state("upstream"))._tag, "Closed")
        assert.strictEqual(yield* Effect.flip(failing), "boom")
        assert.strictEqual((yield* breaker.state("upstream"))._tag, "Open")
        // The other instance does not run the effect: the circuit is open in Redis.
        assert.deepStrictEqual(yield* inAnotherProcess(server.connect(), "breaker", { key: "upstream" }), {
          state: "Open",
          ran: "CircuitOpen"
        })
        assert.deepStrictEqual(yield* inAnotherProcess(server.connect(), "breaker", { key: "other" }), {
          state: "Closed",
          ran: "ran"
        })
      }))
  }

  if (topology === "standalone") {
    it.effect("Persistence.layerRedis runs on it too (Effect's own Redis persistence)", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const redis = yield* redisOn(server.connect())
        const backing = yield* Effect.map(
          Layer.build(Persistence.layerBackingRedis.pipe(Layer.provide(Layer.succeed(Redis.Redis, redis)))),
          (context) => Context.get(context, Persistence.BackingPersistence)
        )
        const store = yield* backing.make("effect")
        yield* store.setMany([["a", { v: 1 }, undefined], ["b", { v: 2 }, undefined]])
        assert.deepStrictEqual(yield* store.getMany(["b", "a"]), [{ v: 2 }, { v: 1 }])
      }))
  }
}, ["standalone", "cluster", "sentinel"])

describe("CacheRedis when Redis is killed mid-test", () => {
  it.live("commands fail at once with a RedisError (the limiter with a RateLimiterError) and work again after restart", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const context = yield* servicesOn({
        redisUrl: server.url,
        commandTimeout: "300 millis",
        reconnectSchedule: Schedule.spaced("100 millis")
      })
      const redis = Context.get(context, Redis.Redis)
      const cache = Context.get(context, Cache)
      const limiter = yield* limiterOn(redis)
      const breaker = yield* breakerOn(redis)
      const consume = limiter.consume({ key: "k", limit: 10, window: "1 hour", onExceeded: "fail" })
      assert.strictEqual((yield* consume).remaining, 9)
      const queue = yield* redis.subscribe("effect:channel")
      yield* server.kill
      yield* awaitMode(cache, "MemoryOnly")
      const sent = yield* Effect.flip(redis.send("GET", "k"))
      assert.strictEqual(sent._tag, "RedisError")
      assert.include(String(sent.cause), "memory-only")
      const limited = yield* Effect.flip(consume)
      assert.strictEqual(limited.reason._tag, "RateLimitStoreError")
      // The breaker's default is to let calls through when its store fails.
      assert.strictEqual(yield* breaker.execute(Effect.succeed("ran"), { key: "upstream" }), "ran")
      // The subscription's connection went with the server: its queue fails.
      const lost = yield* Effect.flip(Queue.take(queue))
      assert.strictEqual((lost as Redis.RedisError)._tag, "RedisError")
      yield* server.restart
      yield* awaitMode(cache, "Connected")
      assert.strictEqual((yield* consume).remaining, 9)
      assert.strictEqual(yield* redis.send("PING"), "PONG")
    }))
})
