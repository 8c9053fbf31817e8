import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Option } from "effect"
import { Redis } from "ioredis"
import { startRedisServer, type RedisServerHandle } from "../support/RedisServer.js"
import { redisCache } from "../support/cache.js"
import { commandStats, resetCommandStats as resetStats } from "../support/commandStats.js"
import { wrap } from "../support/envelope.js"

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const unbounded = { concurrency: "unbounded" } as const

/** A raw client on the test's server, for values written the way older versions did. */
const rawClient = (server: RedisServerHandle) =>
  Effect.acquireRelease(
    Effect.sync(() => new Redis(server.port, server.host)),
    (client) => Effect.promise(() => client.quit())
  )

// An envelope as versions before the logical expiry was always written made it: a write
// time, no expiry (JSON serializer, uncompressed).
const legacyEnvelope = (value: unknown, writtenAt: number) =>
  wrap({ serializerId: 1, compressionId: 0, fingerprint: undefined, writtenAt }, JSON.stringify(value))

describe("Redis commands per operation (INFO commandstats, real redis-server)", () => {
  it.live("an L2 hit is one GET, a miss then set a GET and a SET; the hit refills L1", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const writer = yield* redisCache({ redisUrl: server.url })
      yield* writer.set("k", "v1", { ttl: "10 minutes" })
      const reader = yield* redisCache({ redisUrl: server.url })
      yield* resetStats(server)
      assert.deepStrictEqual(yield* reader.get("k"), Option.some("v1"))
      const hit = yield* commandStats(server)
      assert.strictEqual(hit.data, 1, JSON.stringify(hit.calls))
      assert.strictEqual(hit.of("get"), 1)
      // the L1 copy answers the next get: no command at all
      yield* resetStats(server)
      assert.deepStrictEqual(yield* reader.get("k"), Option.some("v1"))
      assert.strictEqual((yield* commandStats(server)).data, 0)

      yield* resetStats(server)
      assert.strictEqual(yield* reader.getOrSet("cold", Effect.succeed("computed"), { ttl: "10 minutes" }), "computed")
      const missThenSet = yield* commandStats(server)
      assert.strictEqual(missThenSet.data, 2, JSON.stringify(missThenSet.calls))
      assert.strictEqual(missThenSet.of("get"), 1)
      assert.strictEqual(missThenSet.of("set"), 1)
    }))

  it.live("batched L2 hits are one MGET per batch, misses then sets add an EXISTS and the writes; no PTTL", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const keys = Array.from({ length: 32 }, (_, i) => `present:${i}`)
      const cold = Array.from({ length: 32 }, (_, i) => `cold:${i}`)
      const writer = yield* redisCache({ redisUrl: server.url })
      yield* Effect.forEach(keys, (key) => writer.set(key, key, { ttl: "10 minutes" }), { ...unbounded, discard: true })
      const reader = yield* redisCache({ redisUrl: server.url })
      yield* resetStats(server)
      const answers = yield* Effect.forEach(keys, (key) => reader.get(key), unbounded)
      keys.forEach((key, i) => assert.deepStrictEqual(answers[i], Option.some(key)))
      const hits = yield* commandStats(server)
      // one batch of 32 keys: one MGET, nothing else
      assert.strictEqual(hits.data, 1, JSON.stringify(hits.calls))
      assert.strictEqual(hits.of("mget"), 1)

      yield* resetStats(server)
      yield* Effect.forEach(cold, (key) => reader.getOrSet(key, Effect.succeed(key), { ttl: "10 minutes" }), {
        ...unbounded,
        discard: true
      })
      const missed = yield* commandStats(server)
      // MGET + EXISTS (which finds none of them), then one script with a SET per key
      assert.strictEqual(missed.of("pttl"), 0, JSON.stringify(missed.calls))
      assert.strictEqual(missed.of("get"), 0)
      assert.isAtLeast(missed.of("mget"), 1)
      assert.strictEqual(missed.of("exists"), missed.of("mget"))
      assert.strictEqual(missed.of("set"), cold.length)
      assert.isAtMost(missed.data, cold.length + 6, JSON.stringify(missed.calls))
    }))

  it.live("large values read in a batch (MGET) send no PTTL either", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const large = (key: string) => `${key} `.repeat(1500)
      const keys = Array.from({ length: 60 }, (_, i) => `large:${i}`)
      const writer = yield* redisCache({ redisUrl: server.url, compressionThreshold: 16 * 1024 * 1024 })
      yield* Effect.forEach(keys, (key) => writer.set(key, large(key), { ttl: "10 minutes" }), unbounded)
      const reader = yield* redisCache({ redisUrl: server.url })
      yield* Effect.forEach(keys.slice(0, 30), (key) => reader.get(key), unbounded)
      yield* resetStats(server)
      const answers = yield* Effect.forEach(keys.slice(30), (key) => reader.get(key), unbounded)
      keys.slice(30).forEach((key, i) => assert.deepStrictEqual(answers[i], Option.some(large(key))))
      const stats = yield* commandStats(server)
      assert.isAtLeast(stats.of("mget"), 1, JSON.stringify(stats.calls))
      assert.strictEqual(stats.of("pttl"), 0, JSON.stringify(stats.calls))
    }))

  it.live("an L1 copy filled by a lone or a batched L2 hit ends with its entry, not with the reader's default TTL", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const writer = yield* redisCache({ redisUrl: server.url })
      yield* writer.set("brief", "b", { ttl: "600 millis" })
      yield* Effect.forEach(["a", "b", "c"], (key) => writer.set(`brief:${key}`, key, { ttl: "600 millis" }), unbounded)
      // no invalidation link: Redis' own notice of the expiry must not be what ends the copies
      const reader = yield* redisCache({ redisUrl: server.url, defaultTtl: "1 hour", l1Invalidation: "off" })
      assert.deepStrictEqual(yield* reader.get("brief"), Option.some("b"))
      yield* Effect.forEach(["a", "b", "c"], (key) => reader.get(`brief:${key}`), unbounded)
      const before = (yield* reader.stats).l1Hits
      assert.deepStrictEqual(yield* reader.get("brief"), Option.some("b"))
      assert.deepStrictEqual(yield* reader.get("brief:a"), Option.some("a"))
      assert.strictEqual((yield* reader.stats).l1Hits, before + 2, "the L2 hits did not refill L1")
      yield* sleep(800)
      assert.strictEqual(yield* server.cli("EXISTS", "cache:brief"), "0")
      assert.deepStrictEqual(yield* reader.get("brief"), Option.none())
      assert.deepStrictEqual(yield* reader.get("brief:a"), Option.none())
    }))

  it.live("a writer whose clock runs ahead: the reader's L1 copy lasts no longer than the entry's TTL", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const raw = yield* rawClient(server)
      // written "an hour from now" by the writer's clock, for 600 ms
      const writtenAt = Date.now() + 3_600_000
      const bytes = wrap(
        { serializerId: 1, compressionId: 0, fingerprint: undefined, writtenAt, expiresAt: writtenAt + 600 },
        JSON.stringify("skewed")
      )
      yield* Effect.promise(() => raw.set("cache:skewed", bytes, "PX", 600))
      const reader = yield* redisCache({ redisUrl: server.url, defaultTtl: "1 hour", l1Invalidation: "off" })
      assert.deepStrictEqual(yield* reader.get("skewed"), Option.some("skewed"))
      yield* sleep(800)
      assert.deepStrictEqual(yield* reader.get("skewed"), Option.none())
    }))

  it.live("a value written by an older version (no expiry in its envelope) reads right; its L1 copy gets its PTTL", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const raw = yield* rawClient(server)
      yield* Effect.promise(() => raw.set("cache:old", legacyEnvelope({ n: 1 }, Date.now()), "PX", 600))
      yield* Effect.promise(() => raw.set("cache:old-long", legacyEnvelope("kept", Date.now()), "PX", 600_000))
      const reader = yield* redisCache({ redisUrl: server.url, defaultTtl: "1 hour", l1Invalidation: "off" })
      yield* resetStats(server)
      assert.deepStrictEqual(yield* reader.get("old"), Option.some({ n: 1 }))
      const stats = yield* commandStats(server)
      assert.strictEqual(stats.of("get"), 1)
      assert.strictEqual(stats.of("pttl"), 1, "the fallback for an entry without an expiry")
      const before = (yield* reader.stats).l1Hits
      assert.deepStrictEqual(yield* reader.get("old"), Option.some({ n: 1 }))
      assert.strictEqual((yield* reader.stats).l1Hits, before + 1)
      // batched old values read right too
      const [a, b] = yield* Effect.forEach(["old-long", "absent"], (key) => reader.get(key), unbounded)
      assert.deepStrictEqual(a, Option.some("kept"))
      assert.deepStrictEqual(b, Option.none())
      yield* sleep(800)
      assert.deepStrictEqual(yield* reader.get("old"), Option.none())
      assert.deepStrictEqual(yield* reader.get("old-long"), Option.some("kept"))
    }))

  it.live("with staleFor, a reader's L1 copy is fresh until the logical expiry and then kept for fail-safe", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const writer = yield* redisCache({ redisUrl: server.url, staleFor: "1 minute" })
      yield* writer.set("k", "v1", { ttl: "400 millis" })
      const reader = yield* redisCache({ redisUrl: server.url, staleFor: "1 minute", commandTimeout: "200 millis" })
      yield* resetStats(server)
      assert.deepStrictEqual(yield* reader.get("k"), Option.some("v1"))
      assert.strictEqual((yield* commandStats(server)).of("pttl"), 0)
      yield* sleep(600)
      // past its logical expiry: a miss for get, though Redis keeps it for a minute more
      assert.strictEqual(yield* server.cli("EXISTS", "cache:k"), "1")
      assert.deepStrictEqual(yield* reader.get("k"), Option.none())
      // Redis away and the lookup failing: the L1 copy from the L2 hit answers
      yield* server.pause
      const value = yield* reader.getOrSet("k", Effect.die("lookup down"), { staleOnError: true, staleOnDefect: true })
      yield* server.resume
      assert.strictEqual(value, "v1")
    }))

  it.live("ttl keeps its PTTL: batched ttl and exists under staleFor answer with the logical TTL", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({ redisUrl: server.url, staleFor: "1 minute" })
      const keys = Array.from({ length: 8 }, (_, i) => `t:${i}`)
      yield* Effect.forEach(keys, (key) => cache.set(key, key, { ttl: "10 minutes" }), { ...unbounded, discard: true })
      yield* cache.set("brief", "b", { ttl: "300 millis" })
      yield* sleep(500)
      yield* resetStats(server)
      const ttls = yield* Effect.forEach([...keys, "brief", "absent"], (key) => cache.ttl(key), unbounded)
      const stats = yield* commandStats(server)
      assert.isAtLeast(stats.of("pttl"), 1, JSON.stringify(stats.calls))
      keys.forEach((key, i) => {
        const left = Duration.toMillis(Option.getOrThrow(ttls[i]!))
        assert.isTrue(left > 500_000 && left <= 600_000, `${key}: ${left}`)
      })
      assert.deepStrictEqual(ttls.slice(keys.length), [Option.none(), Option.none()])
      const exists = yield* Effect.forEach(["t:0", "brief", "absent"], (key) => cache.exists(key), unbounded)
      assert.deepStrictEqual(exists, [true, false, false])
    }))
})
