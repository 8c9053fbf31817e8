/**
 * `getOrSetMany`: many keys read at once, and one `lookupMany` for those missing in both
 * tiers, single-flighted per key with `getOrSet` through the single flight's leaders.
 */
import { Cause, Deferred, Effect, Exit, Option } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { GetOrSetManyOptions, SetOptions } from "../../Cache.js"
import type { CacheError } from "../../errors.js"
import type { CacheCore } from "./core.js"
import { jitteredTtlOf, staleMillisOf } from "./lifetime.js"
import { type AnySchema, firstFailure, keysError, type MultiKeyParts, traced, unbounded, unique } from "./manyKeys.js"
import { ABSENT } from "./singleFlight.js"

// Checks the lifetime options before anything runs (an adaptive TTL is checked when it is known).
const optionsError = (key: string, options: GetOrSetManyOptions<unknown> | undefined, core: CacheCore) => {
  if (options === undefined) return undefined
  const { ttl, ...rest } = options
  const lifetime = typeof ttl === "function" ? rest : options
  const checked = jitteredTtlOf(key, lifetime as SetOptions, core.settings.defaultTtlMillis, core.settings.resilience)
  if (typeof checked !== "number") return checked
  const stale = staleMillisOf(key, options as SetOptions, core.settings.resilience)
  return typeof stale === "number" ? undefined : stale
}

/** Reads keys (L1 hits first, the rest concurrently), one outcome per key. */
export type ReadAll = (
  keys: ReadonlyArray<string>,
  schema: AnySchema
) => Effect.Effect<Array<Exit.Exit<Option.Option<unknown>, CacheError>>>

/**
 * `getOrSetMany`. The keys that no other caller is reading or looking up are claimed at
 * once (this call leads them, as `getOrSet` leads one key), read, and those missing in both
 * tiers are looked up by one `lookupMany`; the keys another caller leads are awaited. Each
 * led key is released as soon as its outcome is known, so a `getOrSet` waiting on it goes on
 * without waiting for the rest of the call.
 */
