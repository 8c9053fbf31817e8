/**
 * The seven presets of the original, their details, the options they give a
 * cache, and a recommender that picks one from an environment's name.
 *
 * A preset's `maxConnections` is informational: a cache holds one ioredis
 * connection (commands are pipelined on it), so there is no pool to size.
 * `enableMonitoring` and `logLevel` are informational too: every cache has a
 * `CacheMonitor`, and the log level is the application's to set
 * (`Logger.minimumLogLevel` / `References.MinimumLogLevel`).
 *
 * @since 0.1.0
 */
import { Duration, Effect, type LogLevel } from "effect"
import type { TextSizeTiers } from "../ai/AIResponseCache.js"
import { ConfigurationError } from "../errors.js"
import type { AIAppOptions, PresetName } from "./FactoryOptions.js"

/**
 * The original's strategies, which name the tuning of a preset.
 *
 * @since 0.1.0
 */
export type CacheStrategy = "fast" | "balanced" | "robust" | "ai_optimized"

/**
 * The AI settings of the AI presets.
 *
 * @since 0.1.0
 */
export interface PresetAISettings {
  readonly textHashThreshold: number
  readonly textSizeTiers: TextSizeTiers
  readonly operationTtls: Readonly<Record<string, Duration.Duration>>
  readonly maxTextLength: number
}

/**
 * A preset: the original's values, with durations for seconds.
 *
 * @since 0.1.0
 */
export interface CachePreset {
  readonly name: PresetName
  readonly displayName: string
  readonly description: string
  readonly strategy: CacheStrategy
  readonly defaultTtl: Duration.Duration
  /** Informational: a cache uses one pipelined connection. */
  readonly maxConnections: number
  /** Becomes both `connectTimeout` and `commandTimeout`. */
  readonly connectionTimeout: Duration.Duration
  /** Becomes `l1MaxEntries` (the original's memory cache size). */
  readonly l1MaxEntries: number
  readonly compressionThreshold: number
  readonly compressionLevel: number
  readonly enableAiCache: boolean
  /** Informational: every cache has a monitor. */
  readonly enableMonitoring: boolean
  /** Informational: the level the original set; apply it with `Logger.minimumLogLevel` if you want it. */
  readonly logLevel: LogLevel.LogLevel
  readonly environmentContexts: ReadonlyArray<string>
  readonly ai: PresetAISettings | undefined
}

const seconds = Duration.seconds

const opTtls = (summarize: number, sentiment: number, keyPoints: number, questions: number, qa: number) => ({
  summarize: seconds(summarize),
  sentiment: seconds(sentiment),
  key_points: seconds(keyPoints),
  questions: seconds(questions),
  qa: seconds(qa)
})

/**
 * The presets, by name.
 *
 * @since 0.1.0
 */
