import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { Effect, Layer } from "effect"
import {
  annotateCurrentSpan,
  CacheTracingOptions,
  sha256KeyHash,
  spanAttributes
} from "../../src/monitoring/Tracing.js"

describe("Tracing", () => {
  it.effect("everything is off by default", () =>
    Effect.gen(function*() {
      const options = yield* CacheTracingOptions
      assert.isFalse(options.spanL1Hits)
      assert.isFalse(options.includeKeys)
    }))

  it("the default key hash is the first 16 hex digits of SHA-256", () => {
    const expected = createHash("sha256").update("user:42").digest("hex").slice(0, 16)
    assert.strictEqual(sha256KeyHash("user:42"), expected)
    assert.strictEqual(sha256KeyHash("user:42").length, 16)
  })

  it("an L1 hit has no database attributes; the key appears only hashed and only when asked", () => {
    const off = CacheTracingOptions.defaultValue()
    assert.deepStrictEqual(spanAttributes(off, { operation: "get", tier: "l1", hit: true, key: "secret-key" }), {
      "cache.operation": "get",
      "cache.tier": "l1",
      "cache.hit": true
    })
    const on = { ...off, includeKeys: true, keyHash: (key: string) => `h(${key.length})` }
    assert.deepStrictEqual(spanAttributes(on, { operation: "delete", key: "secret-key" }), {
      "cache.operation": "delete",
      "cache.key.hash": "h(10)"
    })
  })

  it.effect("annotateCurrentSpan reads the options from the context", () =>
    Effect.gen(function*() {
      const attributes = yield* Effect.gen(function*() {
        yield* annotateCurrentSpan({ operation: "get", key: "k", serverAddress: "redis.internal", serverPort: 6379 })
        const span = yield* Effect.currentSpan
        return Object.fromEntries(span.attributes)
      }).pipe(
        Effect.withSpan("Cache.get"),
        Effect.provide(
          Layer.succeed(CacheTracingOptions, { spanL1Hits: false, includeKeys: true, keyHash: () => "hashed" })
        )
      )
      assert.deepStrictEqual(attributes, {
        "cache.operation": "get",
        "db.system.name": "redis",
        "server.address": "redis.internal",
        "server.port": 6379,
        "cache.key.hash": "hashed"
      })
    }))
})
