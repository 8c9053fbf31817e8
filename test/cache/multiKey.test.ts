/**
 * The multi-key operations: getMany, setMany, deleteMany, getOrSetMany and the request
 * resolver, in memory and against a real redis-server (round trips counted with
 * INFO commandstats, single flight against getOrSet, bad input, degradation).
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Context, Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Request, Schema, type Scope } from "effect"
import { Redis } from "ioredis"
import { Cache, type CacheError, type CacheService, SerializationError, ValidationError } from "../../src/index.js"
import { startRedisCluster } from "../support/Cluster.js"
import { type RedisServerHandle, startRedisServer } from "../support/RedisServer.js"
import { awaitMode, awaitReplayed, redisCache } from "../support/cache.js"
import { commandStats as countCommands } from "../support/commandStats.js"

const memoryCache = Effect.map(Layer.build(Cache.layerMemory()), (context) => Context.get(context, Cache)) as Effect.Effect<
  CacheService,
  never,
  Scope.Scope
>

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const keysUpTo = (count: number, name: string) => Array.from({ length: count }, (_, i) => `${name}:${i}`)

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) return assert.fail("expected a failure, got a value")
  assert.isFalse(Cause.hasDies(exit.cause), `a defect instead of a typed failure: ${Cause.pretty(exit.cause)}`)
  return Cause.squash(exit.cause) as E
}

const validationOf = <A, E>(exit: Exit.Exit<A, E>): ValidationError => {
  const error = failureOf(exit)
  assert.instanceOf(error, ValidationError)
  return error as ValidationError
}

/** Calls of Redis commands since the last `CONFIG RESETSTAT`; a batch is one script (writes, deletes) or one MGET (reads). */
const commandStats = (server: Pick<RedisServerHandle, "cli">) =>
  Effect.map(countCommands(server), (stats) => ({ ...stats, batches: stats.scripts + stats.of("mget") }))

const rawClient = (url: string) =>
  Effect.acquireRelease(Effect.sync(() => new Redis(url)), (client) => Effect.promise(() => client.quit().catch(() => "closed")))

const User = Schema.Struct({ id: Schema.Int, name: Schema.String })

/** The rules that hold whichever tier answers. */
const basicRules = (cache: CacheService) =>
  Effect.gen(function*() {
    yield* cache.set("a", 1)
    yield* cache.set("c", 3)
    assert.deepStrictEqual(yield* cache.getMany(["a", "b", "c", "a"]), [
      Option.some(1),
      Option.none(),
      Option.some(3),
      Option.some(1)
    ])
    assert.deepStrictEqual(yield* cache.getMany([]), [])

    // setMany: per-entry options over the call's; a key given twice keeps its last value.
    yield* cache.setMany([
      { key: "x", value: "one" },
      { key: "y", value: { id: 1, name: "Ada" }, options: { ttl: "2 minutes", schema: User } },
      { key: "x", value: "two" }
    ], { ttl: "1 minute" })
    assert.deepStrictEqual(yield* cache.getMany(["x", "y"]), [Option.some("two"), Option.some({ id: 1, name: "Ada" })])
    assert.isAtMost(Duration.toMillis(Option.getOrThrow(yield* cache.ttl("x"))), 60_000)
    assert.isAbove(Duration.toMillis(Option.getOrThrow(yield* cache.ttl("y"))), 60_000)
    yield* cache.setMany([])

    // A schema: decoded per key; a value that does not fit is a miss, as for get.
    assert.deepStrictEqual(yield* cache.getMany(["y", "x", "none"], User), [
      Option.some({ id: 1, name: "Ada" }),
      Option.none(),
      Option.none()
    ])

    // deleteMany: how many existed; duplicates count once.
    assert.strictEqual(yield* cache.deleteMany(["a", "b", "x", "a"]), 2)
    assert.deepStrictEqual(yield* cache.getMany(["a", "x", "c"]), [Option.none(), Option.none(), Option.some(3)])
    assert.strictEqual(yield* cache.deleteMany([]), 0)

    // getOrSetMany: one lookup for the keys missing in both tiers; an absent answer is not stored.
    const asked: Array<ReadonlyArray<string>> = []
    const lookupMany = (missing: ReadonlyArray<string>) =>
      Effect.sync(() => {
        asked.push(missing)
        return missing.filter((key) => key !== "ghost").map((key) => [key, `looked up ${key}` as string] as const)
      })
    const answered: ReadonlyArray<Option.Option<unknown>> = yield* cache.getOrSetMany(
      ["c", "p", "ghost", "q", "p"],
      lookupMany,
      { ttl: "1 minute" }
    )
    assert.deepStrictEqual(answered, [
      Option.some(3),
      Option.some("looked up p"),
      Option.none(),
      Option.some("looked up q"),
      Option.some("looked up p")
    ])
    assert.deepStrictEqual(asked, [["p", "ghost", "q"]])
    assert.deepStrictEqual(yield* cache.get("p"), Option.some("looked up p"))
    assert.isTrue(Option.isNone(yield* cache.get("ghost")))
    // Everything present: no lookup.
    yield* cache.getOrSetMany(["c", "p", "q"], lookupMany)
    assert.strictEqual(asked.length, 1)
    // A Map is an answer too; an adaptive TTL gets each value.
    const fromMap = yield* cache.getOrSetMany(
      ["m1", "m2"],
      (missing) => Effect.succeed(new Map(missing.map((key) => [key, key.length]))),
      { ttl: (n) => `${n} minutes` }
    )
    assert.deepStrictEqual(fromMap, [Option.some(2), Option.some(2)])
    assert.isTrue(Option.isSome(yield* cache.ttl("m1")))
  })

