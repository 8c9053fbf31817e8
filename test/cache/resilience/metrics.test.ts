import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Metric } from "effect"
import { TestClock } from "effect/testing"
import { Cache, CacheMetrics, InfrastructureError } from "../../../src/index.js"

const boom = Effect.fail(new InfrastructureError({ message: "backend down", context: {} }))
const failSafe = { ttl: "1 minute", staleFor: "10 minutes", staleOnError: true } as const

const events = (event: string) =>
  Effect.map(
    Metric.value(Metric.withAttributes(CacheMetrics.resilienceEvents, {
      "cache.name": "metered",
      "cache.resilience.event": event
    })),
    (state) => state.count
  )

describe("resilience metrics", () => {
  it.effect("stale values served and fail-safe activations reach cache.resilience.events, as stats counts them", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Cache.layerMemory({ cacheName: "metered" }))
      const cache = Context.get(context, Cache)
      yield* cache.getOrSet("k", Effect.succeed("v1"), failSafe)
      yield* TestClock.adjust("2 minutes")
      assert.strictEqual(yield* cache.getOrSet("k", boom, failSafe), "v1")
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* cache.getOrSet("k", boom, failSafe), "v1") // throttled: served stale again
      const stats = (yield* cache.stats).resilience
      assert.strictEqual(yield* events("failsafe_activated"), stats.failSafeActivations)
      assert.strictEqual(yield* events("stale_served"), stats.staleServed)
      assert.strictEqual(stats.staleServed, 2)
    }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map())))
})
