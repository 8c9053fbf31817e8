import { assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, Ref, Schedule, type Scope } from "effect"
import * as Persistence from "effect/persistence/Persistence"
import { Cache, CacheBackingPersistence, type RedisCacheOptions, storeNamespace } from "../../src/index.js"
import { GetUser, program, User } from "../../examples/effect-persistence.js"
import { startRedisServer } from "../support/RedisServer.js"
import { awaitMode, awaitReplayed } from "../support/cache.js"
import { forEachTopology, freshTopology } from "../support/topologies.js"
import { pollUntil } from "../support/workers.js"
import { inAnotherProcess } from "./instances.js"

type Backing = Persistence.BackingPersistence["Service"]

const backingOf = <E>(layer: Layer.Layer<Persistence.BackingPersistence, E>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, Persistence.BackingPersistence))

const onRedis = (cache: RedisCacheOptions) =>
  backingOf(CacheBackingPersistence.layer().pipe(Layer.provide(Cache.layerRedis({ connectTimeout: "500 millis", ...cache }))))

type It<R> = {
  readonly effect: (name: string, self: () => Effect.Effect<unknown, unknown, R | Scope.Scope>) => void
}

/** What Effect's backing stores (memory, Redis, SQL, KeyValueStore) all do, asked of one. */
const backingBehaviour = <R>(it: It<R>, fresh: Effect.Effect<Backing, unknown, R | Scope.Scope>) => {
  const test = (name: string, body: (backing: Backing) => Effect.Effect<void, unknown, Scope.Scope>) =>
    it.effect(name, () => Effect.flatMap(fresh, body))

  test("get of a missing key is undefined; set then get", (backing) =>
    Effect.gen(function*() {
      const store = yield* backing.make("users")
      assert.strictEqual(yield* store.get("1"), undefined)
      yield* store.set("1", { _tag: "Success", value: { name: "Ada" } }, undefined)
      assert.deepStrictEqual(yield* store.get("1"), { _tag: "Success", value: { name: "Ada" } })
    }))

  test("getMany answers in the order asked, undefined for the missing", (backing) =>
    Effect.gen(function*() {
      const store = yield* backing.make("users")
      yield* store.setMany([["a", { v: 1 }, undefined], ["c", { v: 3 }, Duration.minutes(1)]])
      assert.deepStrictEqual(yield* store.getMany(["c", "b", "a"]), [{ v: 3 }, undefined, { v: 1 }])
    }))

  test("remove", (backing) =>
    Effect.gen(function*() {
      const store = yield* backing.make("users")
      yield* store.set("1", { v: 1 }, undefined)
      yield* store.remove("1")
      yield* store.remove("never-there")
      assert.strictEqual(yield* store.get("1"), undefined)
    }))

  test("clear empties its store only; store ids with ':' and '%' never overlap", (backing) =>
    Effect.gen(function*() {
      const a = yield* backing.make("a")
      const ab = yield* backing.make("a:b")
      const percent = yield* backing.make("a%3Ab")
      yield* a.set("b:x", { store: "a" }, undefined)
      yield* ab.set("x", { store: "a:b" }, undefined)
      yield* percent.set("x", { store: "a%3Ab" }, undefined)
      yield* ab.clear
      assert.deepStrictEqual(yield* a.get("b:x"), { store: "a" })
      assert.strictEqual(yield* ab.get("x"), undefined)
      assert.deepStrictEqual(yield* percent.get("x"), { store: "a%3Ab" })
    }))

  test("Persistence on it: an Exit round-trips through the request's schemas", (backing) =>
    Effect.gen(function*() {
      const persistence = yield* Effect.provideService(Layer.build(Persistence.layer), Persistence.BackingPersistence, backing)
        .pipe(Effect.map((context) => Context.get(context, Persistence.Persistence)))
      const store = yield* persistence.make({ storeId: "requests" })
      const request = new GetUser({ id: 7 })
      assert.strictEqual(yield* store.get(request), undefined)
      yield* store.set(request, Exit.succeed(new User({ id: 7, name: "Grace" })))
      const found = yield* store.get(request)
      assert.isTrue(found !== undefined && Exit.isSuccess(found))
      assert.deepStrictEqual(found, Exit.succeed(new User({ id: 7, name: "Grace" })))
      assert.deepStrictEqual(yield* store.getMany([new GetUser({ id: 8 }), request]), [undefined, found])
    }))
}

describe("Effect's Persistence.layerBackingMemory (the behaviour suite checked on Effect's own store)", () => {
  backingBehaviour(it, backingOf(Persistence.layerBackingMemory))
})

describe("CacheBackingPersistence on a memory-only cache", () => {
  backingBehaviour(it, backingOf(CacheBackingPersistence.layer().pipe(Layer.provide(Cache.layerMemory()))))
})

