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
import { isTagKey, TAG_KEY_PREFIX, type TagSignals } from "./tagSignals.js"

/** The services an invalidation acts on. */
export interface L1Parts {
  readonly memory: MemoryTier["Service"]
  readonly events: CacheEvents["Service"]
  readonly guard: RefillGuard
  readonly monitor: Option.Option<CacheMonitor["Service"]>
  /** Distributed-lock waiters, woken by the changes and flushes of their keys. */
  readonly waiters: KeyWaiters
  /** The cache's tag listener: told of tag timestamps that changed, and of flushes. */
  readonly tags: TagSignals
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

/**
 * Most keys evicted in one turn of the event loop, over all the messages of that turn. A
 * message with more (a tracking message for a command that changed 100,000 keys), or one
 * that comes when the turn has spent its share (ioredis hands over every message it has
 * buffered in one turn: hundreds of them when another program writes 100,000 keys), is
 * evicted a chunk per turn, so that eviction blocks the loop for about a millisecond at a
 * time, not for all of it.
 */
export const EVICTION_CHUNK = 1_000

/**
 * Most keys of a message that forbid refills one by one; a larger message forbids every
 * refill in flight at once. Per key costs a few lookups in the refill guard's maps, which
 * hold as many keys as L1: in a burst of 100,000 invalidations most of an eviction's time.
 */
const PER_KEY_GUARD_MAX = 64

/** The keys of one message, still to be evicted; `keyAt` gives a cache key, or `undefined` to skip an item. */
export interface Eviction<A> {
  readonly items: ReadonlyArray<A>
  readonly keyAt: (item: A) => string | undefined
  /** Called once every key is evicted, with how many were. */
  readonly done: (evicted: number) => void
}

interface Draining {
  readonly eviction: Eviction<unknown>
  next: number
  evicted: number
}

/**
 * The L1 side of a link, with its counters. `backlog` is told when messages start and stop
 * waiting for later turns: the link then stops reading the subscriber's socket, since ioredis
 * decodes in one turn everything it has read (and would hand over thousands more messages).
 */
export const makeL1Effects = Effect.fnUntraced(function*(
  parts: L1Parts,
  now: () => number,
  backlog: (waiting: boolean) => void = () => undefined
) {
  const { events, guard, memory, monitor, tags, waiters } = parts
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
    tags.flushed()
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

  // A tag's timestamp changed: the entries carrying it go too (tags.ts), and no read in
  // flight may refill one of them with what it read before the change.
  const tagChanged = (key: string) => {
    guard.touchAll()
    tags.changed(key.slice(TAG_KEY_PREFIX.length))
  }

  // Evicts `key` from L1; the refill guard is the caller's.
  const evictKey = (key: string) => {
    memory.delete(key)
    waiters.wake(key)
    if (isTagKey(key)) tagChanged(key)
  }

  // Evicts up to `budget` keys of `job`; how many items it took.
  const evictSome = (job: Draining, budget: number): number => {
    const { items, keyAt } = job.eviction
    const end = Math.min(items.length, job.next + budget)
    const start = job.next
    for (; job.next < end; job.next++) {
      const key = keyAt(items[job.next])
      if (key === undefined) continue
      evictKey(key)
      job.evicted++
    }
    return end - start
  }

  // Keys evicted since this turn began; `nextTurn` (setImmediate) sets it back to 0 and goes on
  // with the messages waiting, so that I/O and timers run in between. `waiting`: what `backlog` was told last.
  let spent = 0
  let turnScheduled = false
  let waiting = false
  const draining: Array<Draining> = []
  const endOfTurn = () => {
    if (turnScheduled) return
    turnScheduled = true
    setImmediate(nextTurn)
  }
  const drain = () => {
    while (spent < EVICTION_CHUNK && draining.length > 0) {
      const job = draining[0]!
      spent += evictSome(job, EVICTION_CHUNK - spent)
      if (job.next < job.eviction.items.length) break
      draining.shift()
      job.eviction.done(job.evicted)
    }
    if (waiting !== draining.length > 0) {
      waiting = !waiting
      backlog(waiting)
    }
    endOfTurn()
  }
  const nextTurn = () => {
    turnScheduled = false
    spent = 0
    if (draining.length > 0) drain()
  }

  // Evicts a message's keys: at once while they fit in this turn's share, else a chunk per
  // turn. Until its last chunk, L1 may still serve a key of the message (the lag grows by the
  // turns it takes), but no read in flight refills one: every refill is forbidden up front, as
  // the guard would do anyway past its bound. Evictions commute, so a small message that comes
  // meanwhile goes before the large ones waiting (it is not held up behind 100,000 keys).
  const evictAll = <A>(eviction: Eviction<A>) => {
    const { items } = eviction
    if (draining.length === 0 && spent + items.length <= EVICTION_CHUNK) {
      const perKey = items.length <= PER_KEY_GUARD_MAX
      if (!perKey) guard.touchAll()
      let evicted = 0
      for (const item of items) {
        const key = eviction.keyAt(item)
        if (key === undefined) continue
        if (perKey) guard.touch(key)
        evictKey(key)
        evicted++
      }
      spent += items.length
      endOfTurn()
      return eviction.done(evicted)
    }
    guard.touchAll()
    const job: Draining = { eviction: eviction as Eviction<unknown>, next: 0, evicted: 0 }
    if (items.length <= EVICTION_CHUNK) draining.unshift(job)
    else draining.push(job)
    drain()
  }

  const evictPattern = (pattern: string, glob: boolean) => {
    guard.touchAll()
    return memory.removeWhere(matcher(pattern, { glob }))
  }

  return {
    flush,
    evictAll,
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
