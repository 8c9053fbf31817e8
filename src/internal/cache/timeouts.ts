/**
 * Timeouts of a lookup. `softTimeout`: with a stale value at hand, the caller gets it
 * after this long and the lookup finishes in the background and stores its value.
 * `hardTimeout`: the caller gets a `LookupTimeoutError`; the lookup is interrupted, or,
 * with `completeInBackground`, finishes in the background. Both count from the start of
 * the lookup.
 */
import { Effect, Fiber, Option, type Schema } from "effect"
import { type CacheError, LookupTimeoutError } from "../../errors.js"
import type { makeBackgroundLookups } from "./backgroundRefresh.js"
import type { CacheCore } from "./core.js"
import type { makeFailSafe } from "./failSafe.js"
import type { ResiliencePolicy } from "./resiliencePolicy.js"
import { countResilience } from "./resilienceCounters.js"

type AnySchema = Schema.Codec<unknown, unknown> | undefined

/** The timeouts of a cache's lookups. */
export const makeTimeouts = (
  core: CacheCore,
  background: ReturnType<typeof makeBackgroundLookups>,
  failSafe: ReturnType<typeof makeFailSafe>
) => {
  const { events } = core

  const announce = (key: string, timeout: "soft" | "hard", afterMillis: number) =>
    events.isActive() ? events.emit({ _tag: "LookupTimedOut", key, timeout, afterMillis }) : Effect.void

  const hardTimeout = (key: string, policy: ResiliencePolicy, fiber: Fiber.Fiber<unknown, unknown> | undefined) => {
    countResilience(core, "hardTimeouts", "hard_timeout")
    const millis = policy.hardTimeoutMillis
    const error = new LookupTimeoutError({
      message: `The lookup of "${key}" took longer than its hardTimeout (${millis} ms)`,
      key,
      timeoutMillis: millis,
      completesInBackground: fiber !== undefined && policy.completeInBackground
    })
    const settle = fiber === undefined
      ? Effect.void
      : policy.completeInBackground
      ? background.detach(key, fiber, "hardTimeout")
      : Fiber.interrupt(fiber)
    return Effect.andThen(Effect.andThen(announce(key, "hard", millis), settle), Effect.fail(error))
  }

  // After softTimeout: the stale value if there is one (the lookup goes on), else keep waiting.
  const afterSoftTimeout = <A>(key: string, policy: ResiliencePolicy, schema: AnySchema, fiber: Fiber.Fiber<A, unknown>) =>
    Effect.sleep(policy.softTimeoutMillis).pipe(
      Effect.andThen(failSafe.staleCopy(key, schema, true)),
      Effect.flatMap((stale): Effect.Effect<A> => {
        if (Option.isNone(stale)) return Effect.never
        countResilience(core, "softTimeouts", "soft_timeout")
        return announce(key, "soft", policy.softTimeoutMillis).pipe(
          Effect.andThen(background.detach(key, fiber, "softTimeout")),
          Effect.andThen(failSafe.serve(key, "softTimeout", stale.value as A))
        )
      })
    )

  /** `attempt` (look up and store) under the policy's timeouts. */
  const apply = <A, E, R>(
    key: string,
    policy: ResiliencePolicy,
    schema: AnySchema,
    attempt: Effect.Effect<A, E | CacheError, R>
  ): Effect.Effect<A, E | CacheError, R> => {
    const { hardTimeoutMillis: hard, softTimeoutMillis: soft } = policy
    if (soft === 0 && hard === 0) return attempt
    if (soft === 0 && !policy.completeInBackground) {
      // Nothing outlives the caller: the timeout interrupts the lookup itself.
      return Effect.timeoutOrElse(attempt, { duration: hard, orElse: () => hardTimeout(key, policy, undefined) })
    }
    return Effect.flatMap(background.start(key, attempt), (fiber) => {
      const joined = Fiber.join(fiber)
      const raced = soft === 0 ? joined : Effect.raceFirst(joined, afterSoftTimeout(key, policy, schema, fiber))
      return hard === 0 ? raced : Effect.timeoutOrElse(raced, { duration: hard, orElse: () => hardTimeout(key, policy, fiber) })
    })
  }

  return { apply }
}
