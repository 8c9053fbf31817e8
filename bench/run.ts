/**
 * `npm run bench`: measures the cache's hot paths beside the things that bound them,
 * in one run on one machine, and prints each figure as a ratio to its baseline.
 *
 *   npm run bench                      full run (about 2.5 minutes)
 *   npm run bench -- --quick           a short smoke run (rough numbers)
 *   npm run bench -- --only l1,redis   some suites: l1, redis, cluster, heap, coherence, codec, tags, lock, peers
 *   npm run bench -- --sizes 2KB       some value sizes: 100B, 2KB, 50KB
 *   npm run bench -- --no-write        do not write bench/results/*.json
 *
 * It starts its own redis-server on a free loopback port (never 6379), and the cluster
 * suite its own 3-master Redis Cluster, and stops them at the end. See docs/benchmarks.md for what each row means.
 */
import { Effect, References } from "effect"
import { startRedisServer } from "../test/support/RedisServer.js"
import { describeEnvironment, pinCpus } from "./lib/environment.js"
import { type CaseResult, collectGarbage, type Plan, type SizeName } from "./lib/harness.js"
import { formatCommands, formatMicros, formatRate, buildReport, renderReport, writeReport } from "./lib/report.js"
import type { SuiteContext } from "./lib/suite.js"
import { clusterSuite } from "./suites/cluster.js"
import { codecSuite } from "./suites/codec.js"
import { coherenceSuite } from "./suites/coherence.js"
import { type HeapResult, heapSuite } from "./suites/heap.js"
import { l1Suite } from "./suites/l1.js"
import { type LockResult, lockSuite } from "./suites/lock.js"
import { peersSuite } from "./suites/peers.js"
import { redisSuite } from "./suites/redis.js"
import { tagsSuite } from "./suites/tags.js"
import { jsonBytes, sizes as allSizes } from "./lib/values.js"

const suiteNames = ["l1", "redis", "cluster", "heap", "coherence", "codec", "tags", "lock", "peers"] as const
type SuiteName = (typeof suiteNames)[number]

interface Arguments {
  readonly quick: boolean
  readonly write: boolean
  readonly suites: ReadonlyArray<SuiteName>
  readonly sizes: ReadonlyArray<SizeName>
}

const listOption = <A extends string>(argv: ReadonlyArray<string>, flag: string, allowed: ReadonlyArray<A>): ReadonlyArray<A> => {
  const index = argv.indexOf(flag)
  if (index < 0) return allowed
  const picked = (argv[index + 1] ?? "").split(",").filter((item) => item !== "")
  const unknown = picked.filter((item) => !(allowed as ReadonlyArray<string>).includes(item))
  if (picked.length === 0 || unknown.length > 0) {
    throw new Error(`${flag} takes a comma-separated list of ${allowed.join(", ")}; got "${argv[index + 1] ?? ""}"`)
  }
  return allowed.filter((item) => picked.includes(item))
}

const parseArguments = (argv: ReadonlyArray<string>): Arguments => {
  const known = new Set(["--quick", "--no-write", "--only", "--sizes"])
  const stray = argv.filter((arg, i) => arg.startsWith("--") && !known.has(arg) && !["--only", "--sizes"].includes(argv[i - 1] ?? ""))
  if (stray.length > 0) throw new Error(`unknown option ${stray.join(" ")}`)
  return {
    quick: argv.includes("--quick"),
    write: !argv.includes("--no-write"),
    suites: listOption(argv, "--only", suiteNames),
    sizes: listOption(argv, "--sizes", allSizes)
  }
}

const plans: Record<"full" | "quick", Plan> = {
  full: { warmupMs: 300, rounds: 5, roundMs: 200 },
  quick: { warmupMs: 200, rounds: 3, roundMs: 60 }
}

const progress = (result: CaseResult) =>
  process.stderr.write(
    `  ${result.id.padEnd(28)} ${result.size.padEnd(5)} ${formatRate(result.opsPerSec).padStart(7)} ops/s  p50 ${
      formatMicros(result.p50Us).padStart(9)
    }  p99 ${formatMicros(result.p99Us).padStart(9)}${
      result.p999Us === undefined ? "" : `  p99.9 ${formatMicros(result.p999Us).padStart(9)}`
    }${
      result.redisCommandsPerOp === undefined || result.redisCpuUsPerOp === undefined
        ? ""
        : `  Redis ${formatCommands(result.redisCommandsPerOp)} cmds/op ${formatMicros(result.redisCpuUsPerOp)} CPU/op`
    }\n`
  )

