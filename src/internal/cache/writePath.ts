/**
 * The write path: `set` (Redis first, then L1) and `delete`.
 */
import { Effect, Exit } from "effect"
import type { CacheError } from "../../errors.js"
import type { RedisTier } from "../../tiers/RedisTier.js"
import type { SetOptions } from "../../Cache.js"
import type { CacheCore } from "./core.js"
import { keyError, keyIssue, undefinedValueError } from "./inputs.js"
import { encodeMetaOf, jitteredTtlOf, staleMillisOf } from "./lifetime.js"
import { schemaEncoder, schemaFailure } from "./schemas.js"
import { tagsError, tagsIssue } from "./tags.js"

/** The write operations of a cache. */
export const makeWritePath = (core: CacheCore) => {
  const { codec, counters, events, guard, invalidation, memory, monitor, redis, settings, tags } = core
  const { cacheName, defaultTtlMillis, enableL1 } = settings
  const memorySet = { operation: "set", tier: "none", durationMillis: 0, success: true, cacheName } as const

  const afterSet = (key: string, value: unknown, ttlMillis: number) => {
    counters.sets++
    return events.isActive() ? events.emit({ _tag: "SetSuccess", key, value, ttlMillis }) : Effect.void
  }

  const setInMemory = (
    key: string,
    value: unknown,
    ttlMillis: number,
    staleMillis: number,
    entryTags: ReadonlyArray<string> | undefined
  ) =>
    codec.measure(key, value).pipe(
      Effect.tapError(() => core.countSerializationError("encode")),
      Effect.flatMap((weight) => {
        memory.set(key, value, weight, ttlMillis, staleMillis)
        tags.remember(key, entryTags)
        return Effect.andThen(monitor.recordOperation(memorySet), afterSet(key, value, ttlMillis))
      })
    )

  // Encodes now, then one write whose continuation answers with an Exit unless a listener
  // or a slow-operation log has work to run. The span covers the round trip.
  const setInRedis = (
    tier: RedisTier["Service"],
    key: string,
    value: unknown,
    ttlMillis: number,
    staleMillis: number,
    entryTags: ReadonlyArray<string> | undefined
  ) => {
    const started = core.nanos()
    // Taken after set's own touch: a change of the key seen after it (another instance's
    // write reported before our reply arrived, a concurrent set here) keeps our value out of L1.
    const stamp = guard.stamp()
    const writtenAt = core.clock.currentTimeMillisUnsafe()
    const meta = encodeMetaOf(writtenAt, ttlMillis)
    const encoded = codec.encodeExit(key, value, entryTags === undefined ? meta : { ...meta, tags: entryTags })
    if (Exit.isFailure(encoded)) {
      return Effect.andThen(
        core.countSerializationError("encode"),
        core.recordThen(Exit.failCause(encoded.cause), "set", "none", started, false, "SerializationError")
      )
    }
    const { compressed, compressionNanos, size, storedSize } = encoded.value
    const write = Effect.matchEffect(tier.write(key, encoded.value, ttlMillis + staleMillis, writtenAt), {
      onFailure: (error) => {
        // A ValidationError (a value above the server's proto-max-bulk-len) is already the caller's error.
        const failure = "_tag" in error ? error : core.replyError(error, key)
        return core.recordThen(Exit.fail(failure), "set", "none", started, false, failure._tag)
      },
      onSuccess: (outcome) => {
        // While the invalidation link is down, L1 keeps nothing that another instance could change unseen.
        const keep = outcome === "queued" || (enableL1 && invalidation.linked() && guard.mayKeep(key, stamp))
        // After the check: a read of the key still out may carry the value this write replaced.
        if (outcome === "stored") guard.written(key)
        if (keep) {
          memory.set(key, value, size, ttlMillis, staleMillis)
          tags.remember(key, entryTags)
        } else memory.delete(key)
        // A queued write is announced when it is replayed.
        if (outcome === "stored") invalidation.announce({ _tag: "Keys", keys: [key] })
        return core.recordThen(afterSet(key, value, ttlMillis), "set", "none", started, true)
      }
    })
    const traced = core.traceRedis(write, "Cache.set", "set", "SET", key)
    if (!compressed) return traced
    const compression = { originalSize: size, compressedSize: storedSize, durationMillis: compressionNanos / 1e6 }
    return Effect.andThen(monitor.recordCompression({ ...compression, operation: "set" }), traced)
  }

  const set = (key: string, input: unknown, options?: SetOptions): Effect.Effect<void, CacheError> =>
    Effect.suspend((): Effect.Effect<void, CacheError> => {
      if (keyIssue(key) !== undefined) return keyError(key)
      const ttlMillis = jitteredTtlOf(key, options, defaultTtlMillis, settings.resilience)
      if (typeof ttlMillis !== "number") return Exit.fail(ttlMillis)
      const staleMillis = staleMillisOf(key, options, settings.resilience)
      if (typeof staleMillis !== "number") return Exit.fail(staleMillis)
      if (input === undefined) return undefinedValueError(key)
      let entryTags: ReadonlyArray<string> | undefined
      if (options?.tags !== undefined) {
        const issue = tagsIssue(options.tags, true)
        if (issue !== undefined) return Exit.fail(tagsError(issue, key))
        // A copy: the L1 index keeps it, and the caller may reuse its array.
        if (options.tags.length > 0) entryTags = options.tags.slice()
      }
      // Only a read from Redis refills L1: a cache without Redis has nothing to guard.
      if (redis !== undefined) guard.touch(key)
      let value: unknown = input
      if (options?.schema !== undefined) {
        const encoded = schemaEncoder(options.schema)(input)
        if (Exit.isFailure(encoded)) {
          return Effect.andThen(core.countSerializationError("encode"), Exit.fail(schemaFailure(key, "encode", encoded)))
        }
        value = encoded.value
      }
      return redis === undefined
        ? setInMemory(key, value, ttlMillis, staleMillis, entryTags)
        : setInRedis(redis, key, value, ttlMillis, staleMillis, entryTags)
    })

  const remove = (key: string): Effect.Effect<boolean, CacheError> =>
    Effect.suspend((): Effect.Effect<boolean, CacheError> => {
      if (keyIssue(key) !== undefined) return keyError(key)
      if (redis !== undefined) guard.touch(key)
      const started = core.nanos()
      const inMemory = memory.delete(key)
      const done = (existed: boolean) => {
        counters.deletes++
        return existed && events.isActive()
          ? Effect.as(events.emit({ _tag: "DeleteSuccess", key }), existed)
          : Exit.succeed(existed)
      }
      if (redis === undefined) return core.recordThen(done(inMemory), "delete", "none", started, true)
      return redis.remove(key, core.clock.currentTimeMillisUnsafe()).pipe(
        Effect.mapError((error) => core.replyError(error, key)),
        Effect.tapError((error) => core.record("delete", "none", started, false, error._tag)),
        Effect.tap((inRedis) => {
          // Once more, now that Redis has answered: a read started after the first touch but sent
          // ahead of the UNLINK (its batch was due first in this tick) got the old value and may have
          // refilled L1 with it (or will, after its PTTL), and NOLOOP reports no echo of our own delete.
          guard.touch(key)
          memory.delete(key)
          if (inRedis !== undefined) invalidation.announce({ _tag: "Keys", keys: [key] })
          return core.record("delete", "none", started, true)
        }),
        Effect.flatMap((inRedis) => done(inMemory || inRedis === true)),
        (self) => core.traceRedis(self, "Cache.delete", "delete", "UNLINK", key)
      )
    })

  return { set, delete: remove }
}
