/**
 * The multi-key operations: `getMany`, `setMany`, `deleteMany` and `getOrSetMany`.
 *
 * Each is the single-key operation run for every key at once, not a second path: the
 * Redis tier coalesces the concurrent per-key reads and writes of one tick into one
 * command per 32 keys (per hash slot on a cluster), so the key rules, the refill guard,
 * coherence, schema mismatches, memory-only mode and replay are exactly those of `get`,
 * `set` and `delete`. What is added here is validation of the whole call before anything
 * runs, de-duplication, answers in key order, and one `lookupMany` for the keys missing in
 * both tiers, single-flighted per key with `getOrSet` through the shared leaders.
 */
import { Cause, Deferred, Effect, Exit, Option, type Schema } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { GetOrSetManyOptions, SetManyEntry, SetOptions } from "../../Cache.js"
import { type CacheError, validationError, type ValidationError, type ValidationIssue } from "../../errors.js"
import type { CacheCore } from "./core.js"
import { keyIssue, undefinedValueError } from "./inputs.js"
import { jitteredTtlOf, staleMillisOf } from "./lifetime.js"
import { schemaEncoder, schemaFailure } from "./schemas.js"
import { ABSENT, type Leaders } from "./singleFlight.js"

type AnySchema = Schema.Codec<unknown, unknown> | undefined

/** The single-key operations the multi-key ones are made of, and the single flight's leaders. */
export interface MultiKeyParts {
  readonly get: (key: string, schema?: AnySchema) => Effect.Effect<Option.Option<unknown>, CacheError>
  readonly set: (key: string, value: unknown, options?: SetOptions) => Effect.Effect<void, CacheError>
  readonly delete: (key: string) => Effect.Effect<boolean, CacheError>
  readonly leaders: Leaders
}

const unbounded = { concurrency: "unbounded" } as const
// Deletes are one UNLINK per key (the tier does not batch them): this many are sent before
// the first reply is awaited, so that 10,000 keys do not queue 10,000 commands at once,
// each against the command timeout.
const DELETES_IN_FLIGHT = 128

// Every bad key of a call, each named by its index, in one ValidationError.
const keysError = (keys: unknown): ValidationError | undefined => {
  if (!Array.isArray(keys)) {
    return validationError([{ field: "keys", value: String(keys), rule: "must be an array of keys" }], {
      subject: "Invalid keys"
    })
  }
  const issues: Array<ValidationIssue> = []
  let firstBad: unknown
  for (let i = 0; i < keys.length; i++) {
    const issue = keyIssue(keys[i])
    if (issue === undefined) continue
    if (issues.length === 0) firstBad = keys[i]
    issues.push({ ...issue, field: `keys[${i}]` })
  }
  if (issues.length === 0) return undefined
  return validationError(issues, {
    subject: "Invalid cache key",
    ...(typeof firstBad === "string" ? { key: firstBad.slice(0, 64) } : {})
  })
}

// A refusal of a single-key rule, renamed to say which entry broke it.
const atIndex = (error: ValidationError, prefix: string): ValidationError =>
  validationError(
    error.issues.map((issue) => ({ ...issue, field: `${prefix}.${issue.field}` })),
    { subject: error.message.split(":")[0]!, ...(error.key === undefined ? {} : { key: error.key }) }
  )

const unique = (keys: ReadonlyArray<string>): Array<string> => keys.length < 2 ? [...keys] : Array.from(new Set(keys))

// The first failure in key order, once every key has its outcome: no read is interrupted
// half-way (it would not refill L1), and the error a caller sees does not depend on timing.
const firstFailure = <A, E>(exits: ReadonlyArray<Exit.Exit<A, E>>): Exit.Failure<never, E> | undefined => {
  for (const exit of exits) if (Exit.isFailure(exit)) return exit as Exit.Failure<never, E>
  return undefined
}