const redisPidOf = (info: string): number | undefined => {
  const match = /process_id:(\d+)/.exec(info)
  return match === null ? undefined : Number(match[1])
}

const main = (args: Arguments) =>
  Effect.gen(function*() {
    const startedAt = new Date()
    const server = yield* startRedisServer()
    const pinning = pinCpus(redisPidOf(yield* server.cli("INFO", "server")))
    const environment = describeEnvironment(server.version, pinning)
    const plan = args.quick ? plans.quick : plans.full
    process.stderr.write(
      `Node ${environment.node}, ${environment.cpu} x${environment.cpus}, Redis ${environment.redis} on ${server.url}; ${pinning}\n` +
        `Value sizes (JSON bytes): ${args.sizes.map((size) => `${size} = ${jsonBytes(size)}`).join(", ")}\n`
    )
    if (args.suites.includes("heap") && !collectGarbage()) {
      process.stderr.write("No global.gc (run with --expose-gc, as `npm run bench` does): heap is not measured.\n")
    }

    const context: SuiteContext = {
      redisUrl: server.url,
      port: server.port,
      plan,
      sizes: args.sizes,
      quick: args.quick,
      onResult: progress,
      measured: new Map()
    }
    const results: Array<CaseResult> = []
    if (args.suites.includes("l1")) {
      process.stderr.write("L1 hits and in-process baselines\n")
      results.push(...yield* Effect.scoped(l1Suite(context)))
    }
    if (args.suites.includes("redis")) {
      process.stderr.write("L2 hits and miss-then-set against Redis\n")
      results.push(...yield* Effect.scoped(redisSuite(context)))
    }
    if (args.suites.includes("cluster")) {
      process.stderr.write("L2 hits and miss-then-set on a 3-master Redis Cluster, against raw ioredis Cluster\n")
      results.push(...yield* Effect.scoped(clusterSuite(context)))
    }
    if (args.suites.includes("coherence")) {
      process.stderr.write("L1 coherence: invalidation lag across processes, L1 hits with tracking vs off\n")
      results.push(...yield* Effect.scoped(coherenceSuite(context)))
    }
    if (args.suites.includes("codec")) {
      process.stderr.write("Compression by itself: the codec with zlib and zstd\n")
      results.push(...yield* codecSuite(context))
    }
    if (args.suites.includes("tags")) {
      process.stderr.write("Tags: read cost with 0, 1 and 5 tags per entry\n")
      results.push(...yield* Effect.scoped(tagsSuite(context)))
    }
    let lock: ReadonlyArray<LockResult> | undefined
    if (args.suites.includes("lock")) {
      process.stderr.write("One lookup across instances: 3 processes x 1,000 callers on one cold key, distributedLock on and off\n")
      lock = yield* Effect.scoped(lockSuite(context))
    }
    if (args.suites.includes("peers")) {
      process.stderr.write("Peers: this cache, bentocache and cacheable, each in its own process, on the same values\n")
      results.push(...yield* peersSuite(context))
    }
    let heap: ReadonlyArray<HeapResult> | undefined
    if (args.suites.includes("heap")) {
      process.stderr.write("Heap per L1 entry\n")
      heap = yield* heapSuite(context)
    }

    const report = buildReport({
      date: startedAt.toISOString(),
      quick: args.quick,
      environment,
      plan,
      results,
      heap,
      lock
    })
    process.stdout.write(`${renderReport(report)}\n`)
    const elapsed = ((Date.now() - startedAt.getTime()) / 1000).toFixed(0)
    if (args.write) process.stderr.write(`Wrote ${writeReport(report, "bench/results")} (${elapsed} s)\n`)
    else process.stderr.write(`Done in ${elapsed} s\n`)
  }).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error"))

Effect.runPromise(main(parseArguments(process.argv.slice(2)))).catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exitCode = 1
})