/** Bad input fails with a ValidationError that names the field and the index, and writes nothing. */
const badInputRules = (cache: CacheService) =>
  Effect.gen(function*() {
    const badKey = validationOf(yield* Effect.exit(cache.getMany(["fine", "", "x".repeat(5000)])))
    assert.deepStrictEqual(badKey.issues.map((issue) => issue.field), ["keys[1]", "keys[2]"])
    assert.strictEqual(validationOf(yield* Effect.exit(cache.deleteMany(["ok", "\uD800"]))).issues[0]?.field, "keys[1]")
    assert.strictEqual(
      validationOf(yield* Effect.exit(cache.getMany("abc" as unknown as ReadonlyArray<string>))).issues[0]?.field,
      "keys"
    )
    const lookups: Array<unknown> = []
    const lookup = (missing: ReadonlyArray<string>) =>
      Effect.sync(() => {
        lookups.push(missing)
        return []
      })
    assert.strictEqual(validationOf(yield* Effect.exit(cache.getOrSetMany(["a", ""], lookup))).issues[0]?.field, "keys[1]")
    assert.strictEqual(
      validationOf(yield* Effect.exit(cache.getOrSetMany(["a"], lookup, { ttl: 0 }))).issues[0]?.field,
      "ttl"
    )
    assert.deepStrictEqual(lookups, [])

    const cases: ReadonlyArray<readonly [string, ReadonlyArray<{ key: string; value: unknown; options?: object }>]> = [
      ["entries[1].key", [{ key: "w1", value: 1 }, { key: "", value: 2 }]],
      ["entries[2].ttl", [{ key: "w1", value: 1 }, { key: "w2", value: 2 }, { key: "w3", value: 3, options: { ttl: -5 } }]],
      ["entries[1].ttlJitter", [{ key: "w1", value: 1 }, { key: "w2", value: 2, options: { ttlJitter: "forever" } }]],
      ["entries[1].staleFor", [{ key: "w1", value: 1 }, { key: "w2", value: 2, options: { staleFor: -1 } }]],
      ["entries[1].value", [{ key: "w1", value: 1 }, { key: "w2", value: undefined }]]
    ]
    for (const [field, entries] of cases) {
      const error = validationOf(yield* Effect.exit(cache.setMany(entries)))
      assert.strictEqual(error.issues[0]?.field, field, error.message)
    }
    // A value the schema cannot encode, or one above maxValueBytes: the entry's SerializationError.
    const notAUser = failureOf(yield* Effect.exit(cache.setMany([
      { key: "w1", value: 1 },
      { key: "w2", value: { id: "x" }, options: { schema: User } }
    ])))
    assert.instanceOf(notAUser, SerializationError)
    assert.strictEqual((notAUser as SerializationError).key, "w2")
    const tooLarge = failureOf(yield* Effect.exit(cache.setMany([{ key: "w1", value: 1 }, { key: "w2", value: "x".repeat(5000) }])))
    assert.instanceOf(tooLarge, SerializationError)
    assert.strictEqual((tooLarge as SerializationError).key, "w2")
    assert.deepStrictEqual(yield* cache.getMany(["w1", "w2", "w3"]), [Option.none(), Option.none(), Option.none()])
  })

