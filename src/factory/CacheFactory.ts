/**
 * The cache factory: a validated, connected cache for a kind of application in
 * one call, as the original `CacheFactory` gave.
 *
 * ```ts
 * const CacheLive = CacheFactory.forWebApp({ redisUrl: "redis://cache:6379" })
 * const AiLive = CacheFactory.forAIApp({ operationTtls: { summarize: "2 hours" } })
 * const FromEnv = CacheFactory.fromEnv()   // CACHE_PRESET, CACHE_REDIS_URL, ...
 * ```
 *
 * Every method validates its input through the options schemas shared with
 * `Cache.layerRedis` and reports every problem at once in one `ValidationError`
 * ("Factory input validation failed: …"). When Redis cannot be reached the cache
 * runs memory-only, logs a warning, emits a `ModeChanged` event and keeps
 * reconnecting in the background; with `failOnConnectionError: true` building the
 * layer fails instead, with an `InfrastructureError` ("Redis connection failed for
 * web application cache") whose context carries the URL without its password.
 *
 * @since 0.1.0
 */
import { type Duration, Effect, Layer, Result } from "effect"
import { AIResponseCache, AIResponseCacheOptions } from "../ai/AIResponseCache.js"
import { Cache } from "../Cache.js"
import { type RedisCacheOptions, validateOptions } from "../CacheOptions.js"
import {
  type ConfigurationError,
  type ConnectionError,
  InfrastructureError,
  type ValidationError,
  validationError,
  type ValidationIssue
} from "../errors.js"
import { redactUrl } from "../internal/url.js"
import type { CacheMonitor } from "../monitoring/CacheMonitor.js"
import type { CacheSecurity } from "../security/CacheSecurity.js"
import { configFromEnv, type ResolvedCacheConfig } from "./config.js"
import {
  AIAppOptions,
  type CacheType,
  ConfigRecord,
  FactoryDefaults,
  TestingOptions,
  WebAppOptions
} from "./FactoryOptions.js"
import { presetCacheOptions, presets } from "./presets.js"
import { primaryUrl } from "../tiers/RedisTopology.js"

/**
 * A web or testing cache.
 *
 * @since 0.1.0
 */
export type CacheLayer = Layer.Layer<
  Cache | CacheMonitor | CacheSecurity,
  ValidationError | InfrastructureError | ConfigurationError
>

/**
 * A cache with the AI response cache on top.
 *
 * @since 0.1.0
 */
export type AICacheLayer = Layer.Layer<
  Cache | CacheMonitor | CacheSecurity | AIResponseCache,
  ValidationError | InfrastructureError | ConfigurationError
>

const SUBJECT = "Factory input validation failed"

const cacheTypeLabel: Record<CacheType, string> = {
  web_app: "web application",
  ai_app: "AI application",
  testing: "testing"
}

const aiFieldNames = Object.keys(AIResponseCacheOptions.fields) as ReadonlyArray<keyof AIResponseCacheOptions>

// The AI options and the Redis cache's options of a factory input.
const split = (options: AIAppOptions): { ai: AIResponseCacheOptions; redis: RedisCacheOptions } => {
  const { memoryCacheSize, ...rest } = options
  const ai: Record<string, unknown> = {}
  const redis: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(rest)) {
    if ((aiFieldNames as ReadonlyArray<string>).includes(key)) ai[key] = value
    else redis[key] = value
  }
  if (memoryCacheSize !== undefined) redis.l1MaxEntries = memoryCacheSize
  return { ai: ai as AIResponseCacheOptions, redis: redis as RedisCacheOptions }
}

// With `failOnConnectionError`, `Cache.layerRedis` fails to build with the
// ConnectionError; the factory reports it as the original did.
const redisCache = (cacheType: CacheType, options: RedisCacheOptions): CacheLayer =>
  Cache.layerRedis(options).pipe(
    Layer.catchTag("ConnectionError", (cause: ConnectionError) =>
      Layer.effectContext(Effect.fail(
        new InfrastructureError({
          message: `Redis connection failed for ${cacheTypeLabel[cacheType]} cache`,
          context: {
            redisUrl: redactUrl(primaryUrl(options.redisUrl) ?? FactoryDefaults.webApp.redisUrl),
            cacheType,
            failOnConnectionError: true
          },
          cause
        })
      )))
  )

