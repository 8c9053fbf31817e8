/**
 * Invalidation by pattern and `clear`: both tiers, counted as invalidations as in the
 * original's monitor.
 */
import { Effect } from "effect"
import type { CacheError } from "../../errors.js"
import { matcher, toRedisMatch } from "../pattern.js"
import type { CacheCore } from "./core.js"
import { patternError, patternIssue } from "./inputs.js"
import { tagsError, tagsIssue } from "./tags.js"

/** `invalidatePattern` and `clear` of a cache. */
export const makeInvalidation = (core: CacheCore) => {
  const { clock, guard, invalidation, memory, monitor, redis, settings } = core
  const { keyPrefix } = settings

  // Removes the matching keys from L1, then from Redis, then from L1 again; the count is the
  // larger of the two tiers' (a key may be in one tier only), and the monitor records the invalidation.
  const removeMatching = (
    pattern: string,
    glob: boolean,
    operation: "invalidate" | "clear"
  ): Effect.Effect<number, CacheError> => {
    const started = core.nanos()
    const matches = matcher(pattern, { glob })
    const removeFromMemory = () => {
      guard.touchAll()
      if (operation !== "clear") return memory.removeWhere(matches)
      const entries = memory.stats().entries
      memory.clear()
      return entries
    }
    const removedInMemory = removeFromMemory()
    const finish = (removedInRedis: number) => {
      const keysInvalidated = Math.max(removedInMemory, removedInRedis)
      // The monitor counts and times the operation with the invalidation it records.
      return Effect.as(
        monitor.recordInvalidation({
          pattern: operation === "clear" ? "*" : pattern,
          keysInvalidated,
          durationMillis: Number(core.nanos() - started) / 1e6,
          invalidationType: operation === "clear" ? "clear" : glob ? "glob" : "literal"
        }),
        keysInvalidated
      )
    }
    if (redis === undefined) return finish(0)
    const name = operation === "clear" ? "Cache.clear" : "Cache.invalidatePattern"
    return redis.removeMatching(toRedisMatch(pattern, { glob, keyPrefix }), clock.currentTimeMillisUnsafe()).pipe(
      Effect.mapError((error) => core.replyError(error, operation === "clear" ? "*" : pattern)),
      Effect.tapError((error) => core.record(operation, "none", started, false, error._tag)),
      Effect.flatMap((removed) => {
        // A pattern delete made while degraded is announced when it is replayed.
        if (removed !== undefined) {
          // Once more, now that Redis has answered: while the SCAN walked, a concurrent read sent
          // ahead of the UNLINK may have refilled L1 with a key it then removed, and a concurrent
          // set answered before it may have kept its value, which the UNLINK then removed.
          removeFromMemory()
          invalidation.announce(operation === "clear" ? { _tag: "Clear" } : { _tag: "Pattern", pattern, glob })
        }
        return finish(removed ?? 0)
      }),
      (self) => core.traceRedis(self, name, operation, "SCAN", undefined)
    )
  }

  const invalidatePattern = (pattern: string, options?: { readonly glob?: boolean }) =>
    Effect.suspend((): Effect.Effect<number, CacheError> => {
      const issue = patternIssue(pattern)
      if (issue !== undefined) return patternError(issue)
      return removeMatching(pattern, options?.glob === true, "invalidate")
    })

  const clear: Effect.Effect<void, CacheError> = Effect.suspend(() => Effect.asVoid(removeMatching("", false, "clear")))

  return { invalidatePattern, clear }
}

/** `invalidateTags` of a cache: validated, then tags.ts does the work; traced and counted as an invalidation. */
export const makeTagInvalidation = (core: CacheCore) => {
  const { monitor, tags } = core
  return Effect.fn("Cache.invalidateTags")(function*(names: ReadonlyArray<string>) {
    const issue = tagsIssue(names, false)
    if (issue !== undefined) return yield* Effect.fail(tagsError(issue))
    const started = core.nanos()
    yield* tags.invalidate(names).pipe(
      Effect.mapError((error) => "_tag" in error ? error : core.replyError(error, `${names[0] ?? ""}`)),
      Effect.tapError((error) => core.record("invalidate", "none", started, false, error._tag))
    )
    yield* monitor.recordInvalidation({
      pattern: names.slice(0, 10).join(",") + (names.length > 10 ? ",..." : ""),
      keysInvalidated: names.length,
      durationMillis: Number(core.nanos() - started) / 1e6,
      invalidationType: "tags"
    })
  })
}
