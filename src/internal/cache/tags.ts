/**
 * Tag invalidation (`set(key, value, { tags })`, `invalidateTags(tags)`). An entry records
 * its tags and write time in its envelope (bit4); a tag's last invalidation is an ordinary
 * entry, `<keyPrefix>__tag:<tag>`, whose envelope write time is the invalidation time.
 * `invalidateTags` writes those through the Redis tier's write path, so an invalidation
 * made during an outage is queued and replayed (newest wins), a cluster groups them by
 * slot, and the other instances learn of them by the invalidation link like any key.
 *
 * - A Redis read of an entry with tags is a miss when one of its tags was invalidated at
 *   or after the entry's write time; the tag times come from the tag clock (tagClock.ts),
 *   fetched in the same batched read as other requests of that tick when not cached.
 * - L1 hits never look at tags: L1 entries with tags are indexed (tagIndex.ts) and evicted
 *   when a tag is invalidated here or the link reports its key changed.
 * - Tag keys live for `tagRetention` (default: the longest an entry can live, TTL plus
 *   `staleFor`), and Redis expires them: an entry older than its tag key's expiry is
 *   itself expired by then. Pattern invalidation and `clear` leave tag keys alone: removing
 *   one would bring back the entries it invalidated.
 * - Times are milliseconds of the writer's clock, compared with the invalidator's: the
 *   instances' clocks must agree to within the precision wanted (docs/multi-key-and-tags.md).
 */
import { Effect } from "effect"
import { validationError, type ValidationError, type ValidationIssue } from "../../errors.js"
import type { InvalidationService } from "../../coherence/Invalidation.js"
import type { MemoryTier } from "../../tiers/MemoryTier.js"
import type { RedisRead, RedisReplyError, RedisTier } from "../../tiers/RedisTier.js"
import { headerSize, MAGIC_0, MAGIC_1, unwrap, wrap } from "../envelope.js"
import type { RefillGuard } from "../coherence/refillGuard.js"
import { TAG_KEY_PREFIX } from "../coherence/tagSignals.js"
import { makeTagClock, UNLINKED_MAX_AGE_MILLIS } from "./tagClock.js"
import { makeTagIndex, type TagIndex } from "./tagIndex.js"

/** Most tags one entry carries (the envelope's count is one byte). */
export const MAX_TAGS_PER_ENTRY = 255
/** Longest tag, in UTF-16 code units (its UTF-8 form then fits the envelope's uint16 length). */
export const MAX_TAG_LENGTH = 1024

const JSON_SERIALIZER_ID = 1

/** The first rule `tags` breaks, or `undefined`; `perEntry` applies the envelope's count limit. */
export const tagsIssue = (tags: unknown, perEntry: boolean): ValidationIssue | undefined => {
  if (!Array.isArray(tags)) return { field: "tags", value: String(tags), rule: "must be an array of strings" }
  if (perEntry && tags.length > MAX_TAGS_PER_ENTRY) {
    return { field: "tags", value: `${tags.length} tags`, rule: `must be at most ${MAX_TAGS_PER_ENTRY} per entry` }
  }
  for (const tag of tags as ReadonlyArray<unknown>) {
    if (typeof tag !== "string") return { field: "tags", value: String(tag), rule: "must be strings" }
    if (tag.length === 0) return { field: "tags", value: "\"\"", rule: "must not be empty" }
    if (tag.length > MAX_TAG_LENGTH) {
      return { field: "tags", value: `${tag.length} characters`, rule: `must be at most ${MAX_TAG_LENGTH} characters each` }
    }
    if (!tag.isWellFormed()) {
      return { field: "tags", value: JSON.stringify(tag), rule: "must be well-formed Unicode text (no lone surrogate)" }
    }
  }
  return undefined
}

/** The refusal of `tags`. */
export const tagsError = (issue: ValidationIssue, key?: string): ValidationError =>
  validationError([issue], key === undefined ? { subject: "Invalid tags" } : { subject: "Invalid tags", key })

/**
 * A tag key's value as an invalidation time: our envelope's write time, or (another
 * program's write) a decimal count of milliseconds since the epoch. Anything else counts
 * as an invalidation now: an entry is never served on a timestamp that cannot be read.
 */
