/**
 * One lookup across instances: 3 processes x 1,000 concurrent callers of `getOrSet` on one
 * cold key, with `distributedLock` and without it. Each process is a cache instance of its
 * own (the worker of test/support/cacheWorker.ts, which test/cache/resilience/distributedLock.test.ts
 * drives the same way); the lookup counts its runs in Redis (INCR on a key outside the cache's
 * prefix), then sleeps for a fixed time. A row prints the lookup runs across the processes
 * and the time until every caller was served. Without the lock, each process's single flight
 * still runs one lookup per process: 3 (more only if one process missed and stored before
 * another asked).
 */
import { Effect, type Scope } from "effect"
import { Redis } from "ioredis"
import { type CacheWorker, startCacheWorker } from "../../test/support/workers.js"
import type { SuiteContext } from "../lib/suite.js"

const PROCESSES = 3
const CALLERS = 1_000
const LOOKUP_MS = 200
const ROUNDS = { full: 5, quick: 3 }

/** One configuration: the lookup runs and the time to serve everyone, per round. */
export interface LockResult {
  readonly distributedLock: boolean
  readonly processes: number
  readonly callersPerProcess: number
  readonly lookupMillis: number
  /** Lookup runs across the processes, one entry per round (each round on a key of its own). */
  readonly lookupRuns: ReadonlyArray<number>
  /** From sending the calls to the last process's answer, per round. */
  readonly allServedMillis: ReadonlyArray<number>
}

const workersFor = (context: SuiteContext, distributedLock: boolean) =>
  Effect.all(
    Array.from({ length: PROCESSES }, (_, i) =>
      startCacheWorker({
        redisUrl: context.redisUrl,
        keyPrefix: "bench:lock:",
        cacheName: `bench-lock-${distributedLock ? "on" : "off"}-${i}`,
        distributedLock
      })),
    { concurrency: "unbounded" }
  )

// The workers are ready and connected: each answers one call first (a getOrSet of a warm-up key).
const warm = (workers: ReadonlyArray<CacheWorker>) =>
  Effect.forEach(workers, (worker) => worker.call("getOrSet", { key: "warm", value: 1 }), { discard: true })

const round = (workers: ReadonlyArray<CacheWorker>, raw: Redis, key: string) =>
  Effect.gen(function*() {
    const counter = `bench-lock-lookups:${key}`
    const started = performance.now()
    const answers = yield* Effect.all(
      workers.map((worker) =>
        worker.call("getOrSetCounted", { key, value: "computed", counter, sleepMs: LOOKUP_MS, callers: CALLERS })
      ),
      { concurrency: "unbounded" }
    )
    const allServedMillis = performance.now() - started
    const served = answers.flatMap((perProcess) => perProcess as ReadonlyArray<unknown>)
    if (served.length !== PROCESSES * CALLERS || !served.every((answer) => answer === "computed")) {
      return yield* Effect.die(new Error(`lock bench: ${served.length} answers, not all "computed"`))
    }
    const runs = Number((yield* Effect.promise(() => raw.get(counter))) ?? 0)
    return { runs, allServedMillis }
  }).pipe(Effect.mapError((error) => new Error(`lock bench: ${error}`)), Effect.orDie)

const configuration = (context: SuiteContext, raw: Redis, distributedLock: boolean) =>
  Effect.scoped(Effect.gen(function*() {
    const workers = yield* workersFor(context, distributedLock)
    yield* Effect.orDie(warm(workers))
    const lookupRuns: Array<number> = []
    const allServedMillis: Array<number> = []
    const rounds = context.quick ? ROUNDS.quick : ROUNDS.full
    for (let i = 0; i < rounds; i++) {
      const result = yield* round(workers, raw, `cold:${distributedLock ? "on" : "off"}:${i}`)
      lookupRuns.push(result.runs)
      allServedMillis.push(result.allServedMillis)
    }
    const row: LockResult = {
      distributedLock,
      processes: PROCESSES,
      callersPerProcess: CALLERS,
      lookupMillis: LOOKUP_MS,
      lookupRuns,
      allServedMillis
    }
    process.stderr.write(
      `  lock.${distributedLock ? "on " : "off"}  lookups ${lookupRuns.join(", ")}  all served in ${
        allServedMillis.map((ms) => ms.toFixed(0)).join(", ")
      } ms\n`
    )
    return row
  }))

/** Runs both configurations, the lock first. */
export const lockSuite = (context: SuiteContext): Effect.Effect<ReadonlyArray<LockResult>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const raw = yield* Effect.acquireRelease(
      Effect.sync(() => new Redis(context.redisUrl)),
      (client) => Effect.promise(() => client.quit())
    )
    const on = yield* configuration(context, raw, true)
    const off = yield* configuration(context, raw, false)
    return [on, off]
  })
