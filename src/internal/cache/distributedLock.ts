/**
 * One lookup across instances (`distributedLock`): on a miss, the instance that takes
 * the key's Redis lock (`SET <prefix><key>\0lock <token> NX PX lockTtl`) looks up and
 * stores; the others wait for the stored value or the lock, and after `lockTimeout` run
 * their own lookup. A waiter is woken by the cache's invalidation link (no connection of
 * its own, no command beyond the cache's ACL rule): tracking reports the holder's write
 * and the lock's release (both keys are under the prefix), the bus the holder's write and
 * release, which the holder announces. A bounded poll is the fallback: every second
 * while the link is up (for a lost notification), every 50 ms when coherence is off or
 * the link is down. Only the owner releases the lock (a script compares the token: GET,
 * UNLINK), and the lock never outlives `lockTtl`, so a holder that dies holds nobody up
 * for longer. This is efficiency, not correctness: a lookup may still run twice (a holder
 * slower than `lockTtl`, a timeout). When Redis cannot be asked, the in-process single
 * flight is all there is.
 */
import { Clock, Effect, Exit, Option, type Schema } from "effect"
import type { Redis } from "ioredis"
import { randomBytes } from "node:crypto"
import type { CacheError } from "../../errors.js"
import type { CacheCore } from "./core.js"
import type { ResiliencePolicy } from "./resiliencePolicy.js"
import { type KeyLatch, LOCK_KEY_SUFFIX } from "../coherence/keyWaiters.js"
import { makeSchemaFit } from "./schemas.js"
import { countResilience } from "./resilienceCounters.js"

type AnySchema = Schema.Codec<unknown, unknown> | undefined

// Deletes the lock only if it still holds this owner's token.
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('unlink', KEYS[1]) else return 0 end"
/** How often a waiter looks for the value or the lock again when no notification can come. */
export const LOCK_POLL_MILLIS = 50
/** How often it looks while the invalidation link is up: only a lost notification needs it. */
export const LOCK_FALLBACK_POLL_MILLIS = 1_000