export const presets: { readonly [N in PresetName]: CachePreset & { readonly name: N } } = {
  disabled: {
    name: "disabled",
    displayName: "Disabled",
    description: "No Redis: a small memory-only cache",
    strategy: "fast",
    defaultTtl: seconds(300),
    maxConnections: 1,
    connectionTimeout: seconds(1),
    l1MaxEntries: 10,
    compressionThreshold: 10_000,
    compressionLevel: 1,
    enableAiCache: false,
    enableMonitoring: false,
    logLevel: "Warn",
    environmentContexts: ["testing", "minimal"],
    ai: undefined
  },
  minimal: {
    name: "minimal",
    displayName: "Minimal",
    description: "Ultra-lightweight caching for resource-constrained environments",
    strategy: "fast",
    defaultTtl: seconds(900),
    maxConnections: 2,
    connectionTimeout: seconds(3),
    l1MaxEntries: 25,
    compressionThreshold: 5000,
    compressionLevel: 1,
    enableAiCache: false,
    enableMonitoring: false,
    logLevel: "Error",
    environmentContexts: ["minimal", "embedded", "iot", "container", "serverless"],
    ai: undefined
  },
  simple: {
    name: "simple",
    displayName: "Simple",
    description: "Basic configuration suitable for most uses",
    strategy: "balanced",
    defaultTtl: seconds(3600),
    maxConnections: 5,
    connectionTimeout: seconds(5),
    l1MaxEntries: 100,
    compressionThreshold: 1000,
    compressionLevel: 6,
    enableAiCache: false,
    enableMonitoring: true,
    logLevel: "Info",
    environmentContexts: ["development", "testing", "staging", "production"],
    ai: undefined
  },
  development: {
    name: "development",
    displayName: "Development",
    description: "Fast feedback for development: short TTL, light compression",
    strategy: "fast",
    defaultTtl: seconds(600),
    maxConnections: 3,
    connectionTimeout: seconds(2),
    l1MaxEntries: 50,
    compressionThreshold: 2000,
    compressionLevel: 3,
    enableAiCache: false,
    enableMonitoring: true,
    logLevel: "Debug",
    environmentContexts: ["development", "local"],
    ai: undefined
  },
  production: {
    name: "production",
    displayName: "Production",
    description: "Production workloads: long TTL, large L1, strong compression",
    strategy: "robust",
    defaultTtl: seconds(7200),
    maxConnections: 20,
    connectionTimeout: seconds(10),
    l1MaxEntries: 500,
    compressionThreshold: 500,
    compressionLevel: 9,
    enableAiCache: false,
    enableMonitoring: true,
    logLevel: "Info",
    environmentContexts: ["production", "staging"],
    ai: undefined
  },
  "ai-development": {
    name: "ai-development",
    displayName: "AI Development",
    description: "AI text processing in development",
    strategy: "ai_optimized",
    defaultTtl: seconds(1800),
    maxConnections: 5,
    connectionTimeout: seconds(5),
    l1MaxEntries: 100,
    compressionThreshold: 1000,
    compressionLevel: 6,
    enableAiCache: true,
    enableMonitoring: true,
    logLevel: "Debug",
    environmentContexts: ["development", "ai-development"],
    ai: {
      textHashThreshold: 500,
      textSizeTiers: { small: 500, medium: 2000, large: 10_000 },
      operationTtls: opTtls(1800, 900, 1200, 1500, 900),
      maxTextLength: 50_000
    }
  },
  "ai-production": {
    name: "ai-production",
    displayName: "AI Production",
    description: "AI text processing in production: long TTLs, large L1, strong compression",
    strategy: "ai_optimized",
    defaultTtl: seconds(14_400),
    maxConnections: 25,
    connectionTimeout: seconds(15),
    l1MaxEntries: 1000,
    compressionThreshold: 300,
    compressionLevel: 9,
    enableAiCache: true,
    enableMonitoring: true,
    logLevel: "Info",
    environmentContexts: ["production", "ai-production"],
    ai: {
      textHashThreshold: 1000,
      textSizeTiers: { small: 1000, medium: 5000, large: 25_000 },
      operationTtls: opTtls(14_400, 7200, 10_800, 9600, 7200),
      maxTextLength: 200_000
    }
  }
}

const presetNames = Object.keys(presets) as ReadonlyArray<PresetName>

/**
 * The preset names, in the original's order.
 *
 * @since 0.1.0
 */
export const listPresets = (): ReadonlyArray<PresetName> => presetNames

const isPresetName = (name: string): name is PresetName => Object.hasOwn(presets, name)

/**
 * A preset by name; an unknown name is a `ConfigurationError` listing the known ones.
 *
 * @since 0.1.0
 */
export const getPreset = (name: string, field = "preset"): Effect.Effect<CachePreset, ConfigurationError> =>
  isPresetName(name)
    ? Effect.succeed(presets[name])
    : Effect.fail(
      new ConfigurationError({
        message: `Unknown preset ${JSON.stringify(name)} in ${field}; known presets: ${presetNames.join(", ")}`,
        field,
        rule: `must be one of ${presetNames.join(", ")}`,
        value: name
      })
    )

/**
 * The options a preset gives a cache (what the factory passes on). The AI
 * settings are included only when `withAi` (default: the preset's own flag) and the
 * preset has them.
 *
 * @since 0.1.0
 */
export const presetCacheOptions = (preset: CachePreset, withAi = preset.enableAiCache): AIAppOptions => ({
  defaultTtl: preset.defaultTtl,
  enableL1: true,
  l1MaxEntries: preset.l1MaxEntries,
  compressionThreshold: preset.compressionThreshold,
  compressionLevel: preset.compressionLevel,
  connectTimeout: preset.connectionTimeout,
  commandTimeout: preset.connectionTimeout,
  ...(withAi && preset.ai !== undefined
    ? {
      textHashThreshold: preset.ai.textHashThreshold,
      textSizeTiers: preset.ai.textSizeTiers,
      operationTtls: preset.ai.operationTtls,
      maxTextLength: preset.ai.maxTextLength
    }
    : {})
})

