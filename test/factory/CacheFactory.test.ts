import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Logger, Option, Redacted } from "effect"
import { AIResponseCache } from "../../src/ai/AIResponseCache.js"
import { Cache } from "../../src/Cache.js"
import type { ValidationError } from "../../src/errors.js"
import { CacheFactory } from "../../src/factory/CacheFactory.js"
import { CacheMonitor } from "../../src/monitoring/CacheMonitor.js"
import { SecurityConfig } from "../../src/security/SecurityConfig.js"
import { freePort, startRedisServer } from "../support/RedisServer.js"

const millisOf = (ttl: Option.Option<Duration.Duration>) => Duration.toMillis(Option.getOrThrow(ttl))

const pttl = (redis: { cli: (...args: ReadonlyArray<string>) => Effect.Effect<string> }, ...args: Array<string>) =>
  Effect.map(redis.cli(...args), Number)

/** The error a layer fails to build with. */
const buildError = <A, E>(layer: Layer.Layer<A, E>) => Effect.flip(Layer.build(layer))

const fields = (error: ValidationError) => error.issues.map((issue) => issue.field)

const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make<unknown, void>(({ message }) => {
    lines.push(Array.isArray(message) ? message.join(" ") : String(message))
  })
  return { lines, layer: Logger.layer([logger]) }
}

describe("CacheFactory defaults, end to end against Redis", () => {
  it.live("forWebApp: 30 minutes, L1 of 200, compression above 2000 bytes, named web_app", () =>
    Effect.gen(function*() {
      const redis = yield* startRedisServer()
      yield* Effect.gen(function*() {
        const status = yield* Cache.status()
        assert.strictEqual(status.mode, "Connected")
        assert.strictEqual(status.l1.maxEntries, 200)
        yield* Cache.set("page", { html: "<p>hi</p>" })
        const ttl = millisOf(yield* Cache.ttl("page"))
        assert.isTrue(ttl > 29 * 60_000 && ttl <= 30 * 60_000, `ttl ${ttl}`)
        const inRedis = yield* pttl(redis, "PTTL", "cache:page")
        assert.isTrue(inRedis > 29 * 60_000 && inRedis <= 30 * 60_000, `PTTL ${inRedis}`)
        assert.strictEqual((yield* Cache.status()).l1.entries, 1)
        const monitor = yield* CacheMonitor
        yield* Cache.set("small", "a".repeat(1500))
        assert.isTrue((yield* monitor.getCompressionStats).noMeasurements)
        yield* Cache.set("large", "a".repeat(3000))
        assert.isFalse((yield* monitor.getCompressionStats).noMeasurements)
        assert.include(yield* redis.cli("CLIENT", "LIST"), "name=effect-redis-cache:web_app")
      }).pipe(Effect.provide(CacheFactory.forWebApp({ redisUrl: redis.url })))
    }))

  it.live("forAIApp: 1 hour, L1 of 100, texts above 500 characters hashed", () =>
    Effect.gen(function*() {
      const redis = yield* startRedisServer()
      yield* Effect.gen(function*() {
        assert.strictEqual((yield* Cache.status()).l1.maxEntries, 100)
        yield* Cache.set("answer", 42)
        const inRedis = yield* pttl(redis, "PTTL", "cache:answer")
        assert.isTrue(inRedis > 59 * 60_000 && inRedis <= 60 * 60_000, `PTTL ${inRedis}`)
        const ai = yield* AIResponseCache
        assert.strictEqual(ai.settings.textHashThreshold, 500)
        assert.notInclude(yield* ai.buildKey("w".repeat(500), "summarize"), "hash:")
        assert.include(yield* ai.buildKey("w".repeat(501), "summarize"), "hash:")
        assert.include(yield* redis.cli("CLIENT", "LIST"), "name=effect-redis-cache:ai_app")
      }).pipe(Effect.provide(CacheFactory.forAIApp({ redisUrl: redis.url })))
    }))

  it.live("forTesting: 60 seconds, no L1, on the database of the URL", () =>
    Effect.gen(function*() {
      const redis = yield* startRedisServer()
      yield* Effect.gen(function*() {
        yield* Cache.set("t", "v")
        const inRedis = yield* pttl(redis, "-n", "15", "PTTL", "cache:t")
        assert.isTrue(inRedis > 55_000 && inRedis <= 60_000, `PTTL ${inRedis}`)
        assert.strictEqual(yield* redis.cli("-n", "0", "EXISTS", "cache:t"), "0")
        const status = yield* Cache.status()
        assert.strictEqual(status.mode, "Connected")
        assert.strictEqual(status.l1.entries, 0)
        assert.deepStrictEqual(yield* Cache.get("t"), Option.some("v"))
      }).pipe(Effect.provide(CacheFactory.forTesting({ redisUrl: `${redis.url}/15` })))
    }))

  it.effect("forTesting with useMemoryCache: a memory cache of 50 entries and 60 seconds", () =>
    Effect.gen(function*() {
      const status = yield* Cache.status()
      assert.strictEqual(status.mode, "Memory")
      assert.strictEqual(status.l1.maxEntries, 50)
      yield* Cache.set("k", 1)
      assert.strictEqual(millisOf(yield* Cache.ttl("k")), 60_000)
    }).pipe(Effect.provide(CacheFactory.forTesting({ useMemoryCache: true }))))

  it.live("security passes through unchanged to the connection", () =>
    Effect.gen(function*() {
      const redis = yield* startRedisServer({ args: ["--requirepass", "factory-pw-123"] })
      const security = new SecurityConfig({ redisAuth: Redacted.make("factory-pw-123") })
      yield* Effect.gen(function*() {
        assert.strictEqual((yield* Cache.status()).mode, "Connected")
        yield* Cache.set("secured", 1)
        assert.strictEqual(yield* redis.cli("EXISTS", "cache:secured"), "1")
      }).pipe(Effect.provide(CacheFactory.forWebApp({ redisUrl: redis.url, security, failOnConnectionError: true })))
    }))

  it("documents the seed's defaults, with a loopback URL", () => {
    assert.strictEqual(CacheFactory.defaults.webApp.redisUrl, "redis://127.0.0.1:6379")
    assert.strictEqual(CacheFactory.defaults.testing.redisUrl, "redis://127.0.0.1:6379/15")
    assert.strictEqual(Duration.toSeconds(CacheFactory.defaults.webApp.defaultTtl), 1800)
    assert.strictEqual(Duration.toSeconds(CacheFactory.defaults.aiApp.defaultTtl), 3600)
    assert.strictEqual(CacheFactory.defaults.testing.compressionLevel, 1)
    assert.isFalse(CacheFactory.defaults.testing.enableL1)
  })
})

