/**
 * `getOrSet` with one lookup per key per process. The first caller that misses L1
 * becomes the key's leader at once, before it asks Redis: every caller that comes
 * while the leader reads Redis, looks up or stores waits for the leader's outcome, so
 * a slow Redis miss cannot start a second lookup, and a failing lookup runs once for
 * all the callers that were waiting on it.
 */
import { Cause, Deferred, Effect, Exit, Option, type Schema } from "effect"
import { type CacheError, validationError, ValidationError } from "../../errors.js"
import type { GetOrSetOptions, SetOptions } from "../../Cache.js"
import type { CacheCore } from "./core.js"
import { makeResilience } from "./resilience.js"
import { policyOf, type ResiliencePolicy } from "./resiliencePolicy.js"
import { answerOf, storedFormOf } from "./negativeCache.js"

const missTtlWithSchema = (key: string) =>
  validationError([{ field: "schema", value: "a schema", rule: "cannot be combined with missTtl (the lookup's Option is stored unwrapped)" }], {
    subject: "Invalid getOrSet options",
    key
  })

type AnySchema = Schema.Codec<unknown, unknown> | undefined

/**
 * What a `getOrSetMany` leader answers for a key its `lookupMany` did not return: a
 * miss that is not stored. A `getOrSet` waiting on that key looks it up itself.
 */
export const ABSENT: unique symbol = Symbol.for("effect-redis-cache/ABSENT")

/** The leaders of a cache's single flight, one per key being read or looked up. */
export type Leaders = Map<string, Deferred.Deferred<unknown, unknown>>

/** The read and write a single flight is made of. */
export interface SingleFlightParts {
  readonly get: (key: string, schema?: AnySchema) => Effect.Effect<Option.Option<unknown>, CacheError>
  readonly set: (key: string, value: unknown, options?: SetOptions) => Effect.Effect<void, CacheError>
}

