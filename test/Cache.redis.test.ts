import { assert, describe } from "@effect/vitest"
import { Duration, Effect, Exit, Option } from "effect"
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { redisCache } from "./support/cache.js"
import { forEachTopology, freshTopology } from "./support/topologies.js"

const serializers = ["json", "structured"] as const
const thresholds = [{ label: "compressed", compressionThreshold: 0 }, {
  label: "uncompressed",
  compressionThreshold: 16 * 1024 * 1024
}] as const

const jsonValue = { id: 7, name: "Ada", tags: ["a", "b"], nested: { ok: true, n: null, text: "x".repeat(3000) } }
const structuredValue = {
  ...jsonValue,
  when: new Date("2024-05-06T07:08:09.010Z"),
  map: new Map<string, unknown>([["k", 1n]]),
  set: new Set([1, 2]),
  bytes: Buffer.from([1, 2, 3]),
  missing: undefined
}

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

describe("Cache.layerRedis against a real redis-server", () => {
  forEachTopology((it) => {
    for (const serializer of serializers) {
      for (const { compressionThreshold, label } of thresholds) {
        it.effect(`${serializer}, ${label}: a value written by one cache is read by another`, () =>
          Effect.gen(function*() {
            const server = yield* freshTopology
            const options = { ...server.connect(), serializer, compressionThreshold }
            const writer = yield* redisCache(options)
            const reader = yield* redisCache(options)
            const value = serializer === "json" ? jsonValue : structuredValue
            yield* writer.set("shared", value)
            const read = yield* reader.get("shared")
            assert.deepStrictEqual(Option.getOrThrow(read), value)
            assert.strictEqual((yield* reader.stats).l2Hits, 1)
            const raw = yield* server.cli("STRLEN", "cache:shared")
            const stored = Number(raw)
            const serialized = JSON.stringify(jsonValue).length
            if (label === "compressed") assert.isBelow(stored, serialized / 2)
            else assert.isAbove(stored, serialized)
          }))
      }
    }

    it.effect("Redis holds the requested TTL (PTTL within a small tolerance); the default TTL applies", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const cache = yield* redisCache({ ...server.connect(), defaultTtl: "2 minutes" })
        yield* cache.set("ttl", 1, { ttl: "90 seconds" })
        yield* cache.set("default", 1)
        const pttl = Number(yield* server.cli("PTTL", "cache:ttl"))
        assert.isAtMost(pttl, 90_000)
        assert.isAbove(pttl, 85_000)
        const defaultPttl = Number(yield* server.cli("PTTL", "cache:default"))
        assert.isAbove(defaultPttl, 115_000)
        const reported = Duration.toMillis(Option.getOrThrow(yield* cache.ttl("ttl")))
        assert.isAbove(reported, 85_000)
      }))

    it.effect("an L1 copy refilled from Redis never outlives the Redis entry", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const writer = yield* redisCache(server.connect())
        const reader = yield* redisCache({ ...server.connect(), defaultTtl: "1 hour" })
        yield* writer.set("brief", "v", { ttl: "700 millis" })
        yield* sleep(200)
        assert.isTrue(Option.isSome(yield* reader.get("brief")))
        assert.strictEqual((yield* reader.stats).l2Hits, 1)
        yield* sleep(700)
        assert.isTrue(Option.isNone(yield* reader.get("brief")))
        assert.isTrue(Option.isNone(yield* writer.get("brief")))
        assert.strictEqual(yield* server.cli("EXISTS", "cache:brief"), "0")
      }))

    it.effect("delete removes from both tiers and says whether the key existed; exists checks Redis", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const a = yield* redisCache(server.connect())
        const b = yield* redisCache(server.connect())
        yield* a.set("k", 1)
        assert.isTrue(yield* b.exists("k"))
        assert.isTrue(yield* b.delete("k"))
        assert.isFalse(yield* b.delete("k"))
        assert.strictEqual(yield* server.cli("EXISTS", "cache:k"), "0")
        assert.isFalse(yield* b.exists("k"))
      }))

    it.effect("a foreign or corrupt value fails get with a SerializationError naming the key, and stays in Redis", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const cache = yield* redisCache(server.connect())
        yield* server.cli("SET", "cache:foreign", "{\"written\":\"by someone else\"}")
        const foreign = yield* Effect.flip(cache.get("foreign"))
        assert.strictEqual(foreign._tag, "SerializationError")
        assert.isTrue(foreign._tag === "SerializationError" && foreign.key === "foreign")
        assert.include(foreign.message, "not written by effect-redis-cache")
        const writer = yield* redisCache(server.connect())
        yield* writer.set("truncated", "x".repeat(50))
        const length = Number(yield* server.cli("STRLEN", "cache:truncated"))
        yield* server.cli(
          "EVAL",
          "return redis.call('SET', KEYS[1], string.sub(redis.call('GET', KEYS[1]), 1, 9))",
          "1",
          "cache:truncated"
        )
        assert.isBelow(Number(yield* server.cli("STRLEN", "cache:truncated")), length)
        assert.strictEqual((yield* Effect.flip(cache.get("truncated")))._tag, "SerializationError")
        yield* server.cli("RPUSH", "cache:list", "a")
        const wrongType = yield* Effect.flip(cache.get("list"))
        assert.strictEqual(wrongType._tag, "SerializationError")
        assert.strictEqual(yield* server.cli("EXISTS", "cache:foreign"), "1")
        assert.strictEqual(yield* server.cli("EXISTS", "cache:list"), "1")
        assert.strictEqual((yield* cache.stats).serializationErrors, 3)
        assert.strictEqual((yield* cache.status).mode, "Connected")
      }))

    it.effect("clear removes only this cache's prefix; invalidatePattern is literal unless glob", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const mine = yield* redisCache({ ...server.connect(), keyPrefix: "app:a:" })
        const theirs = yield* redisCache({ ...server.connect(), keyPrefix: "app:b:" })
        yield* server.cli("SET", "unrelated", "1")
        for (const key of ["user:1", "user:2", "user:*", "order:[1]"]) {
          yield* mine.set(key, key)
          yield* theirs.set(key, key)
        }
        assert.strictEqual(yield* mine.invalidatePattern("user:*"), 1)
        assert.strictEqual(yield* server.cli("EXISTS", "app:a:user:1"), "1")
        assert.strictEqual(yield* mine.invalidatePattern("[1]"), 1)
        assert.strictEqual(yield* mine.invalidatePattern("user:?", { glob: true }), 2)
        assert.strictEqual(yield* server.dbSize, 5)
        yield* theirs.set("more", 1)
        yield* mine.set("again", 1)
        yield* mine.clear
        assert.strictEqual(yield* server.cli("EXISTS", "app:a:again"), "0")
        assert.strictEqual(yield* server.cli("EXISTS", "unrelated"), "1")
        assert.strictEqual(yield* server.dbSize, 6)
        assert.isTrue(Option.isSome(yield* theirs.get("user:1")))
      }))

    it.effect("Schema-typed values round-trip through Redis", () =>
      Effect.gen(function*() {
        const { Schema } = yield* Effect.promise(() => import("effect"))
        const Event = Schema.Struct({ at: Schema.Date, count: Schema.BigInt })
        const server = yield* freshTopology
        const a = yield* redisCache(server.connect())
        const b = yield* redisCache(server.connect())
        yield* a.set("event", { at: new Date(1234), count: 10n ** 20n }, { schema: Event })
        const read = Option.getOrThrow(yield* b.get("event", Event))
        assert.strictEqual(read.at.getTime(), 1234)
        assert.strictEqual(read.count, 10n ** 20n)
      }))

    it.effect("enableL1: false reads Redis every time, and memory serves only while Redis is away", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const cache = yield* redisCache({
          ...server.connect(),
          enableL1: false,
          commandTimeout: "300 millis",
          reconnectSchedule: (yield* Effect.promise(() => import("effect"))).Schedule.spaced("100 millis")
        })
        yield* cache.set("k", 1)
        yield* cache.get("k")
        yield* cache.get("k")
        const stats = yield* cache.stats
        assert.strictEqual(stats.l2Hits, 2)
        assert.strictEqual(stats.l1.entries, 0)
        yield* server.kill
        yield* cache.set("while-down", 2)
        assert.strictEqual((yield* cache.status).mode, "MemoryOnly")
        assert.deepStrictEqual(yield* cache.get("while-down"), Option.some(2))
        yield* server.restart
        const deadline = Date.now() + 20_000
        while ((yield* cache.status).mode !== "Connected" || (yield* cache.status).pendingReplay > 0) {
          if (Date.now() > deadline) assert.fail("no recovery")
          yield* sleep(50)
        }
        assert.strictEqual((yield* cache.stats).l1.entries, 0)
        assert.deepStrictEqual(yield* cache.get("while-down"), Option.some(2))
      }))

    it.effect("spans on Redis operations by default, none with spanRedis: false", () =>
      Effect.gen(function*() {
        const { Layer, Tracer } = yield* Effect.promise(() => import("effect"))
        const { CacheTracingOptions } = yield* Effect.promise(() => import("../src/index.js"))
        const server = yield* freshTopology
        const spanNames = (spanRedis: boolean | undefined) =>
          Effect.gen(function*() {
            const names: Array<string> = []
            const tracer = Tracer.make({
              span: (options) => {
                names.push(options.name)
                return Tracer.nativeTracer.span(options)
              }
            })
            const tracing = { spanL1Hits: false, includeKeys: false, keyHash: (k: string) => k, spanRedis }
            yield* Effect.scoped(Effect.gen(function*() {
              const cache = yield* redisCache({ ...server.connect(), enableL1: false })
              yield* cache.set("k", 1)
              yield* cache.get("k")
              yield* cache.delete("k")
            })).pipe(Effect.provide(Layer.succeed(CacheTracingOptions, tracing)), Effect.withTracer(tracer))
            return names.filter((name) => name.startsWith("Cache."))
          })
        assert.deepStrictEqual(yield* spanNames(undefined), ["Cache.set", "Cache.get", "Cache.delete"])
        assert.deepStrictEqual(yield* spanNames(false), [])
      }))

    it.effect("a closed layer closes its connection", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        yield* Effect.scoped(Effect.gen(function*() {
          const cache = yield* redisCache({ ...server.connect(), cacheName: "closing" })
          yield* cache.set("k", 1)
          assert.include(yield* server.clientList, "effect-redis-cache:closing")
        }))
        yield* sleep(100)
        assert.notInclude(yield* server.clientList, "effect-redis-cache:closing")
      }))

    it.effect("a process that builds and closes the layer exits by itself (no open handles)", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const script = fileURLToPath(new URL("./support/closes-cleanly.ts", import.meta.url))
        const exit = yield* Effect.exit(Effect.callback<string, Error>((resume) => {
          const child = execFile(
            process.execPath,
            ["--import", "tsx", script, JSON.stringify(server.connect())],
            { timeout: 30_000 },
            (error, stdout) => resume(error ? Effect.fail(error) : Effect.succeed(stdout))
          )
          return Effect.sync(() => child.kill("SIGKILL"))
        }))
        assert.isTrue(Exit.isSuccess(exit), String(exit))
        assert.include(Exit.isSuccess(exit) ? exit.value : "", "closed")
      }))
  })
})