const memoryCache = (options: RedisCacheOptions, defaults: { defaultTtl: Duration.Input; l1MaxEntries: number }) =>
  Cache.layerMemory({
    defaultTtl: options.defaultTtl ?? defaults.defaultTtl,
    maxEntries: options.l1MaxEntries ?? defaults.l1MaxEntries,
    ...(options.cacheName === undefined ? {} : { cacheName: options.cacheName }),
    ...(options.serializer === undefined ? {} : { serializer: options.serializer }),
    ...(options.sweepInterval === undefined ? {} : { sweepInterval: options.sweepInterval })
  })

type Kind = "memory" | "web_app" | "ai_app"

// One builder for every entry point that yields the AI service too. A web app
// cache starts from `webDefaults`: `forWebApp`'s, or a config record's.
const withAi = (kind: Kind, options: AIAppOptions, webDefaults: RedisCacheOptions = FactoryDefaults.webApp): AICacheLayer => {
  const { ai, redis } = split(options)
  const cache = kind === "memory"
    ? memoryCache(redis, FactoryDefaults.memory)
    : kind === "ai_app"
    ? redisCache("ai_app", { ...split(FactoryDefaults.aiApp).redis, ...redis })
    : redisCache("web_app", { ...webDefaults, ...redis })
  const aiDefaults = kind === "ai_app" ? { textHashThreshold: FactoryDefaults.aiApp.textHashThreshold } : {}
  return AIResponseCache.layer({ ...aiDefaults, ...ai }).pipe(Layer.provideMerge(cache))
}

/**
 * A cache for a web application: Redis with L1, 30 minutes TTL, 200 L1 entries,
 * compression above 2000 bytes at level 6, on `redis://127.0.0.1:6379`.
 *
 * @since 0.1.0
 */
export const forWebApp = (options: WebAppOptions = {}): CacheLayer =>
  Layer.unwrap(Effect.map(
    validateOptions(WebAppOptions, options, SUBJECT),
    (valid) => redisCache("web_app", { ...FactoryDefaults.webApp, ...valid })
  ))

/**
 * A cache for an AI application, with the `AIResponseCache` on top: Redis with
 * L1, 1 hour TTL, 100 L1 entries, compression above 1000 bytes at level 6, texts
 * above 500 characters hashed in keys, `operationTtls` applied on store.
 *
 * @since 0.1.0
 */
export const forAIApp = (options: AIAppOptions = {}): AICacheLayer =>
  Layer.unwrap(Effect.map(validateOptions(AIAppOptions, options, SUBJECT), (valid) => withAi("ai_app", valid)))

/**
 * A cache for tests: 60 seconds TTL, no L1, compression level 1, on Redis
 * database 15 of `redis://127.0.0.1:6379`; or, with `useMemoryCache: true`, a
 * memory cache (`Cache.layerMemory` with the TTL and `l1MaxEntries`, default 50;
 * the Redis-only options are then unused).
 *
 * @since 0.1.0
 */
export const forTesting = (options: TestingOptions = {}): CacheLayer =>
  Layer.unwrap(Effect.map(validateOptions(TestingOptions, options, SUBJECT), (valid) => {
    const { useMemoryCache, ...redis } = { ...FactoryDefaults.testing, ...valid }
    return useMemoryCache
      ? memoryCache(redis, { defaultTtl: redis.defaultTtl, l1MaxEntries: redis.l1MaxEntries })
      : redisCache("testing", redis)
  }))

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) &&
  (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)

const configAiFields = ["textHashThreshold", "operationTtls", "memoryCacheSize", "textSizeTiers", "maxTextLength"]