describe("multi-key operations in memory", () => {
  it.effect("getMany, setMany, deleteMany and getOrSetMany answer in key order", () => Effect.flatMap(memoryCache, basicRules))

  it.effect("bad input is a typed error naming the entry; nothing is written", () =>
    Effect.gen(function*() {
      const cache = Context.get(yield* Layer.build(Cache.layerMemory({ maxValueBytes: 2048 })), Cache)
      yield* badInputRules(cache)
    }))

  it.effect("namespaces wrap them: keys stay under <name>:, lookupMany sees the caller's keys", () =>
    Effect.gen(function*() {
      const cache = yield* memoryCache
      const users = yield* cache.namespace("users")
      yield* users.setMany([{ key: "1", value: "ada" }, { key: "2", value: "grace" }])
      assert.deepStrictEqual(yield* cache.getMany(["users:1", "users:2"]), [Option.some("ada"), Option.some("grace")])
      assert.deepStrictEqual(yield* users.getMany(["2", "1"]), [Option.some("grace"), Option.some("ada")])
      const asked: Array<ReadonlyArray<string>> = []
      const found = yield* users.getOrSetMany(["1", "3"], (missing) =>
        Effect.sync(() => {
          asked.push(missing)
          return missing.map((key) => [key, `user ${key}` as string] as const)
        }))
      assert.deepStrictEqual(found, [Option.some("ada"), Option.some("user 3")])
      assert.deepStrictEqual(asked, [["3"]])
      assert.deepStrictEqual(yield* cache.get("users:3"), Option.some("user 3"))
      assert.strictEqual(yield* users.deleteMany(["1", "3", "9"]), 2)
      assert.deepStrictEqual(yield* cache.getMany(["users:1", "users:2"]), [Option.none(), Option.some("grace")])
      // A bad key is refused, not turned into a good one by the prefix.
      assert.strictEqual(
        validationOf(yield* Effect.exit(users.setMany([{ key: undefined as unknown as string, value: 1 }]))).issues[0]?.field,
        "entries[0].key"
      )
    }))
})

