/**
 * Tag invalidation: `set`/`getOrSet` with `tags`, `invalidateTags`, in memory and against a
 * real redis-server (two caches on one server; another program's write of a tag key; clear
 * and patterns leave tag keys alone; an invalidation made during an outage is replayed;
 * fail-safe does not serve what a tag invalidated). Across processes: test/coherence/tags.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Option, Schedule, type Scope } from "effect"
import { Redis } from "ioredis"
import { Cache, type CacheService, ValidationError } from "../../src/index.js"
import { startRedisServer } from "../support/RedisServer.js"
import { awaitReplayed, redisCache } from "../support/cache.js"
import { forEachTopology, freshTopology } from "../support/topologies.js"

const memoryCache = Effect.map(Layer.build(Cache.layerMemory()), (context) => Context.get(context, Cache)) as Effect.Effect<
  CacheService,
  never,
  Scope.Scope
>

const refusedField = <A, E>(exit: Exit.Exit<A, E>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail") as { readonly error: unknown } | undefined
  assert.instanceOf(reason?.error, ValidationError)
  return (reason!.error as ValidationError).issues[0]?.field
}

const rawClient = (url: string) =>
  Effect.acquireRelease(Effect.sync(() => new Redis(url)), (client) =>
    Effect.promise(() => client.quit().catch(() => "closed")))

// Lets the clock's millisecond move on, so that a write is not in the same millisecond as
// the invalidation before it (which counts as invalidated: the safe side of a tie).
const nextMillisecond = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2)))

const found = (cache: CacheService, key: string) => Effect.map(cache.get(key), Option.getOrUndefined)

/** What every cache does with tags, whichever tiers it has. */
const tagRules = (cache: CacheService) =>
  Effect.gen(function*() {
    yield* cache.set("user:1", "ada", { tags: ["user:1", "users"] })
    yield* cache.set("user:2", "grace", { tags: ["user:2", "users"] })
    yield* cache.set("plain", "no tags")
    assert.strictEqual(yield* found(cache, "user:1"), "ada")
    yield* cache.invalidateTags(["user:1"])
    assert.isUndefined(yield* found(cache, "user:1"))
    assert.strictEqual(yield* found(cache, "user:2"), "grace")
    yield* cache.invalidateTags(["users", "users"])
    assert.isUndefined(yield* found(cache, "user:2"))
    assert.strictEqual(yield* found(cache, "plain"), "no tags")
    yield* cache.invalidateTags([])

    // A value written after the invalidation is a hit again; getOrSet stores its tags too.
    yield* nextMillisecond
    let lookups = 0
    const lookup = Effect.sync(() => ++lookups)
    assert.strictEqual(yield* cache.getOrSet("count", lookup, { tags: ["users"] }), 1)
    assert.strictEqual(yield* cache.getOrSet("count", lookup, { tags: ["users"] }), 1)
    yield* cache.invalidateTags(["users"])
    assert.strictEqual(yield* cache.getOrSet("count", lookup, { tags: ["users"] }), 2)

    // Re-set without tags: the old tag no longer reaches the key.
    yield* nextMillisecond
    yield* cache.set("retagged", 1, { tags: ["old"] })
    yield* cache.set("retagged", 2)
    yield* cache.invalidateTags(["old"])
    assert.strictEqual(yield* found(cache, "retagged"), 2)

    // Tags of a namespace are its own.
    const users = yield* cache.namespace("users")
    const orders = yield* cache.namespace("orders")
    yield* nextMillisecond
    yield* users.set("1", "u", { tags: ["t"] })
    yield* orders.set("1", "o", { tags: ["t"] })
    yield* users.invalidateTags(["t"])
    assert.isUndefined(yield* found(users, "1"))
    assert.strictEqual(yield* found(orders, "1"), "o")
    yield* cache.invalidateTags(["orders:t"])
    assert.isUndefined(yield* found(orders, "1"))
  })

