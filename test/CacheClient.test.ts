/**
 * The Promise facade: the operations of the cache as Promises, typed errors as
 * rejections, an L1 hit answered without a fiber but counted and evented as the Effect
 * API does, and, on a real redis-server, values written by another process read through
 * Redis and an L1 copy evicted when that process changes the key.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { Cache, CacheClient } from "../src/index.js"
import { startRedisServer } from "./support/RedisServer.js"
import { awaitLinked, startCacheWorker } from "./support/workers.js"

const closing = (client: CacheClient) =>
  Effect.acquireRelease(Effect.succeed(client), (c) => Effect.promise(() => c.close()))

const makeClient = (layer: Parameters<typeof CacheClient.make>[0]) =>
  Effect.flatMap(Effect.promise(() => CacheClient.make(layer)), closing)

const rejection = (promise: () => Promise<unknown>) =>
  Effect.promise(() => promise().then(() => assert.fail("expected a rejection"), (error: unknown) => error))

describe("CacheClient on the memory layer", () => {
  it.live("set, get, delete and getOrSet as Promises; a miss is undefined", () =>
    Effect.scoped(Effect.gen(function*() {
      const client = yield* makeClient(Cache.layerMemory())
      yield* Effect.promise(() => client.set("user:1", { name: "Ada" }))
      assert.deepStrictEqual(yield* Effect.promise(() => client.get("user:1")), { name: "Ada" })
      assert.strictEqual(yield* Effect.promise(() => client.get("nobody")), undefined)
      assert.isTrue(yield* Effect.promise(() => client.delete("user:1")))
      assert.isFalse(yield* Effect.promise(() => client.delete("user:1")))
      let lookups = 0
      const lookup = () => new Promise<number>((resolve) => setTimeout(() => resolve(++lookups), 20))
      const answers = yield* Effect.promise(() => Promise.all(Array.from({ length: 50 }, () => client.getOrSet("n", lookup))))
      assert.isTrue(answers.every((answer) => answer === 1))
      assert.strictEqual(lookups, 1)
      const User = Schema.Struct({ name: Schema.String })
      yield* Effect.promise(() => client.set("typed", { name: "Grace" }))
      assert.deepStrictEqual(yield* Effect.promise(() => client.get("typed", User)), { name: "Grace" })
    })))

  it.live("an L1 hit is counted and evented as through the Effect API", () =>
    Effect.scoped(Effect.gen(function*() {
      const client = yield* makeClient(Cache.layerMemory())
      yield* Effect.promise(() => client.set("k", "v"))
      const before = yield* Effect.promise(() => client.run(Cache.stats()))
      for (let i = 0; i < 10; i++) assert.strictEqual(yield* Effect.promise(() => client.get("k")), "v")
      assert.strictEqual(yield* Effect.promise(() => client.get("missing")), undefined)
      const after = yield* Effect.promise(() => client.run(Cache.stats()))
      assert.strictEqual(after.l1Hits - before.l1Hits, 10)
      assert.strictEqual(after.misses - before.misses, 1)
      const seen: Array<string> = []
      yield* Effect.promise(() => client.run(Cache.registerCallback("get_success", (key) => void seen.push(key))))
      yield* Effect.promise(() => client.get("k"))
      assert.deepStrictEqual(seen, ["k"])
    })))

  it.live("typed errors reject the Promise; a lookup's rejection comes back as it was, and nothing is stored", () =>
    Effect.scoped(Effect.gen(function*() {
      const client = yield* makeClient(Cache.layerMemory())
      const badKey = (yield* rejection(() => client.get(""))) as { _tag: string }
      assert.strictEqual(badKey._tag, "ValidationError")
      const reason = new Error("upstream down")
      assert.strictEqual(yield* rejection(() => client.getOrSet("k", () => Promise.reject(reason))), reason)
      assert.strictEqual(yield* Effect.promise(() => client.get("k")), undefined)
      const badLayer = (yield* rejection(() => CacheClient.make(Cache.layerMemory({ maxEntries: -1 })))) as { _tag: string }
      assert.strictEqual(badLayer._tag, "ValidationError")
    })))

  it.live("after close, calls reject", () =>
    Effect.gen(function*() {
      const client = yield* Effect.promise(() => CacheClient.make(Cache.layerMemory()))
      yield* Effect.promise(() => client.set("k", 1))
      yield* Effect.promise(() => client.close())
      yield* rejection(() => client.set("k", 2))
    }))
})

describe("CacheClient on a real redis-server", () => {
  it.live("reads what another process wrote, and its L1 copy is evicted when that process changes the key", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const writer = yield* startCacheWorker({ redisUrl: server.url, cacheName: "writer" })
      const client = yield* makeClient(Cache.layerRedis({ redisUrl: server.url, cacheName: "facade" }))
      yield* awaitLinked(writer)
      // The facade's L1 takes copies only once its own invalidation link is up.
      const linkDeadline = Date.now() + 10_000
      while (!(yield* Effect.promise(() => client.run(Cache.status()))).invalidation.linked) {
        if (Date.now() > linkDeadline) assert.fail("the facade's invalidation link did not come up")
        yield* Effect.sleep("10 millis")
      }
      yield* writer.call("set", { key: "price", value: 1 })
      assert.strictEqual(yield* Effect.promise(() => client.get("price")), 1) // from Redis
      assert.strictEqual(yield* Effect.promise(() => client.get("price")), 1) // from L1
      const stats = yield* Effect.promise(() => client.run(Cache.stats()))
      assert.strictEqual(stats.l2Hits, 1)
      assert.isAtLeast(stats.l1Hits, 1)
      yield* writer.call("set", { key: "price", value: 2 })
      const deadline = Date.now() + 10_000
      while ((yield* Effect.promise(() => client.get("price"))) !== 2) {
        if (Date.now() > deadline) assert.fail("the facade kept serving its old L1 copy")
        yield* Effect.sleep("10 millis")
      }
    })))
})
