/**
 * The cache-wide defaults of the resilience options (docs/resilience.md), after
 * validation: every duration in milliseconds, 0 for "off".
 */
import { Duration } from "effect"

/** The resilience defaults of one cache. */
export interface ResilienceDefaults {
  /** Most milliseconds added at random to every TTL this cache writes; 0: none. */
  readonly ttlJitterMillis: number
}

/** The resilience options as the option schemas give them. */
export interface ResilienceOptionInput {
  readonly ttlJitter?: Duration.Input | undefined
}

const millisOr = (input: Duration.Input | undefined, fallback: number): number =>
  input === undefined ? fallback : Duration.toMillis(Duration.fromInputUnsafe(input))

/** The defaults from a cache's validated options. */
export const resilienceDefaults = (valid: ResilienceOptionInput): ResilienceDefaults => ({
  ttlJitterMillis: millisOr(valid.ttlJitter, 0)
})

/** Every option off. */
export const NO_RESILIENCE: ResilienceDefaults = resilienceDefaults({})
