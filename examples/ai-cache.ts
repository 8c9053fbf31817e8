/**
 * The AI response cache: `npx tsx examples/ai-cache.ts`.
 *
 * It uses Redis at `REDIS_URL` (default redis://127.0.0.1:6379) when one answers,
 * and runs memory-only when none does, saying so. Everything it writes lives under
 * the key prefix `effect-redis-cache-example:` and is cleared at the end.
 */
import { Duration, Effect, Option } from "effect"
import { AIResponseCache } from "../src/ai/AIResponseCache.js"
import { Cache } from "../src/Cache.js"
import { CacheFactory } from "../src/factory/CacheFactory.js"

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

// A slow, costly "model".
let modelCalls = 0
const callModel = (operation: string, text: string) =>
  Effect.sleep("100 millis").pipe(
    Effect.andThen(Effect.sync(() => {
      modelCalls++
      return `${operation} of ${text.length} characters`
    }))
  )

// Ask the cache first; call the model on a miss and store the answer with the
// operation's TTL.
const answer = (text: string, operation: string, options: Record<string, unknown> = {}) =>
  Effect.gen(function*() {
    const ai = yield* AIResponseCache
    const cached = yield* ai.getCachedResponse(text, operation, options)
    if (Option.isSome(cached)) return cached.value
    const response = yield* callModel(operation, text)
    yield* ai.cacheResponse(text, operation, options, response)
    return response
  })

const program = Effect.gen(function*() {
  const ai = yield* AIResponseCache
  const status = yield* Cache.status()
  console.log(
    status.mode === "Connected"
      ? `Using Redis at ${Option.getOrElse(status.url, () => "?")}.`
      : `No Redis reachable (${Option.getOrElse(status.lastError, () => "unknown")}): running memory-only.`
  )

  console.log("\nKeys, as the original built them:")
  console.log(" ", yield* ai.buildKey("Hello world|a:b", "summarize", {}))
  console.log(" ", yield* ai.buildKey("Hello world", "summarize", { max_length: 100 }))
  console.log(" ", yield* ai.buildKey("Hello world", "qa", { question: "What?" }))
  console.log("  a long text is hashed:", yield* ai.buildKey("lorem ipsum ".repeat(100), "summarize", {}))
  console.log("  option order does not matter:",
    (yield* ai.buildKey("t", "summarize", { a: 1, b: 2 })) === (yield* ai.buildKey("t", "summarize", { b: 2, a: 1 })))

  const article = "Effect is a TypeScript library for building robust programs. ".repeat(20)
  for (let i = 0; i < 3; i++) {
    yield* answer(article, "summarize", { max_length: 100 })
    yield* answer(article, "sentiment")
  }
  yield* answer(article, "qa", { question: "What is Effect?" })
  console.log(`\n7 requests, ${modelCalls} model calls`)

  const ttlOf = (operation: string, options: Record<string, unknown> = {}) =>
    Effect.flatMap(ai.buildKey(article, operation, options), (key) => Cache.ttl(key)).pipe(
      Effect.map((ttl) =>
        Option.match(ttl, { onNone: () => "none", onSome: (d) => Duration.format(Duration.seconds(Math.round(Duration.toSeconds(d)))) })
      )
    )
  console.log("TTL applied to summarize:", yield* ttlOf("summarize", { max_length: 100 }))
  console.log("TTL applied to sentiment:", yield* ttlOf("sentiment"))
  console.log("TTL applied to qa (no operation TTL, cache default):", yield* ttlOf("qa", { question: "What is Effect?" }))

  const summary = yield* ai.getAIPerformanceSummary
  console.log(`\nAI hit rate ${summary.overallHitRate.toFixed(0)}%, by operation:`, summary.hitRateByOperation)
  console.log("text tiers:", summary.textTierDistribution)
  for (const [operation, perf] of Object.entries(summary.operationPerformance)) {
    console.log(`  ${operation}: ${perf.count} calls, p50 ${perf.p50DurationMillis.toFixed(2)} ms, p99 ${perf.p99DurationMillis.toFixed(2)} ms`)
  }

  console.log("\nremoved by invalidateByOperation(\"sentiment\"):", yield* ai.invalidateByOperation("sentiment"))
  yield* Cache.set("not-ai", "kept")
  console.log("removed by clear (AI keys only):", yield* ai.clear)
  console.log("the non-AI key is still there:", yield* Cache.get("not-ai"))
  yield* Cache.clear()
})

const AiCache = CacheFactory.forAIApp({
  redisUrl,
  keyPrefix: "effect-redis-cache-example:",
  cacheName: "example_ai",
  connectTimeout: "500 millis",
  operationTtls: { summarize: "2 hours", sentiment: "15 minutes" }
})

Effect.runPromise(program.pipe(Effect.provide(AiCache))).then(
  () => console.log("done"),
  (error) => {
    console.error("example failed:", error)
    process.exit(1)
  }
)
