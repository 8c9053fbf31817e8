/**
 * The resilience policy of one `getOrSet` call: its options over the cache's defaults,
 * validated, in milliseconds. `undefined` when every option is off, so that a call
 * without them takes the plain single flight.
 */
import type { GetOrSetOptions } from "../../Cache.js"
import type { ValidationError } from "../../errors.js"
import { nonNegativeMillisOf } from "./lifetime.js"
import type { ResilienceDefaults } from "./resilienceSettings.js"

/** What a call asks of fail-safe. */
export interface ResiliencePolicy {
  /** Kept past the TTL, for fail-safe (0: not at all). */
  readonly staleMillis: number
  readonly staleOnError: boolean
  /** A lookup that dies counts as a failure for fail-safe too. */
  readonly staleOnDefect: boolean
  readonly throttleMillis: number
  /** 0: none. */
  readonly softTimeoutMillis: number
  readonly hardTimeoutMillis: number
  readonly completeInBackground: boolean
  readonly distributedLock: boolean
  readonly lockTtlMillis: number
  readonly lockTimeoutMillis: number
}

const any = (options: GetOrSetOptions<unknown> | undefined, defaults: ResilienceDefaults): boolean =>
  defaults.staleOnError || defaults.staleForMillis > 0 || defaults.softTimeoutMillis > 0 ||
  defaults.hardTimeoutMillis > 0 || defaults.distributedLock ||
  (options !== undefined && options.distributedLock !== undefined) ||
  (options !== undefined &&
    (options.staleOnError !== undefined || options.staleFor !== undefined || options.staleOnDefect !== undefined ||
      options.softTimeout !== undefined || options.hardTimeout !== undefined))

/** The policy of a call, `undefined` when every option is off, or the refusal of an option. */
export const policyOf = (
  key: string,
  options: GetOrSetOptions<unknown> | undefined,
  defaults: ResilienceDefaults
): ResiliencePolicy | ValidationError | undefined => {
  if (!any(options, defaults)) return undefined
  const staleMillis = nonNegativeMillisOf(key, "staleFor", options?.staleFor, defaults.staleForMillis)
  if (typeof staleMillis !== "number") return staleMillis
  const throttleMillis = nonNegativeMillisOf(
    key,
    "failSafeThrottle",
    options?.failSafeThrottle,
    defaults.failSafeThrottleMillis
  )
  if (typeof throttleMillis !== "number") return throttleMillis
  const softTimeoutMillis = nonNegativeMillisOf(key, "softTimeout", options?.softTimeout, defaults.softTimeoutMillis)
  if (typeof softTimeoutMillis !== "number") return softTimeoutMillis
  const hardTimeoutMillis = nonNegativeMillisOf(key, "hardTimeout", options?.hardTimeout, defaults.hardTimeoutMillis)
  if (typeof hardTimeoutMillis !== "number") return hardTimeoutMillis
  const lockTtlMillis = nonNegativeMillisOf(key, "lockTtl", options?.lockTtl, defaults.lockTtlMillis)
  if (typeof lockTtlMillis !== "number") return lockTtlMillis
  const lockTimeoutMillis = nonNegativeMillisOf(key, "lockTimeout", options?.lockTimeout, defaults.lockTimeoutMillis)
  if (typeof lockTimeoutMillis !== "number") return lockTimeoutMillis
  return {
    staleMillis,
    staleOnError: options?.staleOnError ?? defaults.staleOnError,
    staleOnDefect: options?.staleOnDefect ?? false,
    throttleMillis,
    softTimeoutMillis,
    hardTimeoutMillis,
    completeInBackground: options?.completeInBackground ?? defaults.completeInBackground,
    // a lock that expires at once would lock nothing
    distributedLock: (options?.distributedLock ?? defaults.distributedLock) && lockTtlMillis > 0,
    lockTtlMillis,
    lockTimeoutMillis
  }
}
