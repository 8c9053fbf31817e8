/**
 * What L1 coherence costs and how fast it is: the invalidation lag between two cache
 * instances in separate processes (each mechanism beside the same mechanism done by hand
 * with raw ioredis, its floor), what a burst of 100,000 invalidations does to the
 * receiving process's event loop, and L1 hits with `l1Invalidation: "tracking"` beside
 * the same hits with `"off"` (the hit path must not pay for coherence).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { Effect, Option, type Scope } from "effect"
import { Redis } from "ioredis"
import type { CacheService } from "../../src/index.js"
import { onEveryCpu } from "../lib/environment.js"
import type { CaseResult, Round } from "../lib/harness.js"
import { expect, redisCache, runCase, type SuiteContext } from "../lib/suite.js"
import { quantile } from "../lib/stats.js"
import { makeValue } from "../lib/values.js"
import { startRedisCluster } from "../../test/support/Cluster.js"

const childScript = (name: string) => fileURLToPath(new URL(`./${name}`, import.meta.url))
const child = childScript("coherence-child.ts")
const rawChild = childScript("coherence-raw-child.ts")
const burstChild = childScript("coherence-burst-child.ts")
const PREFIX = "bench:"
const BUS_CHANNEL = "bench:raw-bus"
const LAG_WRITES = { full: 500, quick: 100 }
const LAG_WARMUP = 20
const KEYS = 1024
const MASK = KEYS - 1
const BATCH = 1000

/** A reader process (`script` with `argv`), a way to wait for its next line, and its stdin. */
const startReader = (
  script: string,
  argv: ReadonlyArray<string>
): Effect.Effect<{ readonly next: () => Promise<string>; readonly send: (line: string) => void }, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      // The same Node and loader as this process (tsx's --import), free of this process's CPU pin:
      // pinned to the writer's core, the reader's V8 threads queued behind the writer's and made
      // most of the lag's p99 (docs/coherence.md). With --expose-gc, which the burst reader needs.
      const execArgv = process.execArgv.includes("--expose-gc") ? process.execArgv : [...process.execArgv, "--expose-gc"]
      const [command, args] = onEveryCpu(process.execPath, [...execArgv, script, ...argv])
      const reader: ChildProcess = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] })
      const lines: Array<string> = []
      const waiting: Array<(line: string) => void> = []
      createInterface({ input: reader.stdout! }).on("line", (line) => {
        const resolve = waiting.shift()
        if (resolve === undefined) lines.push(line)
        else resolve(line)
      })
      reader.once("exit", (code) => {
        for (const resolve of waiting.splice(0)) resolve(`exited ${code}`)
      })
      const next = () => {
        const line = lines.shift()
        return line === undefined ? new Promise<string>((resolve) => waiting.push(resolve)) : Promise.resolve(line)
      }
      return { reader, next, send: (line: string) => void reader.stdin!.write(`${line}\n`) }
    }),
    ({ reader }) => Effect.sync(() => void reader.kill("SIGKILL"))
  )

// The reader's line of the given kind for write `i`; anything else is a broken benchmark.
const awaitLine = (next: () => Promise<string>, kind: "seen" | "armed" | "ready", i?: number) =>
  Effect.promise(next).pipe(Effect.flatMap((line) => {
    const [word, index, at] = line.split(" ")
    return word === kind && (i === undefined || Number(index) === i)
      ? Effect.succeed(Number(at))
      : Effect.die(new Error(`lag reader: expected ${kind} ${i ?? ""}, got "${line}"`))
  }))

/** One lag row: who reads (a script and its arguments) and how this process writes write `i` of `key`. */
interface LagRow {
  readonly id: string
  readonly label: string
  readonly reader: readonly [script: string, ...args: Array<string>]
  /** Resolves once Redis acknowledged the write of `{ i }` under the row's key. */
  readonly write: (i: number) => Effect.Effect<void>
  /** The raw-ioredis row of the same mechanism: the ratio is this row's p99 lag over its. */
  readonly floor?: string
}

/**
 * Invalidation lag: this process (A) writes the key and notes when Redis acknowledged it;
 * the reader (B, holding the old value in L1) notes when it first reads the new value.
 * One write at a time; the lag is B's time minus A's, on the machine's wall clock.
 */
