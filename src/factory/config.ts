/**
 * Cache configuration from the environment, read through Effect `Config` (so any
 * `ConfigProvider` works: the process environment, a `.env` file, a test map).
 *
 * | variable | meaning |
 * |---|---|
 * | `CACHE_PRESET` | one of the seven presets; default `development`; `testing` means `development` |
 * | `CACHE_REDIS_URL` | the Redis URL (default `redis://127.0.0.1:6379`) |
 * | `ENABLE_AI_CACHE` | `true`/`1`/`yes` or `false`/`0`/`no`: AI settings on or off (default: the preset's) |
 * | `CACHE_CUSTOM_CONFIG` | a JSON object of option overrides (see `EnvOverrides`) |
 * | `CACHE_REDIS_CLUSTER_NODES`, `CACHE_REDIS_SENTINEL*` | a Redis Cluster or Sentinel (see `topologyFromEnv`) |
 * | `REDIS_*` | the security settings (see `securityConfigFromEnv`) |
 *
 * Precedence: `CACHE_CUSTOM_CONFIG` over the other variables over the preset.
 * A value that cannot be used is a `ConfigurationError` naming the variable (and,
 * for `CACHE_CUSTOM_CONFIG`, the option): never a silent fall back to another
 * preset, as the original did.
 *
 * @since 0.1.0
 */
import { Config, Effect, Exit, Option, Schema } from "effect"
import { RedisUrl, validateOptions, validateTopology } from "../CacheOptions.js"
import { ConfigurationError } from "../errors.js"
import { redactUrl } from "../internal/url.js"
import { securityConfigFromEnv } from "../security/SecurityConfig.js"
import { type AIAppOptions, AIAppOptions as AIAppOptionsSchema, EnvOverrides, type PresetName } from "./FactoryOptions.js"
import { getPreset, presetCacheOptions } from "./presets.js"
import { topologyEnvVariables, topologyFromEnv } from "./topologyConfig.js"

/**
 * The variables {@link configFromEnv} reads (besides the `REDIS_*` security ones).
 *
 * @since 0.1.0
 */
export const cacheEnvVariables = {
  preset: "CACHE_PRESET",
  redisUrl: "CACHE_REDIS_URL",
  enableAiCache: "ENABLE_AI_CACHE",
  customConfig: "CACHE_CUSTOM_CONFIG"
} as const

/**
 * Where a resolved option came from.
 *
 * @since 0.1.0
 */
export type ConfigSource = "preset" | "environment" | "CACHE_CUSTOM_CONFIG"

/**
 * The configuration the environment asks for.
 *
 * @since 0.1.0
 */
export interface ResolvedCacheConfig {
  /** The preset in force (`testing` resolves to `development`). */
  readonly preset: PresetName
  /** Whether the AI settings are on (an AI preset, `ENABLE_AI_CACHE`, or `enableAiCache` in the JSON). */
  readonly enableAiCache: boolean
  /** True for the `disabled` preset: a memory cache, no Redis. */
  readonly memoryOnly: boolean
  /** The merged options: preset, then environment, then `CACHE_CUSTOM_CONFIG`. */
  readonly options: AIAppOptions
  /** Where each option of `options` came from. */
  readonly sources: Readonly<Record<string, ConfigSource>>
}

const configurationError = (field: string, rule: string, message: string, value?: string, cause?: unknown) =>
  new ConfigurationError({
    message,
    field,
    rule,
    ...(value === undefined ? {} : { value }),
    ...(cause === undefined ? {} : { cause })
  })

/** An unset or blank variable is None, as in the original (`if os.getenv(...)`). */
const readVariable = (name: string): Effect.Effect<Option.Option<string>, ConfigurationError> =>
  Effect.map(Config.option(Config.String(name)), Option.filter((text) => text.trim() !== "")).pipe(
    Effect.mapError((error) => configurationError(name, "must be readable", `${name} could not be read: ${error.message}`))
  )

const readPreset = Effect.gen(function*() {
  const name = cacheEnvVariables.preset
  const raw = Option.getOrElse(yield* readVariable(name), () => "development").trim().toLowerCase()
  // The original treats "testing" as "development" (it has no testing preset).
  return (yield* getPreset(raw === "testing" ? "development" : raw, name)).name
})

const readRedisUrl = Effect.gen(function*() {
  const name = cacheEnvVariables.redisUrl
  const url = yield* readVariable(name)
  if (Option.isNone(url)) return Option.none<string>()
  const checked = Schema.decodeUnknownExit(RedisUrl)(url.value.trim())
  if (Exit.isSuccess(checked)) return Option.some(checked.value)
  const rule = ruleOf(checked)
  const shown = redactUrl(url.value)
  return yield* configurationError(name, rule, `${name} ${rule}, got "${shown}"`, shown)
})