/**
 * A preset with the options it gives a cache, for display.
 *
 * @since 0.1.0
 */
export interface PresetDetails extends CachePreset {
  /** Whether the factory builds a memory-only cache for it (only `disabled`). */
  readonly memoryOnly: boolean
  readonly cacheOptions: AIAppOptions
}

/**
 * A preset's details; an unknown name is a `ConfigurationError`.
 *
 * @since 0.1.0
 */
export const getPresetDetails = (name: string): Effect.Effect<PresetDetails, ConfigurationError> =>
  Effect.map(getPreset(name), (preset) => ({
    ...preset,
    memoryOnly: preset.name === "disabled",
    cacheOptions: presetCacheOptions(preset)
  }))

/**
 * A preset recommended for an environment, how sure the recommender is (0 to 1)
 * and why.
 *
 * @since 0.1.0
 */
export interface PresetRecommendation {
  readonly presetName: PresetName
  readonly confidence: number
  readonly reasoning: string
  readonly environmentDetected: string
}

const exactMatches: Readonly<Record<string, readonly [PresetName, number, string]>> = {
  development: ["development", 0.95, "Exact match for development environment"],
  dev: ["development", 0.9, "Standard abbreviation for development"],
  testing: ["development", 0.85, "Testing typically uses development-like settings"],
  test: ["development", 0.85, "Test environment should fail fast"],
  staging: ["production", 0.9, "Staging should mirror production settings"],
  stage: ["production", 0.85, "Stage environment abbreviation"],
  production: ["production", 0.95, "Exact match for production environment"],
  prod: ["production", 0.9, "Standard abbreviation for production"],
  live: ["production", 0.85, "Live environment implies production"],
  "ai-development": ["ai-development", 0.95, "Exact match for AI development"],
  "ai-dev": ["ai-development", 0.9, "AI development abbreviation"],
  "ai-production": ["ai-production", 0.95, "Exact match for AI production"],
  "ai-prod": ["ai-production", 0.9, "AI production abbreviation"]
}

// "ai" as a word of the name. The original tested the substring, so "main",
// "email" or "maintenance" were taken for AI environments.
const aiWord = /(^|[^a-z])ai([^a-z]|$)/

const patterns: ReadonlyArray<readonly [RegExp, PresetName, number, string]> = [
  [/stag|pre-?prod|uat|integration/, "production", 0.7, "matches a staging pattern, using the production preset"],
  [/dev|local|test|sandbox|demo/, "development", 0.75, "matches a development pattern"],
  [/prod|live|release|stable|main|master/, "production", 0.75, "matches a production pattern"]
]

/**
 * Recommends a preset for an environment name, like the original's
 * `recommend_preset_with_details`: exact names first (`dev`, `staging`, `ai-prod`,
 * …), then patterns (staging, development, production), AI environments when the
 * name has the word `ai`; `simple` with low confidence when nothing matches.
 *
 * @since 0.1.0
 */
export const recommendPreset = (environmentName: string): PresetRecommendation => {
  const name = environmentName.trim().toLowerCase()
  const exact = exactMatches[name]
  if (exact !== undefined) {
    return { presetName: exact[0], confidence: exact[1], reasoning: exact[2], environmentDetected: environmentName }
  }
  const recommend = (presetName: PresetName, confidence: number, reasoning: string): PresetRecommendation => ({
    presetName,
    confidence,
    reasoning: `Environment name '${name}' ${reasoning}`,
    environmentDetected: environmentName
  })
  if (aiWord.test(name)) {
    return /prod|live/.test(name)
      ? recommend("ai-production", 0.8, "matches an AI production pattern")
      : recommend("ai-development", 0.75, "has the word 'ai', using the AI development preset")
  }
  for (const [pattern, presetName, confidence, reasoning] of patterns) {
    if (pattern.test(name)) return recommend(presetName, confidence, reasoning)
  }
  return recommend("simple", 0.4, "matches no known pattern, defaulting to the simple preset")
}