const lagCase = (context: SuiteContext, row: LagRow): Effect.Effect<CaseResult, never, Scope.Scope> =>
  Effect.gen(function*() {
    const [script, ...argv] = row.reader
    const { next } = yield* startReader(script, argv)
    yield* awaitLine(next, "ready")
    const writes = context.quick ? LAG_WRITES.quick : LAG_WRITES.full
    const lags: Array<number> = []
    const started = performance.now()
    for (let i = 0; i < LAG_WARMUP + writes; i++) {
      yield* row.write(i)
      const acknowledgedAt = performance.timeOrigin + performance.now()
      const seenAt = yield* awaitLine(next, "seen", i)
      yield* awaitLine(next, "armed", i)
      // B's read may complete before A's own acknowledgement is processed: that is no lag at all.
      if (i >= LAG_WARMUP) lags.push(Math.max(0, seenAt - acknowledgedAt))
    }
    const elapsedMs = performance.now() - started
    const sorted = Float64Array.from(lags).sort()
    const rate = (LAG_WARMUP + writes) / (elapsedMs / 1000)
    return {
      id: row.id,
      label: row.label,
      size: "100B",
      opsPerSec: rate,
      roundOpsPerSec: [rate],
      p50Us: quantile(sorted, 0.5) * 1000,
      p99Us: quantile(sorted, 0.99) * 1000,
      p999Us: quantile(sorted, 0.999) * 1000,
      latency: "per-op",
      opsPerRound: writes,
      rounds: 1,
      ...(row.floor === undefined ? {} : { baseline: row.floor, ratioBy: "lag" as const })
    } satisfies CaseResult
  })

/** A raw ioredis client on the suite's server, closed with the scope. */
const rawClient = (url: string) =>
  Effect.acquireRelease(Effect.sync(() => new Redis(url)), (client) => Effect.promise(() => client.quit().catch(() => "closed")))

/** The lag rows on one server: each mechanism through the cache, after the same mechanism by hand. */
const serverLagRows = (context: SuiteContext) =>
  Effect.gen(function*() {
    const raw = yield* rawClient(context.redisUrl)
    const rawWrite = (key: string, publish: boolean) => (i: number) =>
      Effect.promise(async () => {
        await raw.set(key, JSON.stringify({ i }))
        // As the cache's bus does: announced after Redis acknowledged the write.
        if (publish) void raw.publish(BUS_CHANNEL, key)
      })
    const cacheRow = (mechanism: "tracking" | "bus", key: string) =>
      Effect.map(
        redisCache(context, { cacheName: `bench-lag-writer-${mechanism}`, l1Invalidation: mechanism }),
        (writer) => (i: number) => Effect.orDie(writer.set(key, { i }))
      )
    const readerOptions = (mechanism: "tracking" | "bus") => JSON.stringify({ redisUrl: context.redisUrl, l1Invalidation: mechanism })
    const rows: ReadonlyArray<Effect.Effect<LagRow, never, Scope.Scope>> = [
      Effect.succeed({
        id: "coherence.lag.raw.tracking",
        label: "raw ioredis, tracking by hand: SET acknowledged -> the other process's GET after the invalidation reads it",
        reader: [rawChild, "tracking", context.redisUrl, `${PREFIX}lag:raw-tracking`, PREFIX],
        write: rawWrite(`${PREFIX}lag:raw-tracking`, false)
      }),
      Effect.map(cacheRow("tracking", "lag:tracking"), (write) => ({
        id: "coherence.lag",
        label: "invalidation lag (tracking): A's set acknowledged -> B (other process, L1 copy) reads it; target p99 <= 5 ms",
        reader: [child, readerOptions("tracking"), "lag:tracking"],
        write,
        floor: "coherence.lag.raw.tracking"
      })),
      Effect.succeed({
        id: "coherence.lag.raw.bus",
        label: "raw ioredis, a pub/sub bus by hand: SET acknowledged, PUBLISH -> the subscriber's GET reads it",
        reader: [rawChild, "bus", context.redisUrl, `${PREFIX}lag:raw-bus`, BUS_CHANNEL],
        write: rawWrite(`${PREFIX}lag:raw-bus`, true)
      }),
      Effect.map(cacheRow("bus", "lag:bus"), (write) => ({
        id: "coherence.lag.bus",
        label: "invalidation lag (the bus): A's set acknowledged -> B (other process, L1 copy) reads it",
        reader: [child, readerOptions("bus"), "lag:bus"],
        write,
        floor: "coherence.lag.raw.bus"
      }))
    ]
    const results: Array<CaseResult> = []
    // Each scoped: a reader (and a cache writer) must not run beside the rows after it.
    for (const row of rows) {
      const result = yield* Effect.scoped(Effect.flatMap(row, (lag) => lagCase(context, lag)))
      context.onResult(result)
      results.push(result)
    }
    return results
  })

const BURST_KEYS = 100_000
const BURST_PREFIX = "bench-burst:"
const BURST_CHUNK = 1000

/** The burst reader's last line (coherence-burst-child.ts). */
interface BurstOutcome {
  readonly at: number
  readonly reported: number
  readonly l1Left: number
  readonly flushes: number
  readonly maxMs: number
  readonly maxCpuMs: number
  /** The main thread's part of it, where Linux tells (schedstat). */
  readonly maxMainCpuMs?: number
  readonly p99Ms: number
  readonly p50Ms: number
}