describe("getOrSetMany: single flight per key with getOrSet", () => {
  it.live("a getOrSet on a key getOrSetMany is looking up waits for it; one it did not answer looks up itself", () =>
    Effect.gen(function*() {
      const cache = yield* memoryCache
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const many = yield* cache.getOrSetMany(["a", "b", "ghost"], (missing) =>
        Effect.gen(function*() {
          yield* Deferred.succeed(started, undefined)
          yield* Deferred.await(release)
          return missing.filter((key) => key !== "ghost").map((key) => [key, `many ${key}` as string] as const)
        })).pipe(Effect.forkChild({ startImmediately: true }))
      yield* Deferred.await(started)
      let singleLookups = 0
      const single = (key: string) =>
        cache.getOrSet(key, Effect.sync(() => {
          singleLookups++
          return `single ${key}`
        })).pipe(Effect.forkChild({ startImmediately: true }))
      const a = yield* single("a")
      const ghost = yield* single("ghost")
      yield* Deferred.succeed(release, undefined)
      assert.deepStrictEqual(yield* Fiber.join(many), [Option.some("many a"), Option.some("many b"), Option.none()])
      assert.strictEqual(yield* Fiber.join(a), "many a")
      assert.strictEqual(yield* Fiber.join(ghost), "single ghost")
      assert.strictEqual(singleLookups, 1)
    }))

  it.live("getOrSetMany waits for a getOrSet already looking up one of its keys, and asks lookupMany for the rest", () =>
    Effect.gen(function*() {
      const cache = yield* memoryCache
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const single = yield* cache.getOrSet("a", Effect.gen(function*() {
        yield* Deferred.succeed(started, undefined)
        yield* Deferred.await(release)
        return "single a"
      })).pipe(Effect.forkChild({ startImmediately: true }))
      yield* Deferred.await(started)
      const asked: Array<ReadonlyArray<string>> = []
      const many = yield* cache.getOrSetMany(["a", "b"], (missing) =>
        Effect.sync(() => {
          asked.push(missing)
          return missing.map((key) => [key, `many ${key}` as string] as const)
        })).pipe(Effect.forkChild({ startImmediately: true }))
      // Two getOrSetMany over the same keys at once: the second waits on the first.
      const again = yield* cache.getOrSetMany(["b", "a"], (missing) =>
        Effect.sync(() => {
          asked.push(missing)
          return missing.map((key) => [key, `again ${key}` as string] as const)
        })).pipe(Effect.forkChild({ startImmediately: true }))
      yield* Deferred.succeed(release, undefined)
      assert.deepStrictEqual(yield* Fiber.join(many), [Option.some("single a"), Option.some("many b")])
      assert.deepStrictEqual(yield* Fiber.join(again), [Option.some("many b"), Option.some("single a")])
      assert.deepStrictEqual(asked, [["b"]])
      assert.strictEqual(yield* Fiber.join(single), "single a")
    }))

  it.live("a failing lookupMany fails every waiter of its keys, and nothing is cached", () =>
    Effect.gen(function*() {
      const cache = yield* memoryCache
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const many = yield* cache.getOrSetMany(["a", "b"], () =>
        Effect.gen(function*() {
          yield* Deferred.succeed(started, undefined)
          yield* Deferred.await(release)
          return yield* Effect.fail("source down" as const)
        })).pipe(Effect.exit, Effect.forkChild({ startImmediately: true }))
      yield* Deferred.await(started)
      const waiter = yield* cache.getOrSet("b", Effect.succeed("never")).pipe(Effect.exit, Effect.forkChild({ startImmediately: true }))
      yield* Deferred.succeed(release, undefined)
      assert.strictEqual(failureOf(yield* Fiber.join(many)), "source down")
      // The waiter gets the leader's error, as a getOrSet waiting on another getOrSet would.
      assert.strictEqual(failureOf(yield* Fiber.join(waiter)) as unknown, "source down")
      assert.deepStrictEqual(yield* cache.getMany(["a", "b"]), [Option.none(), Option.none()])
      // Interrupted mid-lookup: a later caller leads the keys again.
      const stuck = yield* cache.getOrSetMany(["a"], () => Effect.never).pipe(Effect.forkChild({ startImmediately: true }))
      yield* Fiber.interrupt(stuck)
      assert.strictEqual(yield* cache.getOrSet("a", Effect.succeed("after")), "after")
    }))
})

class UserNotFound extends Schema.TaggedError<UserNotFound>()("UserNotFound", { id: Schema.Int }) {}
interface GetUser extends Request.Request<string, UserNotFound | CacheError> {
  readonly _tag: "GetUser"
  readonly id: number
}
const GetUser = Request.tagged<GetUser>("GetUser")

describe("Cache.resolver", () => {
  it.live("Effect.request batches go through the cache: one lookupMany per batch, for the misses only", () =>
    Effect.gen(function*() {
      const cache = yield* memoryCache
      const batches: Array<ReadonlyArray<number>> = []
      const resolver = yield* cache.resolver({
        key: (request: GetUser) => `user:${request.id}`,
        lookupMany: (requests) =>
          Effect.sync(() => {
            batches.push(requests.map((request) => request.id))
            return requests.filter((request) => request.id !== 404).map((request) => [`user:${request.id}`, `user ${request.id}` as string] as const)
          }),
        onMissing: (request) => new UserNotFound({ id: request.id })
      })
      const getUser = (id: number) => Effect.request(GetUser({ id }), resolver)
      const first = yield* Effect.all([getUser(1), getUser(2), getUser(1)], { concurrency: "unbounded" })
      assert.deepStrictEqual(first, ["user 1", "user 2", "user 1"])
      assert.deepStrictEqual(batches, [[1, 2]])
      const second = yield* Effect.all([getUser(2), getUser(3), Effect.exit(getUser(404))], { concurrency: "unbounded" })
      assert.deepStrictEqual(second.slice(0, 2), ["user 2", "user 3"])
      assert.instanceOf(failureOf(second[2] as Exit.Exit<string, unknown>), UserNotFound)
      assert.deepStrictEqual(batches, [[1, 2], [3, 404]])
    }))
})

