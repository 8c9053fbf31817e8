/**
 * What an invalidation does to L1: evict keys, run a pattern, or flush everything but
 * the keys this instance wrote while degraded; counted, timed and announced as events.
 */
import { Effect, Option } from "effect"
import type { CacheEvents } from "../../events/CacheEvents.js"
import type { CacheMonitor } from "../../monitoring/CacheMonitor.js"
import type { InvalidationMechanism, PendingKeys } from "../../coherence/Invalidation.js"
import type { MemoryTier } from "../../tiers/MemoryTier.js"
import { matcher } from "../pattern.js"
import type { KeyWaiters } from "./keyWaiters.js"
import type { RefillGuard } from "./refillGuard.js"

/** The services an invalidation acts on. */
export interface L1Parts {
  readonly memory: MemoryTier["Service"]
  readonly events: CacheEvents["Service"]
  readonly guard: RefillGuard
  readonly monitor: Option.Option<CacheMonitor["Service"]>
  /** Distributed-lock waiters, woken by the changes and flushes of their keys. */
  readonly waiters: KeyWaiters
}

/** Why L1 is flushed: the metric attribute, and the text of the event and the status. */
export const flushCauses = {
  link_lost: "the invalidation link was lost",
  link_established: "the invalidation link was established",
  reconnected: "Redis is back after an outage",
  redis_flushed: "Redis was flushed",
  remote_clear: "another instance cleared the cache",
  version: "an invalidation message of another version arrived"
} as const

/** A flush cause. */
export type FlushCause = keyof typeof flushCauses

const NOTHING_PENDING: PendingKeys = { size: 0, has: () => false }

/** The L1 side of a link, with its counters. */
export const makeL1Effects = Effect.fnUntraced(function*(parts: L1Parts, now: () => number) {
  const { events, guard, memory, monitor, waiters } = parts
  const runFork = Effect.runForkWith(yield* Effect.context<never>())
  let pending: PendingKeys = NOTHING_PENDING
  let invalidationsReceived = 0
  let flushes = 0
  let lastFlushCause: Option.Option<string> = Option.none()
  let lastLagMillis: Option.Option<number> = Option.none()

  const emit = (event: Parameters<typeof events.emit>[0]) => {
    if (events.isActive()) runFork(events.emit(event))
  }

  // Empties L1 but for this instance's own writes still to be replayed, and forbids the
  // refills of every read in flight: what they read may be what was missed.
  const flush = (cause: FlushCause) => {
    guard.touchAll()
    waiters.wakeAll()
    const entries = memory.stats().entries
    if (pending.size === 0) memory.clear()
    else memory.removeWhere((key) => !pending.has(key))
    if (entries === 0) return
    flushes++
    lastFlushCause = Option.some(flushCauses[cause])
    if (monitor._tag === "Some") runFork(monitor.value.recordL1Flush(cause))
    emit({ _tag: "L1Flushed", cause: flushCauses[cause] })
  }

  const received = (count: number, mechanism: Exclude<InvalidationMechanism, "off">, writtenAt?: number) => {
    if (count === 0) return
    invalidationsReceived += count
    const lagMillis = writtenAt === undefined ? undefined : Math.max(0, now() - writtenAt)
    if (lagMillis !== undefined) lastLagMillis = Option.some(lagMillis)
    if (monitor._tag === "Some") runFork(monitor.value.recordL1Invalidation({ keys: count, mechanism, lagMillis }))
    emit({ _tag: "L1Invalidated", keys: count, mechanism })
  }

  const evict = (key: string) => {
    guard.touch(key)
    memory.delete(key)
    waiters.wake(key)
  }

  const evictPattern = (pattern: string, glob: boolean) => {
    guard.touchAll()
    return memory.removeWhere(matcher(pattern, { glob }))
  }

  return {
    flush,
    evict,
    evictPattern,
    received,
    setPending: (keys: PendingKeys) => {
      pending = keys
    },
    counters: () => ({ invalidationsReceived, flushes, lastFlushCause, lastLagMillis })
  }
})

/** The L1 side of a link. */
export type L1Effects = Effect.Success<ReturnType<typeof makeL1Effects>>