describe("CacheFactory validation", () => {
  const rejects = (
    name: string,
    layer: Layer.Layer<never, unknown>,
    field: string,
    rule: string
  ) =>
    it.effect(name, () =>
      Effect.gen(function*() {
        const error = yield* buildError(layer)
        assert.strictEqual((error as { _tag: string })._tag, "ValidationError")
        const validation = error as ValidationError
        assert.isTrue(validation.message.startsWith("Factory input validation failed: "), validation.message)
        const issue = validation.issues.find((i) => i.field === field)
        assert.isDefined(issue, `no issue for ${field} in ${validation.message}`)
        assert.include(issue!.rule, rule)
      }))

  rejects("a URL without redis://", CacheFactory.forWebApp({ redisUrl: "http://cache:6379" }), "redisUrl", "must start with 'redis://' or 'rediss://'")
  rejects("an empty URL", CacheFactory.forWebApp({ redisUrl: "" }), "redisUrl", "cannot be empty")
  rejects("a URL without a host", CacheFactory.forWebApp({ redisUrl: "redis://" }), "redisUrl", "host")
  rejects("a zero TTL", CacheFactory.forWebApp({ defaultTtl: 0 }), "defaultTtl", "must be positive")
  rejects("a negative TTL", CacheFactory.forAIApp({ defaultTtl: -5 }), "defaultTtl", "must be positive")
  rejects("a TTL over 365 days", CacheFactory.forTesting({ defaultTtl: Duration.days(366) }), "defaultTtl", "365 days")
  rejects("an L1 size of 0", CacheFactory.forWebApp({ l1MaxEntries: 0 }), "l1MaxEntries", "between 1 and")
  rejects("compression level 0", CacheFactory.forWebApp({ compressionLevel: 0 }), "compressionLevel", "between 1 and 9")
  rejects("compression level 10", CacheFactory.forAIApp({ compressionLevel: 10 }), "compressionLevel", "between 1 and 9")
  rejects("a fractional compression level", CacheFactory.forWebApp({ compressionLevel: 1.5 }), "compressionLevel", "integer")
  rejects("a negative compression threshold", CacheFactory.forWebApp({ compressionThreshold: -1 }), "compressionThreshold", "between 0 and")
  rejects(
    "a non-boolean enableL1",
    CacheFactory.forWebApp({ enableL1: "yes" } as unknown as Parameters<typeof CacheFactory.forWebApp>[0]),
    "enableL1",
    "boolean"
  )
  rejects(
    "a non-boolean failOnConnectionError",
    CacheFactory.forTesting({ failOnConnectionError: 1 } as unknown as Parameters<typeof CacheFactory.forTesting>[0]),
    "failOnConnectionError",
    "boolean"
  )
  rejects("a text hash threshold of 0", CacheFactory.forAIApp({ textHashThreshold: 0 }), "textHashThreshold", "between 1 and")
  rejects("a memory cache size of 0", CacheFactory.forAIApp({ memoryCacheSize: 0 }), "memoryCacheSize", "between 1 and")
  rejects(
    "memoryCacheSize and l1MaxEntries that disagree",
    CacheFactory.forAIApp({ memoryCacheSize: 10, l1MaxEntries: 20 }),
    "memoryCacheSize",
    "conflicts with l1MaxEntries"
  )
  rejects(
    "operationTtls that is not a record",
    CacheFactory.forAIApp({ operationTtls: "1h" } as unknown as Parameters<typeof CacheFactory.forAIApp>[0]),
    "operationTtls",
    "Expected"
  )
  rejects("an operation TTL of 0", CacheFactory.forAIApp({ operationTtls: { summarize: 0 } }), "operationTtls.summarize", "must be positive")
  rejects("an empty operation name", CacheFactory.forAIApp({ operationTtls: { "": 1000 } }), "operationTtls.", "must not be empty")
  rejects(
    "an operation name with '|'",
    CacheFactory.forAIApp({ operationTtls: { "a|b": 1000 } }),
    "operationTtls.a|b",
    "must not contain '|'"
  )
  rejects(
    "text size tiers out of order",
    CacheFactory.forAIApp({ textSizeTiers: { small: 500, medium: 100, large: 5000 } }),
    "textSizeTiers",
    "small < medium < large"
  )
  rejects(
    "an unknown option",
    CacheFactory.forWebApp({ redis_url: "redis://x" } as unknown as Parameters<typeof CacheFactory.forWebApp>[0]),
    "redis_url",
    "is not a known option"
  )

  it.effect("every problem at once, in one ValidationError", () =>
    Effect.gen(function*() {
      const error = yield* buildError(CacheFactory.forWebApp({
        redisUrl: "http://cache:6379",
        defaultTtl: 0,
        compressionLevel: 10,
        l1MaxEntries: -1
      }))
      assert.strictEqual(error._tag, "ValidationError")
      const validation = error as ValidationError
      assert.sameMembers(fields(validation), ["redisUrl", "defaultTtl", "compressionLevel", "l1MaxEntries"])
      for (const field of ["redisUrl=", "defaultTtl=", "compressionLevel=10", "l1MaxEntries=-1"]) {
        assert.include(validation.message, field)
      }
    }))

  it.effect("forAIApp: an empty operation name, a bad operation TTL and a bad cache TTL, all in one error", () =>
    Effect.gen(function*() {
      const error = yield* buildError(CacheFactory.forAIApp({
        redisUrl: "redis://127.0.0.1:1",
        defaultTtl: 0,
        operationTtls: { "": "1 hour", summarize: -5 }
      }))
      assert.strictEqual(error._tag, "ValidationError")
      const validation = error as ValidationError
      assert.isTrue(validation.message.startsWith("Factory input validation failed: "), validation.message)
      assert.sameMembers(fields(validation), ["defaultTtl", "operationTtls.", "operationTtls.summarize"])
      assert.include(validation.message, "operation names must not be empty")
      assert.include(validation.message, "operationTtls.summarize=-5: must be positive")
      // The same name and value problems through fromConfig.
      const fromConfig = yield* buildError(CacheFactory.fromConfig({ redisUrl: "redis://127.0.0.1:1", operationTtls: { "": 0 } }))
      assert.deepStrictEqual((fromConfig as ValidationError).issues.map((i) => i.rule), [
        "operation names must not be empty",
        "must be positive (zero or negative durations are rejected, not read as \"forever\")"
      ])
    }))

  it.effect("a password in a bad URL never reaches the error", () =>
    Effect.gen(function*() {
      const error = yield* buildError(CacheFactory.forWebApp({ redisUrl: "redis://:hunter2@/x", defaultTtl: 0 }))
      assert.notInclude(JSON.stringify(error), "hunter2")
      assert.notInclude(String(error), "hunter2")
    }))
})

