import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Schema } from "effect"
import { TestClock } from "effect/testing"
import { AIResponseCache, textTierOf } from "../../src/ai/AIResponseCache.js"
import { Cache } from "../../src/Cache.js"
import type { ValidationError } from "../../src/errors.js"
import { CacheFactory } from "../../src/factory/CacheFactory.js"
import { CacheMonitor } from "../../src/monitoring/CacheMonitor.js"
import { cacheAclRule } from "../../src/security/aclRule.js"
import { startRedisServer } from "../support/RedisServer.js"

const inMemory = (options: Parameters<typeof AIResponseCache.layer>[0] = {}) =>
  AIResponseCache.layer(options).pipe(Layer.provideMerge(Cache.layerMemory()))

const ttlMillis = (key: string) => Effect.map(Cache.ttl(key), (ttl) => Duration.toMillis(Option.getOrThrow(ttl)))

describe("AIResponseCache on a memory cache", () => {
  it.effect("buildKey: the original's format; bad input is a ValidationError", () =>
    Effect.gen(function*() {
      const ai = yield* AIResponseCache
      assert.strictEqual(yield* ai.buildKey("Hello world|a:b", "summarize", {}), "ai_cache:op:summarize|txt:Hello world_a_b")
      assert.strictEqual(yield* ai.buildKey("Hello world", "qa", { question: "What?" }), "ai_cache:op:qa|txt:Hello world|opts:2cb720e4|q:da49e93f")
      const error = yield* Effect.flip(ai.buildKey(null as unknown as string, "", { at: new Date() }))
      assert.strictEqual(error._tag, "ValidationError")
      assert.sameMembers(error.issues.map((i) => i.field), ["text", "operation", "options.at"])
      assert.isTrue(error.message.startsWith("Invalid AI cache key input: "))
    }).pipe(Effect.provide(inMemory())))

  it.effect("stores with the operation's TTL, the cache default otherwise, an explicit TTL first", () =>
    Effect.gen(function*() {
      const ai = yield* AIResponseCache
      yield* ai.cacheResponse("text", "summarize", {}, "summary")
      yield* ai.cacheResponse("text", "sentiment", {}, "positive")
      yield* ai.cacheResponse("text", "translate", {}, "texte")
      yield* ai.cacheResponse("text", "qa", { question: "Why?" }, "because", { ttl: "1 minute" })
      assert.strictEqual(yield* ttlMillis(yield* ai.buildKey("text", "summarize", {})), 2 * 3_600_000)
      assert.strictEqual(yield* ttlMillis(yield* ai.buildKey("text", "sentiment", {})), 900_000)
      assert.strictEqual(yield* ttlMillis(yield* ai.buildKey("text", "translate", {})), 3_600_000)
      assert.strictEqual(yield* ttlMillis(yield* ai.buildKey("text", "qa", { question: "Why?" })), 60_000)
      assert.deepStrictEqual(Option.map(ai.ttlFor("sentiment"), Duration.toMillis), Option.some(900_000))
      assert.isTrue(Option.isNone(ai.ttlFor("translate")))
      yield* TestClock.adjust("16 minutes")
      assert.isTrue(Option.isNone(yield* ai.getCachedResponse("text", "sentiment", {})))
      assert.deepStrictEqual(yield* ai.getCachedResponse("text", "summarize", {}), Option.some("summary"))
    }).pipe(Effect.provide(inMemory({ operationTtls: { summarize: "2 hours", sentiment: Duration.minutes(15) } }))))

  it.effect("a schema encodes on store and decodes on read", () =>
    Effect.gen(function*() {
      const Answer = Schema.Struct({ text: Schema.String, at: Schema.Date })
      const ai = yield* AIResponseCache
      const value = { text: "yes", at: new Date(0) }
      yield* ai.cacheResponse("q", "qa", {}, value, { schema: Answer })
      const read = yield* ai.getCachedResponse("q", "qa", {}, Answer)
      assert.deepStrictEqual(read, Option.some(value))
    }).pipe(Effect.provide(inMemory())))

  it.effect("AI metrics: hits and misses by operation, text tiers, latencies; key generation reaches the monitor", () =>
    Effect.gen(function*() {
      const ai = yield* AIResponseCache
      yield* ai.getCachedResponse("short", "summarize")
      yield* ai.cacheResponse("short", "summarize", undefined, "s")
      yield* ai.getCachedResponse("short", "summarize")
      yield* ai.getCachedResponse("m".repeat(20), "sentiment")
      yield* ai.getCachedResponse("x".repeat(200), "sentiment")
      const metrics = yield* ai.getAIMetrics
      assert.deepStrictEqual(metrics.cacheHitsByOperation, { summarize: 1 })
      assert.deepStrictEqual(metrics.cacheMissesByOperation, { summarize: 1, sentiment: 2 })
      assert.deepStrictEqual(metrics.textTierDistribution, { small: 3, medium: 1, large: 0, xlarge: 1 })
      const performance = yield* ai.getOperationPerformance
      assert.strictEqual(performance.summarize?.count, 3)
      assert.strictEqual(performance.summarize?.hitRate, 50)
      assert.isDefined(performance.sentiment?.p99DurationMillis)
      const keys = yield* ai.getKeyGenerationStats
      assert.strictEqual(keys.totalKeysGenerated, 5)
      assert.deepStrictEqual(keys.operationDistribution, { summarize: 3, sentiment: 2 })
      assert.strictEqual(keys.textSizeDistribution.large, 1)
      assert.strictEqual(keys.monitor?.totalOperations, 5)
      const monitor = yield* CacheMonitor
      assert.strictEqual((yield* monitor.getPerformanceStats).keyGeneration?.totalOperations, 5)
      const summary = yield* ai.getAIPerformanceSummary
      assert.strictEqual(summary.totalOperations, 5)
      assert.strictEqual(summary.overallHitRate, 25)
      assert.deepStrictEqual(summary.hitRateByOperation.sentiment, { hits: 0, misses: 2, hitRate: 0 })
      const tiers = yield* ai.getTextTierStatistics
      assert.deepStrictEqual(tiers.tierConfiguration, { small: 10, medium: 100, large: 150 })
      assert.strictEqual(tiers.tierPerformance.small.hits, 1)
      const perf = yield* ai.getPerformanceSummary
      assert.strictEqual(perf.recentAiOperations.length, 5)
      assert.deepStrictEqual(perf.aiMissMetrics, { summarize: 1, sentiment: 2 })
      assert.isNumber(yield* ai.getCacheHitRatio)
      const stats = yield* ai.getCacheStats
      assert.strictEqual(stats.redis.status, "not_configured")
      assert.strictEqual(stats.memory.memoryCacheEntries, 1)
      yield* ai.resetAIMetrics
      assert.strictEqual((yield* ai.getAIMetrics).operationsTracked, 0)
    }).pipe(Effect.provide(inMemory({ textSizeTiers: { small: 10, medium: 100, large: 150 }, textHashThreshold: 100 }))))

  it.effect("latency records are bounded to the last 1000 calls", () =>
    Effect.gen(function*() {
      const ai = yield* AIResponseCache
      yield* Effect.forEach(Array.from({ length: 1010 }, (_, i) => i), (i) => ai.getCachedResponse(`t${i}`, "op"), {
        discard: true
      })
      assert.strictEqual((yield* ai.getAIMetrics).operationsTracked, 1000)
      assert.strictEqual((yield* ai.getOperationPerformance).op?.count, 1000)
      assert.strictEqual((yield* ai.getAIMetrics).cacheMissesByOperation.op, 1010)
    }).pipe(Effect.provide(inMemory())))

  it.effect("recommendations from the metrics", () =>
    Effect.gen(function*() {
      const ai = yield* AIResponseCache
      for (let i = 0; i < 12; i++) yield* ai.getCachedResponse(`text ${i}`, "summarize")
      const recommendations = yield* ai.getOptimizationRecommendations
      const low = recommendations.find((r) => r.issue === "Low hit rate")
      assert.strictEqual(low?.operation, "summarize")
      assert.include(low?.suggestions[0] ?? "", "operationTtls")
    }).pipe(Effect.provide(inMemory())))

  it.effect("maxTextLength and text tiers", () =>
    Effect.gen(function*() {
      const ai = yield* AIResponseCache
      const error = yield* Effect.flip(ai.cacheResponse("x".repeat(11), "op", {}, 1))
      assert.strictEqual(error._tag, "ValidationError")
      assert.include(error.message, "maxTextLength")
      assert.strictEqual(yield* ai.getTextTier("x".repeat(499)), "small")
      assert.strictEqual(yield* ai.getTextTier("x".repeat(500)), "medium")
      assert.strictEqual(textTierOf(50_000, ai.settings.textSizeTiers), "xlarge")
      assert.strictEqual((yield* Effect.flip(ai.getTextTier(3 as unknown as string)))._tag, "ValidationError")
    }).pipe(Effect.provide(inMemory({ maxTextLength: 10 }))))

  it.effect("bad options are reported together", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(inMemory({
        textHashThreshold: 0,
        textSizeTiers: { small: 3, medium: 2, large: 1 },
        operationTtls: { summarize: -1 }
      })))
      assert.strictEqual(error._tag, "ValidationError")
      assert.sameMembers((error as ValidationError).issues.map((i) => i.field), [
        "textHashThreshold",
        "textSizeTiers",
        "operationTtls.summarize"
      ])
    }))

  it.effect("an empty operation name and a bad operation TTL are reported together", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(inMemory({ operationTtls: { "": "1 hour", summarize: 0, "a|b": -1 } })))
      assert.strictEqual(error._tag, "ValidationError")
      const issues = (error as ValidationError).issues.map((i) => `${i.field}: ${i.rule}`)
      assert.includeMembers(issues, [
        "operationTtls.: operation names must not be empty",
        "operationTtls.summarize: must be positive (zero or negative durations are rejected, not read as \"forever\")",
        "operationTtls.a|b: operation names must not contain '|' (it separates the key's parts)"
      ])
      assert.strictEqual(issues.filter((issue) => issue.startsWith("operationTtls.a|b: ")).length, 2)
    }))
})