describe("tags", () => {
  it.effect("in memory: invalidateTags makes every entry carrying a tag a miss, and only those", () =>
    Effect.flatMap(memoryCache, tagRules))

  it.live("against a real redis-server: the same rules", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      yield* tagRules(yield* redisCache({ redisUrl: server.url }))
    })))

  it.effect("bad tags, and keys under the reserved __tag: prefix, are refused with a ValidationError", () =>
    Effect.gen(function*() {
      const cache = yield* memoryCache
      assert.strictEqual(refusedField(yield* Effect.exit(cache.set("__tag:x", 1))), "key")
      assert.strictEqual(refusedField(yield* Effect.exit(cache.get("__tag:x"))), "key")
      assert.strictEqual(refusedField(yield* Effect.exit(cache.getOrSet("__tag:x", Effect.succeed(1)))), "key")
      assert.strictEqual(refusedField(yield* Effect.exit(cache.set("k", 1, { tags: [""] }))), "tags")
      assert.strictEqual(refusedField(yield* Effect.exit(cache.set("k", 1, { tags: ["a\uD800"] }))), "tags")
      assert.strictEqual(refusedField(yield* Effect.exit(cache.set("k", 1, { tags: ["x".repeat(1025)] }))), "tags")
      const many = Array.from({ length: 256 }, (_, i) => `t${i}`)
      assert.strictEqual(refusedField(yield* Effect.exit(cache.set("k", 1, { tags: many }))), "tags")
      assert.strictEqual(refusedField(yield* Effect.exit(cache.set("k", 1, { tags: "t" as never }))), "tags")
      assert.strictEqual(refusedField(yield* Effect.exit(cache.invalidateTags([1 as never]))), "tags")
      assert.strictEqual(refusedField(yield* Effect.exit(Cache.invalidateTags([""]).pipe(Effect.provideService(Cache, cache)))), "tags")
      // The namespace "__tag" would put its keys under the reserved prefix: refused the same way.
      const ns = yield* cache.namespace("__tag")
      assert.strictEqual(refusedField(yield* Effect.exit(ns.set("x", 1))), "key")
      yield* cache.set("k", 1, { tags: many.slice(0, 255) })
      assert.strictEqual(yield* found(cache, "k"), 1)
    }))

  it.live("a second cache's L1 and Redis reads miss after the first invalidates a tag", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const a = yield* redisCache({ redisUrl: server.url })
      const b = yield* redisCache({ redisUrl: server.url })
      const noL1 = yield* redisCache({ redisUrl: server.url, enableL1: false })
      yield* a.set("k", "v", { tags: ["t"] })
      assert.strictEqual(yield* found(b, "k"), "v")
      assert.strictEqual(yield* found(b, "k"), "v")
      assert.strictEqual(yield* found(noL1, "k"), "v")
      yield* a.invalidateTags(["t"])
      assert.isUndefined(yield* found(noL1, "k"), "a Redis read compares the write time with the tag's")
      // B's L1 copy goes when the tag key's invalidation reaches it (tracking).
      let last: unknown = "v"
      for (let i = 0; i < 1000 && last !== undefined; i++) {
        last = yield* found(b, "k")
        if (last !== undefined) yield* nextMillisecond
      }
      assert.isUndefined(last)
    })))

  it.live("another program's write of the tag key invalidates; clear and patterns leave tag keys alone", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const raw = yield* rawClient(server.url)
      const cache = yield* redisCache({ redisUrl: server.url, enableL1: false, tagRetention: "1 hour" })
      yield* cache.set("profile:1", "ada", { tags: ["user:1"] })
      yield* nextMillisecond
      yield* Effect.promise(() => raw.set("cache:__tag:user:1", String(Date.now())))
      assert.isUndefined(yield* found(cache, "profile:1"))

      // invalidateTags writes the key with tagRetention as its TTL: Redis removes it when no entry can need it.
      yield* nextMillisecond
      yield* cache.set("profile:2", "grace", { tags: ["user:2"] })
      yield* cache.invalidateTags(["user:2"])
      const pttl = yield* Effect.promise(() => raw.pttl("cache:__tag:user:2"))
      assert.isTrue(pttl > 0 && pttl <= 3_600_000, `PTTL ${pttl}`)

      // A literal pattern "user" matches "__tag:user:2"; neither it nor clear removes it, so the
      // entry it invalidated (written back by a program that copies Redis keys) stays a miss.
      const stale = yield* Effect.promise(() => raw.getBuffer("cache:profile:2"))
      assert.isNotNull(stale)
      assert.strictEqual(yield* cache.invalidatePattern("user"), 0)
      yield* cache.clear
      assert.strictEqual(yield* Effect.promise(() => raw.exists("cache:__tag:user:1", "cache:__tag:user:2")), 2)
      yield* Effect.promise(() => raw.set("cache:profile:2", stale!))
      assert.isUndefined(yield* found(cache, "profile:2"))
    })))

  it.live("an invalidateTags made while Redis is down is replayed: other instances miss after", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const raw = yield* rawClient(server.url)
      const a = yield* redisCache({
        redisUrl: server.url,
        commandTimeout: "200 millis",
        reconnectSchedule: Schedule.spaced("50 millis")
      })
      yield* a.set("k", "v", { tags: ["t"] })
      yield* a.set("other", "w", { tags: ["u"] })
      // Paused, the server keeps its data: k is still in Redis when it comes back.
      yield* server.pause
      while ((yield* a.status).mode !== "MemoryOnly") yield* Effect.ignore(a.get("probe"))
      yield* a.invalidateTags(["t"])
      assert.isUndefined(yield* found(a, "k"), "evicted from L1 at once, while degraded")
      assert.strictEqual(yield* found(a, "other"), "w")
      yield* server.resume
      yield* awaitReplayed(a)
      assert.isNotNull(yield* Effect.promise(() => raw.getBuffer("cache:k")))
      assert.strictEqual(yield* Effect.promise(() => raw.exists("cache:__tag:t")), 1)
      const b = yield* redisCache({ redisUrl: server.url })
      assert.isUndefined(yield* found(b, "k"))
      assert.strictEqual(yield* found(b, "other"), "w")
    })))

  it.live("fail-safe does not serve a stale value that its tags invalidated", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({ redisUrl: server.url, enableL1: false, failSafeThrottle: 0 })
      const options = { ttl: "30 millis", staleFor: "10 minutes", staleOnError: true } as const
      yield* cache.set("kept", "old", { ...options, tags: ["x"] })
      yield* cache.set("gone", "old", { ...options, tags: ["t"] })
      // Until both are past their TTL (kept in Redis for staleFor).
      while (Option.isSome(yield* cache.get("kept")) || Option.isSome(yield* cache.get("gone"))) yield* nextMillisecond
      yield* cache.invalidateTags(["t"])
      const failing = Effect.fail("backend down")
      assert.strictEqual(yield* cache.getOrSet("kept", failing, options), "old")
      const exit = yield* Effect.exit(cache.getOrSet("gone", failing, options))
      assert.isTrue(Exit.isFailure(exit), "the tag's invalidation wins over fail-safe")
    })))

  // Tag keys hash to other slots than their entries: on a cluster, invalidateTags writes them per slot.
  forEachTopology((it) => {
    it.effect("invalidateTags of tags in several slots, patterns that match tag keys, and a replayed one", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const a = yield* redisCache({
          ...server.connect(),
          commandTimeout: "300 millis",
          reconnectSchedule: Schedule.spaced("100 millis")
        })
        const b = yield* redisCache({ ...server.connect(), enableL1: false })
        const tags = ["alpha", "beta", "gamma", "delta"]
        for (const tag of tags) yield* a.set(`entry:${tag}`, tag, { tags: [tag] })
        yield* a.invalidateTags(["alpha", "beta", "gamma"])
        assert.deepStrictEqual(
          yield* Effect.forEach(tags, (tag) => found(b, `entry:${tag}`)),
          [undefined, undefined, undefined, "delta"]
        )
        assert.strictEqual(yield* a.invalidatePattern("__tag"), 0)
        // Every entry goes (the invalidated ones were still in Redis), never a tag key.
        assert.strictEqual(yield* a.invalidatePattern("*", { glob: true }), 4)
        const tagKeys = yield* Effect.forEach(["alpha", "beta", "gamma"], (tag) =>
          Effect.map(server.everyMaster("EXISTS", `cache:__tag:${tag}`), (replies) =>
            replies.filter((reply) => reply === "1").length))
        assert.deepStrictEqual(tagKeys, [1, 1, 1])
        yield* nextMillisecond
        yield* a.set("entry:delta", "again", { tags: ["delta"] })
        assert.strictEqual(yield* found(b, "entry:delta"), "again")

        yield* server.pause
        while ((yield* a.status).mode !== "MemoryOnly") yield* Effect.ignore(a.get("probe"))
        // Nothing reaches b from a stopped server: what b hears from now on is the replay's news.
        const heardBefore = (yield* b.status).invalidation.invalidationsReceived
        yield* a.invalidateTags(["delta"])
        yield* server.resume
        yield* awaitReplayed(a)
        // The replayed tag write reaches b over its link (tracking's invalidation or the bus message
        // announced after the replay; on a cluster through another node): wait for it, since a read
        // just before it arrives is still within the invalidation lag.
        if (server.l1Invalidation !== "off") {
          const linkDeadline = Date.now() + 10_000
          while ((yield* b.status).invalidation.invalidationsReceived === heardBefore && Date.now() < linkDeadline) {
            yield* nextMillisecond
          }
        }
        // Where L1 coherence is off (cluster, sentinel), b trusts the tag time it knew for up to 1 s.
        const deadline = Date.now() + 10_000
        while ((yield* found(b, "entry:delta")) !== undefined && Date.now() < deadline) yield* nextMillisecond
        assert.isUndefined(yield* found(b, "entry:delta"))
        if (server.l1Invalidation !== "off") assert.strictEqual((yield* b.stats).l2Hits, 2, "a link makes it at once")
      }))
  })
})
