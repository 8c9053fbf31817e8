import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Layer, Option } from "effect"
import { AIResponseCache } from "../../src/ai/AIResponseCache.js"
import { Cache } from "../../src/Cache.js"
import type { ConfigurationError, ValidationError } from "../../src/errors.js"
import { CacheFactory, layerFromEnv } from "../../src/factory/CacheFactory.js"
import { configFromEnv } from "../../src/factory/config.js"
import type { SecurityConfig } from "../../src/security/SecurityConfig.js"
import { startRedisServer } from "../support/RedisServer.js"

const withEnv = (env: Record<string, string>) => Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))

const resolve = (env: Record<string, string>) => configFromEnv.pipe(withEnv(env))

const failure = (env: Record<string, string>) => Effect.flip(resolve(env))

const seconds = (input: unknown) => Duration.toSeconds(Duration.fromInputUnsafe(input as Duration.Input))

describe("configFromEnv", () => {
  it.effect("nothing set: the development preset, Redis options only", () =>
    Effect.gen(function*() {
      const config = yield* resolve({})
      assert.strictEqual(config.preset, "development")
      assert.isFalse(config.enableAiCache)
      assert.isFalse(config.memoryOnly)
      assert.strictEqual(seconds(config.options.defaultTtl), 600)
      assert.strictEqual(config.options.l1MaxEntries, 50)
      assert.strictEqual(config.options.compressionLevel, 3)
      assert.strictEqual(seconds(config.options.connectTimeout), 2)
      assert.isUndefined(config.options.redisUrl)
      assert.isUndefined(config.options.textHashThreshold)
      assert.strictEqual(config.sources.defaultTtl, "preset")
    }))

  it.effect("testing is read as development; names are trimmed and case-insensitive", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* resolve({ CACHE_PRESET: "testing" })).preset, "development")
      assert.strictEqual((yield* resolve({ CACHE_PRESET: " Production " })).preset, "production")
      assert.isTrue((yield* resolve({ CACHE_PRESET: "disabled" })).memoryOnly)
    }))

  it.effect("an unknown preset is a ConfigurationError naming CACHE_PRESET, never a fallback", () =>
    Effect.gen(function*() {
      const error = yield* failure({ CACHE_PRESET: "turbo" })
      assert.strictEqual(error._tag, "ConfigurationError")
      assert.strictEqual(error.field, "CACHE_PRESET")
      assert.strictEqual(error.value, "turbo")
      assert.include(error.message, "turbo")
    }))

  it.effect("a bad CACHE_REDIS_URL names the variable and hides the password", () =>
    Effect.gen(function*() {
      const error = yield* failure({ CACHE_REDIS_URL: "http://:pw-secret@cache:6379" })
      assert.strictEqual(error.field, "CACHE_REDIS_URL")
      assert.include(error.rule, "redis://")
      assert.notInclude(JSON.stringify(error), "pw-secret")
      assert.notInclude(error.message, "pw-secret")
    }))

  it.effect("ENABLE_AI_CACHE: true/1/yes and false/0/no; anything else is a ConfigurationError", () =>
    Effect.gen(function*() {
      for (const yes of ["true", "1", "yes", "YES"]) {
        const config = yield* resolve({ CACHE_PRESET: "production", ENABLE_AI_CACHE: yes })
        assert.isTrue(config.enableAiCache, yes)
      }
      for (const no of ["false", "0", "no"]) {
        const config = yield* resolve({ CACHE_PRESET: "ai-production", ENABLE_AI_CACHE: no })
        assert.isFalse(config.enableAiCache, no)
        assert.isUndefined(config.options.operationTtls)
      }
      const error = yield* failure({ ENABLE_AI_CACHE: "maybe" })
      assert.strictEqual(error.field, "ENABLE_AI_CACHE")
      assert.strictEqual(error.value, "maybe")
    }))

  it.effect("an AI preset brings its AI settings", () =>
    Effect.gen(function*() {
      const config = yield* resolve({ CACHE_PRESET: "ai-development" })
      assert.isTrue(config.enableAiCache)
      assert.strictEqual(config.options.textHashThreshold, 500)
      assert.strictEqual(seconds(config.options.operationTtls?.summarize), 1800)
      assert.strictEqual(config.options.maxTextLength, 50_000)
    }))

  it.effect("precedence: CACHE_CUSTOM_CONFIG over the environment over the preset", () =>
    Effect.gen(function*() {
      const config = yield* resolve({
        CACHE_PRESET: "production",
        CACHE_REDIS_URL: "redis://from-env:6379",
        CACHE_CUSTOM_CONFIG: JSON.stringify({ redisUrl: "redis://from-json:6379", defaultTtl: "5 minutes" })
      })
      assert.strictEqual(config.options.redisUrl, "redis://from-json:6379")
      assert.strictEqual(seconds(config.options.defaultTtl), 300)
      assert.strictEqual(config.options.l1MaxEntries, 500)
      assert.deepStrictEqual(
        [config.sources.redisUrl, config.sources.defaultTtl, config.sources.l1MaxEntries],
        ["CACHE_CUSTOM_CONFIG", "CACHE_CUSTOM_CONFIG", "preset"]
      )
      const envOnly = yield* resolve({ CACHE_PRESET: "production", CACHE_REDIS_URL: "redis://from-env:6379" })
      assert.strictEqual(envOnly.options.redisUrl, "redis://from-env:6379")
      assert.strictEqual(envOnly.sources.redisUrl, "environment")
      const aiByJson = yield* resolve({ ENABLE_AI_CACHE: "false", CACHE_CUSTOM_CONFIG: "{\"enableAiCache\":true,\"memoryCacheSize\":7}" })
      assert.isTrue(aiByJson.enableAiCache)
      assert.strictEqual(aiByJson.options.l1MaxEntries, 7)
    }))

  it.effect("CACHE_CUSTOM_CONFIG that is not JSON, not an object, or breaks a rule: a ConfigurationError naming it", () =>
    Effect.gen(function*() {
      const notJson = yield* failure({ CACHE_CUSTOM_CONFIG: "{defaultTtl: 5" })
      assert.strictEqual(notJson.field, "CACHE_CUSTOM_CONFIG")
      assert.include(notJson.message, "not valid JSON")
      const echoed = yield* failure({ CACHE_CUSTOM_CONFIG: "redis://:json-secret@host" })
      assert.include(echoed.message, "not valid JSON")
      assert.notInclude(JSON.stringify(echoed), "json-secret")
      const array = yield* failure({ CACHE_CUSTOM_CONFIG: "[1]" })
      assert.strictEqual(array.field, "CACHE_CUSTOM_CONFIG")
      const broken = yield* failure({ CACHE_CUSTOM_CONFIG: JSON.stringify({ defaultTtl: 0, compressionLevel: 11 }) })
      assert.strictEqual(broken.field, "CACHE_CUSTOM_CONFIG.defaultTtl")
      assert.include(broken.message, "CACHE_CUSTOM_CONFIG")
      assert.include(broken.message, "compressionLevel=11")
      assert.sameMembers(
        (broken.cause as ValidationError).issues.map((issue) => issue.field),
        ["defaultTtl", "compressionLevel"]
      )
      const unknown = yield* failure({ CACHE_CUSTOM_CONFIG: JSON.stringify({ default_ttl: 60 }) })
      assert.strictEqual(unknown.field, "CACHE_CUSTOM_CONFIG.default_ttl")
      assert.include(unknown.rule, "is not a known option")
      const secret = yield* failure({ CACHE_CUSTOM_CONFIG: JSON.stringify({ redisUrl: "http://:json-pw@x" }) })
      assert.strictEqual(secret.field, "CACHE_CUSTOM_CONFIG.redisUrl")
      assert.notInclude(JSON.stringify(secret), "json-pw")
    }))

  it.effect("REDIS_* security variables pass through; a bad one names its variable", () =>
    Effect.gen(function*() {
      const config = yield* resolve({ REDIS_AUTH: "a-long-password-123" })
      assert.strictEqual(config.sources.security, "environment")
      assert.isTrue((config.options.security as SecurityConfig).hasAuthentication)
      assert.isUndefined((yield* resolve({})).options.security)
      const error: ConfigurationError = yield* failure({ REDIS_AUTH: "pw", REDIS_MAX_RETRIES: "many" })
      assert.strictEqual(error.field, "REDIS_MAX_RETRIES")
    }))
})

