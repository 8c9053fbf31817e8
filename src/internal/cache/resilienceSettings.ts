/**
 * The cache-wide defaults of the resilience options (docs/resilience.md), after
 * validation: every duration in milliseconds, 0 for "off".
 */
import { Duration } from "effect"

/** The resilience defaults of one cache. */
export interface ResilienceDefaults {
  /** Most milliseconds added at random to every TTL this cache writes; 0: none. */
  readonly ttlJitterMillis: number
  /** How long past its TTL an entry is kept for fail-safe; 0: not at all. */
  readonly staleForMillis: number
  /** Serve a stale value when the lookup fails (or Redis does). */
  readonly staleOnError: boolean
  /** How long a stale value served by fail-safe is served before the lookup is tried again. */
  readonly failSafeThrottleMillis: number
  /** Soft and hard timeouts of a lookup; 0: none. */
  readonly softTimeoutMillis: number
  readonly hardTimeoutMillis: number
  readonly completeInBackground: boolean
  /** Fraction of the TTL after which a `getOrSet` hit starts a background refresh; 0: never. */
  readonly refreshAhead: number
  /** One lookup across instances through a Redis lock. */
  readonly distributedLock: boolean
  readonly lockTtlMillis: number
  readonly lockTimeoutMillis: number
}

/** The resilience options as the option schemas give them. */
export interface ResilienceOptionInput {
  readonly ttlJitter?: Duration.Input | undefined
  readonly staleFor?: Duration.Input | undefined
  readonly staleOnError?: boolean | undefined
  readonly failSafeThrottle?: Duration.Input | undefined
  readonly softTimeout?: Duration.Input | undefined
  readonly hardTimeout?: Duration.Input | undefined
  readonly completeInBackground?: boolean | undefined
  readonly refreshAhead?: number | undefined
  readonly distributedLock?: boolean | undefined
  readonly lockTtl?: Duration.Input | undefined
  readonly lockTimeout?: Duration.Input | undefined
}

/** `failSafeThrottle` when none is given: 30 seconds, as FusionCache. */
export const DEFAULT_FAIL_SAFE_THROTTLE_MILLIS = 30_000

const millisOr = (input: Duration.Input | undefined, fallback: number): number =>
  input === undefined ? fallback : Duration.toMillis(Duration.fromInputUnsafe(input))

/** The defaults from a cache's validated options. */
export const resilienceDefaults = (valid: ResilienceOptionInput): ResilienceDefaults => ({
  ttlJitterMillis: millisOr(valid.ttlJitter, 0),
  staleForMillis: millisOr(valid.staleFor, 0),
  staleOnError: valid.staleOnError ?? false,
  failSafeThrottleMillis: millisOr(valid.failSafeThrottle, DEFAULT_FAIL_SAFE_THROTTLE_MILLIS),
  softTimeoutMillis: millisOr(valid.softTimeout, 0),
  hardTimeoutMillis: millisOr(valid.hardTimeout, 0),
  completeInBackground: valid.completeInBackground ?? false,
  refreshAhead: valid.refreshAhead ?? 0,
  distributedLock: valid.distributedLock ?? false,
  lockTtlMillis: millisOr(valid.lockTtl, 10_000),
  lockTimeoutMillis: millisOr(valid.lockTimeout, 15_000)
})

/** Every option off. */
export const NO_RESILIENCE: ResilienceDefaults = resilienceDefaults({})