const resolveConfigRecord = Effect.fnUntraced(function*(config: unknown) {
  if (!isPlainObject(config)) {
    const shown = config === null ? "null" : Array.isArray(config) ? "an array" : typeof config
    return yield* validationError([{ field: "config", value: shown, rule: "must be a dictionary (a plain object)" }], {
      subject: SUBJECT
    })
  }
  if (Object.keys(config).length === 0) {
    return yield* validationError([{ field: "config", value: "{}", rule: "cannot be empty" }], { subject: SUBJECT })
  }
  const issues: Array<ValidationIssue> = []
  const { redisUrl, ...rest } = config
  // A cluster or Sentinels say where Redis is; `redisUrl` then only carries credentials.
  const located = config.cluster !== undefined || config.sentinel !== undefined
  if ((redisUrl === undefined || redisUrl === null) && config.preset !== "disabled" && !located) {
    issues.push({ field: "redisUrl", value: String(redisUrl), rule: "is required in config (or cluster, or sentinel)" })
  }
  const emptyUrl = redisUrl === ""
  const input = redisUrl === undefined || redisUrl === null || emptyUrl ? rest : config
  const decoded = yield* Effect.result(validateOptions(ConfigRecord, input, SUBJECT))
  if (Result.isFailure(decoded)) issues.push(...decoded.failure.issues)
  if (issues.length > 0 || Result.isFailure(decoded)) return yield* validationError(issues, { subject: SUBJECT })
  const { preset: presetName, ...own } = decoded.success
  const preset = presetName === undefined ? undefined : presets[presetName]
  const options: AIAppOptions = { ...(preset === undefined ? {} : presetCacheOptions(preset)), ...own }
  const isAi = preset?.enableAiCache === true || configAiFields.some((field) => field in config)
  const kind: Kind = presetName === "disabled" || emptyUrl ? "memory" : isAi ? "ai_app" : "web_app"
  return { kind, options }
})

/**
 * A cache from a configuration record, like the original's
 * `create_cache_from_config`: `redisUrl` is required unless `cluster` or `sentinel`
 * says where Redis is (an empty one gives a memory cache); a `preset` supplies defaults that the record's fields override
 * (`disabled` gives a memory cache); any AI field (or an AI preset) makes it an AI
 * app cache, else a web app cache with the record defaults of the original
 * (`FactoryDefaults.configRecord`: 1 hour TTL, 100 L1 entries, compression above
 * 1000 bytes at level 6), not `forWebApp`'s. The `AIResponseCache` is always
 * provided (with the AI settings given, else its defaults), so the same program
 * runs under every configuration.
 *
 * @since 0.1.0
 */
export const fromConfig = (config: unknown): AICacheLayer =>
  Layer.unwrap(Effect.map(
    resolveConfigRecord(config),
    ({ kind, options }) => withAi(kind, options, FactoryDefaults.configRecord)
  ))

/**
 * The layer for a configuration resolved by `configFromEnv`.
 *
 * @since 0.1.0
 */
export const fromResolvedConfig = (resolved: ResolvedCacheConfig): AICacheLayer =>
  withAi(resolved.memoryOnly ? "memory" : resolved.enableAiCache ? "ai_app" : "web_app", resolved.options)

/**
 * A cache from the environment (`CACHE_PRESET`, `CACHE_REDIS_URL`,
 * `ENABLE_AI_CACHE`, `CACHE_CUSTOM_CONFIG`, `REDIS_*`; see `configFromEnv`), read
 * through the `ConfigProvider` in context. The `AIResponseCache` is always
 * provided; the AI settings (an AI preset's, or `ENABLE_AI_CACHE`) tune it.
 *
 * @since 0.1.0
 */
export const fromEnv = (): Layer.Layer<
  Cache | CacheMonitor | AIResponseCache,
  ValidationError | InfrastructureError | ConfigurationError
> => Layer.unwrap(Effect.map(configFromEnv, fromResolvedConfig))

/**
 * `CacheFactory.fromEnv` under the name the rest of the library uses for layers.
 *
 * @since 0.1.0
 */
export const layerFromEnv = fromEnv

/**
 * The factory methods together, as the original's `CacheFactory`.
 *
 * @since 0.1.0
 */
export const CacheFactory = {
  forWebApp,
  forAIApp,
  forTesting,
  fromConfig,
  fromEnv,
  fromResolvedConfig,
  configFromEnv,
  defaults: FactoryDefaults
} as const