export const makeGetOrSetMany = (core: CacheCore, parts: MultiKeyParts, readAll: ReadAll) => {
  const { leaders } = parts
  const { cacheName } = core.settings

  const getOrSetMany = <A, E, R>(
    keys: ReadonlyArray<string>,
    lookupMany: (missing: NonEmptyReadonlyArray<string>) => Effect.Effect<Iterable<readonly [string, A]>, E, R>,
    options?: GetOrSetManyOptions<A>
  ): Effect.Effect<ReadonlyArray<Option.Option<A>>, E | CacheError, R> =>
    Effect.suspend(() => {
      const invalid = keysError(keys)
      if (invalid !== undefined) return Exit.fail(invalid)
      if (keys.length === 0) return Exit.succeed([])
      const refused = optionsError(keys[0]!, options as GetOrSetManyOptions<unknown> | undefined, core)
      if (refused !== undefined) return Exit.fail(refused)
      const results = new Map<string, Option.Option<A>>()
      const mine = new Map<string, Deferred.Deferred<unknown, unknown>>()
      const settle = (key: string, outcome: Exit.Exit<unknown, unknown>) => {
        const deferred = mine.get(key)
        if (deferred === undefined) return
        mine.delete(key)
        if (leaders.get(key) === deferred) leaders.delete(key)
        Deferred.doneUnsafe(deferred, outcome)
      }
      // Claimed inside the effect that releases them, so that no claim can outlive this call.
      const claimAndRun = Effect.suspend(() => {
        const followed: Array<readonly [string, Deferred.Deferred<unknown, unknown>]> = []
        // Claimed in one synchronous pass: two calls over the same keys cannot each wait on the other.
        for (const key of unique(keys)) {
          const leader = leaders.get(key)
          if (leader !== undefined) {
            followed.push([key, leader])
            continue
          }
          const deferred = Deferred.makeUnsafe<unknown, unknown>()
          leaders.set(key, deferred)
          mine.set(key, deferred)
        }
        const leading = lead(Array.from(mine.keys()), lookupMany, options, results, settle)
        const following = follow(followed, lookupMany, options, results)
        return Effect.all([leading, following], { concurrency: 2, discard: true })
      })
      return claimAndRun.pipe(
        // Keys this call did not get to (a failure elsewhere, an interruption): whoever waits on them tries again.
        Effect.onExit(() =>
          Effect.sync(() => {
            for (const key of Array.from(mine.keys())) settle(key, Exit.interrupt())
          })
        ),
        Effect.map(() => keys.map((key) => results.get(key) ?? Option.none())),
        (self) => traced(self, "getOrSetMany", cacheName, keys.length)
      )
    })

  const lead = <A, E, R>(
    led: ReadonlyArray<string>,
    lookupMany: (missing: NonEmptyReadonlyArray<string>) => Effect.Effect<Iterable<readonly [string, A]>, E, R>,
    options: GetOrSetManyOptions<A> | undefined,
    results: Map<string, Option.Option<A>>,
    settle: (key: string, outcome: Exit.Exit<unknown, unknown>) => void
  ): Effect.Effect<void, E | CacheError, R> => {
    if (led.length === 0) return Effect.void
    const schema = options?.schema as AnySchema
    return Effect.flatMap(readAll(led, schema), (exits): Effect.Effect<void, E | CacheError, R> => {
      const failed = firstFailure(exits)
      if (failed !== undefined) {
        settle(led[exits.indexOf(failed as Exit.Exit<Option.Option<unknown>, CacheError>)]!, failed)
        return failed
      }
      const missing: Array<string> = []
      exits.forEach((exit, i) => {
        const found = (exit as Exit.Success<Option.Option<unknown>>).value
        if (Option.isNone(found)) return missing.push(led[i]!)
        results.set(led[i]!, found as Option.Option<A>)
        settle(led[i]!, Exit.succeed(found.value))
      })
      if (missing.length === 0) return Effect.void
      return lookUpAndStore(missing as unknown as NonEmptyReadonlyArray<string>, lookupMany, options, results, settle)
    })
  }

  const lookUpAndStore = <A, E, R>(
    missing: NonEmptyReadonlyArray<string>,
    lookupMany: (missing: NonEmptyReadonlyArray<string>) => Effect.Effect<Iterable<readonly [string, A]>, E, R>,
    options: GetOrSetManyOptions<A> | undefined,
    results: Map<string, Option.Option<A>>,
    settle: (key: string, outcome: Exit.Exit<unknown, unknown>) => void
  ): Effect.Effect<void, E | CacheError, R> => {
    const asked = new Set(missing)
    const lookup = Effect.withSpan(lookupMany(missing), "Cache.getOrSetMany.lookup", {
      attributes: { "cache.name": cacheName, "cache.operation": "getOrSetMany", "cache.keys": missing.length },
      captureStackTrace: false
    }).pipe(
      // A failed lookup is not cached, and every caller waiting on one of its keys gets its error.
      Effect.onExit((exit) =>
        Effect.sync(() => {
          if (Exit.isFailure(exit)) for (const key of missing) settle(key, exit)
        })
      )
    )
    return Effect.flatMap(lookup, (answer) => {
      const found = new Map<string, A>()
      // Keys nobody asked for are left out: they might not even be valid keys.
      for (const [key, value] of answer) if (asked.has(key)) found.set(key, value)
      for (const key of missing) {
        if (found.has(key)) continue
        results.set(key, Option.none())
        settle(key, Exit.succeed(ABSENT))
      }
      return Effect.flatMap(
        Effect.forEach(found, ([key, value]) =>
          Effect.map(Effect.exit(parts.set(key, value, setOptionsOf(options, value))), (stored) => {
            if (Exit.isSuccess(stored)) results.set(key, Option.some(value))
            settle(key, Exit.isSuccess(stored) ? Exit.succeed(value) : stored)
            return stored
          }), unbounded),
        (exits) => firstFailure(exits) ?? Exit.void
      )
    })
  }

  // The keys other callers lead: their outcome, or, when they gave up on a key (interrupted,
  // or a getOrSetMany that failed elsewhere), another attempt by this call.
  const follow = <A, E, R>(
    followed: ReadonlyArray<readonly [string, Deferred.Deferred<unknown, unknown>]>,
    lookupMany: (missing: NonEmptyReadonlyArray<string>) => Effect.Effect<Iterable<readonly [string, A]>, E, R>,
    options: GetOrSetManyOptions<A> | undefined,
    results: Map<string, Option.Option<A>>
  ): Effect.Effect<void, E | CacheError, R> => {
    if (followed.length === 0) return Effect.void
    return Effect.forEach(followed, ([, deferred]) => Effect.exit(Deferred.await(deferred)), unbounded).pipe(
      Effect.flatMap((exits): Effect.Effect<void, E | CacheError, R> => {
        const again: Array<string> = []
        for (let i = 0; i < exits.length; i++) {
          const exit = exits[i]!
          const key = followed[i]![0]
          if (Exit.isSuccess(exit)) results.set(key, exit.value === ABSENT ? Option.none() : Option.some(exit.value as A))
          else if (Cause.hasInterruptsOnly(exit.cause)) again.push(key)
          // The leader's error, as a getOrSet waiting on it would get it.
          else return exit as Exit.Exit<never, E | CacheError>
        }
        if (again.length === 0) return Effect.void
        return Effect.map(getOrSetMany(again, lookupMany, options), (retried) => {
          again.forEach((key, i) => results.set(key, retried[i]!))
        })
      })
    )
  }

  return getOrSetMany
}

const setOptionsOf = <A>(options: GetOrSetManyOptions<A> | undefined, value: A): SetOptions | undefined => {
  if (options === undefined) return undefined
  const { ttl, ...rest } = options
  if (ttl === undefined) return rest as SetOptions
  return { ...rest, ttl: typeof ttl === "function" ? ttl(value) : ttl } as SetOptions
}
