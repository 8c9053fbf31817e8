/**
 * L1 hits and their limits: lru-cache called directly, the same lookup in an Effect
 * loop, and `Cache.get` answered from L1, inside one Effect program and across the
 * Promise boundary.
 */
import { Effect, Layer, ManagedRuntime, Option, References, type Scope } from "effect"
import { LRUCache } from "lru-cache"
import { Cache, CacheClient } from "../lib/library.js"
import { type CaseResult, type Round, sink, syncBatches } from "../lib/harness.js"
import { expect, redisCache, runCase, type SuiteContext } from "../lib/suite.js"
import { makeValue } from "../lib/values.js"

const KEYS = 1024 // a power of two: `i & MASK` picks a key without a division
const MASK = KEYS - 1
const BATCH = 1000
const PROMISE_BATCH = 100

const l1Options = { cacheName: "bench-l1", l1MaxEntries: 10_000, l1MaxBytes: 256 * 1024 * 1024 } as const

/** Runs the L1 cases at every size. */
export const l1Suite = (context: SuiteContext): Effect.Effect<ReadonlyArray<CaseResult>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const cache = yield* redisCache(context, l1Options)
    // Each instance below has a key prefix of its own: L1 coherence (tracking, BCAST by prefix)
    // made one's seeding writes invalidations for the others, so each case's first round read
    // 1024 entries back from Redis, and when that round alone lasted the warm-up the timed rounds
    // were sized by its rate: under 1 ms to 10 ms long instead of 200 ms.
    // A second instance of the same cache, as a non-Effect application would hold it.
    const runtime = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ManagedRuntime.make(
          Cache.layerRedis({
            redisUrl: context.redisUrl,
            ...l1Options,
            keyPrefix: "bench-l1-promise:",
            cacheName: "bench-l1-promise"
          }).pipe(
            Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error"))
          )
        )
      ),
      (runtime) => Effect.promise(() => runtime.dispose())
    )
    const promiseCache = yield* Effect.promise(() => runtime.runPromise(Cache))
    // The Promise facade, as a non-Effect application would build it.
    const client = yield* Effect.acquireRelease(
      Effect.promise(() =>
        CacheClient.make(
          Cache.layerRedis({
            redisUrl: context.redisUrl,
            ...l1Options,
            keyPrefix: "bench-l1-client:",
            cacheName: "bench-l1-client"
          }).pipe(
            Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error"))
          )
        )
      ),
      (client) => Effect.promise(() => client.close())
    )
    const results: Array<CaseResult> = []

    for (const size of context.sizes) {
      const keys = Array.from({ length: KEYS }, (_, i) => `l1:${size}:${i}`)
      const values = keys.map((_, i) => makeValue(size, i))
      const lru = new LRUCache<string, object>({ max: 10_000 })
      keys.forEach((key, i) => lru.set(key, values[i]!))
      yield* Effect.orDie(Effect.forEach(keys, (key, i) => cache.set(key, values[i]!), { concurrency: 32, discard: true }))
      yield* Effect.promise(() =>
        Promise.all(keys.map((key, i) => runtime.runPromise(promiseCache.set(key, values[i]!))))
      )
      yield* Effect.promise(() => Promise.all(keys.map((key, i) => client.set(key, values[i]!))))

      const batches = (ops: number) => Math.max(1, Math.ceil(ops / BATCH))

      // One Effect program looping over `lookup`, timed per batch; every case below pays the
      // same loop, so their ratios compare the lookups alone.
      const effectLoop = <A, E, R>(what: string, lookup: (key: string) => Effect.Effect<A, E, R>, isHit: (answer: A) => boolean) =>
      (ops: number) =>
        Effect.gen(function*() {
          const count = batches(ops)
          const latenciesMs = new Float64Array(count)
          let found = 0
          const started = performance.now()
          let i = 0
          for (let b = 0; b < count; b++) {
            const batchStarted = performance.now()
            for (let end = i + BATCH; i < end; i++) {
              if (isHit(yield* lookup(keys[i & MASK]!))) found++
            }
            latenciesMs[b] = (performance.now() - batchStarted) / BATCH
          }
          const elapsedMs = performance.now() - started
          yield* expect(what, found, count * BATCH)
          return { ops: count * BATCH, elapsedMs, latenciesMs } satisfies Round
        })

      results.push(yield* runCase(context, {
        id: "baseline.lru.get",
        label: "lru-cache get, called directly",
        size,
        latency: `batch-${BATCH}`,
        initialOps: 100_000,
        round: (ops) =>
          Effect.sync(() => {
            let found = 0
            const round = syncBatches(ops, BATCH, (i) => {
              if (lru.get(keys[i & MASK]!) !== undefined) found++
            })
            sink(found)
            return round
          })
      }))

      results.push(yield* runCase(context, {
        id: "baseline.lru.set",
        label: "lru-cache set (overwrite), called directly",
        size,
        latency: `batch-${BATCH}`,
        initialOps: 100_000,
        round: (ops) => Effect.sync(() => syncBatches(ops, BATCH, (i) => lru.set(keys[i & MASK]!, values[i & MASK]!)))
      }))

      results.push(yield* runCase(context, {
        id: "baseline.effect.sync",
        label: "yield* Effect.sync(() => lru.get(k)) in an Effect.gen loop",
        size,
        latency: `batch-${BATCH}`,
        initialOps: 100_000,
        baseline: "baseline.lru.get",
        round: effectLoop("lru hits", (key) => Effect.sync(() => lru.get(key)), (value) => value !== undefined)
      }))

      results.push(yield* runCase(context, {
        id: "l1.service",
        label: "yield* cache.get(k), L1 hit (service taken once)",
        size,
        latency: `batch-${BATCH}`,
        initialOps: 100_000,
        baseline: "baseline.effect.sync",
        target: 0.5,
        round: (ops) => Effect.orDie(effectLoop("L1 hits", (key) => cache.get(key), Option.isSome)(ops))
      }))

      results.push(yield* runCase(context, {
        id: "l1.accessor",
        label: "yield* Cache.get(k), L1 hit (module accessor)",
        size,
        latency: `batch-${BATCH}`,
        initialOps: 100_000,
        baseline: "baseline.effect.sync",
        round: (ops) =>
          effectLoop("L1 hits", (key) => Cache.get(key), Option.isSome)(ops).pipe(
            Effect.provideService(Cache, cache),
            Effect.orDie
          )
      }))

      // getOrSet answered from L1: the resilience options must add nothing to a hit. The lookup
      // never runs (a hit); if it did, the round would die and the suite report it.
      const neverLooked = Effect.die(new Error("getOrSet ran its lookup on an L1 hit"))
      results.push(yield* runCase(context, {
        id: "l1.getOrSet",
        label: "yield* cache.getOrSet(k, lookup), L1 hit",
        size,
        latency: `batch-${BATCH}`,
        initialOps: 100_000,
        baseline: "baseline.effect.sync",
        round: (ops) => Effect.orDie(effectLoop("L1 hits", (key) => cache.getOrSet(key, neverLooked), (v) => v !== undefined)(ops))
      }))

      const resilience = {
        staleFor: "1 minute",
        staleOnError: true,
        softTimeout: "50 millis",
        hardTimeout: "1 second",
        refreshAhead: 0.8,
        ttlJitter: "1 second"
      } as const
      results.push(yield* runCase(context, {
        id: "l1.getOrSet.resilience",
        label: "yield* cache.getOrSet(k, lookup, fail-safe + timeouts + refreshAhead + jitter), L1 hit",
        size,
        latency: `batch-${BATCH}`,
        initialOps: 100_000,
        baseline: "baseline.effect.sync",
        round: (ops) =>
          Effect.orDie(effectLoop("L1 hits", (key) => cache.getOrSet(key, neverLooked, resilience), (v) => v !== undefined)(ops))
      }))

      const promiseRound = <A>(op: (key: string) => Promise<A>, isHit: (answer: A) => boolean) => (ops: number) =>
        Effect.promise(async (): Promise<Round> => {
          const count = Math.max(1, Math.ceil(ops / PROMISE_BATCH))
          const latenciesMs = new Float64Array(count)
          let found = 0
          const started = performance.now()
          let i = 0
          for (let b = 0; b < count; b++) {
            const batchStarted = performance.now()
            for (let end = i + PROMISE_BATCH; i < end; i++) {
              if (isHit(await op(keys[i & MASK]!))) found++
            }
            latenciesMs[b] = (performance.now() - batchStarted) / PROMISE_BATCH
          }
          const elapsedMs = performance.now() - started
          if (found !== count * PROMISE_BATCH) throw new Error(`expected ${count * PROMISE_BATCH} hits, got ${found}`)
          return { ops: count * PROMISE_BATCH, elapsedMs, latenciesMs }
        })

      results.push(yield* runCase(context, {
        id: "baseline.promise.async",
        label: "await (async () => lru.get(k))()",
        size,
        latency: `batch-${PROMISE_BATCH}`,
        initialOps: 10_000,
        round: promiseRound(async (key) => lru.get(key), (value) => value !== undefined)
      }))

      results.push(yield* runCase(context, {
        id: "l1.client",
        label: "await client.get(k), L1 hit (CacheClient, the Promise facade)",
        size,
        latency: `batch-${PROMISE_BATCH}`,
        initialOps: 10_000,
        baseline: "baseline.promise.async",
        target: 0.5,
        round: promiseRound((key) => client.get(key), (value) => value !== undefined)
      }))

      results.push(yield* runCase(context, {
        id: "baseline.promise.sync",
        label: "await runtime.runPromise(Effect.sync(() => lru.get(k)))",
        size,
        latency: `batch-${PROMISE_BATCH}`,
        initialOps: 10_000,
        round: promiseRound((key) => runtime.runPromise(Effect.sync(() => lru.get(key))), (value) => value !== undefined)
      }))

      results.push(yield* runCase(context, {
        id: "l1.promise",
        label: "await runtime.runPromise(cache.get(k)), L1 hit",
        size,
        latency: `batch-${PROMISE_BATCH}`,
        initialOps: 10_000,
        baseline: "baseline.promise.sync",
        round: promiseRound((key) => runtime.runPromise(promiseCache.get(key)), Option.isSome)
      }))
    }
    return results
  })
