/**
 * Lookups that may outlive their caller (after a soft or hard timeout, or started by
 * `refreshAhead`): each runs as a fiber in the cache's scope, so it ends with the cache,
 * and there is at most one per key at a time: a caller that comes while one runs joins it.
 */
import { Effect, Exit, Fiber } from "effect"
import type { CacheCore } from "./core.js"
import { countResilience } from "./resilienceCounters.js"

/** Why a lookup went on in the background. */
export type BackgroundReason = "softTimeout" | "hardTimeout" | "refreshAhead"

/** The background lookups of a cache. */
export const makeBackgroundLookups = (core: CacheCore) => {
  const { events, scope } = core
  const running = new Map<string, Fiber.Fiber<unknown, unknown>>()
  // A lookup several callers stopped waiting for is one background refresh.
  const detached = new WeakSet<Fiber.Fiber<unknown, unknown>>()

  /** The lookup of `key` that runs now, or `attempt` started as a fiber in the cache's scope. */
  const start = <A, E, R>(key: string, attempt: Effect.Effect<A, E, R>): Effect.Effect<Fiber.Fiber<A, E>, never, R> =>
    Effect.suspend(() => {
      const current = running.get(key)
      if (current !== undefined) return Effect.succeed(current as Fiber.Fiber<A, E>)
      let self: Fiber.Fiber<A, E> | undefined
      const tracked = Effect.onExit(attempt, () =>
        Effect.sync(() => {
          if (running.get(key) === self) running.delete(key)
        }))
      return Effect.map(Effect.forkIn(tracked, scope), (fiber) => {
        self = fiber
        running.set(key, fiber)
        return fiber
      })
    })

  const announce = (key: string, outcome: "started" | "succeeded" | "failed", reason: BackgroundReason) =>
    events.isActive() ? events.emit({ _tag: "BackgroundRefresh", key, outcome, reason }) : Effect.void

  /** The caller stops waiting for `fiber`: from now on it is a background refresh, counted and announced. */
  const detach = (key: string, fiber: Fiber.Fiber<unknown, unknown>, reason: BackgroundReason): Effect.Effect<void> => {
    if (detached.has(fiber)) return Effect.void
    detached.add(fiber)
    countResilience(core, "backgroundRefreshesStarted", "refresh_started")
    const report = Effect.flatMap(Fiber.await(fiber), (exit) => {
      if (Exit.isSuccess(exit)) countResilience(core, "backgroundRefreshesSucceeded", "refresh_succeeded")
      else countResilience(core, "backgroundRefreshesFailed", "refresh_failed")
      return announce(key, Exit.isSuccess(exit) ? "succeeded" : "failed", reason)
    })
    return Effect.andThen(announce(key, "started", reason), Effect.asVoid(Effect.forkIn(report, scope)))
  }

  /** Whether a lookup of `key` runs now. */
  const isRunning = (key: string): boolean => running.has(key)

  return { start, detach, isRunning }
}
