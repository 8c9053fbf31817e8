/**
 * The read path: `get` (L1, then one batched Redis read whose continuation decodes,
 * refills L1 and counts synchronously), `exists` and `ttl`.
 */
import { Duration, Effect, Exit, Option, type Schema } from "effect"
import type { Decoded } from "../../codec/Codec.js"
import type { CacheError } from "../../errors.js"
import type { RedisRead, RedisTier } from "../../tiers/RedisTier.js"
import { spanAttributes } from "../../monitoring/Tracing.js"
import { type CacheCore, MISS_EXIT } from "./core.js"
import { keyError, keyIssue, keyShapeIssue } from "./inputs.js"
import { makeSchemaFit } from "./schemas.js"
import { makeLogicalTtl } from "./logicalTtl.js"

const existsOf = (remaining: Option.Option<number> | undefined) => remaining === undefined ? undefined : Option.isSome(remaining)

type AnySchema = Schema.Codec<unknown, unknown> | undefined

const l2HitAttributes = { "cache.tier": "l2", "cache.hit": true }
const missAttributes = { "cache.tier": "miss", "cache.hit": false }
const lookupAttributes = (found: Option.Option<unknown>) => Option.isSome(found) ? l2HitAttributes : missAttributes

/** The read operations of a cache. */
export const makeReadPath = (core: CacheCore) => {
  const { codec, counters, events, guard, invalidation, memory, monitor, redis, settings, tags, tracing } = core
  const { cacheName, enableL1 } = settings
  const fitSchema = makeSchemaFit(core)
  // Samples of work that takes no measurable time: allocated once, not per call.
  const memoryMiss = { operation: "get", tier: "miss", durationMillis: 0, success: true, cacheName } as const

  const hit = (key: string, value: unknown, schema: AnySchema, tier: "l1" | "l2") => {
    const result = fitSchema(key, value, schema)
    if (!events.isActive()) return result
    return Effect.tap(result, (found) =>
      Option.isSome(found) ? events.emit({ _tag: "GetSuccess", key, value, tier }) : Effect.void)
  }

  const miss = (key: string): Effect.Effect<Option.Option<unknown>> =>
    events.isActive() ? Effect.as(events.emit({ _tag: "GetMiss", key }), Option.none()) : MISS_EXIT

  // The L1 copy of an entry read from Redis: fresh until the envelope's logical expiry and
  // kept stale (for fail-safe) for this cache's own staleFor after it; a write by another
  // instance with another per-call staleFor shows here only in how long the stale copy is
  // kept. The expiry is the writer's wall clock: clock skew between the instances moves the
  // copy's end by as much, and never past the entry's own TTL after its write time.
  const { staleForMillis } = settings.resilience
  const refill = (
    key: string,
    value: unknown,
    size: number,
    ttlMillis: number,
    staleMillis: number,
    stamp: number,
    entryTags: ReadonlyArray<string> | undefined
  ) => {
    // L1 never takes a value that a write or an invalidation made stale while the read was in flight.
    if (ttlMillis > 0 && invalidation.linked() && guard.mayRefill(key, stamp)) {
      memory.set(key, value, size, ttlMillis, staleMillis)
      // a tagged L1 copy is evicted when one of its tags is invalidated (no check on the hit path)
      tags.remember(key, entryTags)
    }
  }

  // An entry written by a version that did not record its expiry: its Redis TTL bounds the
  // L1 copy, at the cost of a PTTL; such entries are gone one TTL after the upgrade.
  const refillFromPttl = (
    tier: RedisTier["Service"],
    key: string,
    value: unknown,
    size: number,
    stamp: number,
    entryTags: ReadonlyArray<string> | undefined
  ): Effect.Effect<void> =>
    Effect.match(tier.pttl(key), {
      onFailure: () => undefined,
      onSuccess: (remaining) => {
        if (remaining !== undefined && Option.isSome(remaining)) {
          refill(key, value, size, remaining.value, 0, stamp, entryTags)
        }
      }
    })

  const afterRead = (
    tier: RedisTier["Service"],
    read: RedisRead,
    key: string,
    schema: AnySchema,
    started: bigint,
    stamp: number
  ): Effect.Effect<Option.Option<unknown>, CacheError> => {
    if (read._tag !== "Hit") {
      counters.misses++
      return core.recordThen(miss(key), "get", "miss", started, true)
    }
    const decoded = codec.decodeSizedExit(key, read.bytes)
    if (Exit.isFailure(decoded)) {
      return Effect.andThen(
        core.countSerializationError("decode"),
        core.recordThen(Exit.failCause(decoded.cause), "get", "none", started, false, "SerializationError")
      )
    }
    const { expiresAt, tags: entryTags } = decoded.value
    // An entry kept past its TTL for fail-safe (staleFor) is a miss: only getOrSet serves it.
    const freshMillis = expiresAt === undefined ? Infinity : expiresAt - core.clock.currentTimeMillisUnsafe()
    if (!(freshMillis > 0)) return missAfterRead(key, started)
    if (entryTags === undefined) return served(tier, decoded.value, key, schema, started, stamp, freshMillis)
    // An entry with tags is a miss once one of them was invalidated after it was written.
    const verdict = tags.verdict(entryTags, decoded.value.writtenAt)
    if (verdict === true) return served(tier, decoded.value, key, schema, started, stamp, freshMillis)
    if (verdict === false) return missAfterRead(key, started)
    return Effect.flatMap(verdict, (valid) =>
      valid ? served(tier, decoded.value, key, schema, started, stamp, freshMillis) : missAfterRead(key, started))
  }

  const missAfterRead = (key: string, started: bigint) => {
    counters.misses++
    return core.recordThen(miss(key), "get", "miss", started, true)
  }

  const served = (
    tier: RedisTier["Service"],
    decoded: Decoded,
    key: string,
    schema: AnySchema,
    started: bigint,
    stamp: number,
    freshMillis: number
  ): Effect.Effect<Option.Option<unknown>, CacheError> => {
    const { expiresAt, size, value, writtenAt } = decoded
    counters.l2Hits++
    const answer = core.recordThen(hit(key, value, schema, "l2"), "get", "l2", started, true)
    if (!enableL1) return answer
    if (expiresAt === undefined) return Effect.andThen(refillFromPttl(tier, key, value, size, stamp, decoded.tags), answer)
    const entryTtl = writtenAt === undefined ? freshMillis : expiresAt - writtenAt
    refill(key, value, size, Math.min(freshMillis, entryTtl), staleForMillis, stamp, decoded.tags)
    return answer
  }

  const getFromRedis = (tier: RedisTier["Service"], key: string, schema: AnySchema) => {
    const started = core.nanos()
    const stamp = guard.stamp()
    // The value alone: its envelope says how long L1 may keep it (no PTTL).
    const lookup = Effect.matchEffect(tier.read(key, false), {
      onFailure: (error) => {
        const failure = core.replyError(error, key)
        const failed = core.recordThen(Exit.fail(failure), "get", "none", started, false, failure._tag)
        return failure._tag === "SerializationError"
          ? Effect.andThen(core.countSerializationError("decode"), failed)
          : failed
      },
      onSuccess: (read) => afterRead(tier, read, key, schema, started, stamp)
    })
    return core.traceRedis(lookup, "Cache.get", "get", "GET", key, lookupAttributes)
  }

  // Only keys that kept every rule reach L1 (set and the Redis path check them), so the
  // rules that cost a scan of the key are checked here, after an L1 miss.
  const getAfterL1Miss = (key: string, schema: AnySchema) => {
    const issue = keyIssue(key)
    if (issue !== undefined) return keyError(key, issue)
    if (redis === undefined) return Effect.andThen(monitor.recordOperation(memoryMiss), miss(key))
    if (!redis.isConnected()) {
      counters.misses++
      return Effect.andThen(monitor.recordOperation(memoryMiss), miss(key))
    }
    return getFromRedis(redis, key, schema)
  }

  const { l1Always } = core
  const spanL1Hits = tracing.spanL1Hits

  // The L1 hit path: one Effect.suspend around a synchronous tier lookup, nothing else
  // unless a schema, a listener or per-hit spans ask for it. The key's shape is checked
  // when the effect is made: the check depends on the argument alone, so doing it early
  // is indistinguishable from doing it when the effect runs, and keeps it off the hot loop.
  const get = (key: string, schema?: AnySchema): Effect.Effect<Option.Option<unknown>, CacheError> => {
    if (keyShapeIssue(key) !== undefined) return keyError(key)
    return Effect.suspend((): Effect.Effect<Option.Option<unknown>, CacheError> => {
      if (l1Always || redis?.isConnected() === false) {
        const value = memory.get(key)
        if (value !== undefined) {
          if (schema === undefined && !spanL1Hits && !events.isActive()) return Exit.succeed(Option.some(value))
          return spanL1Hits
            ? Effect.withSpan(hit(key, value, schema, "l1"), "Cache.get", {
              attributes: spanAttributes(tracing, { operation: "get", tier: "l1", hit: true, key, cacheName })
            })
            : hit(key, value, schema, "l1")
        }
      }
      return getAfterL1Miss(key, schema)
    })
  }

  // The fast path of `get` above without the Effect, for the Promise facade: a value only when
  // get would answer it from L1 with nothing else to do (no schema, span or listener). A miss
  // is left uncounted for the Effect path that then answers it; no key check, because only
  // keys that kept every rule are in L1 (any other key misses and the Effect path refuses it).
  const peekL1 = (key: string): unknown =>
    spanL1Hits || events.isActive() || !(l1Always || redis?.isConnected() === false) ? undefined : memory.getHit(key)

  // Only a cache that keeps entries past their TTL pays for reading them in exists and ttl.
  const logicalTtl = redis !== undefined && settings.resilience.staleForMillis > 0
    ? makeLogicalTtl(core, redis)
    : undefined

  const exists = (key: string): Effect.Effect<boolean, CacheError> =>
    Effect.suspend((): Effect.Effect<boolean, CacheError> => {
      if (keyIssue(key) !== undefined) return keyError(key)
      const started = core.nanos()
      if ((l1Always || redis?.isConnected() === false) && memory.has(key)) {
        return core.recordThen(Exit.succeed(true), "exists", "l1", started, true)
      }
      if (redis === undefined) return core.recordThen(Exit.succeed(false), "exists", "miss", started, true)
      return (logicalTtl === undefined ? redis.exists(key) : Effect.map(logicalTtl(key), existsOf)).pipe(
        Effect.mapError((error) => core.replyError(error, key)),
        Effect.tapError((error) => core.record("exists", "none", started, false, error._tag)),
        Effect.map((found) => found === true || (found === undefined && memory.has(key))),
        Effect.tap((found) => core.record("exists", found ? "l2" : "miss", started, true)),
        (self) => core.traceRedis(self, "Cache.exists", "exists", "EXISTS", key)
      )
    })

  const ttl = (key: string): Effect.Effect<Option.Option<Duration.Duration>, CacheError> =>
    Effect.suspend((): Effect.Effect<Option.Option<Duration.Duration>, CacheError> => {
      if (keyIssue(key) !== undefined) return keyError(key)
      const started = core.nanos()
      const fromMemory = () => Option.map(Option.fromNullishOr(memory.remainingTtl(key)), Duration.millis)
      const tierOf = (found: Option.Option<unknown>, answered: "l1" | "l2") => Option.isSome(found) ? answered : "miss"
      if (redis === undefined) {
        const found = fromMemory()
        return core.recordThen(Exit.succeed(found), "ttl", tierOf(found, "l1"), started, true)
      }
      return (logicalTtl === undefined ? redis.pttl(key) : logicalTtl(key)).pipe(
        Effect.mapError((error) => core.replyError(error, key)),
        Effect.tapError((error) => core.record("ttl", "none", started, false, error._tag)),
        Effect.map((remaining) => remaining === undefined ? fromMemory() : Option.map(remaining, Duration.millis)),
        Effect.tap((found) => core.record("ttl", tierOf(found, "l2"), started, true)),
        (self) => core.traceRedis(self, "Cache.ttl", "ttl", "PTTL", key)
      )
    })

  return { get, exists, ttl, peekL1 }
}
