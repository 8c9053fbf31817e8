/**
 * The resilience of `getOrSet` (docs/resilience.md), applied to one leader's read and
 * lookup: fail-safe around both, timeouts around the lookup; and eager refresh of a hit. The single flight stays a coordinator: it asks this
 * module how to read and how to look up, and runs what it gets.
 */
import { Effect, Option, type Schema } from "effect"
import type { GetOrSetOptions } from "../../Cache.js"
import { type CacheError, validationError, type ValidationError } from "../../errors.js"
import { ttlMillisOf } from "./inputs.js"
import type { CacheCore } from "./core.js"
import { makeBackgroundLookups } from "./backgroundRefresh.js"
import { makeDistributedLock } from "./distributedLock.js"
import { makeFailSafe } from "./failSafe.js"
import { makeTimeouts } from "./timeouts.js"
import type { ResiliencePolicy } from "./resiliencePolicy.js"

type AnySchema = Schema.Codec<unknown, unknown> | undefined

/** The resilience of a cache's `getOrSet`. */
export const makeResilience = (core: CacheCore) => {
  const failSafe = makeFailSafe(core)
  const defaults = core.settings.resilience
  const { defaultTtlMillis } = core.settings
  const background = makeBackgroundLookups(core)
  const timeouts = makeTimeouts(core, background, failSafe)
  const lock = makeDistributedLock(core)

  /** The leader's read: a Redis failure may be answered with L1's stale copy. */
  const read = (
    key: string,
    policy: ResiliencePolicy,
    schema: AnySchema,
    get: Effect.Effect<Option.Option<unknown>, CacheError>
  ): Effect.Effect<Option.Option<unknown>, CacheError> =>
    policy.staleOnError
      ? Effect.catch(get, (error) => Effect.map(failSafe.onReadFailure(key, error, policy, schema), Option.some))
      : get

  /** The leader's lookup (which stores its value), under its timeouts, under fail-safe, under the distributed lock. */
  const lookUp = <A, E, R>(
    key: string,
    policy: ResiliencePolicy,
    schema: AnySchema,
    attempt: Effect.Effect<A, E | CacheError, R>
  ): Effect.Effect<A, E | CacheError, R> => {
    const protectedAttempt = failSafe.protect(key, timeouts.apply(key, policy, schema, attempt), policy, schema)
    return policy.distributedLock ? lock.around(key, schema, policy, protectedAttempt) : protectedAttempt
  }

  /** The call's `refreshAhead` (0: off), or its refusal. */
  const refreshFraction = (key: string, options: GetOrSetOptions<unknown> | undefined): number | ValidationError => {
    const fraction = options?.refreshAhead ?? defaults.refreshAhead
    if (fraction === 0 || (fraction > 0 && fraction < 1)) return fraction
    return validationError([{ field: "refreshAhead", value: String(fraction), rule: "must be between 0 and 1 (exclusive)" }], {
      subject: "Invalid refreshAhead",
      key
    })
  }

  /**
   * Answers a hit with `value`; when `fraction` of the entry's TTL has passed (by L1's
   * copy, against the TTL this call writes), also starts the key's one background lookup.
   */
  const refreshAhead = <A, E, R>(
    key: string,
    fraction: number,
    options: GetOrSetOptions<unknown> | undefined,
    value: A,
    attempt: () => Effect.Effect<A, E, R>
  ): Effect.Effect<A, never, R> =>
    Effect.suspend(() => {
      const remaining = core.memory.remainingTtl(key)
      const ttl = ttlMillisOf(key, typeof options?.ttl === "function" ? undefined : options?.ttl, defaultTtlMillis)
      if (remaining === undefined || typeof ttl !== "number" || remaining > (1 - fraction) * ttl) return Effect.succeed(value)
      if (background.isRunning(key)) return Effect.succeed(value)
      return background.start(key, attempt()).pipe(
        Effect.flatMap((fiber) => background.detach(key, fiber, "refreshAhead")),
        Effect.as(value)
      )
    })

  return { read, lookUp, refreshFraction, refreshAhead }
}
