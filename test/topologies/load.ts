/**
 * Mixed load for the failover tests: writers that each set their own keys in turn (and
 * read one back now and then) until told to stop, and the check afterwards of which
 * acknowledged writes a fresh cache can read back.
 */
import { assert } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import type { CacheService } from "../../src/index.js"

/** The last write acknowledged on a key: its value and when (Date.now()). */
export interface Acknowledged {
  readonly value: number
  readonly at: number
}

/** A running load: `stop` ends it and answers the last write acknowledged per key. */
export interface Load {
  readonly stop: Effect.Effect<ReadonlyMap<string, Acknowledged>>
  /** The modes the cache went through, in order. */
  readonly modes: Array<string>
  /** When the cache last became Connected (0: not since the load started). */
  readonly lastConnectedAt: () => number
}

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** Starts `writers` fibers setting `load:<writer>:<n>` (one key per ~10 ms each); every set must succeed. */
export const startLoad = (cache: CacheService, writers = 8): Effect.Effect<Load> =>
  Effect.gen(function*() {
    const modes: Array<string> = []
    let connectedAt = 0
    yield* cache.registerCallback("mode_change", (_from, to) => {
      modes.push(to)
      if (to === "Connected") connectedAt = Date.now()
    })
    const acknowledged = new Map<string, Acknowledged>()
    let running = true
    const writer = (w: number) =>
      Effect.gen(function*() {
        for (let n = 0; running; n++) {
          const key = `load:${w}:${n % 200}`
          // A set never fails for want of Redis: stored, or kept in L1 and queued for replay.
          yield* cache.set(key, n)
          acknowledged.set(key, { value: n, at: Date.now() })
          if (n % 5 === 0) yield* cache.get(`load:${w}:${(n * 7) % 200}`)
          yield* sleep(10)
        }
      })
    const fibers = yield* Effect.forEach(Array.from({ length: writers }, (_, w) => w), (w) => Effect.forkChild(writer(w)))
    return {
      modes,
      lastConnectedAt: () => connectedAt,
      stop: Effect.gen(function*() {
        running = false
        for (const fiber of fibers) {
          const exit = yield* Fiber.await(fiber)
          assert.strictEqual(exit._tag, "Success", `a load operation failed: ${JSON.stringify(exit)}`)
        }
        return acknowledged
      })
    }
  })

/** The acknowledged writes `reader` (a cache with an empty L1) does not read back as written. */
export const countLost = (reader: CacheService, acknowledged: ReadonlyMap<string, Acknowledged>) =>
  Effect.gen(function*() {
    const entries = Array.from(acknowledged)
    const read = yield* Effect.forEach(entries, ([key]) => reader.get(key), { concurrency: 50 })
    const lostWrites: Array<Acknowledged & { readonly key: string }> = []
    read.forEach((value, i) => {
      const [key, write] = entries[i]!
      if (Option.getOrUndefined(value) !== write.value) lostWrites.push({ key, ...write })
    })
    return { lost: lostWrites.length, total: entries.length, lostWrites }
  })