describe("CacheFactory.fromEnv", () => {
  it.effect("the disabled preset: a memory cache of 10 entries and 5 minutes", () =>
    Effect.gen(function*() {
      const status = yield* Cache.status()
      assert.strictEqual(status.mode, "Memory")
      assert.strictEqual(status.l1.maxEntries, 10)
      yield* Cache.set("k", 1)
      assert.strictEqual(Duration.toSeconds(Option.getOrThrow(yield* Cache.ttl("k"))), 300)
    }).pipe(Effect.provide(CacheFactory.fromEnv().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
      CACHE_PRESET: "disabled"
    })))))))

  it.effect("a bad variable fails the layer with its ConfigurationError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(layerFromEnv()))
      assert.strictEqual(error._tag, "ConfigurationError")
    }).pipe(withEnv({ CACHE_PRESET: "nope" })))

  it.live("end to end against Redis: preset, URL and JSON override, operation TTLs applied", () =>
    Effect.gen(function*() {
      const redis = yield* startRedisServer()
      yield* Effect.gen(function*() {
        assert.strictEqual((yield* Cache.status()).mode, "Connected")
        assert.strictEqual((yield* Cache.status()).l1.maxEntries, 500)
        yield* Cache.set("plain", "v")
        const plain = Number(yield* redis.cli("PTTL", "cache:plain"))
        assert.isTrue(plain > 290_000 && plain <= 300_000, `PTTL ${plain}`)
      }).pipe(
        Effect.provide(layerFromEnv()),
        withEnv({
          CACHE_PRESET: "production",
          CACHE_REDIS_URL: redis.url,
          CACHE_CUSTOM_CONFIG: JSON.stringify({ defaultTtl: "5 minutes" })
        })
      )
      yield* Effect.gen(function*() {
        const ai = yield* AIResponseCache
        yield* ai.cacheResponse("a text", "summarize", {}, "summary")
        const key = yield* ai.buildKey("a text", "summarize", {})
        const stored = Number(yield* redis.cli("PTTL", `cache:${key}`))
        assert.isTrue(stored > 1790_000 && stored <= 1800_000, `PTTL ${stored}`)
      }).pipe(Effect.provide(layerFromEnv()), withEnv({ CACHE_PRESET: "ai-development", CACHE_REDIS_URL: redis.url }))
    }))
})
