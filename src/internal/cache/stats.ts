/**
 * `status`, `stats` and `resetStats` of a cache.
 */
import { Effect, Option } from "effect"
import type { CacheStats, CacheStatus } from "../../Cache.js"
import type { CacheCore } from "./core.js"
import { resetResilienceCounters } from "./resilienceCounters.js"

/** The status and counters of a cache. */
export const makeStats = (core: CacheCore) => {
  const { counters, invalidation, memory, redis } = core
  const startedAt = core.clock.currentTimeMillisUnsafe()

  const status: Effect.Effect<CacheStatus> = redis === undefined
    ? Effect.sync(() => ({
      mode: "Memory" as const,
      url: Option.none(),
      since: startedAt,
      lastError: Option.none(),
      reconnectAttempts: 0,
      pendingReplay: 0,
      droppedWhileDegraded: 0,
      l1: memory.stats()
    })).pipe(Effect.zipWith(invalidation.status, (s, coherence) => ({ ...s, invalidation: coherence })))
    : Effect.zipWith(redis.status, invalidation.status, (s, coherence) => ({
      ...s,
      url: Option.some(s.url),
      l1: memory.stats(),
      invalidation: coherence
    }))

  const stats: Effect.Effect<CacheStats> = Effect.sync(() => {
    const l1 = memory.stats()
    const misses = redis === undefined ? l1.misses : counters.misses
    const reads = l1.hits + counters.l2Hits + misses
    return {
      l1,
      l1Hits: l1.hits,
      l2Hits: counters.l2Hits,
      misses,
      hitRate: reads === 0 ? 0 : (l1.hits + counters.l2Hits) / reads,
      sets: counters.sets,
      deletes: counters.deletes,
      serializationErrors: counters.serializationErrors,
      schemaMismatches: counters.schemaMismatches,
      resilience: { ...counters.resilience }
    }
  })

  const resetStats = Effect.sync(() => {
    memory.resetStats()
    counters.l2Hits = counters.misses = counters.sets = counters.deletes = 0
    counters.serializationErrors = counters.schemaMismatches = 0
    resetResilienceCounters(counters.resilience)
  })

  return { status, stats, resetStats }
}