export const invalidationTimeOf = (bytes: Uint8Array, now: number): number => {
  if (bytes.byteLength >= 2 && bytes[0] === MAGIC_0 && bytes[1] === MAGIC_1) {
    try {
      return unwrap(bytes).writtenAt ?? now
    } catch {
      return now
    }
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1").trim()
  return /^\d{1,15}$/.test(text) ? Number(text) : now
}

/** The value `invalidateTags` writes: an envelope whose write time is `at`, with `at` as its JSON payload. */
export const timestampEnvelope = (at: number): Buffer => {
  const header = { serializerId: JSON_SERIALIZER_ID, compressionId: 0, fingerprint: undefined, writtenAt: at }
  const payload = String(at)
  return wrap(header, payload, headerSize(header) + payload.length)
}

/** What tag invalidation works with. */
export interface TagParts {
  readonly memory: MemoryTier["Service"]
  readonly redis: RedisTier["Service"] | undefined
  readonly invalidation: InvalidationService
  readonly guard: RefillGuard
  readonly now: () => number
  readonly retentionMillis: number
}

/** The tag side of a cache. */
export interface Tags {
  readonly index: TagIndex
  /**
   * Whether an entry read from Redis with `tags`, written at `writtenAt`, is still valid:
   * at once when every tag's time is known, else after one batched fetch.
   */
  readonly verdict: (tags: ReadonlyArray<string>, writtenAt: number | undefined) => boolean | Effect.Effect<boolean>
  /** The same, always as an effect (fail-safe and the distributed lock). */
  readonly stillValid: (tags: ReadonlyArray<string> | undefined, writtenAt: number | undefined) => Effect.Effect<boolean>
  /** An entry was put into L1 with these tags (or none). */
  readonly remember: (key: string, tags: ReadonlyArray<string> | undefined) => void
  /** Invalidates `tags` here and in Redis (validated by the caller); the tag keys written or queued. */
  readonly invalidate: (tags: ReadonlyArray<string>) => Effect.Effect<void, RedisReplyError | ValidationError>
}

const VALID = Effect.succeed(true)
const INVALID = Effect.succeed(false)

/** Tag invalidation for one cache; registers its listener with the invalidation link. */
export const makeTags = (parts: TagParts): Tags => {
  const { guard, invalidation, memory, now, redis, retentionMillis } = parts
  const index = makeTagIndex(memory)
  const maxAge = () =>
    invalidation.mechanism === "off" ? UNLINKED_MAX_AGE_MILLIS : invalidation.linked() ? Infinity : 0
  const clock = makeTagClock(now, maxAge)

  invalidation.tags.listen({
    changed: (tag) => {
      clock.forget(tag)
      index.evictTag(tag)
    },
    flushed: clock.forgetAll
  })

  const invalidBy = (at: number, writtenAt: number | undefined) => at > 0 && (writtenAt ?? 0) <= at

  // One tag's time from Redis; `undefined` when it could not be read (the entry is then a miss).
  const fetch = (tier: RedisTier["Service"], tag: string): Effect.Effect<number | undefined> => {
    const stamp = clock.stamp()
    return Effect.match(tier.read(TAG_KEY_PREFIX + tag, false), {
      onFailure: () => undefined,
      onSuccess: (read: RedisRead) => {
        if (read._tag === "Unavailable") return undefined
        const at = read._tag === "Hit" ? invalidationTimeOf(read.bytes, now()) : 0
        clock.fill(tag, at, stamp)
        return at
      }
    })
  }

  const verdict = (tags: ReadonlyArray<string>, writtenAt: number | undefined): boolean | Effect.Effect<boolean> => {
    let missing: Array<string> | undefined
    for (const tag of tags) {
      const at = clock.known(tag)
      if (at === undefined) {
        missing ??= []
        missing.push(tag)
      } else if (invalidBy(at, writtenAt)) return false
    }
    if (missing === undefined) return true
    if (redis === undefined) return true
    const tier = redis
    // Sent in the same tick, so the Redis tier batches them into one round trip.
    return Effect.map(
      Effect.forEach(missing, (tag) => fetch(tier, tag), { concurrency: "unbounded" }),
      (times) => times.every((at) => at !== undefined && !invalidBy(at, writtenAt))
    )
  }

  const stillValid = (tags: ReadonlyArray<string> | undefined, writtenAt: number | undefined) => {
    if (tags === undefined) return VALID
    const answer = verdict(tags, writtenAt)
    return answer === true ? VALID : answer === false ? INVALID : answer
  }

  const remember = (key: string, tags: ReadonlyArray<string> | undefined) => {
    if (tags !== undefined && tags.length > 0) index.add(key, tags)
    else if (index.size() > 0) index.forget(key)
  }

  const invalidate = (tags: ReadonlyArray<string>) =>
    Effect.suspend((): Effect.Effect<void, RedisReplyError | ValidationError> => {
      const unique = Array.from(new Set(tags))
      if (unique.length === 0) return Effect.void
      const at = now()
      // Reads in flight took their tag times before this: none may refill L1.
      guard.touchAll()
      for (const tag of unique) {
        clock.invalidated(tag, at)
        index.evictTag(tag)
      }
      if (redis === undefined) return Effect.void
      const tier = redis
      const bytes = timestampEnvelope(at)
      return Effect.forEach(unique, (tag) => tier.write(TAG_KEY_PREFIX + tag, bytes, retentionMillis, at), {
        concurrency: "unbounded"
      }).pipe(Effect.map((outcomes) => {
        // Queued ones are announced when they are replayed.
        const stored = unique.filter((_, i) => outcomes[i] === "stored").map((tag) => TAG_KEY_PREFIX + tag)
        if (stored.length > 0) invalidation.announce({ _tag: "Keys", keys: stored })
      }))
    })

  return { index, verdict, stillValid, remember, invalidate }
}
