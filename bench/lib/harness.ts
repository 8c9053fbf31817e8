/**
 * The measuring loop every case goes through: warm up until the JIT has settled and
 * the round size is known, then run several equal rounds and keep the median rate
 * and the pooled latency percentiles.
 */
import { Effect } from "effect"
import type { ServerSample } from "./serverStats.js"
import { median, pooledSorted, quantile } from "./stats.js"

/** One timed round of a case. */
export interface Round {
  /** Operations actually done (a batched loop rounds up to whole batches). */
  readonly ops: number
  readonly elapsedMs: number
  /**
   * Latency samples in milliseconds: one per operation, or, for loops too fast to time one
   * operation at a time, the mean operation time of each batch (see {@link CaseSpec.latency}).
   */
  readonly latenciesMs: Float64Array
}

/** How a case's latency samples were taken. */
export type LatencyKind = "per-op" | `batch-${number}`

/** A value size, named as in issue 7. */
export type SizeName = "100B" | "2KB" | "50KB"

/** One thing to measure. */
export interface CaseSpec {
  /** Stable identifier, e.g. `l1.cache.get`; the same id at several sizes is the same case. */
  readonly id: string
  /** What one operation is, for the table. */
  readonly label: string
  readonly size: SizeName
  readonly latency: LatencyKind
  /** Runs `ops` operations (at least) and times them. */
  readonly round: (ops: number) => Effect.Effect<Round>
  /** Operations in the first warm-up round; default 1000. */
  readonly initialOps?: number
  /**
   * Operations every timed round does at least, however slow they are; default none. A round of
   * 200 ms holds a few hundred 50 KB reads 100 in flight, a few turns of the 100: one collection
   * or a neighbour's burst then moves the whole round.
   */
  readonly minRoundOps?: number
  /** The id of the case (at the same size) this one is compared with in the table. */
  readonly baseline?: string
  /** Issue 7's target for this case: the least ratio to its baseline that meets it. */
  readonly target?: number
  /** Issue 20's latency targets: the most p50 and p99 may be, as multiples of the baseline's. */
  readonly latencyTarget?: LatencyTarget
  /** Samples the Redis server the case talks to, so the result shows its commands and CPU per operation. */
  readonly server?: Effect.Effect<ServerSample>
}

/** Latency bounds relative to a baseline: this case's p50 and p99 over the baseline's. */
export interface LatencyTarget {
  readonly p50: number
  readonly p99: number
}

/** How long to warm up and to measure, per case. */
export interface Plan {
  readonly warmupMs: number
  readonly rounds: number
  readonly roundMs: number
}

/** What a case measured. */
export interface CaseResult {
  readonly id: string
  readonly label: string
  readonly size: SizeName
  /** Median over the rounds. */
  readonly opsPerSec: number
  readonly roundOpsPerSec: ReadonlyArray<number>
  readonly p50Us: number
  readonly p99Us: number
  /** The 99.9th percentile (over batches for batched latency kinds); absent in results written before it. */
  readonly p999Us?: number
  readonly latency: LatencyKind
  readonly opsPerRound: number
  readonly rounds: number
  readonly baseline?: string
  /** What the ratio to `baseline` compares: ops/s (the default), or `"lag"`: this row's p99 over the baseline's (lower is better). */
  readonly ratioBy?: "lag"
  readonly target?: number
  readonly latencyTarget?: LatencyTarget
  /** Redis data commands per operation over the timed rounds (cases with a `server`). */
  readonly redisCommandsPerOp?: number
  /** Redis CPU time per operation over the timed rounds, microseconds (cases with a `server`). */
  readonly redisCpuUsPerOp?: number
  /** The baseline measured again round for round beside this case (see {@link Paired}); absent before 2026-12-08. */
  readonly paired?: PairedRatios
}

/**
 * A baseline's round, run again beside each timed round of a case that compares itself
 * with it. Measured minutes apart, a case and its baseline see different machines (a shared
 * VM's speed drifts by half over a run); interleaved, each pair of rounds sees the same one.
 */
export interface Paired {
  readonly round: (ops: number) => Effect.Effect<Round>
  readonly opsPerRound: number
}

