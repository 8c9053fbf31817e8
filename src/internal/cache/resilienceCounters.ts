/**
 * The counters of the resilience options (docs/resilience.md), reported by `stats` as
 * `resilience`.
 */
import type { ResilienceStats } from "../../Cache.js"
import type { CacheMonitor, ResilienceEventName } from "../../monitoring/CacheMonitor.js"

/** The mutable counters; `stats` copies them. */
export type ResilienceCounters = { -readonly [K in keyof ResilienceStats]: ResilienceStats[K] }

/** Every counter at zero. */
export const newResilienceCounters = (): ResilienceCounters => ({
  staleServed: 0,
  failSafeActivations: 0,
  softTimeouts: 0,
  hardTimeouts: 0,
  backgroundRefreshesStarted: 0,
  backgroundRefreshesSucceeded: 0,
  backgroundRefreshesFailed: 0,
  locksAcquired: 0,
  locksWaited: 0,
  lockTimeouts: 0,
  lockWakeups: 0
})

/** Sets every counter back to zero. */
export const resetResilienceCounters = (counters: ResilienceCounters): void => {
  Object.assign(counters, newResilienceCounters())
}

/** Counts one resilience event in `stats().resilience` and in the `cache.resilience.events` metric. */
export const countResilience = (
  core: {
    readonly counters: { readonly resilience: ResilienceCounters }
    readonly monitor: CacheMonitor["Service"]
  },
  counter: keyof ResilienceCounters,
  event: ResilienceEventName
): void => {
  core.counters.resilience[counter]++
  core.monitor.recordResilienceEventUnsafe(event)
}