const ruleOf = (exit: Exit.Exit<unknown, Schema.SchemaError>): string => {
  if (Exit.isSuccess(exit)) return ""
  const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
  return failure !== undefined && Schema.isSchemaError(failure.error)
    ? failure.error.message.split("\n")[0]!
    : "is not valid"
}

const truthy = new Set(["true", "1", "yes"])
const falsy = new Set(["false", "0", "no"])

const readEnableAi = Effect.gen(function*() {
  const name = cacheEnvVariables.enableAiCache
  const text = yield* readVariable(name)
  if (Option.isNone(text)) return Option.none<boolean>()
  const normalized = text.value.trim().toLowerCase()
  if (truthy.has(normalized)) return Option.some(true)
  if (falsy.has(normalized)) return Option.some(false)
  const rule = "must be true, 1, yes, false, 0 or no"
  return yield* configurationError(name, rule, `${name} ${rule}, got "${text.value}"`, text.value)
})

// V8 quotes a piece of the input in some messages; the input may hold a URL with a
// password, so only the position and the kind of error are kept.
const jsonErrorReason = (cause: unknown): string =>
  (cause instanceof Error ? cause.message : String(cause)).replace(/"(?:[^"\\]|\\.)*"/g, "<input>")

const readOverrides = Effect.gen(function*() {
  const name = cacheEnvVariables.customConfig
  const text = yield* readVariable(name)
  if (Option.isNone(text)) return {} as EnvOverrides
  const rule = "must be a JSON object of cache options"
  const parsed = yield* Effect.try({
    try: (): unknown => JSON.parse(text.value),
    catch: (cause) => configurationError(name, rule, `${name} is not valid JSON: ${jsonErrorReason(cause)}`)
  })
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return yield* configurationError(name, rule, `${name} ${rule}, got ${Array.isArray(parsed) ? "an array" : typeof parsed}`)
  }
  return yield* validateOptions(EnvOverrides, parsed, `${name} breaks the cache option rules`).pipe(
    Effect.mapError((error) => {
      const first = error.issues[0]
      return configurationError(
        first === undefined ? name : `${name}.${first.field}`,
        first?.rule ?? rule,
        error.message,
        first?.value,
        error
      )
    })
  )
})

/** The variable an option of the merged configuration came from, for an error about it. */
const variableOf = (field: string, sources: Readonly<Record<string, ConfigSource>>): string => {
  const option = field.split(".")[0] ?? ""
  if (sources[option] !== "environment") return cacheEnvVariables.customConfig
  if (option === "cluster") return topologyEnvVariables.clusterNodes
  if (option === "sentinel") return topologyEnvVariables.sentinels
  if (option === "redisUrl") return cacheEnvVariables.redisUrl
  return cacheEnvVariables.customConfig
}

/**
 * Reads and merges the cache configuration of the environment (see the module
 * documentation), without building anything.
 *
 * @since 0.1.0
 */
export const configFromEnv: Effect.Effect<ResolvedCacheConfig, ConfigurationError> = Effect.gen(function*() {
  const presetName = yield* readPreset
  const redisUrl = yield* readRedisUrl
  const enableAi = yield* readEnableAi
  const overrides = yield* readOverrides
  const topology = yield* topologyFromEnv
  const security = yield* securityConfigFromEnv
  const preset = yield* getPreset(presetName)

  const { enableAiCache: aiOverride, memoryCacheSize, ...customOptions } = overrides
  const enableAiCache = aiOverride ?? Option.getOrElse(enableAi, () => preset.enableAiCache)
  const sources: Record<string, ConfigSource> = {}
  const layer = (values: object, source: ConfigSource) => {
    for (const key of Object.keys(values)) sources[key] = source
    return values
  }
  const environment = {
    ...Option.match(redisUrl, { onNone: () => ({}), onSome: (url) => ({ redisUrl: url }) }),
    ...Option.match(security, { onNone: () => ({}), onSome: (config) => ({ security: config }) }),
    ...topology
  }
  const custom = memoryCacheSize === undefined ? customOptions : { ...customOptions, l1MaxEntries: memoryCacheSize }
  const merged = {
    ...layer(presetCacheOptions(preset, enableAiCache), "preset"),
    ...layer(environment, "environment"),
    ...layer(custom, "CACHE_CUSTOM_CONFIG")
  }
  // Each source was checked on its own; this catches what only their union breaks.
  const options = yield* validateOptions(AIAppOptionsSchema, merged, "The merged cache configuration is invalid").pipe(
    Effect.tap(validateTopology),
    Effect.mapError((error) => {
      const first = error.issues[0]
      const field = variableOf(first?.field ?? "", sources)
      return configurationError(field, first?.rule ?? "is invalid", error.message, first?.value, error)
    })
  )
  return { preset: presetName, enableAiCache, memoryOnly: presetName === "disabled", options, sources }
})