/** The distributed lock of a cache's lookups. */
export const makeDistributedLock = (core: CacheCore) => {
  const { codec, events, invalidation, redis, tags } = core
  const fitSchema = makeSchemaFit(core)
  const lockKeyOf = (key: string) => `${redis?.keyPrefix ?? ""}${key}${LOCK_KEY_SUFFIX}`

  const announce = (key: string, outcome: "acquired" | "waited" | "timedOut") =>
    events.isActive() ? events.emit({ _tag: "DistributedLock", key, outcome }) : Effect.void

  const client: Effect.Effect<Redis | undefined> = Effect.suspend(() =>
    redis === undefined || !redis.isConnected()
      ? Effect.succeed(undefined)
      : Effect.map(redis.client, Option.getOrUndefined)
  )

  const tryAcquire = (target: Redis, key: string, token: string, policy: ResiliencePolicy) =>
    Effect.promise(() =>
      target.set(lockKeyOf(key), token, "PX", policy.lockTtlMillis, "NX").then((reply) => reply === "OK", () => undefined)
    )

  // The bus tells the waiters elsewhere (tracking reports the UNLINK by itself).
  const release = (target: Redis, key: string, token: string) =>
    Effect.promise(() =>
      target.eval(RELEASE, 1, lockKeyOf(key), token).then((removed) => {
        if (removed === 1) invalidation.announce({ _tag: "Keys", keys: [`${key}${LOCK_KEY_SUFFIX}`] })
      }, () => undefined)
    )

  // A latch the link completes when the key changes elsewhere; none when no notification can come.
  const arm = (key: string): KeyLatch | undefined =>
    invalidation.mechanism !== "off" && invalidation.linked() ? invalidation.waiters.arm(key) : undefined

  // Until the latch is completed (true) or the poll is due (false).
  const pause = (latch: KeyLatch | undefined, remainingMillis: number): Effect.Effect<boolean> =>
    latch === undefined
      ? Effect.as(Effect.sleep(Math.min(LOCK_POLL_MILLIS, remainingMillis)), false)
      : Effect.raceFirst(
        Effect.as(latch.await, true),
        Effect.as(Effect.sleep(Math.min(LOCK_FALLBACK_POLL_MILLIS, remainingMillis)), false)
      )

  // The value another instance stored, read without counting a miss or filling L1.
  const stored = (key: string, schema: AnySchema): Effect.Effect<Option.Option<unknown>> => {
    if (redis === undefined) return Effect.succeed(Option.none())
    return redis.read(key, false).pipe(
      Effect.flatMap((read) => {
        if (read._tag !== "Hit") return Effect.succeed(Option.none())
        const decoded = codec.decodeSizedExit(key, read.bytes)
        if (Exit.isFailure(decoded)) return Effect.succeed(Option.none())
        const { expiresAt, tags: entryTags, value, writtenAt } = decoded.value
        if (expiresAt !== undefined && expiresAt <= core.clock.currentTimeMillisUnsafe()) return Effect.succeed(Option.none())
        return Effect.flatMap(tags.stillValid(entryTags, writtenAt), (valid) =>
          valid ? fitSchema(key, value, schema) : Effect.succeed(Option.none()))
      }),
      Effect.orElseSucceed(Option.none)
    )
  }

  const holding = <A, E, R>(target: Redis, key: string, token: string, schema: AnySchema, attempt: Effect.Effect<A, E, R>) => {
    countResilience(core, "locksAcquired", "lock_acquired")
    // The previous holder may have stored the value just before we took the lock.
    const run = Effect.flatMap(stored(key, schema), (found) =>
      Option.isSome(found) ? Effect.succeed(found.value as A) : attempt)
    return Effect.andThen(announce(key, "acquired"), Effect.ensuring(run, release(target, key, token)))
  }

  // Armed before each look, so that a change after the look wakes the waiter at once.
  const wait = <A, E, R>(
    target: Redis,
    key: string,
    token: string,
    schema: AnySchema,
    policy: ResiliencePolicy,
    attempt: Effect.Effect<A, E, R>
  ): Effect.Effect<A, E, R> => {
    let latch = arm(key)
    return Effect.gen(function*() {
      countResilience(core, "locksWaited", "lock_waited")
      yield* announce(key, "waited")
      const deadline = (yield* Clock.currentTimeMillis) + policy.lockTimeoutMillis
      while (true) {
        const found = yield* stored(key, schema)
        if (Option.isSome(found)) return found.value as A
        const acquired = yield* tryAcquire(target, key, token, policy)
        if (acquired === true) return yield* holding(target, key, token, schema, attempt)
        if (acquired === undefined) return yield* attempt
        const remaining = deadline - (yield* Clock.currentTimeMillis)
        if (remaining <= 0) break
        if (yield* pause(latch, remaining)) countResilience(core, "lockWakeups", "lock_woken")
        latch?.disarm()
        latch = arm(key)
      }
      countResilience(core, "lockTimeouts", "lock_timed_out")
      yield* announce(key, "timedOut")
      return yield* attempt
    }).pipe(Effect.ensuring(Effect.sync(() => latch?.disarm())))
  }

  /** `attempt` (look up and store) run by one instance at a time, as far as Redis can tell. */
  const around = <A, E, R>(
    key: string,
    schema: AnySchema,
    policy: ResiliencePolicy,
    attempt: Effect.Effect<A, E | CacheError, R>
  ): Effect.Effect<A, E | CacheError, R> =>
    Effect.flatMap(client, (target) => {
      if (target === undefined) return attempt
      const token = randomBytes(16).toString("hex")
      return Effect.flatMap(tryAcquire(target, key, token, policy), (acquired) => {
        if (acquired === undefined) return attempt
        return acquired
          ? holding(target, key, token, schema, attempt)
          : wait(target, key, token, schema, policy, attempt)
      })
    })

  return { around }
}
