/**
 * The resilience of `getOrSet` (docs/resilience.md), applied to one leader's read and
 * lookup: fail-safe around both, timeouts around the lookup. The single flight stays a coordinator: it asks this
 * module how to read and how to look up, and runs what it gets.
 */
import { Effect, Option, type Schema } from "effect"
import type { CacheError } from "../../errors.js"
import type { CacheCore } from "./core.js"
import { makeBackgroundLookups } from "./backgroundRefresh.js"
import { makeFailSafe } from "./failSafe.js"
import { makeTimeouts } from "./timeouts.js"
import type { ResiliencePolicy } from "./resiliencePolicy.js"

type AnySchema = Schema.Codec<unknown, unknown> | undefined

/** The resilience of a cache's `getOrSet`. */
export const makeResilience = (core: CacheCore) => {
  const failSafe = makeFailSafe(core)
  const background = makeBackgroundLookups(core)
  const timeouts = makeTimeouts(core, background, failSafe)

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

  /** The leader's lookup (which stores its value), under its timeouts, under fail-safe. */
  const lookUp = <A, E, R>(
    key: string,
    policy: ResiliencePolicy,
    schema: AnySchema,
    attempt: Effect.Effect<A, E | CacheError, R>
  ): Effect.Effect<A, E | CacheError, R> =>
    failSafe.protect(key, timeouts.apply(key, policy, schema, attempt), policy, schema)

  return { read, lookUp }
}