const chunksOf = (count: number) =>
  Array.from({ length: Math.ceil(count / BURST_CHUNK) }, (_, c) =>
    Array.from({ length: Math.min(BURST_CHUNK, count - c * BURST_CHUNK) }, (_, i) => `k:${c * BURST_CHUNK + i}`))

/**
 * Rewrites every key the reader holds: for tracking, as another program would (raw ioredis,
 * pipelines of 1,000 SETs, all sent at once); for the bus, through a cache instance
 * (`setMany` of 1,000 keys at a time), since a bus hears only caches.
 */
const burstWriter = (context: SuiteContext, mechanism: "tracking" | "bus") =>
  Effect.gen(function*() {
    if (mechanism === "tracking") {
      const raw = yield* rawClient(context.redisUrl)
      return (count: number) =>
        Effect.promise(() =>
          Promise.all(chunksOf(count).map((keys) => {
            const pipeline = raw.pipeline()
            for (const key of keys) pipeline.set(`${BURST_PREFIX}${key}`, "rewritten")
            return pipeline.exec()
          }))
        )
    }
    const writer = yield* redisCache(context, { keyPrefix: BURST_PREFIX, cacheName: "bench-burst-writer", l1Invalidation: "bus" })
    return (count: number) =>
      Effect.orDie(Effect.forEach(chunksOf(count), (keys) => writer.setMany(keys.map((key) => ({ key, value: "rewritten" }))), {
        discard: true
      }))
  })

// The longest block's CPU time: the main thread's (the event loop's own work), and the process's.
const cpuOf = ({ maxCpuMs, maxMainCpuMs }: BurstOutcome) =>
  maxMainCpuMs === undefined
    ? `${maxCpuMs.toFixed(1)} ms of CPU`
    : `${maxMainCpuMs.toFixed(1)} ms of its main thread's CPU, ${maxCpuMs.toFixed(1)} ms of the process's`

/** One burst: the reader (filled, `ready`) is armed, every key rewritten, and its outcome read. */
const burstOnce = (
  reader: { readonly next: () => Promise<string>; readonly send: (line: string) => void },
  rewrite: (count: number) => Effect.Effect<unknown>
) =>
  Effect.gen(function*() {
    yield* awaitLine(reader.next, "ready")
    reader.send("go")
    yield* awaitLine(reader.next, "armed")
    const startedAt = performance.timeOrigin + performance.now()
    yield* rewrite(BURST_KEYS)
    const writtenMs = performance.timeOrigin + performance.now() - startedAt
    const outcome = JSON.parse(yield* Effect.promise(reader.next)) as BurstOutcome
    yield* expect("invalidations reported to the burst reader", outcome.reported, BURST_KEYS)
    yield* expect("L1 entries left in the burst reader", outcome.l1Left, 0)
    yield* expect("L1 flushes in the burst reader", outcome.flushes, 0)
    return { outcome, writtenMs, evictedMs: outcome.at - startedAt }
  })

// The longest block of one burst, wall clock and CPU.
const blockOf = (outcome: BurstOutcome) => `${outcome.maxMs.toFixed(1)} ms (${cpuOf(outcome)})`

/**
 * A burst of 100,000 invalidations: a reader (another process) holds 100,000 keys in L1 and
 * watches its event-loop delay while they are all rewritten; the row gives the longest block
 * and the time from the first write until the reader's link had reported every key. Twice in
 * the same reader: the first burst runs the eviction and decoding code for the first time,
 * the second is a process that has met invalidations before. The figures are the second's.
 */
const burstCase = (context: SuiteContext, mechanism: "tracking" | "bus"): Effect.Effect<CaseResult, never, Scope.Scope> =>
  Effect.gen(function*() {
    const rewrite = yield* burstWriter(context, mechanism)
    const options = JSON.stringify({ redisUrl: context.redisUrl, keyPrefix: BURST_PREFIX, l1Invalidation: mechanism })
    const reader = yield* startReader(burstChild, [options, String(BURST_KEYS)])
    const first = yield* burstOnce(reader, rewrite)
    const { evictedMs, outcome, writtenMs } = yield* burstOnce(reader, rewrite)
    const rate = BURST_KEYS / (evictedMs / 1000)
    return {
      id: `coherence.burst.${mechanism}`,
      label: `100,000 invalidations (${mechanism === "tracking" ? "tracking, another program's SETs" : "the bus, another instance's setMany"}): ` +
        `reader's event loop blocked at most ${blockOf(outcome)}; all evicted ${evictedMs.toFixed(0)} ms after the first write ` +
        `(the writes took ${writtenMs.toFixed(0)} ms); the reader's first burst ${blockOf(first.outcome)} ²`,
      size: "100B",
      opsPerSec: rate,
      roundOpsPerSec: [rate],
      p50Us: outcome.p50Ms * 1000,
      p99Us: outcome.p99Ms * 1000,
      latency: "per-op",
      opsPerRound: BURST_KEYS,
      rounds: 1
    } satisfies CaseResult
  })

