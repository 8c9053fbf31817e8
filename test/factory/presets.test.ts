import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { AIAppOptions } from "../../src/factory/FactoryOptions.js"
import { getPresetDetails, listPresets, presetCacheOptions, presets, recommendPreset } from "../../src/factory/presets.js"
import { Schema } from "effect"

describe("presets", () => {
  it("lists the seven presets of the original, in its order", () => {
    assert.deepStrictEqual(listPresets(), [
      "disabled",
      "minimal",
      "simple",
      "development",
      "production",
      "ai-development",
      "ai-production"
    ])
  })

  it("carries the original's values", () => {
    const table = listPresets().map((name) => {
      const p = presets[name]
      return [
        name,
        p.strategy,
        Duration.toSeconds(p.defaultTtl),
        p.maxConnections,
        Duration.toSeconds(p.connectionTimeout),
        p.l1MaxEntries,
        `${p.compressionThreshold}/${p.compressionLevel}`,
        p.enableAiCache,
        p.enableMonitoring,
        p.logLevel
      ]
    })
    assert.deepStrictEqual(table, [
      ["disabled", "fast", 300, 1, 1, 10, "10000/1", false, false, "Warn"],
      ["minimal", "fast", 900, 2, 3, 25, "5000/1", false, false, "Error"],
      ["simple", "balanced", 3600, 5, 5, 100, "1000/6", false, true, "Info"],
      ["development", "fast", 600, 3, 2, 50, "2000/3", false, true, "Debug"],
      ["production", "robust", 7200, 20, 10, 500, "500/9", false, true, "Info"],
      ["ai-development", "ai_optimized", 1800, 5, 5, 100, "1000/6", true, true, "Debug"],
      ["ai-production", "ai_optimized", 14400, 25, 15, 1000, "300/9", true, true, "Info"]
    ])
    const ttls = (name: "ai-development" | "ai-production") =>
      Object.fromEntries(Object.entries(presets[name].ai!.operationTtls).map(([op, d]) => [op, Duration.toSeconds(d)]))
    assert.deepStrictEqual(ttls("ai-development"), { summarize: 1800, sentiment: 900, key_points: 1200, questions: 1500, qa: 900 })
    assert.deepStrictEqual(ttls("ai-production"), { summarize: 14400, sentiment: 7200, key_points: 10800, questions: 9600, qa: 7200 })
    assert.deepStrictEqual(presets["ai-development"].ai!.textSizeTiers, { small: 500, medium: 2000, large: 10000 })
    assert.deepStrictEqual(presets["ai-production"].ai!.textSizeTiers, { small: 1000, medium: 5000, large: 25000 })
    assert.strictEqual(presets["ai-development"].ai!.textHashThreshold, 500)
    assert.strictEqual(presets["ai-production"].ai!.textHashThreshold, 1000)
    assert.strictEqual(presets["ai-development"].ai!.maxTextLength, 50_000)
    assert.strictEqual(presets["ai-production"].ai!.maxTextLength, 200_000)
  })

  it("every preset's options pass the cache's own rules", () => {
    for (const name of listPresets()) {
      Schema.decodeUnknownSync(AIAppOptions)(presetCacheOptions(presets[name]), { onExcessProperty: "error" })
    }
  })

  it.effect("getPresetDetails: the preset and the options it gives; an unknown name is a ConfigurationError", () =>
    Effect.gen(function*() {
      const details = yield* getPresetDetails("production")
      assert.strictEqual(details.displayName, "Production")
      assert.isFalse(details.memoryOnly)
      assert.strictEqual(details.cacheOptions.l1MaxEntries, 500)
      assert.strictEqual(Duration.toSeconds(details.cacheOptions.commandTimeout as Duration.Duration), 10)
      assert.isTrue((yield* getPresetDetails("disabled")).memoryOnly)
      const error = yield* Effect.flip(getPresetDetails("fastest"))
      assert.strictEqual(error._tag, "ConfigurationError")
      assert.strictEqual(error.field, "preset")
      assert.include(error.message, "ai-production")
    }))

  it("recommendPreset: exact names, then patterns, with confidence and reasoning", () => {
    const pick = (name: string) => {
      const r = recommendPreset(name)
      return [r.presetName, r.confidence]
    }
    assert.deepStrictEqual(pick("development"), ["development", 0.95])
    assert.deepStrictEqual(pick("Dev"), ["development", 0.9])
    assert.deepStrictEqual(pick("test"), ["development", 0.85])
    assert.deepStrictEqual(pick("staging"), ["production", 0.9])
    assert.deepStrictEqual(pick("prod"), ["production", 0.9])
    assert.deepStrictEqual(pick("ai-prod"), ["ai-production", 0.9])
    assert.deepStrictEqual(pick("eu-ai-production-2"), ["ai-production", 0.8])
    assert.deepStrictEqual(pick("ai-research"), ["ai-development", 0.75])
    assert.deepStrictEqual(pick("pre-prod-eu"), ["production", 0.7])
    assert.deepStrictEqual(pick("feature-dev-42"), ["development", 0.75])
    assert.deepStrictEqual(pick("release-3"), ["production", 0.75])
    // "ai" inside a word is not an AI environment (the original took "maintenance" for one).
    assert.deepStrictEqual(pick("maintenance"), ["production", 0.75])
    assert.deepStrictEqual(pick("blue"), ["simple", 0.4])
    const r = recommendPreset("staging")
    assert.strictEqual(r.reasoning, "Staging should mirror production settings")
    assert.strictEqual(r.environmentDetected, "staging")
    assert.include(recommendPreset("blue").reasoning, "'blue'")
  })
})
