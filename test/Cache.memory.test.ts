import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, Logger, Option, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { CacheLimits } from "../src/CacheOptions.js"
import { Cache, type CacheEvent } from "../src/index.js"

const withMemory = <A, E>(effect: Effect.Effect<A, E, Cache>, options: Parameters<typeof Cache.layerMemory>[0] = {}) =>
  effect.pipe(Effect.provide(Cache.layerMemory(options)))

class User extends Schema.Class<User>("test/User")({ id: Schema.Int, name: Schema.String, joined: Schema.Date }) {}

describe("Cache.layerMemory", () => {
  it.effect("get, set, delete, exists, ttl and clear", () =>
    withMemory(Effect.gen(function*() {
      assert.isTrue(Option.isNone(yield* Cache.get("a")))
      yield* Cache.set("a", { n: 1 })
      assert.deepStrictEqual(yield* Cache.get("a"), Option.some({ n: 1 }))
      yield* Cache.set("nothing", null)
      assert.deepStrictEqual(yield* Cache.get("nothing"), Option.some(null))
      assert.isTrue(yield* Cache.exists("a"))
      const ttl = yield* Cache.ttl("a")
      assert.strictEqual(Option.map(ttl, Duration.toMillis).pipe(Option.getOrThrow), 60 * 60 * 1000)
      assert.isTrue(yield* Cache.delete("a"))
      assert.isFalse(yield* Cache.delete("a"))
      assert.isFalse(yield* Cache.exists("a"))
      yield* Cache.clear()
      assert.isFalse(yield* Cache.exists("nothing"))
    })))

  it.effect("a hit returns the very object stored: no parse, no clone", () =>
    withMemory(Effect.gen(function*() {
      const value = { deep: { list: [1, 2, 3] } }
      yield* Cache.set("shared", value)
      const got = yield* Cache.get("shared")
      assert.strictEqual(Option.getOrThrow(got), value)
    })))

  it.effect("entries expire after their TTL under the TestClock", () =>
    withMemory(Effect.gen(function*() {
      yield* Cache.set("short", 1, { ttl: "10 seconds" })
      yield* Cache.set("default", 2)
      yield* TestClock.adjust("9 seconds")
      assert.isTrue(Option.isSome(yield* Cache.get("short")))
      assert.strictEqual(Option.map(yield* Cache.ttl("short"), Duration.toMillis).pipe(Option.getOrThrow), 1000)
      yield* TestClock.adjust("2 seconds")
      assert.isTrue(Option.isNone(yield* Cache.get("short")))
      assert.isTrue(Option.isNone(yield* Cache.ttl("short")))
      assert.isTrue(Option.isSome(yield* Cache.get("default")))
      yield* TestClock.adjust("5 minutes")
      assert.isTrue(Option.isNone(yield* Cache.get("default")))
    }), { defaultTtl: "5 minutes" }))

  it.effect("a bare number TTL means milliseconds", () =>
    withMemory(Effect.gen(function*() {
      yield* Cache.set("ms", 1, { ttl: 1500 })
      assert.strictEqual(Option.map(yield* Cache.ttl("ms"), Duration.toMillis).pipe(Option.getOrThrow), 1500)
    })))

  it.effect("bad keys, undefined values and non-positive TTLs are ValidationErrors naming the rule", () =>
    withMemory(Effect.gen(function*() {
      const empty = yield* Effect.flip(Cache.get(""))
      assert.strictEqual(empty._tag, "ValidationError")
      assert.include(empty.message, "must not be empty")
      const long = yield* Effect.flip(Cache.set("k".repeat(CacheLimits.maxKeyLength + 1), 1))
      assert.include(long.message, `at most ${CacheLimits.maxKeyLength} characters`)
      const undef = yield* Effect.flip(Cache.set("u", undefined))
      assert.strictEqual(undef._tag, "ValidationError")
      assert.include(undef.message, "undefined cannot be stored")
      for (const ttl of [0, -1, "0 seconds", "-5 seconds"] as const) {
        const error = yield* Effect.flip(Cache.set("t", 1, { ttl }))
        assert.strictEqual(error._tag, "ValidationError")
        assert.include(error.message, "must be positive")
        assert.isTrue(error._tag === "ValidationError" && error.issues[0]?.field === "ttl")
      }
      assert.isFalse(yield* Cache.exists("t"))
      const tooLong = yield* Effect.flip(Cache.set("t", 1, { ttl: "400 days" }))
      assert.include(tooLong.message, "at most 365 days")
    })))

  it.effect("values JSON would change are refused, not silently altered", () =>
    withMemory(Effect.gen(function*() {
      const error = yield* Effect.flip(Cache.set("d", { when: new Date(0) }))
      assert.strictEqual(error._tag, "SerializationError")
      assert.include(error.message, "$.when")
      assert.isTrue(Option.isNone(yield* Cache.get("d")))
    })))

  it.effect("the structured serializer keeps Date, Map, Set and BigInt", () =>
    withMemory(Effect.gen(function*() {
      const value = { when: new Date(5), map: new Map([["a", 1n]]), set: new Set([1]) }
      yield* Cache.set("s", value)
      assert.strictEqual(Option.getOrThrow(yield* Cache.get("s")), value)
    }), { serializer: "structured" }))

  it.effect("Schema-typed values: encoded on set, decoded on get, a misfit is a counted miss", () =>
    withMemory(Effect.gen(function*() {
      const ada = new User({ id: 1, name: "Ada", joined: new Date("2024-01-02T00:00:00Z") })
      yield* Cache.set("user", ada, { schema: User })
      const raw = Option.getOrThrow(yield* Cache.get("user"))
      assert.deepStrictEqual(raw, { id: 1, name: "Ada", joined: "2024-01-02T00:00:00.000Z" })
      const typed = Option.getOrThrow(yield* Cache.get("user", User))
      assert.instanceOf(typed, User)
      assert.strictEqual(typed.joined.getTime(), ada.joined.getTime())
      yield* Cache.set("not-a-user", { id: "x" })
      // a value that does not fit the reader's schema is a miss (onSchemaMismatch "miss", the default)
      assert.deepStrictEqual(yield* Cache.get("not-a-user", User), Option.none())
      assert.strictEqual((yield* Cache.stats()).schemaMismatches, 1)
      assert.strictEqual((yield* Cache.stats()).serializationErrors, 0)
    })))

  it.effect("LRU bound by entries; overwriting a key never evicts another", () =>
    withMemory(Effect.gen(function*() {
      yield* Cache.set("a", 1)
      yield* Cache.set("b", 2)
      yield* Cache.set("c", 3)
      yield* Cache.set("a", 10)
      const stats = yield* Cache.stats()
      assert.strictEqual(stats.l1.entries, 3)
      assert.strictEqual(stats.l1.evictions, 0)
      yield* Cache.get("b")
      yield* Cache.set("d", 4)
      assert.isFalse(yield* Cache.exists("c"))
      assert.isTrue(yield* Cache.exists("a"))
      assert.isTrue(yield* Cache.exists("b"))
      assert.strictEqual((yield* Cache.stats()).l1.evictions, 1)
    }), { maxEntries: 3 }))

  it.effect("bytes are the sum of serialized sizes, exactly", () =>
    withMemory(Effect.gen(function*() {
      yield* Cache.set("a", "x".repeat(100))
      yield* Cache.set("b", [1, 2, 3])
      assert.strictEqual((yield* Cache.stats()).l1.bytes, 102 + 7)
      yield* Cache.set("a", "y")
      assert.strictEqual((yield* Cache.stats()).l1.bytes, 3 + 7)
      yield* Cache.delete("b")
      assert.strictEqual((yield* Cache.stats()).l1.bytes, 3)
    })))

  it.effect("invalidatePattern: literal text by default, glob on request", () =>
    withMemory(Effect.gen(function*() {
      for (const key of ["user:1", "user:2", "user:*", "order:1", "a[1]"]) yield* Cache.set(key, key)
      assert.strictEqual(yield* Cache.invalidatePattern("user:*"), 1)
      assert.isTrue(yield* Cache.exists("user:1"))
      assert.strictEqual(yield* Cache.invalidatePattern("user:?", { glob: true }), 2)
      assert.strictEqual(yield* Cache.invalidatePattern("[1]"), 1)
      assert.isTrue(yield* Cache.exists("order:1"))
    })))

  it.effect("hit rate counts reads only", () =>
    withMemory(Effect.gen(function*() {
      for (let i = 0; i < 7; i++) yield* Cache.set(`k${i}`, i)
      for (let i = 0; i < 10; i++) yield* Cache.get(`k${i}`)
      const stats = yield* Cache.stats()
      assert.strictEqual(stats.l1Hits, 7)
      assert.strictEqual(stats.misses, 3)
      assert.closeTo(stats.hitRate, 0.7, 1e-9)
      assert.strictEqual((yield* Cache.status()).mode, "Memory")
    })))

  it.effect("callbacks run in registration order; a throwing one is logged and harms nothing", () => {
    const logs: Array<string> = []
    const logger = Logger.make<unknown, void>(({ message }) => {
      logs.push(Array.isArray(message) ? message.join(" ") : String(message))
    })
    return withMemory(Effect.gen(function*() {
      const calls: Array<string> = []
      yield* Cache.registerCallback("set_success", (key, _value, ttl) => calls.push(`first ${key} ${ttl}`))
      yield* Cache.registerCallback("set_success", () => {
        throw new Error("boom")
      })
      yield* Cache.registerCallback("set_success", (key) => calls.push(`third ${key}`))
      yield* Cache.registerCallback("get_success", (key, value) => calls.push(`hit ${key} ${String(value)}`))
      yield* Cache.registerCallback("get_miss", (key) => calls.push(`miss ${key}`))
      yield* Cache.registerCallback("delete_success", (key) => calls.push(`deleted ${key}`))
      yield* Cache.set("k", "v", { ttl: 1000 })
      yield* Cache.get("k")
      yield* Cache.get("nope")
      yield* Cache.delete("k")
      yield* Cache.delete("k")
      assert.deepStrictEqual(calls, ["first k 1000", "third k", "hit k v", "miss nope", "deleted k"])
      assert.isTrue(logs.some((line) => line.includes("Callback for event 'set_success' failed: boom")))
    }).pipe(Effect.provide(Logger.layer([logger]))))
  })

  it.effect("events as a Stream", () =>
    withMemory(Effect.gen(function*() {
      const cache = yield* Cache
      const collected = yield* cache.events.pipe(Stream.take(3), Stream.runCollect, Effect.forkChild({ startImmediately: true }))
      yield* Effect.yieldNow
      yield* cache.set("k", 1)
      yield* cache.get("k")
      yield* cache.get("z")
      const events = (yield* Fiber.join(collected)) as ReadonlyArray<CacheEvent>
      assert.deepStrictEqual(events.map((e) => e._tag), ["SetSuccess", "GetSuccess", "GetMiss"])
    })))

  it.effect("options are validated, every problem reported at once", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(Cache.layerMemory({
        maxEntries: 0,
        defaultTtl: 0,
        maxBytes: 1.5,
        // @ts-expect-error an unknown option is reported, not ignored
        colour: "blue"
      })))
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail")?.error : undefined
      assert.strictEqual(error?._tag, "ValidationError")
      const fields = error?._tag === "ValidationError" ? error.issues.map((i) => i.field) : []
      assert.includeMembers(fields, ["maxEntries", "defaultTtl", "maxBytes", "colour"])
      assert.include(error?.message ?? "", "maxEntries=0")
    }))
})

