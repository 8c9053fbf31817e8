/**
 * How long a write lives: its TTL plus the random jitter (`ttlJitter`) that keeps
 * entries written together from expiring together, and the grace after it (`staleFor`)
 * during which the entry is kept, physically, for fail-safe.
 */
import { Duration, Option } from "effect"
import { CacheLimits } from "../../CacheOptions.js"
import { validationError, type ValidationError } from "../../errors.js"
import { ttlMillisOf } from "./inputs.js"
import type { ResilienceDefaults } from "./resilienceSettings.js"

/** The per-call options that shape a write's lifetime. */
export interface LifetimeOptions {
  readonly ttl?: Duration.Input | undefined
  readonly ttlJitter?: Duration.Input | undefined
  readonly staleFor?: Duration.Input | undefined
}

/** A per-call duration that may be zero ("off for this call"), in milliseconds, or the refusal. */
export const nonNegativeMillisOf = (
  key: string,
  field: string,
  input: Duration.Input | undefined,
  fallback: number
): number | ValidationError => {
  if (input === undefined) return fallback
  const duration = Duration.fromInput(input)
  const millis = Option.isSome(duration) ? Duration.toMillis(duration.value) : Number.NaN
  if (millis >= 0 && millis <= CacheLimits.maxTtlMillis) return Math.ceil(millis)
  return validationError([{
    field,
    value: Option.isSome(duration) ? Duration.format(duration.value) : String(input),
    rule: Option.isSome(duration) ? "must be between 0 and 365 days" : "must be a duration"
  }], { subject: `Invalid ${field}`, key })
}

/**
 * The TTL of a write in whole milliseconds: the given TTL (or the cache's default)
 * plus a uniform random extra in [0, jitter], capped at the longest TTL; or the refusal.
 */
export const jitteredTtlOf = (
  key: string,
  options: LifetimeOptions | undefined,
  defaultTtlMillis: number,
  defaults: ResilienceDefaults
): number | ValidationError => {
  const ttlMillis = ttlMillisOf(key, options?.ttl, defaultTtlMillis)
  if (typeof ttlMillis !== "number") return ttlMillis
  const jitter = nonNegativeMillisOf(key, "ttlJitter", options?.ttlJitter, defaults.ttlJitterMillis)
  if (typeof jitter !== "number") return jitter
  if (jitter === 0) return ttlMillis
  return Math.min(CacheLimits.maxTtlMillis, ttlMillis + Math.floor(Math.random() * (jitter + 1)))
}

/** How long past its TTL a write is kept for fail-safe, in milliseconds (0: not at all), or the refusal. */
export const staleMillisOf = (
  key: string,
  options: LifetimeOptions | undefined,
  defaults: ResilienceDefaults
): number | ValidationError => nonNegativeMillisOf(key, "staleFor", options?.staleFor, defaults.staleForMillis)

/**
 * What the envelope records of a write: its time and its logical expiry, the end of its
 * TTL (its Redis TTL is that plus `staleFor`). Readers bound their L1 copy by the expiry,
 * so that a hit needs no PTTL.
 */
export const encodeMetaOf = (writtenAt: number, ttlMillis: number) => ({ writtenAt, expiresAt: writtenAt + ttlMillis })