describe("AIResponseCache at its default threshold (1000), as the original's boundary test", () => {
  // What the original keeps in the key for a text of `length` characters.
  const keptKey = (text: string) => `ai_cache:op:summarize|txt:${text}`

  it.effect("memory layer: 999 and 1000 characters stay in the key, 1001 are hashed; each is stored and read", () =>
    Effect.gen(function*() {
      const ai = yield* AIResponseCache
      assert.strictEqual(ai.settings.textHashThreshold, 1000)
      for (const text of ["a".repeat(999), "a".repeat(1000), "😀".repeat(1000)]) {
        const key = yield* ai.buildKey(text, "summarize", {})
        assert.strictEqual(key, keptKey(text))
        yield* ai.cacheResponse(text, "summarize", {}, `summary of ${text.length}`)
        assert.deepStrictEqual(yield* Cache.get(key), Option.some(`summary of ${text.length}`))
      }
      const long = yield* ai.buildKey("a".repeat(1001), "summarize", {})
      assert.match(long, /^ai_cache:op:summarize\|txt:hash:[0-9a-f]{16}$/)
      const withParts = yield* ai.buildKey("a".repeat(1000), "qa", { question: "Why?", model: "m" })
      assert.notInclude(withParts, "hash:")
    }).pipe(Effect.provide(inMemory())))

  it.live("over Redis: the key Redis holds is the original's, kept up to 1000 characters, hashed at 1001", () =>
    Effect.gen(function*() {
      const redis = yield* startRedisServer()
      yield* Effect.gen(function*() {
        const ai = yield* AIResponseCache
        for (const length of [999, 1000]) {
          const text = "b".repeat(length)
          yield* ai.cacheResponse(text, "summarize", {}, length)
          assert.strictEqual(yield* redis.cli("EXISTS", `cache:${keptKey(text)}`), "1", `${length} characters`)
          assert.deepStrictEqual(yield* ai.getCachedResponse(text, "summarize", {}), Option.some(length))
        }
        yield* ai.cacheResponse("b".repeat(1001), "summarize", {}, 1001)
        const hashed = (yield* redis.cli("KEYS", "cache:ai_cache:op:summarize|txt:hash:*")).split("\n")
        assert.strictEqual(hashed.length, 1)
        assert.match(hashed[0]!, /^cache:ai_cache:op:summarize\|txt:hash:[0-9a-f]{16}$/)
        assert.strictEqual(yield* redis.cli("DBSIZE"), "3")
      }).pipe(Effect.provide(AIResponseCache.layer().pipe(Layer.provideMerge(Cache.layerRedis({ redisUrl: redis.url })))))
    }))
})