/** L1 hits in an Effect loop (as l1.ts's `l1.service`), every read checked to be a hit. */
const hitLoop = (cache: CacheService, keys: ReadonlyArray<string>) => (ops: number) =>
  Effect.gen(function*() {
    const count = Math.max(1, Math.ceil(ops / BATCH))
    const latenciesMs = new Float64Array(count)
    let found = 0
    const started = performance.now()
    let i = 0
    for (let b = 0; b < count; b++) {
      const batchStarted = performance.now()
      for (let end = i + BATCH; i < end; i++) {
        if (Option.isSome(yield* cache.get(keys[i & MASK]!))) found++
      }
      latenciesMs[b] = (performance.now() - batchStarted) / BATCH
    }
    const elapsedMs = performance.now() - started
    yield* expect("L1 hits", found, count * BATCH)
    return { ops: count * BATCH, elapsedMs, latenciesMs } satisfies Round
  }).pipe(Effect.orDie)

/** Runs the coherence cases. */
export const coherenceSuite = (context: SuiteContext): Effect.Effect<ReadonlyArray<CaseResult>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const results: Array<CaseResult> = [...yield* serverLagRows(context)]
    // The same on a 3-master Redis Cluster, where coherence is the bus (docs/coherence.md).
    const clusterLag = yield* Effect.scoped(Effect.gen(function*() {
      const cluster = yield* startRedisCluster()
      const clusterWriter = yield* redisCache(context, { cluster: { nodes: cluster.urls }, cacheName: "bench-lag-writer" })
      return yield* lagCase(context, {
        id: "coherence.lag.cluster",
        label: "invalidation lag on a 3-master cluster (the bus): A's set acknowledged -> B reads it",
        reader: [child, JSON.stringify({ cluster: { nodes: cluster.urls } }), "lag:cluster"],
        write: (i) => Effect.orDie(clusterWriter.set("lag:cluster", { i }))
      })
    }))
    context.onResult(clusterLag)
    results.push(clusterLag)
    for (const mechanism of ["tracking", "bus"] as const) {
      const burst = yield* Effect.scoped(burstCase(context, mechanism))
      context.onResult(burst)
      results.push(burst)
    }

    const l1Options = { l1MaxEntries: 10_000, l1MaxBytes: 256 * 1024 * 1024 } as const
    const off = yield* redisCache(context, { ...l1Options, cacheName: "bench-l1-off", l1Invalidation: "off" })
    const tracking = yield* redisCache(context, { ...l1Options, cacheName: "bench-l1-tracking", l1Invalidation: "tracking" })
    for (const size of context.sizes) {
      // Each cache its own keys: the tracking cache's L1 is not invalidated by the other's writes.
      const keysOf = (name: string) => Array.from({ length: KEYS }, (_, i) => `coherence:${name}:${size}:${i}`)
      const keys = { off: keysOf("off"), tracking: keysOf("tracking") }
      const fill = (cache: CacheService, names: ReadonlyArray<string>) =>
        Effect.orDie(Effect.forEach(names, (key, i) => cache.set(key, makeValue(size, i)), { concurrency: 32, discard: true }))
      yield* fill(off, keys.off)
      yield* fill(tracking, keys.tracking)
      const hitCase = (id: string, label: string, cache: CacheService, names: ReadonlyArray<string>, baseline?: string) =>
        runCase(context, {
          id,
          label,
          size,
          latency: `batch-${BATCH}`,
          initialOps: 100_000,
          ...(baseline === undefined ? {} : { baseline }),
          round: hitLoop(cache, names)
        })
      // Off, tracking, off again: the second "off" row shows how far two runs of the same code differ.
      results.push(yield* hitCase("coherence.l1.off", "yield* cache.get(k), L1 hit, l1Invalidation off", off, keys.off))
      results.push(
        yield* hitCase(
          "coherence.l1.tracking",
          "yield* cache.get(k), L1 hit, l1Invalidation tracking",
          tracking,
          keys.tracking,
          "coherence.l1.off"
        )
      )
      results.push(
        yield* hitCase(
          "coherence.l1.off.again",
          "yield* cache.get(k), L1 hit, off again (noise)",
          off,
          keys.off,
          "coherence.l1.off"
        )
      )
    }
    return results
  })