describe("multi-key operations against a real redis-server", () => {
  it.live("the same rules and refusals, and bad input writes nothing in Redis", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      yield* basicRules(yield* redisCache({ redisUrl: server.url }))
      yield* server.cli("FLUSHALL")
      yield* badInputRules(yield* redisCache({ redisUrl: server.url, maxValueBytes: 2048 }))
      assert.strictEqual(yield* server.cli("DBSIZE"), "0")
    }))

  it.live("one command per 32 keys: setMany, then getMany by a cache whose L1 is empty, then from its L1", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      // The bus: a tracked connection sends batched writes as plain SETs, one per key (NOLOOP
      // does not cover scripts), which RedisTier.batching.test.ts checks.
      const writer = yield* redisCache({ redisUrl: server.url, l1Invalidation: "bus" })
      const reader = yield* redisCache({ redisUrl: server.url, l1Invalidation: "bus" })
      // Loads the scripts, so that a NOSCRIPT retry does not count below.
      yield* writer.setMany([{ key: "warm", value: 0 }])
      yield* reader.getMany(["warm", "cold"])
      const keys = keysUpTo(100, "k")
      yield* server.cli("CONFIG", "RESETSTAT")
      yield* writer.setMany(keys.map((key, i) => ({ key, value: { i } })), { ttl: "10 minutes" })
      const written = yield* commandStats(server)
      assert.strictEqual(written.scripts, Math.ceil(keys.length / 32), "setMany: one script per 32 keys")
      assert.strictEqual(written.of("set"), keys.length, "each key is SET by its script")

      yield* server.cli("CONFIG", "RESETSTAT")
      const absent = keysUpTo(28, "absent")
      const found = yield* reader.getMany([...keys, ...absent])
      keys.forEach((key, i) => assert.deepStrictEqual(found[i], Option.some({ i }), key))
      assert.isTrue(found.slice(keys.length).every(Option.isNone))
      const read = yield* commandStats(server)
      assert.strictEqual(read.of("mget"), Math.ceil((keys.length + absent.length) / 32), "getMany: one MGET per 32 keys")
      assert.strictEqual(read.of("get"), 0, "no key is read alone")
      assert.strictEqual((yield* reader.stats).l2Hits, keys.length + 1)

      // The reads refilled L1: the same call again asks Redis nothing for the present keys.
      yield* server.cli("CONFIG", "RESETSTAT")
      const l1Before = (yield* reader.stats).l1Hits
      yield* reader.getMany(keys)
      assert.strictEqual((yield* reader.stats).l1Hits, l1Before + keys.length)
      assert.strictEqual((yield* commandStats(server)).batches, 0)

      // getOrSetMany: one batched read and one batched write for the misses.
      yield* server.cli("CONFIG", "RESETSTAT")
      let lookups = 0
      const fresh = keysUpTo(40, "fresh")
      yield* reader.getOrSetMany(fresh, (missing) =>
        Effect.sync(() => {
          lookups++
          return missing.map((key) => [key, key] as const)
        }))
      assert.strictEqual(lookups, 1)
      assert.strictEqual((yield* commandStats(server)).batches, 2 * Math.ceil(fresh.length / 32))
      assert.deepStrictEqual(yield* writer.getMany(fresh.slice(0, 2)), [Option.some(fresh[0]), Option.some(fresh[1])])

      // deleteMany: one script per 32 keys as well.
      yield* server.cli("CONFIG", "RESETSTAT")
      assert.strictEqual(yield* writer.deleteMany([...keys, "never-written"]), keys.length)
      const deleted = yield* commandStats(server)
      assert.strictEqual(deleted.scripts, Math.ceil((keys.length + 1) / 32), "deleteMany: one script per 32 keys")
      assert.strictEqual(deleted.of("unlink"), keys.length + 1)
      assert.isTrue((yield* reader.getMany(keys)).every(Option.isNone), "the reader's L1 copies were evicted")
    }))

  it.live("10,000 keys in one call", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      // A loaded test machine may take more than the default second to answer 10,000 keys: a
      // timeout would switch the cache to memory-only, which is tested elsewhere.
      const writer = yield* redisCache({ redisUrl: server.url, commandTimeout: "20 seconds" })
      const reader = yield* redisCache({ redisUrl: server.url, l1MaxEntries: 20_000, commandTimeout: "20 seconds" })
      const keys = keysUpTo(10_000, "many")
      yield* writer.setMany(keys.map((key, i) => ({ key, value: i })))
      assert.strictEqual(yield* server.cli("DBSIZE"), "10000")
      yield* server.cli("CONFIG", "RESETSTAT")
      const found = yield* reader.getMany(keys)
      assert.isTrue(found.every((value, i) => Option.isSome(value) && value.value === i))
      // About one MGET per 32 keys: the fiber scheduler yields now and then while 10,000 reads
      // start, and a batch that is waiting is sent then, short of 32 (326 scripts in one run).
      const batches = (yield* commandStats(server)).batches
      assert.isAtLeast(batches, Math.ceil(keys.length / 32))
      assert.isAtMost(batches, Math.ceil(keys.length / 32) * 1.25)
      yield* server.cli("CONFIG", "RESETSTAT")
      assert.strictEqual(yield* writer.deleteMany(keys), keys.length)
      assert.strictEqual(yield* server.cli("DBSIZE"), "0")
      assert.isAtMost((yield* commandStats(server)).scripts, Math.ceil(keys.length / 32) * 1.25)
    }))

  it.live("L1 refilled by getMany gets Redis' remaining TTL; a key unreadable in Redis is that key's error", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const writer = yield* redisCache({ redisUrl: server.url })
      yield* writer.setMany([{ key: "brief", value: "b", options: { ttl: "600 millis" } }, { key: "long", value: "l" }])
      yield* server.cli("LPUSH", "cache:list", "x")
      const reader = yield* redisCache({ redisUrl: server.url, defaultTtl: "1 hour" })
      const failed = failureOf(yield* Effect.exit(reader.getMany(["brief", "list", "long"])))
      assert.instanceOf(failed, SerializationError)
      assert.strictEqual((failed as SerializationError).key, "list")
      // The other keys were read in full all the same, and refilled L1.
      const l1Before = (yield* reader.stats).l1Hits
      assert.deepStrictEqual(yield* reader.getMany(["brief", "long"]), [Option.some("b"), Option.some("l")])
      assert.strictEqual((yield* reader.stats).l1Hits, l1Before + 2)
      yield* sleep(800)
      assert.deepStrictEqual(yield* reader.getMany(["brief", "long"]), [Option.none(), Option.some("l")])
    }))

  it.live("another instance's setMany and deleteMany evict this one's L1 copies", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const a = yield* redisCache({ redisUrl: server.url })
      const b = yield* redisCache({ redisUrl: server.url })
      yield* a.setMany([{ key: "p", value: 1 }, { key: "q", value: 1 }])
      assert.deepStrictEqual(yield* b.getMany(["p", "q"]), [Option.some(1), Option.some(1)])
      yield* a.setMany([{ key: "p", value: 2 }])
      yield* a.deleteMany(["q"])
      const deadline = Date.now() + 10_000
      let seen = yield* b.getMany(["p", "q"])
      while (!(Option.getOrUndefined(seen[0]!) === 2 && Option.isNone(seen[1]!)) && Date.now() < deadline) {
        yield* sleep(20)
        seen = yield* b.getMany(["p", "q"])
      }
      assert.deepStrictEqual(seen, [Option.some(2), Option.none()])
    }))

  it.live("Redis killed: the calls go on from memory, and what they wrote and deleted is replayed", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({ redisUrl: server.url })
      yield* cache.setMany([{ key: "kept", value: 1 }, { key: "gone", value: 1 }])
      yield* server.kill
      yield* awaitMode(cache, "MemoryOnly")
      yield* cache.setMany([{ key: "new1", value: "n1" }, { key: "new2", value: "n2" }, { key: "gone", value: 2 }])
      assert.strictEqual(yield* cache.deleteMany(["gone", "nothing"]), 1)
      assert.deepStrictEqual(yield* cache.getMany(["new1", "gone", "new2"]), [Option.some("n1"), Option.none(), Option.some("n2")])
      let lookups = 0
      const looked = yield* cache.getOrSetMany(["new2", "new3"], (missing) =>
        Effect.sync(() => {
          lookups++
          return missing.map((key) => [key, `looked up ${key}` as string] as const)
        }))
      assert.deepStrictEqual(looked, [Option.some("n2"), Option.some("looked up new3")])
      assert.strictEqual(lookups, 1)
      yield* server.restart
      yield* awaitReplayed(cache)
      const raw = yield* rawClient(server.url)
      const keys = (yield* Effect.promise(() => raw.keys("cache:*"))).sort()
      // A killed server keeps nothing: what is there now is the replay.
      assert.deepStrictEqual(keys, ["cache:new1", "cache:new2", "cache:new3"])
    }))
})

