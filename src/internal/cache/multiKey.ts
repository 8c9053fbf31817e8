/**
 * The multi-key operations: `getMany`, `setMany` and `deleteMany` (and, from its own
 * module, `getOrSetMany`).
 *
 * Each is the single-key operation run for every key at once, not a second path: the
 * Redis tier coalesces the concurrent per-key reads, writes and deletes of one tick into
 * one command per 32 keys (per hash slot on a cluster), so the key rules, the refill guard,
 * coherence, schema mismatches, memory-only mode and replay are exactly those of `get`,
 * `set` and `delete`. What is added here is validation of the whole call before anything
 * runs, de-duplication, and answers in key order.
 */
import { Effect, Exit, Option } from "effect"
import type { SetManyEntry, SetOptions } from "../../Cache.js"
import { type CacheError, validationError } from "../../errors.js"
import type { CacheCore } from "./core.js"
import { makeGetOrSetMany } from "./getOrSetMany.js"
import { keyIssue, undefinedValueError } from "./inputs.js"
import { jitteredTtlOf, staleMillisOf } from "./lifetime.js"
import { tagsError, tagsIssue } from "./tags.js"
import { type AnySchema, atIndex, firstFailure, keysError, type MultiKeyParts, traced, unbounded, unique } from "./manyKeys.js"
import { schemaEncoder, schemaFailure } from "./schemas.js"

/** The multi-key operations of a cache. */
/** The multi-key operations of a cache. */
export const makeMultiKey = (core: CacheCore, parts: MultiKeyParts) => {
  const { codec, memory, redis, settings } = core
  const { cacheName } = settings
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
      const read = Effect.flatMap(readAll(distinct, schema), (exits) => {
        const failed = firstFailure(exits)
        if (failed !== undefined) return failed
        const found = new Map<string, Option.Option<unknown>>()
        distinct.forEach((key, i) => found.set(key, (exits[i] as Exit.Success<Option.Option<unknown>>).value))
        return Exit.succeed(keys.map((key) => found.get(key)!))
      })
      return traced(read, "getMany", cacheName, keys.length)
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
    if (options?.tags !== undefined) {
      const tagIssue = tagsIssue(options.tags, true)
      if (tagIssue !== undefined) return Exit.fail(atIndex(tagsError(tagIssue, key), at))
    }
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
        Effect.flatMap((exits) => firstFailure(exits) ?? Exit.void),
        (self) => traced(self, "setMany", cacheName, entries.length)
      )
    })

  const deleteMany = (keys: ReadonlyArray<string>): Effect.Effect<number, CacheError> =>
    Effect.suspend(() => {
      const invalid = keysError(keys)
      if (invalid !== undefined) return Exit.fail(invalid)
      if (keys.length === 0) return Exit.succeed(0)
      const removed = Effect.flatMap(
        Effect.forEach(unique(keys), (key) => Effect.exit(parts.delete(key)), unbounded),
        (exits) => {
          const failed = firstFailure(exits)
          if (failed !== undefined) return failed
          let existed = 0
          for (const exit of exits) if ((exit as Exit.Success<boolean>).value) existed++
          return Exit.succeed(existed)
        }
      )
      return traced(removed, "deleteMany", cacheName, keys.length)
    })

  return { getMany, setMany, deleteMany, getOrSetMany: makeGetOrSetMany(core, parts, readAll) }
}
