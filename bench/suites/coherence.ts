/**
 * What L1 coherence costs and how fast it is: the invalidation lag between two cache
 * instances in separate processes, and L1 hits with `l1Invalidation: "tracking"` beside
 * the same hits with `"off"` (the hit path must not pay for coherence).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { Effect, Option, type Scope } from "effect"
import type { CacheService } from "../../src/index.js"
import { onEveryCpu } from "../lib/environment.js"
import type { CaseResult, Round } from "../lib/harness.js"
import { expect, redisCache, runCase, type SuiteContext } from "../lib/suite.js"
import { quantile } from "../lib/stats.js"
import { makeValue } from "../lib/values.js"
import { startRedisCluster } from "../../test/support/Cluster.js"

const child = fileURLToPath(new URL("./coherence-child.ts", import.meta.url))
const LAG_KEY = "lag:k"
const LAG_WRITES = { full: 500, quick: 100 }
const LAG_WARMUP = 20
const KEYS = 1024
const MASK = KEYS - 1
const BATCH = 1000

/** The reader process, and a way to wait for its next line. */
const startReader = (where: string): Effect.Effect<{ readonly next: () => Promise<string> }, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      // The same Node and loader as this process (tsx's --import), free of this process's CPU pin:
      // pinned to the writer's core, the reader's V8 threads queued behind the writer's and made
      // most of the lag's p99 (docs/coherence.md).
      const [command, args] = onEveryCpu(process.execPath, [...process.execArgv, child, where, LAG_KEY])
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
      return { reader, next }
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

/**
 * Invalidation lag: this process (A) sets the key and notes when Redis acknowledged it;
 * the reader (B, holding the old value in L1) notes when it first reads the new value.
 * One write at a time; the lag is B's time minus A's, on the machine's wall clock.
 */
const lagCase = (
  context: SuiteContext,
  writer: CacheService,
  row: { readonly id: string; readonly label: string; readonly reader: string } = {
    id: "coherence.lag",
    label: "invalidation lag: A's set acknowledged -> B (other process, L1 copy) reads it; target p99 <= 5 ms",
    reader: context.redisUrl
  }
): Effect.Effect<CaseResult, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { next } = yield* startReader(row.reader)
    yield* awaitLine(next, "ready")
    const writes = context.quick ? LAG_WRITES.quick : LAG_WRITES.full
    const lags: Array<number> = []
    const started = performance.now()
    for (let i = 0; i < LAG_WARMUP + writes; i++) {
      yield* Effect.orDie(writer.set(LAG_KEY, { i }))
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
    const results: Array<CaseResult> = []
    const writer = yield* redisCache(context, { cacheName: "bench-lag-writer" })
    // Scoped: the reader's polling loop must not run beside the rows below.
    const lag = yield* Effect.scoped(lagCase(context, writer))
    context.onResult(lag)
    results.push(lag)
    // The same on a 3-master Redis Cluster, where coherence is the bus (docs/coherence.md).
    const clusterLag = yield* Effect.scoped(Effect.gen(function*() {
      const cluster = yield* startRedisCluster()
      const clusterWriter = yield* redisCache(context, { cluster: { nodes: cluster.urls }, cacheName: "bench-lag-writer" })
      return yield* lagCase(context, clusterWriter, {
        id: "coherence.lag.cluster",
        label: "invalidation lag on a 3-master cluster (the bus): A's set acknowledged -> B reads it",
        reader: JSON.stringify({ cluster: { nodes: cluster.urls } })
      })
    }))
    context.onResult(clusterLag)
    results.push(clusterLag)

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