/** `getOrSet` of a cache. */
export const makeSingleFlight = (core: CacheCore, parts: SingleFlightParts) => {
  const { memory, redis, settings } = core
  const { cacheName } = settings
  // L1 answers without a round trip exactly when the read path would take it.
  const l1Serves = () => core.l1Always || redis?.isConnected() === false
  // One leader per key: later callers wait for its outcome.
  const leaders: Leaders = new Map()
  const resilience = makeResilience(core)

  const lead = <A, E, R>(
    key: string,
    lookup: Effect.Effect<A, E, R>,
    options: GetOrSetOptions<A> | undefined,
    deferred: Deferred.Deferred<unknown, unknown>,
    readFirst: boolean
  ): Effect.Effect<A, E | CacheError, R> => {
    const schema = options?.schema as AnySchema
    const policy = policyOf(key, options as GetOrSetOptions<unknown> | undefined, settings.resilience)
    const found: Effect.Effect<A, E | CacheError, R> = policy instanceof ValidationError
      ? Exit.fail(policy)
      : readThenLookUp(key, lookup, options, schema, policy, readFirst)
    return found.pipe(
      Effect.onExit((exit) => {
        if (leaders.get(key) === deferred) leaders.delete(key)
        return Deferred.done(deferred, exit)
      })
    )
  }

  const storingLookup = <A, E, R>(
    key: string,
    lookup: Effect.Effect<A, E, R>,
    options: GetOrSetOptions<A> | undefined,
    staleMillis: number | undefined
  ): Effect.Effect<A, E | CacheError, R> => {
    const schema = options?.schema as AnySchema
    const ttl = options?.ttl
    const setOptions: SetOptions = {
      ...(ttl === undefined || typeof ttl === "function" ? {} : { ttl }),
      ...(options?.ttlJitter === undefined ? {} : { ttlJitter: options.ttlJitter }),
      ...(staleMillis === undefined ? {} : { staleFor: staleMillis }),
      ...(schema === undefined ? {} : { schema }),
      ...(options?.tags === undefined ? {} : { tags: options.tags })
    }
    const optionsFor = (value: A): SetOptions => typeof ttl === "function" ? { ...setOptions, ttl: ttl(value) } : setOptions
    // The flight carries what is stored, whoever joins it: with missTtl that is the lookup's
    // Option unwrapped (or the negative entry), which each missTtl caller turns back into an
    // Option (getOrSet below), and which a caller without missTtl, or a getOrSetMany, gets as
    // it would read it back.
    const store = (value: A): Effect.Effect<A, CacheError> => {
      if (options?.missTtl === undefined) return Effect.as(parts.set(key, value, optionsFor(value)), value)
      const { negative, stored } = storedFormOf(value)
      const set = parts.set(key, stored, negative ? { ...setOptions, ttl: options.missTtl } : optionsFor(value))
      return Effect.as(set, stored as A)
    }
    return lookup.pipe(
      // adaptive TTL: the value decides how long it lives
      Effect.flatMap(store),
      // always a span: the user's lookup runs in it and may read it (logs, currentSpan)
      (self) =>
        Effect.withSpan(self, "Cache.getOrSet.lookup", {
          attributes: { "cache.name": cacheName, "cache.operation": "getOrSet" },
          captureStackTrace: false
        })
    )
  }

  const readThenLookUp = <A, E, R>(
    key: string,
    lookup: Effect.Effect<A, E, R>,
    options: GetOrSetOptions<A> | undefined,
    schema: AnySchema,
    policy: ResiliencePolicy | undefined,
    readFirst: boolean
  ): Effect.Effect<A, E | CacheError, R> => {
    const lookUpAndStore = storingLookup(key, lookup, options, policy?.staleMillis)
    const attempt = policy === undefined ? lookUpAndStore : resilience.lookUp(key, policy, schema, lookUpAndStore)
    if (!readFirst) return attempt
    const read = policy === undefined ? parts.get(key, schema) : resilience.read(key, policy, schema, parts.get(key, schema))
    return Effect.flatMap(read, (found) => Option.isSome(found) ? answer(key, lookup, options, found.value as A) : attempt)
  }

  // A hit. With refreshAhead, a hit late in its TTL also starts one background lookup.
  const answer = <A, E, R>(
    key: string,
    lookup: Effect.Effect<A, E, R>,
    options: GetOrSetOptions<A> | undefined,
    value: A
  ): Effect.Effect<A, CacheError, R> => {
    const fraction = resilience.refreshFraction(key, options as GetOrSetOptions<unknown> | undefined)
    if (fraction === 0) return Exit.succeed(value)
    if (typeof fraction !== "number") return Exit.fail(fraction)
    return resilience.refreshAhead(key, fraction, options as GetOrSetOptions<unknown> | undefined, value, () => {
      const policy = policyOf(key, options as GetOrSetOptions<unknown> | undefined, settings.resilience)
      const staleMillis = policy === undefined || policy instanceof ValidationError ? undefined : policy.staleMillis
      return storingLookup(key, lookup, options, staleMillis)
    })
  }

  const follow = <A, E, R>(
    key: string,
    lookup: Effect.Effect<A, E, R>,
    options: GetOrSetOptions<A> | undefined,
    leader: Deferred.Deferred<unknown, unknown>
  ): Effect.Effect<A, E | CacheError, R> =>
    (Deferred.await(leader) as Effect.Effect<A, E | CacheError>).pipe(
      // The leader was interrupted: its attempt proved nothing, so try again.
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? flight(key, lookup, options) : Effect.failCause(cause)
      ),
      // A getOrSetMany leader whose lookupMany did not have the key: this caller's lookup may.
      // (flight, not getOrSet: the caller's getOrSet turns what it gets into an Option, once)
      Effect.flatMap((value) => (value as unknown) === ABSENT ? flight(key, lookup, options) : Exit.succeed(value))
    )

  const getOrSet = <A, E, R>(
    key: string,
    lookup: Effect.Effect<A, E, R>,
    options?: GetOrSetOptions<A>
  ): Effect.Effect<A, E | CacheError, R> => {
    if (options?.missTtl === undefined) return flight(key, lookup, options)
    if (options.schema !== undefined) return Exit.fail(missTtlWithSchema(key))
    // negative caching: the flight answers with the stored form (a value or a negative entry), as an Option here
    return Effect.map(flight(key, lookup, options), (value) => answerOf(value) as A)
  }

  const flight = <A, E, R>(
    key: string,
    lookup: Effect.Effect<A, E, R>,
    options?: GetOrSetOptions<A>
  ): Effect.Effect<A, E | CacheError, R> =>
    Effect.suspend((): Effect.Effect<A, E | CacheError, R> => {
      const leader = leaders.get(key)
      if (leader !== undefined) return follow(key, lookup, options, leader)
      // An L1 hit needs no leader: get answers it without a round trip.
      if (l1Serves() && memory.has(key)) {
        return Effect.flatMap(parts.get(key, options?.schema as AnySchema), (found) =>
          // L1 holds a value that does not fit the schema: look up without reading again.
          Option.isSome(found) ? answer(key, lookup, options, found.value as A) : becomeLeader(key, lookup, options, false))
      }
      return becomeLeader(key, lookup, options, true)
    })

  const becomeLeader = <A, E, R>(
    key: string,
    lookup: Effect.Effect<A, E, R>,
    options: GetOrSetOptions<A> | undefined,
    readFirst: boolean
  ): Effect.Effect<A, E | CacheError, R> => {
    const leader = leaders.get(key)
    if (leader !== undefined) return follow(key, lookup, options, leader)
    const deferred = Deferred.makeUnsafe<unknown, unknown>()
    leaders.set(key, deferred)
    return lead(key, lookup, options, deferred, readFirst)
  }

  // getOrSetMany (multiKey.ts) shares the leaders: one lookup per key whichever call makes it.
  return { getOrSet, leaders }
}
