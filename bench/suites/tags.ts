/**
 * What tags cost a read: L2 hits (L1 off) of entries with 0, 1 and 5 tags, one at a time
 * and 100 in flight, with the tag clock warm (no tag invalidated meanwhile, the usual
 * case: each tag's time is fetched once, then known in memory); and L1 hits of entries with
 * 0 and 5 tags, which must cost the same (the hit path never looks at tags).
 */
import { Effect, Option, type Scope } from "effect"
import type { CacheService } from "../../src/index.js"
import { type CaseResult, effectRound, type SizeName } from "../lib/harness.js"
import { redisCache, runCase, type SuiteContext } from "../lib/suite.js"
import { makeValue } from "../lib/values.js"

const KEYS = 1000
const IN_FLIGHT = 100
const tagCounts = [0, 1, 5] as const
// Tag costs do not depend on the value's size: the smallest shows them best.
const SIZE: SizeName = "100B"

const tagsOf = (count: number, i: number) => Array.from({ length: count }, (_, t) => `tag:${t}:${i % 50}`)

const where = (inFlight: number) => inFlight === 1 ? "sequential" : `${inFlight} in flight`
const short = (inFlight: number) => inFlight === 1 ? "seq" : String(inFlight)

const hits = (cache: CacheService, keys: ReadonlyArray<string>, inFlight: number, what: string) => (ops: number) =>
  effectRound(ops, inFlight, (i) =>
    Effect.flatMap(cache.get(keys[i % KEYS]!), (found) =>
      Option.isSome(found) ? Effect.void : Effect.die(new Error(`${what} missed`))))

/** Runs the tag cases. */
export const tagsSuite = (context: SuiteContext): Effect.Effect<ReadonlyArray<CaseResult>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const l2 = yield* redisCache(context, { cacheName: "bench-tags-l2", enableL1: false })
    const l1 = yield* redisCache(context, { cacheName: "bench-tags-l1" })
    const results: Array<CaseResult> = []
    const values = Array.from({ length: KEYS }, (_, i) => makeValue(SIZE, i))
    const keysFor: Record<number, ReadonlyArray<string>> = {}
    for (const count of tagCounts) {
      const keys = values.map((_, i) => `tags:${count}:${i}`)
      keysFor[count] = keys
      yield* Effect.orDie(Effect.forEach(keys, (key, i) => l2.set(key, values[i]!, { tags: tagsOf(count, i) }), {
        concurrency: 32,
        discard: true
      }))
    }
    for (const inFlight of [1, IN_FLIGHT]) {
      for (const count of tagCounts) {
        results.push(yield* runCase(context, {
          id: `tags.l2.get.${count}.${short(inFlight)}`,
          label: `yield* cache.get(k), L2 hit (L1 off), ${count} tags per entry, ${where(inFlight)}`,
          size: SIZE,
          latency: "per-op",
          initialOps: 200,
          ...(count === 0 ? {} : { baseline: `tags.l2.get.0.${short(inFlight)}` }),
          round: hits(l2, keysFor[count]!, inFlight, "L2 read")
        }))
      }
    }
    for (const count of [0, 5]) {
      // Read once through L2 so that L1 holds them (and the tag index knows them).
      yield* Effect.orDie(Effect.forEach(keysFor[count]!, (key) => l1.get(key), { concurrency: 32, discard: true }))
      results.push(yield* runCase(context, {
        id: `tags.l1.get.${count}`,
        label: `yield* cache.get(k), L1 hit, ${count} tags per entry, sequential`,
        size: SIZE,
        latency: "per-op",
        ...(count === 0 ? {} : { baseline: "tags.l1.get.0" }),
        round: hits(l1, keysFor[count]!, 1, "L1 read")
      }))
    }
    return results
  })
