import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Schedule, type Scope } from "effect"
import * as KeyValueStore from "effect/persistence/KeyValueStore"
import { Cache, CacheKeyValueStore, type CacheKeyValueStoreOptions, type RedisCacheOptions } from "../../src/index.js"
import { startRedisServer } from "../support/RedisServer.js"
import { awaitMode, awaitReplayed } from "../support/cache.js"
import { forEachTopology, freshTopology } from "../support/topologies.js"
import { kvBehaviour } from "./kvBehaviour.js"

const storeOf = <E>(layer: Layer.Layer<KeyValueStore.KeyValueStore, E>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, KeyValueStore.KeyValueStore))

const onRedis = (cache: RedisCacheOptions, options: CacheKeyValueStoreOptions = { namespace: "kv" }) =>
  storeOf(CacheKeyValueStore.layer(options).pipe(Layer.provideMerge(Cache.layerRedis({ connectTimeout: "500 millis", ...cache }))))

describe("Effect's KeyValueStore.layerMemory (the behaviour suite checked on Effect's own store)", () => {
  kvBehaviour(it, storeOf(KeyValueStore.layerMemory))
})

describe("CacheKeyValueStore on a memory-only cache", () => {
  kvBehaviour(it, storeOf(CacheKeyValueStore.layer({ namespace: "kv" }).pipe(Layer.provide(Cache.layerMemory()))))
})

describe("CacheKeyValueStore on a memory-only cache, without a namespace", () => {
  kvBehaviour(it, storeOf(CacheKeyValueStore.layer().pipe(Layer.provide(Cache.layerMemory()))))
})

forEachTopology((it) => {
  describe("CacheKeyValueStore behaviour", () => {
    kvBehaviour(it, Effect.flatMap(freshTopology, (server) => onRedis(server.connect())))
  })

  it.effect("keys lists what is in Redis, not only L1, and only under the store's namespace", () =>
    Effect.gen(function*() {
      const server = yield* freshTopology
      const writer = yield* onRedis(server.connect())
      const reader = yield* onRedis({ ...server.connect(), l1MaxEntries: 1 })
      for (let i = 0; i < 50; i++) yield* writer.set(`k${i}`, String(i))
      const outside = yield* onRedis(server.connect(), { namespace: "other" })
      yield* outside.set("k0", "not mine")
      assert.strictEqual(yield* reader.size, 50)
      assert.strictEqual(yield* outside.size, 1)
      assert.strictEqual(yield* reader.get("k49"), "49")
    }))

  it.effect("the ttl option is every entry's TTL; the default is the cache's defaultTtl", () =>
    Effect.gen(function*() {
      const server = yield* freshTopology
      const short = yield* onRedis(server.connect(), { namespace: "short", ttl: "1 minute" })
      const byDefault = yield* onRedis({ ...server.connect(), defaultTtl: "2 hours" }, { namespace: "default" })
      yield* short.set("a", "1")
      yield* byDefault.set("a", "1")
      const shortTtl = Number(yield* server.cli("PTTL", "cache:short:a"))
      const defaultTtl = Number(yield* server.cli("PTTL", "cache:default:a"))
      assert.isTrue(shortTtl > 0 && shortTtl <= 60_000, `PTTL ${shortTtl}`)
      assert.isTrue(defaultTtl > 60 * 60_000 && defaultTtl <= 2 * 60 * 60_000, `PTTL ${defaultTtl}`)
    }))
}, ["standalone", "cluster"])

describe("CacheKeyValueStore options and errors", () => {
  it.effect("a bad ttl fails the layer with a ValidationError on ttl", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(storeOf(CacheKeyValueStore.layer({ ttl: "400 days" }).pipe(Layer.provide(Cache.layerMemory()))))
      assert.isTrue(Exit.isFailure(exit))
      assert.include(JSON.stringify(exit), "ttl")
    }))

  it.effect("a cache error becomes a KeyValueStoreError with the method and key", () =>
    Effect.gen(function*() {
      const kv = yield* storeOf(CacheKeyValueStore.layer().pipe(Layer.provide(Cache.layerMemory())))
      const error = yield* Effect.flip(kv.set("", "empty key"))
      assert.strictEqual(error._tag, "KeyValueStoreError")
      assert.strictEqual(error.method, "set")
      assert.strictEqual(error.key, "")
      assert.strictEqual((error.cause as { _tag: string })._tag, "ValidationError")
    }))
})

describe("CacheKeyValueStore when Redis is killed mid-test", () => {
  it.live("get/set go on (L1, replay); keys fails with a KeyValueStoreError; all is back after restart", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const built = yield* Layer.build(
        CacheKeyValueStore.layer({ namespace: "kv" }).pipe(
          Layer.provideMerge(Cache.layerRedis({
            redisUrl: server.url,
            commandTimeout: "300 millis",
            reconnectSchedule: Schedule.spaced("100 millis")
          }))
        )
      ) as Effect.Effect<Context.Context<KeyValueStore.KeyValueStore | Cache>, never, Scope.Scope>
      const kv = Context.get(built, KeyValueStore.KeyValueStore)
      const cache = Context.get(built, Cache)
      yield* kv.set("before", "1")
      yield* server.kill
      yield* kv.set("during", "2")
      assert.strictEqual(yield* kv.get("before"), "1")
      assert.strictEqual(yield* kv.get("during"), "2")
      yield* awaitMode(cache, "MemoryOnly")
      const error = yield* Effect.flip(kv.keys)
      assert.strictEqual(error._tag, "KeyValueStoreError")
      assert.strictEqual(error.method, "keys")
      assert.include(error.message, "unavailable")
      yield* server.restart
      yield* awaitReplayed(cache)
      assert.deepStrictEqual([...(yield* kv.keys)].sort(), ["during"])
      assert.strictEqual(yield* server.cli("EXISTS", "cache:kv:during"), "1")
    }))
})