forEachTopology((it) => {
  describe("CacheBackingPersistence behaviour", () => {
    backingBehaviour(it, Effect.flatMap(freshTopology, (server) => onRedis({ ...server.connect(), enableL1: false })))
  })

  it.effect("keys are <keyPrefix><Effect's store namespace><key>; TTLs are exact, undefined is 365 days", () =>
    Effect.gen(function*() {
      const server = yield* freshTopology
      const store = yield* Effect.flatMap(onRedis(server.connect()), (backing) => backing.make("my:store"))
      assert.strictEqual(storeNamespace("my:store"), "my%3Astore:")
      yield* store.set("k", { v: 1 }, Duration.minutes(1))
      yield* store.set("forever", { v: 2 }, undefined)
      const minute = Number(yield* server.cli("PTTL", "cache:my%3Astore:k"))
      const forever = Number(yield* server.cli("PTTL", "cache:my%3Astore:forever"))
      assert.isTrue(minute > 0 && minute <= 60_000, `PTTL ${minute}`)
      assert.isTrue(forever > 364 * 86_400_000 && forever <= 365 * 86_400_000, `PTTL ${forever}`)
    }))

  it.effect("PersistedCache and RequestResolver.persisted: fresh ones (empty in-memory tiers) find the results in Redis", () =>
    Effect.gen(function*() {
      const server = yield* freshTopology
      const built = yield* Layer.build(
        CacheBackingPersistence.layerPersistence({ namespace: "persistence" }).pipe(
          Layer.provide(Cache.layerRedis({ ...server.connect(), enableL1: false }))
        )
      )
      const run = Effect.gen(function*() {
        const lookups = yield* Ref.make(0)
        const users = yield* program(lookups)
        return { names: users.map((user) => user.name), lookups: yield* Ref.get(lookups) }
      }).pipe(Effect.provideContext(built))
      const first = yield* run
      assert.deepStrictEqual(first, { names: ["user 1", "user 2", "user 3", "user 4"], lookups: 4 })
      // The persisted resolver completes its requests first and stores their results after.
      yield* pollUntil(
        () => "the resolver's results were not stored",
        Effect.map(server.cli("EXISTS", "cache:persistence:users-by-request:user-4"), (n) => n === "1")
      )
      const second = yield* run
      assert.deepStrictEqual(second, { names: ["user 1", "user 2", "user 3", "user 4"], lookups: 0 })
      // Another instance, in a process of its own, finds them too.
      assert.deepStrictEqual(
        yield* inAnotherProcess({ ...server.connect(), enableL1: false }, "persisted"),
        { names: ["user 1", "user 2", "user 3", "user 4"], lookups: 0 }
      )
    }))
}, ["standalone", "cluster"])

describe("CacheBackingPersistence errors", () => {
  it.effect("a cache error becomes a PersistenceError whose cause it is", () =>
    Effect.gen(function*() {
      const backing = yield* backingOf(
        CacheBackingPersistence.layer().pipe(Layer.provide(Cache.layerMemory({ maxValueBytes: 1024 })))
      )
      const store = yield* backing.make("big")
      const error = yield* Effect.flip(store.set("k", { text: "x".repeat(4096) }, undefined))
      assert.strictEqual(error._tag, "PersistenceError")
      assert.include(error.message, "Failed to set key k of store big")
      assert.strictEqual((error.cause as { _tag: string })._tag, "SerializationError")
    }))

  it.effect("a value that is not an object: get fails, getMany reads it as absent", () =>
    Effect.gen(function*() {
      const built = yield* Layer.build(CacheBackingPersistence.layer().pipe(Layer.provideMerge(Cache.layerMemory())))
      const cache = Context.get(built, Cache)
      const store = yield* Context.get(built, Persistence.BackingPersistence).make("s")
      yield* cache.set("s:k", "a string")
      assert.strictEqual((yield* Effect.flip(store.get("k")))._tag, "PersistenceError")
      assert.deepStrictEqual(yield* store.getMany(["k"]), [undefined])
    }))
})

describe("CacheBackingPersistence when Redis is killed mid-test", () => {
  it.live("PersistedCache keeps answering; what it stored meanwhile is replayed to Redis", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const built = yield* Layer.build(
        CacheBackingPersistence.layerPersistence().pipe(Layer.provideMerge(Cache.layerRedis({
          redisUrl: server.url,
          enableL1: false,
          commandTimeout: "300 millis",
          reconnectSchedule: Schedule.spaced("100 millis")
        })))
      )
      const cache = Context.get(built, Cache)
      const persistence = Context.get(built, Persistence.Persistence)
      const lookups = yield* Ref.make(0)
      const run = program(lookups).pipe(
        Effect.scoped,
        Effect.provideService(Persistence.Persistence, persistence)
      )
      yield* server.kill
      yield* awaitMode(cache, "MemoryOnly")
      const whileDown = yield* run
      assert.deepStrictEqual(whileDown.map((user) => user.name), ["user 1", "user 2", "user 3", "user 4"])
      assert.strictEqual(yield* Ref.get(lookups), 4)
      // Written while down: kept in memory (L1 off, but a queued write stays there) and still answered.
      yield* run
      assert.strictEqual(yield* Ref.get(lookups), 4)
      yield* server.restart
      yield* awaitReplayed(cache)
      assert.notStrictEqual(yield* server.cli("GET", "cache:users:user-1"), "")
    }))
})
