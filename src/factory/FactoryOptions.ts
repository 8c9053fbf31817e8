/**
 * The options of the factory methods. They are the Redis cache's options
 * (`RedisCacheOptions`, the one place of option rules) plus the AI cache's options
 * and a few factory switches, so the factory and `Cache.layerRedis` can never
 * disagree on a range.
 *
 * @since 0.1.0
 */
import { Duration, Schema } from "effect"
import { AIResponseCacheOptions } from "../ai/AIResponseCache.js"
import { RedisCacheOptions } from "../CacheOptions.js"

/**
 * The names of the seven presets.
 *
 * @since 0.1.0
 */
export const PresetName = Schema.Literals([
  "disabled",
  "minimal",
  "simple",
  "development",
  "production",
  "ai-development",
  "ai-production"
])

/**
 * A preset name.
 *
 * @since 0.1.0
 */
export type PresetName = typeof PresetName.Type

/**
 * The options of `CacheFactory.forWebApp`: the Redis cache's options.
 *
 * @since 0.1.0
 */
export const WebAppOptions = RedisCacheOptions

/**
 * The input type of {@link WebAppOptions}.
 *
 * @since 0.1.0
 */
export type WebAppOptions = typeof WebAppOptions.Type

const aiAppFields = {
  ...RedisCacheOptions.fields,
  ...AIResponseCacheOptions.fields,
  /** The original's name of `l1MaxEntries`, kept for ports; give one of the two. */
  memoryCacheSize: RedisCacheOptions.fields.l1MaxEntries
}

type AIAppFields = { readonly memoryCacheSize?: number; readonly l1MaxEntries?: number }

// The original let memory_cache_size silently win over l1_cache_size; two different
// values for one setting are more likely a mistake than a wish.
const oneL1Size = Schema.makeFilter((options: AIAppFields) =>
  options.memoryCacheSize === undefined || options.l1MaxEntries === undefined ||
    options.memoryCacheSize === options.l1MaxEntries ||
    { path: ["memoryCacheSize"], issue: `conflicts with l1MaxEntries (${options.l1MaxEntries}); give only one` }
)

/**
 * The options of `CacheFactory.forAIApp`: the Redis cache's options, the AI
 * cache's options, and `memoryCacheSize` (the original's name of `l1MaxEntries`).
 *
 * @since 0.1.0
 */
export const AIAppOptions = Schema.Struct(aiAppFields).check(oneL1Size)

/**
 * The input type of {@link AIAppOptions}.
 *
 * @since 0.1.0
 */
export type AIAppOptions = typeof AIAppOptions.Type

/**
 * The options of `CacheFactory.forTesting`: the Redis cache's options and
 * `useMemoryCache` (a pure memory cache, no Redis at all).
 *
 * @since 0.1.0
 */
export const TestingOptions = Schema.Struct({
  ...RedisCacheOptions.fields,
  /** Build `Cache.layerMemory` instead of a Redis cache. Default false. */
  useMemoryCache: Schema.optionalKey(Schema.Boolean)
})

/**
 * The input type of {@link TestingOptions}.
 *
 * @since 0.1.0
 */
export type TestingOptions = typeof TestingOptions.Type

/**
 * The record `CacheFactory.fromConfig` takes: every AI app option, plus a preset
 * whose values the record's own fields override. `redisUrl` is required unless
 * the preset is `disabled`; an empty `redisUrl` means a memory cache.
 *
 * @since 0.1.0
 */
export const ConfigRecord = Schema.Struct({
  ...aiAppFields,
  preset: Schema.optionalKey(PresetName)
}).check(oneL1Size)

/**
 * The input type of {@link ConfigRecord}.
 *
 * @since 0.1.0
 */
export type ConfigRecord = typeof ConfigRecord.Type

const { reconnectSchedule: _schedule, security: _security, ...jsonRedisFields } = RedisCacheOptions.fields

/**
 * What `CACHE_CUSTOM_CONFIG` may override: every option that JSON can express
 * (not `security`, which comes from the `REDIS_*` variables, nor
 * `reconnectSchedule`), and `enableAiCache`. TTLs are strings such as
 * `"30 minutes"`, or numbers of milliseconds.
 *
 * @since 0.1.0
 */
export const EnvOverrides = Schema.Struct({
  ...jsonRedisFields,
  ...AIResponseCacheOptions.fields,
  memoryCacheSize: RedisCacheOptions.fields.l1MaxEntries,
  enableAiCache: Schema.optionalKey(Schema.Boolean)
}).check(oneL1Size)

/**
 * The type of {@link EnvOverrides}.
 *
 * @since 0.1.0
 */
export type EnvOverrides = typeof EnvOverrides.Type

/**
 * The kind of cache a factory method builds, as its errors report it.
 *
 * @since 0.1.0
 */
export type CacheType = "web_app" | "ai_app" | "testing"

/**
 * The defaults of each factory method (the original's, with durations for seconds
 * and a loopback URL for the original's docker-compose host `redis`).
 *
 * @since 0.1.0
 */
export const FactoryDefaults = {
  webApp: {
    redisUrl: "redis://127.0.0.1:6379",
    defaultTtl: Duration.minutes(30),
    enableL1: true,
    l1MaxEntries: 200,
    compressionThreshold: 2000,
    compressionLevel: 6,
    cacheName: "web_app",
    failOnConnectionError: false
  },
  aiApp: {
    redisUrl: "redis://127.0.0.1:6379",
    defaultTtl: Duration.hours(1),
    enableL1: true,
    l1MaxEntries: 100,
    compressionThreshold: 1000,
    compressionLevel: 6,
    textHashThreshold: 500,
    cacheName: "ai_app",
    failOnConnectionError: false
  },
  testing: {
    redisUrl: "redis://127.0.0.1:6379/15",
    defaultTtl: Duration.seconds(60),
    enableL1: false,
    l1MaxEntries: 50,
    compressionThreshold: 1000,
    compressionLevel: 1,
    cacheName: "testing",
    failOnConnectionError: false,
    useMemoryCache: false
  },
  /**
   * `fromConfig` for a record without AI fields: the original's
   * `create_cache_from_config` defaults, which it passed on to `for_web_app`.
   */
  configRecord: {
    redisUrl: "redis://127.0.0.1:6379",
    defaultTtl: Duration.hours(1),
    enableL1: true,
    l1MaxEntries: 100,
    compressionThreshold: 1000,
    compressionLevel: 6,
    cacheName: "web_app",
    failOnConnectionError: false
  },
  /** `fromConfig` with preset `disabled` or an empty `redisUrl`: the memory cache. */
  memory: {
    defaultTtl: Duration.minutes(5),
    l1MaxEntries: 100
  }
} as const