describe("AIResponseCache against Redis", () => {
  it.live("operation TTLs are applied in Redis (PTTL)", () =>
    Effect.gen(function*() {
      const redis = yield* startRedisServer()
      yield* Effect.gen(function*() {
        const ai = yield* AIResponseCache
        const pttlOf = (operation: string) =>
          Effect.flatMap(ai.buildKey("doc", operation, { model: "m" }), (key) => redis.cli("PTTL", `cache:${key}`)).pipe(
            Effect.map(Number)
          )
        yield* ai.cacheResponse("doc", "summarize", { model: "m" }, "s")
        yield* ai.cacheResponse("doc", "sentiment", { model: "m" }, "p")
        yield* ai.cacheResponse("doc", "other", { model: "m" }, "o")
        const summarize = yield* pttlOf("summarize")
        const sentiment = yield* pttlOf("sentiment")
        const other = yield* pttlOf("other")
        assert.isTrue(summarize > 7_190_000 && summarize <= 7_200_000, `summarize ${summarize}`)
        assert.isTrue(sentiment > 890_000 && sentiment <= 900_000, `sentiment ${sentiment}`)
        assert.isTrue(other > 3_590_000 && other <= 3_600_000, `other ${other}`)
      }).pipe(Effect.provide(CacheFactory.forAIApp({
        redisUrl: redis.url,
        operationTtls: { summarize: "2 hours", sentiment: "15 minutes" }
      })))
    }))

  it.live("invalidateByOperation, invalidatePattern and clear touch only what they name", () =>
    Effect.gen(function*() {
      const redis = yield* startRedisServer()
      yield* Effect.gen(function*() {
        const ai = yield* AIResponseCache
        for (const text of ["Hello world", "Goodbye", "a*b"]) {
          yield* ai.cacheResponse(text, "summarize", {}, `sum ${text}`)
          yield* ai.cacheResponse(text, "sum", {}, `short ${text}`)
        }
        yield* Cache.set("plain:Hello world", "not AI")
        const keysInRedis = Effect.map(redis.cli("DBSIZE"), Number)
        assert.strictEqual(yield* keysInRedis, 7)

        assert.strictEqual(yield* ai.invalidateByOperation("summarize"), 3)
        assert.strictEqual(yield* keysInRedis, 4)
        assert.isTrue(Option.isSome(yield* ai.getCachedResponse("Hello world", "sum")))
        assert.isTrue(Option.isNone(yield* ai.getCachedResponse("Hello world", "summarize")))

        // A pattern is literal text: "*" matches only the key that contains a "*".
        assert.strictEqual(yield* ai.invalidatePattern("*"), 1)
        assert.strictEqual(yield* ai.invalidatePattern("Hello"), 1)
        assert.deepStrictEqual(yield* Cache.get("plain:Hello world"), Option.some("not AI"))
        assert.strictEqual(yield* keysInRedis, 2)

        const validation = yield* Effect.flip(ai.invalidateByOperation(""))
        assert.strictEqual(validation._tag, "ValidationError")

        assert.strictEqual(yield* ai.clear, 1)
        assert.strictEqual(yield* keysInRedis, 1)
        assert.strictEqual(yield* redis.cli("EXISTS", "cache:plain:Hello world"), "1")

        const stats = yield* ai.getCacheStats
        assert.strictEqual(stats.redis.status, "connected")
        if (stats.redis.status === "connected") {
          assert.strictEqual(stats.redis.keys, 1)
          assert.isAbove(stats.redis.memoryUsedBytes, 0)
        }
      }).pipe(Effect.provide(CacheFactory.forAIApp({ redisUrl: redis.url })))
    }))
  it.live("getCacheStats works for a user limited to cacheAclRule (key count from INFO, not DBSIZE)", () =>
    Effect.gen(function*() {
      const redis = yield* startRedisServer()
      const password = "ai-cache-Password-0123456789"
      const rule = cacheAclRule({ prefix: "cache:", select: true }).split(" ")
      assert.strictEqual(yield* redis.cli("ACL", "SETUSER", "cache", "on", `>${password}`, ...rule), "OK")
      yield* redis.cli("-n", "3", "SET", "elsewhere", "x")
      yield* Effect.gen(function*() {
        const ai = yield* AIResponseCache
        yield* ai.cacheResponse("Hello world", "summarize", {}, "s")
        yield* ai.cacheResponse("Goodbye", "summarize", {}, "g")
        const stats = yield* ai.getCacheStats
        assert.strictEqual(stats.redis.status, "connected", JSON.stringify(stats.redis))
        if (stats.redis.status === "connected") {
          assert.strictEqual(stats.redis.keys, 2, "the keys of the cache's database")
          assert.isAbove(stats.redis.memoryUsedBytes, 0)
          assert.isAtLeast(stats.redis.connectedClients, 1)
        }
        // The one refusal the rule makes on purpose: CONFIG GET proto-max-bulk-len (docs/redis-tier.md).
        const log = (yield* redis.cli("ACL", "LOG")).split("\n")
        const refused = log.flatMap((line, i) => line === "object" ? [log[i + 1]] : [])
        assert.deepStrictEqual(refused.filter((object) => object !== "config|get"), [], log.join("\n"))
      }).pipe(Effect.provide(CacheFactory.forAIApp({ redisUrl: `redis://cache:${password}@127.0.0.1:${redis.port}/2` })))
    }))
})