describe("Cache.getOrSet", () => {
  it.effect("computes on a miss, stores, and answers from the cache afterwards", () =>
    withMemory(Effect.gen(function*() {
      let calls = 0
      const lookup = Effect.sync(() => ++calls)
      assert.strictEqual(yield* Cache.getOrSet("n", lookup), 1)
      assert.strictEqual(yield* Cache.getOrSet("n", lookup), 1)
      assert.strictEqual(calls, 1)
      assert.strictEqual(Option.map(yield* Cache.ttl("n"), Duration.toMillis).pipe(Option.getOrThrow), 60 * 60 * 1000)
    })))

  it.effect("concurrent misses on one key share one lookup", () =>
    withMemory(Effect.gen(function*() {
      let calls = 0
      const lookup = Effect.sleep("1 second").pipe(Effect.as("v"), Effect.tap(() => Effect.sync(() => calls++)))
      const fiber = yield* Effect.all(
        [Cache.getOrSet("k", lookup), Cache.getOrSet("k", lookup), Cache.getOrSet("other", lookup)],
        { concurrency: "unbounded" }
      ).pipe(Effect.forkChild)
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* Fiber.join(fiber), ["v", "v", "v"])
      assert.strictEqual(calls, 2)
    })))

  it.effect("a failed lookup is not cached and reaches every waiter", () =>
    withMemory(Effect.gen(function*() {
      const failing = Effect.sleep("1 second").pipe(Effect.andThen(Effect.fail("backend down" as const)))
      const fiber = yield* Effect.all(
        [Effect.flip(Cache.getOrSet("k", failing)), Effect.flip(Cache.getOrSet("k", failing))],
        { concurrency: "unbounded" }
      ).pipe(Effect.forkChild)
      yield* TestClock.adjust("1 second")
      assert.deepStrictEqual(yield* Fiber.join(fiber), ["backend down", "backend down"])
      assert.isFalse(yield* Cache.exists("k"))
      assert.strictEqual(yield* Cache.getOrSet("k", Effect.succeed(2)), 2)
    })))

  it.effect("with a schema: decodes what it finds, encodes what it stores", () =>
    withMemory(Effect.gen(function*() {
      const joined = new Date("2020-01-01T00:00:00Z")
      const first = yield* Cache.getOrSet("u", Effect.succeed(new User({ id: 1, name: "A", joined })), { schema: User })
      const again = yield* Cache.getOrSet("u", Effect.die("not called"), { schema: User })
      assert.instanceOf(first, User)
      assert.instanceOf(again, User)
      assert.strictEqual(again.joined.getTime(), joined.getTime())
    })))
})
