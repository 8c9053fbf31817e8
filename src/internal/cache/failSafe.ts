/**
 * Fail-safe: when a lookup fails (or dies, with `staleOnDefect`) or Redis does, and a
 * value past its TTL but within its `staleFor` is at hand, `getOrSet` answers with it
 * rather than the error, and serves it for `failSafeThrottle` before it tries the
 * lookup again, so that a failing backend is not hammered. The stale copy is looked for
 * only when it is needed: L1 first, then Redis.
 */
import { Cause, Effect, Exit, Option, type Schema } from "effect"
import type { CacheError } from "../../errors.js"
import type { StaleCause } from "../../events/CacheEvents.js"
import type { CacheCore } from "./core.js"
import type { ResiliencePolicy } from "./resiliencePolicy.js"
import { makeSchemaFit } from "./schemas.js"
import { countResilience } from "./resilienceCounters.js"

type AnySchema = Schema.Codec<unknown, unknown> | undefined

const NONE = Effect.succeed(Option.none<unknown>())

/** The fail-safe of a cache. */
export const makeFailSafe = (core: CacheCore) => {
  const { codec, events, memory, redis, tags } = core
  const fitSchema = makeSchemaFit(core)
  // key -> until when a stale value served by fail-safe is served without a lookup
  const throttledUntil = new Map<string, number>()
  const now = () => core.clock.currentTimeMillisUnsafe()

  const fromRedis = (key: string, schema: AnySchema): Effect.Effect<Option.Option<unknown>> => {
    if (redis === undefined || !redis.isConnected()) return NONE
    return redis.read(key, false).pipe(
      Effect.flatMap((read) => {
        if (read._tag !== "Hit") return NONE
        const decoded = codec.decodeSizedExit(key, read.bytes)
        if (Exit.isFailure(decoded)) return NONE
        // A value its tags invalidated is not served, even stale: the invalidation says it is
        // wrong, where an expiry only says it is old (docs/multi-key-and-tags.md).
        const { tags: entryTags, value, writtenAt } = decoded.value
        return Effect.flatMap(tags.stillValid(entryTags, writtenAt), (valid) =>
          valid ? fitSchema(key, value, schema) : NONE)
      }),
      // a second failure proves nothing new: the caller gets the first one
      Effect.orElseSucceed(Option.none)
    )
  }

  /** The value kept for `key`, fresh or stale: L1's copy, else (with `askRedis`) Redis's. */
  const staleCopy = (key: string, schema: AnySchema, askRedis: boolean): Effect.Effect<Option.Option<unknown>> =>
    Effect.suspend(() => {
      const entry = memory.peekEntry(key)
      if (entry !== undefined) return Effect.orElseSucceed(fitSchema(key, entry.value, schema), Option.none)
      return askRedis ? fromRedis(key, schema) : NONE
    })

  /** Answers with a stale value: counted and announced. */
  const serve = <A>(key: string, cause: StaleCause, value: A): Effect.Effect<A> => {
    countResilience(core, "staleServed", "stale_served")
    return events.isActive() ? Effect.as(events.emit({ _tag: "StaleServed", key, cause }), value) : Effect.succeed(value)
  }

  const activate = <A>(key: string, policy: ResiliencePolicy, cause: Cause.Cause<unknown>, value: A) => {
    countResilience(core, "failSafeActivations", "failsafe_activated")
    if (policy.throttleMillis > 0) throttle(key, now() + policy.throttleMillis)
    const error = Cause.squash(cause)
    const tag = typeof error === "object" && error !== null && "_tag" in error ? String(error._tag) : "Defect"
    const announced = events.isActive() ? events.emit({ _tag: "FailSafeActivated", key, error: tag }) : Effect.void
    return Effect.andThen(announced, serve(key, "lookupFailed", value))
  }

  // Keys whose throttle is over and that nobody asked for since are dropped now and then.
  const throttle = (key: string, until: number): void => {
    if (throttledUntil.size >= 1024) {
      const current = now()
      for (const [other, end] of throttledUntil) if (end <= current) throttledUntil.delete(other)
    }
    throttledUntil.set(key, until)
  }

  const throttled = (key: string): boolean => {
    const until = throttledUntil.get(key)
    if (until === undefined) return false
    if (until > now()) return true
    throttledUntil.delete(key)
    return false
  }

  const qualifies = (policy: ResiliencePolicy, cause: Cause.Cause<unknown>): boolean =>
    !Cause.hasInterruptsOnly(cause) && (Cause.hasFails(cause) || policy.staleOnDefect)

  /** Runs `attempt` (look up and store) under fail-safe. */
  const protect = <A, E, R>(
    key: string,
    attempt: Effect.Effect<A, E | CacheError, R>,
    policy: ResiliencePolicy,
    schema: AnySchema
  ): Effect.Effect<A, E | CacheError, R> => {
    if (!policy.staleOnError) return attempt
    const guarded = Effect.catchCause(attempt, (cause) =>
      qualifies(policy, cause)
        ? Effect.flatMap(staleCopy(key, schema, true), (stale) =>
          Option.isSome(stale) ? activate(key, policy, cause, stale.value as A) : Effect.failCause(cause))
        : Effect.failCause(cause))
    return Effect.suspend(() => {
      if (!throttled(key)) return guarded
      return Effect.flatMap(staleCopy(key, schema, true), (stale) =>
        Option.isSome(stale) ? serve(key, "throttled", stale.value as A) : guarded)
    })
  }

  /** Redis failed the read: with `staleOnError`, L1's stale copy answers instead. */
  const onReadFailure = <A>(
    key: string,
    error: CacheError,
    policy: ResiliencePolicy,
    schema: AnySchema
  ): Effect.Effect<A, CacheError> => {
    if (!policy.staleOnError || error._tag !== "InfrastructureError") return Effect.fail(error)
    return Effect.flatMap(staleCopy(key, schema, false), (stale) =>
      Option.isSome(stale) ? serve(key, "redisError", stale.value as A) : Effect.fail(error))
  }

  return { protect, onReadFailure, staleCopy, serve }
}