describe("multi-key operations on a Redis Cluster", () => {
  it.live("keys across slots are answered right; keys sharing a {hash tag} share a command per 32", () =>
    Effect.gen(function*() {
      const cluster = yield* startRedisCluster()
      const writer = yield* redisCache({ cluster: { nodes: cluster.urls } })
      const reader = yield* redisCache({ cluster: { nodes: cluster.urls } })
      const spread = keysUpTo(200, "spread")
      yield* writer.setMany(spread.map((key) => ({ key, value: key })))
      const found = yield* reader.getMany([...spread, "absent"])
      spread.forEach((key, i) => assert.deepStrictEqual(found[i], Option.some(key), key))
      assert.isTrue(Option.isNone(found[spread.length]!))

      const tagged = keysUpTo(100, "{users}")
      yield* writer.setMany(tagged.map((key) => ({ key, value: key })))
      yield* Effect.forEach(cluster.nodes, (node) => node.cli("CONFIG", "RESETSTAT"), { discard: true })
      const fromTagged = yield* reader.getMany(tagged)
      assert.isTrue(fromTagged.every((value, i) => Option.getOrUndefined(value) === tagged[i]))
      const batches = yield* Effect.forEach(cluster.nodes, (node) => Effect.map(commandStats(node), (stats) => stats.batches))
      assert.strictEqual(batches.reduce((a, b) => a + b, 0), Math.ceil(tagged.length / 32))

      assert.strictEqual(yield* writer.deleteMany([...spread, ...tagged, "absent"]), spread.length + tagged.length)
      const sizes = yield* Effect.forEach(cluster.nodes, (node) => Effect.map(node.cli("DBSIZE"), Number))
      assert.strictEqual(sizes.reduce((a, b) => a + b, 0), 0)
    }))
})

describe("setMany with tags", () => {
  it.live("entries carry tags (a namespace scopes them), invalidateTags reaches them, and a bad tag writes nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      const cache = yield* memoryCache
      const users = yield* cache.namespace("users")
      yield* users.setMany([
        { key: "1", value: "ada", options: { tags: ["team:a"] } },
        { key: "2", value: "bob" }
      ], { tags: ["all"] })
      yield* cache.invalidateTags(["users:team:a"])
      assert.deepStrictEqual(yield* users.getMany(["1", "2"]), [Option.none(), Option.some("bob")])
      yield* users.invalidateTags(["all"])
      assert.deepStrictEqual(yield* users.get("2"), Option.none())
      const exit = yield* Effect.exit(cache.setMany([
        { key: "ok", value: 1 },
        { key: "bad", value: 2, options: { tags: [""] } }
      ]))
      assert.isTrue(Exit.isFailure(exit))
      const error = Option.getOrThrow(Exit.findErrorOption(exit))
      assert.instanceOf(error, ValidationError)
      assert.include(error.message, "entries[1].tags")
      assert.deepStrictEqual(yield* cache.get("ok"), Option.none())
    })))
})