/** The multi-key operations of a cache. */
export const makeMultiKey = (core: CacheCore, parts: MultiKeyParts) => {
  const { codec, memory, redis, settings } = core
  const l1Serves = () => core.l1Always || redis?.isConnected() === false

  // L1 hits are answered in this fiber, one after the other (no fiber, no round trip); the
  // other keys are read concurrently so that their Redis reads share batched commands.
  const readAll = (keys: ReadonlyArray<string>, schema: AnySchema) =>
    Effect.suspend(() => {
      const exits = new Array<Exit.Exit<Option.Option<unknown>, CacheError>>(keys.length)
      const inMemory: Array<number> = []
      const remote: Array<number> = []
      for (let i = 0; i < keys.length; i++) (l1Serves() && memory.has(keys[i]!) ? inMemory : remote).push(i)
      const fromMemory = Effect.forEach(inMemory, (i) =>
        Effect.map(Effect.exit(parts.get(keys[i]!, schema)), (exit) => {
          exits[i] = exit
        }), { discard: true })
      const fromRedis = Effect.forEach(remote, (i) =>
        Effect.map(Effect.exit(parts.get(keys[i]!, schema)), (exit) => {
          exits[i] = exit
        }), { ...unbounded, discard: true })
      return Effect.as(Effect.andThen(fromMemory, fromRedis), exits)
    })

  const getMany = (
    keys: ReadonlyArray<string>,
    schema?: AnySchema
  ): Effect.Effect<ReadonlyArray<Option.Option<unknown>>, CacheError> =>
    Effect.suspend(() => {
      const invalid = keysError(keys)
      if (invalid !== undefined) return Exit.fail(invalid)
      if (keys.length === 0) return Exit.succeed([])
      const distinct = unique(keys)
      return Effect.flatMap(readAll(distinct, schema), (exits) => {
        const failed = firstFailure(exits)
        if (failed !== undefined) return failed
        const found = new Map<string, Option.Option<unknown>>()
        distinct.forEach((key, i) => found.set(key, (exits[i] as Exit.Success<Option.Option<unknown>>).value))
        return Exit.succeed(keys.map((key) => found.get(key)!))
      })
    })

  // Checks an entry against every rule `set` applies before it writes, so that a call with
  // one bad entry writes nothing. A schema's encoding is done here, once: what goes on to
  // `set` is the encoded value without the schema.
  const prepare = (
    entry: SetManyEntry,
    index: number,
    defaults: SetOptions | undefined
  ): Effect.Effect<SetManyEntry, CacheError> => {
    const at = `entries[${index}]`
    if (typeof entry !== "object" || entry === null) {
      return Exit.fail(validationError([{ field: at, value: String(entry), rule: "must be { key, value, options? }" }], {
        subject: "Invalid setMany entry"
      }))
    }
    const { key, value } = entry
    const issue = keyIssue(key)
    if (issue !== undefined) {
      return Exit.fail(validationError([{ ...issue, field: `${at}.key` }], {
        subject: "Invalid cache key",
        ...(typeof key === "string" ? { key: key.slice(0, 64) } : {})
      }))
    }
    const options = entry.options === undefined ? defaults : defaults === undefined ? entry.options : { ...defaults, ...entry.options }
    const ttl = jitteredTtlOf(key, options, settings.defaultTtlMillis, settings.resilience)
    if (typeof ttl !== "number") return Exit.fail(atIndex(ttl, at))
    const stale = staleMillisOf(key, options, settings.resilience)
    if (typeof stale !== "number") return Exit.fail(atIndex(stale, at))
    if (value === undefined) return Effect.mapError(undefinedValueError(key), (error) => atIndex(error, at))
    let stored: unknown = value
    let rest = options
    if (options?.schema !== undefined) {
      const encoded = schemaEncoder(options.schema)(value)
      if (Exit.isFailure(encoded)) {
        return Effect.andThen(core.countSerializationError("encode"), Exit.fail(schemaFailure(key, "encode", encoded)))
      }
      stored = encoded.value
      const { schema: _encoded, ...others } = options
      rest = others
    }
    // maxValueBytes: the serialized size, as `set` will find it.
    return codec.measure(key, stored).pipe(
      Effect.tapError(() => core.countSerializationError("encode")),
      Effect.as(rest === undefined ? { key, value: stored } : { key, value: stored, options: rest })
    )
  }

  const setMany = (
    entries: ReadonlyArray<SetManyEntry>,
    options?: SetOptions
  ): Effect.Effect<void, CacheError> =>
    Effect.suspend(() => {
      if (!Array.isArray(entries)) {
        return Exit.fail(validationError([{ field: "entries", value: String(entries), rule: "must be an array of entries" }], {
          subject: "Invalid setMany entries"
        }))
      }
      if (entries.length === 0) return Exit.void
      // A key given twice: the last entry wins, as it would with one set after the other.
      const last = new Map<string, number>()
      entries.forEach((entry, i) => {
        if (typeof entry === "object" && entry !== null && typeof entry.key === "string") last.set(entry.key, i)
      })
      return Effect.forEach(entries, (entry, i) => prepare(entry, i, options)).pipe(
        Effect.flatMap((prepared) => {
          const writes = prepared.filter((entry, i) => last.get(entry.key) === i)
          return Effect.forEach(writes, (entry) => Effect.exit(parts.set(entry.key, entry.value, entry.options)), unbounded)
        }),
        Effect.flatMap((exits) => firstFailure(exits) ?? Exit.void)
      )
    })

  const deleteMany = (keys: ReadonlyArray<string>): Effect.Effect<number, CacheError> =>
    Effect.suspend(() => {
      const invalid = keysError(keys)
      if (invalid !== undefined) return Exit.fail(invalid)
      if (keys.length === 0) return Exit.succeed(0)
      return Effect.flatMap(
        Effect.forEach(unique(keys), (key) => Effect.exit(parts.delete(key)), { concurrency: DELETES_IN_FLIGHT }),
        (exits) => {
          const failed = firstFailure(exits)
          if (failed !== undefined) return failed
          let existed = 0
          for (const exit of exits) if ((exit as Exit.Success<boolean>).value) existed++
          return Exit.succeed(existed)
        }
      )
    })

  return { getMany, setMany, deleteMany, getOrSetMany: makeGetOrSetMany(core, parts, readAll) }
}

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

type ReadAll = (
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
const makeGetOrSetMany = (core: CacheCore, parts: MultiKeyParts, readAll: ReadAll) => {
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
      const settle = (key: string, outcome: Exit.Exit<unknown, unknown>) => {
        const deferred = mine.get(key)
        if (deferred === undefined) return
        mine.delete(key)
        if (leaders.get(key) === deferred) leaders.delete(key)
        Deferred.doneUnsafe(deferred, outcome)
      }
      const leading = lead(Array.from(mine.keys()), lookupMany, options, results, settle)
      const following = follow(followed, lookupMany, options, results)
      return Effect.all([leading, following], { concurrency: 2, discard: true }).pipe(
        // Keys this call did not get to (a failure elsewhere, an interruption): whoever waits on them tries again.
        Effect.onExit(() =>
          Effect.sync(() => {
            for (const key of Array.from(mine.keys())) settle(key, Exit.interrupt())
          })
        ),
        Effect.map(() => keys.map((key) => results.get(key) ?? Option.none()))
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