describe("CacheFactory when Redis is unreachable", () => {
  it.live("falls back to memory: mode MemoryOnly, a warning, the mode change recorded, still serving", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const port = yield* freePort
      yield* Effect.gen(function*() {
        const status = yield* Cache.status()
        assert.strictEqual(status.mode, "MemoryOnly")
        assert.isTrue(Option.isSome(status.lastError))
        yield* Cache.set("k", "still here")
        assert.deepStrictEqual(yield* Cache.get("k"), Option.some("still here"))
        const connection = (yield* (yield* CacheMonitor).getPerformanceStats).connection
        assert.strictEqual(connection.currentMode, "MemoryOnly")
        assert.isAtLeast(connection.modeChanges, 1)
      }).pipe(Effect.provide(CacheFactory.forWebApp({ redisUrl: `redis://127.0.0.1:${port}`, connectTimeout: "300 millis" })))
      assert.isTrue(logs.lines.some((line) => line.includes("is memory-only")), logs.lines.join("\n"))
    }).pipe(Effect.provide(logs.layer))
  })

  it.live("the AI cache falls back too and keeps working", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      yield* Effect.gen(function*() {
        assert.strictEqual((yield* Cache.status()).mode, "MemoryOnly")
        const ai = yield* AIResponseCache
        yield* ai.cacheResponse("some text", "summarize", {}, "a summary")
        assert.deepStrictEqual(yield* ai.getCachedResponse("some text", "summarize", {}), Option.some("a summary"))
      }).pipe(Effect.provide(CacheFactory.forAIApp({ redisUrl: `redis://127.0.0.1:${port}`, connectTimeout: "300 millis" })))
    }))

  const failFast = (
    name: string,
    make: (redisUrl: string) => Layer.Layer<never, unknown>,
    message: string,
    cacheType: string
  ) =>
    it.live(name, () =>
      Effect.gen(function*() {
        const port = yield* freePort
        const error = yield* buildError(make(`redis://:s3cr3t-pw@127.0.0.1:${port}`))
        assert.strictEqual((error as { _tag: string })._tag, "InfrastructureError")
        const failure = error as { message: string; context: Record<string, unknown>; cause?: { _tag: string } }
        assert.strictEqual(failure.message, message)
        assert.strictEqual(failure.context.cacheType, cacheType)
        assert.strictEqual(failure.context.failOnConnectionError, true)
        assert.include(String(failure.context.redisUrl), `127.0.0.1:${port}`)
        assert.strictEqual(failure.cause?._tag, "ConnectionError")
        for (const text of [JSON.stringify(failure.context), failure.message, String(failure.cause), String(error)]) {
          assert.notInclude(text, "s3cr3t-pw")
        }
      }))

  const fast = { failOnConnectionError: true, connectAttempts: 1, connectTimeout: "300 millis" } as const
  failFast(
    "failOnConnectionError: web",
    (redisUrl) => CacheFactory.forWebApp({ redisUrl, ...fast }),
    "Redis connection failed for web application cache",
    "web_app"
  )
  failFast(
    "failOnConnectionError: AI (the original dropped the flag)",
    (redisUrl) => CacheFactory.forAIApp({ redisUrl, ...fast }),
    "Redis connection failed for AI application cache",
    "ai_app"
  )
  failFast(
    "failOnConnectionError: testing",
    (redisUrl) => CacheFactory.forTesting({ redisUrl, ...fast }),
    "Redis connection failed for testing cache",
    "testing"
  )
})

