/**
 * Latches of distributed-lock waiters (src/internal/cache/distributedLock.ts): a waiter
 * arms one on the key it waits for, and the invalidation link completes it when a change
 * of that key or of its lock key (`<key>\0lock`) arrives from another instance, or when
 * L1 is flushed because changes may have been missed. The waiter then reads at once
 * instead of at its next poll. With no waiter armed, a notification costs a size check.
 */
import { Deferred, type Effect, Exit } from "effect"

/** What a key's lock key adds to it: `<keyPrefix><key>\0lock`. */
export const LOCK_KEY_SUFFIX = "\u0000lock"

/** One armed wait. */
export interface KeyLatch {
  /** Completes when the key (or its lock) changed elsewhere, or L1 was flushed. */
  readonly await: Effect.Effect<void>
  /** Stops waiting; idempotent. */
  readonly disarm: () => void
}

/** The waiters of one cache. */
export interface KeyWaiters {
  /** Arms a latch on `key` (a cache key, without the prefix). */
  readonly arm: (key: string) => KeyLatch
  /** A change of `key` or of its lock key (without the prefix) was reported: wakes its waiters. */
  readonly wake: (key: string) => void
  /** Changes may have been missed: wakes every waiter. */
  readonly wakeAll: () => void
}

/** New, empty waiters. */
export const makeKeyWaiters = (): KeyWaiters => {
  const armed = new Map<string, Set<Deferred.Deferred<void>>>()

  const complete = (latches: Set<Deferred.Deferred<void>>) => {
    for (const latch of latches) Deferred.doneUnsafe(latch, Exit.void)
  }

  const wake = (key: string) => {
    if (armed.size === 0) return
    const waited = key.endsWith(LOCK_KEY_SUFFIX) ? key.slice(0, -LOCK_KEY_SUFFIX.length) : key
    const latches = armed.get(waited)
    if (latches === undefined) return
    armed.delete(waited)
    complete(latches)
  }

  const wakeAll = () => {
    if (armed.size === 0) return
    const all = [...armed.values()]
    armed.clear()
    for (const latches of all) complete(latches)
  }

  const arm = (key: string): KeyLatch => {
    const latch = Deferred.makeUnsafe<void>()
    const latches = armed.get(key) ?? new Set()
    latches.add(latch)
    armed.set(key, latches)
    const disarm = () => {
      const current = armed.get(key)
      if (current === undefined || !current.delete(latch)) return
      if (current.size === 0) armed.delete(key)
    }
    return { await: Deferred.await(latch), disarm }
  }

  return { arm, wake, wakeAll }
}
