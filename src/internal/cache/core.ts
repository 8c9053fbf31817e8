/**
 * The cache core: the services a cache is made of, its counters, and the helpers
 * every path shares (recording, error mapping, Redis spans).
 * The read path, the write path, invalidation and single flight are modules of
 * their own built on one core.
 */
import { Clock, Effect, Exit, Option } from "effect"
import { Codec } from "../../codec/Codec.js"
import { InfrastructureError, SerializationError } from "../../errors.js"
import { CacheEvents } from "../../events/CacheEvents.js"
import { type AnsweringTier, CacheMonitor, type CacheOperation } from "../../monitoring/CacheMonitor.js"
import { CacheTracingOptions } from "../../monitoring/Tracing.js"
import { Invalidation, localInvalidation } from "../../coherence/Invalidation.js"
import { MemoryTier } from "../../tiers/MemoryTier.js"
import { type RedisReplyError, RedisTier } from "../../tiers/RedisTier.js"
import { makeRedisTracer } from "./redisSpans.js"
import type { ResilienceDefaults } from "./resilienceSettings.js"
import { newResilienceCounters, type ResilienceCounters } from "./resilienceCounters.js"
import { makeTags } from "./tags.js"

/** What a stored value that no longer fits the reader's schema gives: a miss (default) or a SerializationError. */
export type SchemaMismatchRule = "miss" | "fail"

/** The settings a cache is made with, after validation. */
export interface CoreSettings {
  readonly cacheName: string
  readonly defaultTtlMillis: number
  readonly enableL1: boolean
  readonly keyPrefix: string
  readonly onSchemaMismatch: SchemaMismatchRule
  /** The cache-wide defaults of the resilience options (docs/resilience.md). */
  readonly resilience: ResilienceDefaults
  /** How long a tag's invalidation time is kept in Redis (`tagRetention`). */
  readonly tagRetentionMillis: number
}

/** Counters of one cache; L1's own counters live in the memory tier. */
export interface CoreCounters {
  l2Hits: number
  misses: number
  sets: number
  deletes: number
  serializationErrors: number
  schemaMismatches: number
  readonly resilience: ResilienceCounters
}

/** The cache core. */
export type CacheCore = Effect.Success<ReturnType<typeof makeCore>>

/** Builds the core of a cache from its services. */
export const makeCore = Effect.fnUntraced(function*(settings: CoreSettings) {
  const memory = yield* MemoryTier
  const codec = yield* Codec
  const events = yield* CacheEvents
  const monitor = yield* CacheMonitor
  const redis = Option.getOrUndefined(yield* Effect.serviceOption(RedisTier))
  const clock = yield* Clock.Clock
  const tracing = yield* CacheTracingOptions
  // Background lookups (timeouts, refresh-ahead) run in the cache's scope and end with it.
  const scope = yield* Effect.scope
  const { cacheName } = settings

  const counters: CoreCounters = {
    l2Hits: 0,
    misses: 0,
    sets: 0,
    deletes: 0,
    serializationErrors: 0,
    schemaMismatches: 0,
    resilience: newResilienceCounters()
  }
  // Coherence: the refill guard (a Redis read that raced a write or an invalidation must
  // not refill L1 with what it read) and whether L1 may hold copies now.
  const invalidation = Option.getOrElse(
    yield* Effect.serviceOption(Invalidation),
    () => localInvalidation(memory.stats().maxEntries)
  )

  const nanos = () => clock.currentTimeNanosUnsafe()
  // Records now: every caller is already running. What is left (a slow-operation log) is returned.
  const record = (operation: CacheOperation, tier: AnsweringTier, started: bigint, success: boolean, errorTag?: string) => {
    const durationMillis = Number(nanos() - started) / 1e6
    return monitor.recordOperationUnsafe(
      errorTag === undefined
        ? { operation, tier, durationMillis, success, cacheName }
        : { operation, tier, durationMillis, success, cacheName, errorTag }
    )
  }
  const recordThen = <A, E>(
    result: Effect.Effect<A, E>,
    operation: CacheOperation,
    tier: AnsweringTier,
    started: bigint,
    success: boolean,
    errorTag?: string
  ): Effect.Effect<A, E> => {
    const rest = record(operation, tier, started, success, errorTag)
    return rest === Effect.void ? result : Effect.andThen(rest, result)
  }

  const countSerializationError = (operation: "encode" | "decode") =>
    Effect.suspend(() => {
      counters.serializationErrors++
      return monitor.recordSerializationError(operation)
    })

  const replyError = (error: RedisReplyError, key: string): InfrastructureError | SerializationError =>
    error.reply.startsWith("WRONGTYPE")
      ? new SerializationError({
        message: `The Redis key for "${key}" holds a value of another type, not one written by effect-redis-cache`,
        key,
        operation: "decode",
        reason: error.reply
      })
      : new InfrastructureError({
        message: `${error.message} (cache '${cacheName}')`,
        context: { command: error.command, key, cache: cacheName }
      })

  return {
    settings,
    memory,
    codec,
    events,
    monitor,
    redis,
    clock,
    tracing,
    scope,
    counters,
    invalidation,
    guard: invalidation.guard,
    tags: makeTags({
      memory,
      redis,
      invalidation,
      guard: invalidation.guard,
      now: () => clock.currentTimeMillisUnsafe(),
      retentionMillis: settings.tagRetentionMillis
    }),
    // Read once: fixed for the life of the cache, and the L1 hit path must not look anything up.
    l1Always: redis === undefined || settings.enableL1,
    nanos,
    record,
    recordThen,
    countSerializationError,
    replyError,
    traceRedis: makeRedisTracer(tracing, cacheName, redis?.url)
  }
})

/** A successful miss, allocated once. */
export const MISS_EXIT: Exit.Exit<Option.Option<never>> = Exit.succeed(Option.none())