/** The ratios to a baseline measured beside the case: what the report's ratios are, when present. */
export interface PairedRatios {
  /** The median over the pairs of rounds of this case's ops/s over the baseline's. */
  readonly ratio: number
  /** This case's p50 and p99 over the baseline's, each pooled over the interleaved rounds. */
  readonly p50Ratio: number
  readonly p99Ratio: number
  /** The baseline's median ops/s in those rounds. */
  readonly baselineOpsPerSec: number
}

type GlobalWithGc = typeof globalThis & { readonly gc?: () => void }

/** A full collection, when the process runs with `--expose-gc`; whether it could. */
export const collectGarbage = (): boolean => {
  const gc = (globalThis as GlobalWithGc).gc
  if (gc === undefined) return false
  gc()
  gc()
  return true
}

/**
 * Keeps a benchmark's results observable, so that the compiler cannot prove the measured
 * work useless and remove it.
 */
export const sink = (value: unknown): void => {
  if (value === sinkSentinel) throw new Error("unreachable")
}
const sinkSentinel = Symbol("sink")

/**
 * Warms a case up, then measures `plan.rounds` rounds of about `plan.roundMs` each; with
 * `paired`, a round of its baseline beside each of them (before it in even rounds, after it
 * in odd ones, so that neither always pays for the other's garbage).
 */
export const measure = (spec: CaseSpec, plan: Plan, paired?: Paired): Effect.Effect<CaseResult> =>
  Effect.gen(function*() {
    collectGarbage()
    // Warm-up: grow the round until it takes a fair share of a timed round, for at least warmupMs
    // and two rounds. The rate that sizes the timed rounds is never the first round's, which pays
    // for compiling the loop and for whatever the case touches first (an L1 that has to be read
    // back from Redis): a slow first round of 300 ms would end the warm-up alone and leave timed
    // rounds of a few ms.
    let ops = spec.initialOps ?? 1000
    let spent = 0
    let rate = 0
    for (let warmups = 1;; warmups++) {
      const round = yield* spec.round(ops)
      spent += round.elapsedMs
      rate = round.ops / Math.max(round.elapsedMs, 1e-3)
      if (warmups >= 2 && spent >= plan.warmupMs && round.elapsedMs >= plan.roundMs / 4) break
      if (round.elapsedMs < plan.roundMs / 2) ops *= 2
    }
    const opsPerRound = Math.max(1, spec.minRoundOps ?? 1, Math.round(rate * plan.roundMs))
    const own = yield* timedRounds(spec, opsPerRound, plan.rounds, paired)
    const { rates, samples, timedOps } = own
    const server = spec.server === undefined ? {} : {
      redisCommandsPerOp: own.commands / timedOps,
      redisCpuUsPerOp: own.cpuSeconds * 1e6 / timedOps
    }
    const latencies = pooledSorted(samples)
    return {
      id: spec.id,
      label: spec.label,
      size: spec.size,
      opsPerSec: median(rates),
      roundOpsPerSec: rates,
      p50Us: quantile(latencies, 0.5) * 1000,
      p99Us: quantile(latencies, 0.99) * 1000,
      p999Us: quantile(latencies, 0.999) * 1000,
      latency: spec.latency,
      opsPerRound,
      rounds: plan.rounds,
      ...(spec.baseline === undefined ? {} : { baseline: spec.baseline }),
      ...(spec.target === undefined ? {} : { target: spec.target }),
      ...(spec.latencyTarget === undefined ? {} : { latencyTarget: spec.latencyTarget }),
      ...server,
      ...(own.baseline === undefined ? {} : { paired: pairedRatios(rates, latencies, own.baseline) })
    }
  })

/** What the timed rounds of a case measured, and its baseline's rounds beside them. */
interface TimedRounds {
  readonly rates: Array<number>
  readonly samples: Array<Float64Array>
  readonly timedOps: number
  /** Redis commands and CPU seconds over this case's rounds only (cases with a `server`). */
  readonly commands: number
  readonly cpuSeconds: number
  readonly baseline?: { readonly rates: Array<number>; readonly samples: Array<Float64Array> }
}

