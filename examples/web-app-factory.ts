/**
 * The cache factory for a web application: `npx tsx examples/web-app-factory.ts`.
 *
 * It uses Redis at `REDIS_URL` (default redis://127.0.0.1:6379) when one answers,
 * and runs memory-only when none does, saying so. Everything it writes lives under
 * the key prefix `effect-redis-cache-example:`, expires within minutes, and is
 * cleared at the end.
 */
import { ConfigProvider, Duration, Effect, Option } from "effect"
import { Cache } from "../src/Cache.js"
import { CacheFactory } from "../src/factory/CacheFactory.js"
import { recommendPreset } from "../src/factory/presets.js"

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

// A slow "database" the cache sits in front of.
let databaseReads = 0
const loadProduct = (id: number) =>
  Effect.sleep("50 millis").pipe(
    Effect.andThen(Effect.sync(() => {
      databaseReads++
      return { id, name: `Product ${id}`, price: 10 * id }
    }))
  )

// Cache-aside: read the cache, else load and store.
const product = (id: number) =>
  Effect.gen(function*() {
    const key = `product:${id}`
    const cached = yield* Cache.get(key)
    if (Option.isSome(cached)) return cached.value
    const loaded = yield* loadProduct(id)
    yield* Cache.set(key, loaded)
    return loaded
  })

const program = Effect.gen(function*() {
  const status = yield* Cache.status()
  console.log(
    status.mode === "Connected"
      ? `Using Redis at ${Option.getOrElse(status.url, () => "?")}, with an L1 of ${status.l1.maxEntries} entries.`
      : `No Redis reachable (${Option.getOrElse(status.lastError, () => "unknown")}): running memory-only.`
  )

  for (const id of [1, 2, 1, 1, 2]) yield* product(id)
  console.log(`5 page views, ${databaseReads} database reads`)
  const ttl = Option.map(yield* Cache.ttl("product:1"), (d) => Duration.format(Duration.seconds(Math.round(Duration.toSeconds(d)))))
  console.log("ttl of product:1 (the web app default, 30 minutes):", Option.getOrElse(ttl, () => "none"))
  const stats = yield* Cache.stats()
  console.log(`hit rate ${(stats.hitRate * 100).toFixed(0)}% (${stats.l1Hits} L1 hits, ${stats.misses} misses)`)
  yield* Cache.clear()
})

// Every input problem at once, in one ValidationError.
const badInput = Effect.gen(function*() {
  const error = yield* Effect.flip(
    Effect.provide(Effect.void, CacheFactory.forWebApp({ redisUrl: "http://cache:6379", defaultTtl: 0, compressionLevel: 12 }))
  )
  console.log(`\n${error._tag}: ${error.message}`)
})

// Fail fast instead of falling back; the password never shows.
const failFast = Effect.gen(function*() {
  const error = yield* Effect.flip(
    Effect.provide(
      Effect.void,
      CacheFactory.forWebApp({
        redisUrl: "redis://:my-password@127.0.0.1:1",
        failOnConnectionError: true,
        connectAttempts: 1,
        connectTimeout: "500 millis"
      })
    )
  )
  console.log(`${error._tag}: ${error.message}`)
  if (error._tag === "InfrastructureError") console.log("  context:", error.context)
})

// The environment's configuration, here from a map instead of process.env.
const fromEnvironment = Effect.gen(function*() {
  const config = yield* CacheFactory.configFromEnv
  console.log(
    `\nCACHE_PRESET=production + CACHE_CUSTOM_CONFIG: preset ${config.preset}, TTL ${
      Duration.format(Duration.fromInputUnsafe(config.options.defaultTtl ?? 0))
    } (from ${config.sources.defaultTtl}), L1 ${config.options.l1MaxEntries} (from ${config.sources.l1MaxEntries})`
  )
  const advice = recommendPreset("staging-eu")
  console.log(`recommended for "staging-eu": ${advice.presetName} (${advice.confidence}): ${advice.reasoning}`)
}).pipe(
  Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
    CACHE_PRESET: "production",
    CACHE_CUSTOM_CONFIG: JSON.stringify({ defaultTtl: "10 minutes" })
  })))
)

const WebCache = CacheFactory.forWebApp({
  redisUrl,
  keyPrefix: "effect-redis-cache-example:",
  cacheName: "example_web",
  connectTimeout: "500 millis"
})

Effect.runPromise(
  program.pipe(Effect.provide(WebCache), Effect.andThen(badInput), Effect.andThen(failFast), Effect.andThen(fromEnvironment))
).then(
  () => console.log("done"),
  (error) => {
    console.error("example failed:", error)
    process.exit(1)
  }
)