describe("CacheFactory.fromConfig", () => {
  const rejects = (name: string, config: unknown, field: string, rule: string) =>
    it.effect(name, () =>
      Effect.gen(function*() {
        const error = yield* buildError(CacheFactory.fromConfig(config))
        assert.strictEqual(error._tag, "ValidationError")
        const validation = error as ValidationError
        const issue = validation.issues.find((i) => i.field === field)
        assert.isDefined(issue, validation.message)
        assert.include(issue!.rule, rule)
      }))

  rejects("a config that is not a dictionary", "redis://x", "config", "must be a dictionary")
  rejects("an array", [], "config", "must be a dictionary")
  rejects("null", null, "config", "must be a dictionary")
  rejects("an empty config", {}, "config", "cannot be empty")
  rejects("a config without redisUrl", { defaultTtl: "1 hour" }, "redisUrl", "is required in config")

  it.effect("a missing redisUrl and a bad value, together", () =>
    Effect.gen(function*() {
      const error = yield* buildError(CacheFactory.fromConfig({ compressionLevel: 12, preset: "nope" }))
      assert.sameMembers(fields(error as ValidationError), ["redisUrl", "compressionLevel", "preset"])
    }))

  it.effect("preset disabled, or an empty URL, gives a memory cache", () =>
    Effect.gen(function*() {
      for (const config of [{ preset: "disabled" }, { redisUrl: "" }, { redisUrl: "", defaultTtl: "2 minutes" }]) {
        yield* Effect.gen(function*() {
          assert.strictEqual((yield* Cache.status()).mode, "Memory")
          yield* Cache.set("k", 1)
          const expected = "defaultTtl" in config ? 120_000 : 300_000
          assert.strictEqual(millisOf(yield* Cache.ttl("k")), expected)
          assert.isDefined(yield* AIResponseCache)
        }).pipe(Effect.provide(CacheFactory.fromConfig(config)))
      }
    }))

  it.live("a plain config is a web app cache; an AI field makes it an AI app cache; a preset sets the base", () =>
    Effect.gen(function*() {
      const redis = yield* startRedisServer()
      const ttlOf = (config: Record<string, unknown>, key: string) =>
        Effect.gen(function*() {
          yield* Cache.set(key, "v")
          const ai = yield* AIResponseCache
          const pttl = Number(yield* redis.cli("PTTL", `cache:${key}`))
          return { pttl, l1: (yield* Cache.status()).l1.maxEntries, threshold: ai.settings.textHashThreshold }
        }).pipe(Effect.provide(CacheFactory.fromConfig({ redisUrl: redis.url, ...config })))
      const web = yield* ttlOf({}, "web")
      assert.isTrue(web.pttl > 59 * 60_000 && web.pttl <= 60 * 60_000)
      assert.strictEqual(web.l1, 100)
      const ai = yield* ttlOf({ textHashThreshold: 100 }, "ai")
      assert.isTrue(ai.pttl > 59 * 60_000 && ai.pttl <= 60 * 60_000)
      assert.strictEqual(ai.threshold, 100)
      assert.strictEqual(ai.l1, 100)
      const sized = yield* ttlOf({ memoryCacheSize: 42 }, "sized")
      assert.strictEqual(sized.l1, 42)
      assert.strictEqual(sized.threshold, 500)
      const production = yield* ttlOf({ preset: "production", l1MaxEntries: 300 }, "prod")
      assert.isTrue(production.pttl > 119 * 60_000 && production.pttl <= 120 * 60_000)
      assert.strictEqual(production.l1, 300)
    }))

  it.live("a record without AI fields gets the original's record defaults: 1 hour, L1 of 100, compression above 1000 bytes at level 6", () =>
    Effect.gen(function*() {
      const redis = yield* startRedisServer()
      // redis-cli --no-raw prints bytes escaped: a zlib stream at level 6 starts "x\x9c".
      const stored = (key: string) => redis.cli("--no-raw", "GET", `cache:${key}`)
      yield* Effect.gen(function*() {
        assert.strictEqual((yield* Cache.status()).l1.maxEntries, 100)
        yield* Cache.set("page", "p".repeat(1200))
        yield* Cache.set("small", "s".repeat(900))
        const pttl = Number(yield* redis.cli("PTTL", "cache:page"))
        assert.isTrue(pttl > 59 * 60_000 && pttl <= 60 * 60_000, `PTTL ${pttl}`)
        assert.include(yield* stored("page"), "x\\x9c", "a 1200-byte value is compressed at level 6")
        assert.include(yield* stored("small"), "s".repeat(900), "a 900-byte value is stored as is")
        assert.deepStrictEqual(yield* Cache.get("page"), Option.some("p".repeat(1200)))
        assert.include(yield* redis.cli("CLIENT", "LIST"), "name=effect-redis-cache:web_app")
        assert.strictEqual((yield* AIResponseCache).settings.textHashThreshold, 1000)
      }).pipe(Effect.provide(CacheFactory.fromConfig({ redisUrl: redis.url })))
      // The record's own fields still win over those defaults.
      yield* Effect.gen(function*() {
        assert.strictEqual((yield* Cache.status()).l1.maxEntries, 7)
        yield* Cache.set("own", "o".repeat(1200))
        assert.include(yield* stored("own"), "o".repeat(1200), "below the record's own threshold of 2000")
      }).pipe(Effect.provide(CacheFactory.fromConfig({ redisUrl: redis.url, l1MaxEntries: 7, compressionThreshold: 2000 })))
    }))
})