const timedRounds = (spec: CaseSpec, opsPerRound: number, rounds: number, paired?: Paired): Effect.Effect<TimedRounds> =>
  Effect.gen(function*() {
    const rates: Array<number> = []
    const samples: Array<Float64Array> = []
    const baseline = { rates: [] as Array<number>, samples: [] as Array<Float64Array> }
    let timedOps = 0
    let commands = 0
    let cpuSeconds = 0
    const baselineRound = Effect.gen(function*() {
      if (paired === undefined) return
      const round = yield* paired.round(paired.opsPerRound)
      baseline.rates.push(round.ops / (round.elapsedMs / 1000))
      baseline.samples.push(round.latenciesMs)
    })
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) yield* baselineRound
      // The server is sampled around this case's rounds only, so that a paired baseline's commands are not counted.
      const before = spec.server === undefined ? undefined : yield* spec.server
      const round = yield* spec.round(opsPerRound)
      const after = spec.server === undefined ? undefined : yield* spec.server
      if (before !== undefined && after !== undefined) {
        commands += after.commands - before.commands
        cpuSeconds += after.cpuSeconds - before.cpuSeconds
      }
      rates.push(round.ops / (round.elapsedMs / 1000))
      samples.push(round.latenciesMs)
      timedOps += round.ops
      if (i % 2 === 1) yield* baselineRound
    }
    return { rates, samples, timedOps, commands, cpuSeconds, ...(paired === undefined ? {} : { baseline }) }
  })

const pairedRatios = (
  rates: ReadonlyArray<number>,
  latencies: Float64Array,
  baseline: { readonly rates: ReadonlyArray<number>; readonly samples: ReadonlyArray<Float64Array> }
): PairedRatios => {
  const baselineLatencies = pooledSorted([...baseline.samples])
  return {
    ratio: median(rates.map((rate, i) => rate / baseline.rates[i]!)),
    p50Ratio: quantile(latencies, 0.5) / quantile(baselineLatencies, 0.5),
    p99Ratio: quantile(latencies, 0.99) / quantile(baselineLatencies, 0.99),
    baselineOpsPerSec: median(baseline.rates)
  }
}

/**
 * A round of a synchronous loop: `batches` batches of `batch` operations, each batch
 * timed as a whole (one `performance.now()` per operation would cost as much as the
 * operation). `body(i)` does operation number `i`.
 */
export const syncBatches = (ops: number, batch: number, body: (i: number) => void): Round => {
  const batches = Math.max(1, Math.ceil(ops / batch))
  const latenciesMs = new Float64Array(batches)
  const started = performance.now()
  let i = 0
  for (let b = 0; b < batches; b++) {
    const batchStarted = performance.now()
    for (let end = i + batch; i < end; i++) body(i)
    latenciesMs[b] = (performance.now() - batchStarted) / batch
  }
  return { ops: batches * batch, elapsedMs: performance.now() - started, latenciesMs }
}

/**
 * A round of an asynchronous operation, `inFlight` at a time (1: sequential), each
 * operation timed from its start to its completion.
 */
export const promiseRound = async (ops: number, inFlight: number, op: (i: number) => Promise<void>): Promise<Round> => {
  const latenciesMs = new Float64Array(ops)
  let next = 0
  const worker = async () => {
    for (;;) {
      const i = next++
      if (i >= ops) return
      const opStarted = performance.now()
      await op(i)
      latenciesMs[i] = performance.now() - opStarted
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: Math.min(inFlight, ops) }, worker))
  return { ops, elapsedMs: performance.now() - started, latenciesMs }
}

/**
 * The same for an Effect operation: `inFlight` fibers share the operations, each timed
 * from its start to its completion.
 */
export const effectRound = <E>(
  ops: number,
  inFlight: number,
  op: (i: number) => Effect.Effect<unknown, E>
): Effect.Effect<Round> =>
  Effect.suspend(() => {
    const latenciesMs = new Float64Array(ops)
    let next = 0
    const worker = Effect.gen(function*() {
      for (;;) {
        const i = next++
        if (i >= ops) return
        const opStarted = performance.now()
        yield* op(i)
        latenciesMs[i] = performance.now() - opStarted
      }
    })
    const started = performance.now()
    const run = inFlight === 1
      ? worker
      : Effect.all(Array.from({ length: Math.min(inFlight, ops) }, () => worker), {
        concurrency: "unbounded",
        discard: true
      })
    return Effect.map(Effect.orDie(run), () => ({ ops, elapsedMs: performance.now() - started, latenciesMs }))
  })
