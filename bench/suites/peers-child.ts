/**
 * One library of the peers suite in a process of its own (spawned by peers.ts), so that no
 * library runs beside another's timers, connections or garbage. Every library goes through
 * the same loops here, behind the same Promise interface (bench/peers/adapters.ts).
 *
 *   node --expose-gc --import tsx bench/suites/peers-child.ts <library> <port> <sizes> <plan JSON>
 *
 * Prints each result as a line `result <CaseResult JSON>`.
 */
import { Effect } from "effect"
import { Redis } from "ioredis"
import { openPeer, type PeerCache, peerVersion } from "../peers/adapters.js"
import { type CaseSpec, measure, type Plan, promiseRound, type Round, type SizeName } from "../lib/harness.js"
import { libraryNames, peerCaseId, peerLibraries, type PeerLibrary, type PeerScenario, scenarioLabels } from "../lib/peers.js"
import { sampleServer } from "../lib/serverStats.js"
import { makeValue, sizes as allSizes } from "../lib/values.js"

const KEYS = 1000
const IN_FLIGHT = 100
const BATCH = 100

const [libraryArg = "", portArg = "", sizesArg = "", planArg = "{}"] = process.argv.slice(2)
const library = peerLibraries.find((name) => name === libraryArg)
const sizes = sizesArg.split(",").filter((size): size is SizeName => (allSizes as ReadonlyArray<string>).includes(size))
if (library === undefined || sizes.length === 0) {
  throw new Error(`usage: peers-child.ts <${peerLibraries.join("|")}> <port> <sizes> <plan JSON>`)
}
const port = Number(portArg)
const plan = JSON.parse(planArg) as Plan
const prefix = `bench:peers:${library}:`
const version = peerVersion(library)

/** `ops` sequential reads, timed per batch of 100 (a timer per read would cost as much as an L1 hit). */
const batchedReads = async (ops: number, read: (i: number) => Promise<unknown>): Promise<Round> => {
  const batches = Math.max(1, Math.ceil(ops / BATCH))
  const latenciesMs = new Float64Array(batches)
  let missed = 0
  let i = 0
  const started = performance.now()
  for (let b = 0; b < batches; b++) {
    const batchStarted = performance.now()
    for (let end = i + BATCH; i < end; i++) if ((await read(i)) === undefined) missed++
    latenciesMs[b] = (performance.now() - batchStarted) / BATCH
  }
  const elapsedMs = performance.now() - started
  if (missed > 0) throw new Error(`${library}: ${missed} L1 reads missed`)
  return { ops: batches * BATCH, elapsedMs, latenciesMs }
}

// Reads go on through the keys from one round to the next: a round that started again at key 0
// would read what the last one left in a 16-entry L1 whenever rounds are short (large values).
let cursor = 0
const hits = (cache: PeerCache, keys: ReadonlyArray<string>, inFlight: number) => (ops: number) => {
  const first = cursor
  cursor += ops
  return Effect.promise(() =>
    promiseRound(ops, inFlight, async (i) => {
      if ((await cache.get(keys[(first + i) % KEYS]!)) === undefined) throw new Error(`${library}: an L2 read missed`)
    })
  )
}

// Every miss-then-set key is new: each round takes the next `ops` numbers.
let serial = 0
const missThenSet = (cache: PeerCache, values: ReadonlyArray<object>, inFlight: number) => (ops: number) => {
  const first = serial
  serial += ops
  return Effect.promise(() =>
    promiseRound(ops, inFlight, async (i) => {
      const key = `mts:${first + i}`
      if ((await cache.get(key)) !== undefined) throw new Error(`${library}: a new key was found`)
      await cache.set(key, values[i % KEYS]!)
    })
  )
}

const report = (result: unknown) => process.stdout.write(`result ${JSON.stringify(result)}\n`)

const run = (lib: PeerLibrary, server: Redis, size: SizeName, scenario: PeerScenario, round: CaseSpec["round"]) =>
  Effect.tap(
    measure({
      id: peerCaseId(lib, scenario),
      label: `${libraryNames[lib]}${version === undefined ? "" : ` ${version}`}: ${scenarioLabels[scenario]}`,
      size,
      latency: scenario === "l1" ? `batch-${BATCH}` : "per-op",
      initialOps: scenario === "l1" ? 10_000 : 200,
      server: sampleServer(server),
      round
    }, plan),
    (result) => Effect.sync(() => report(result))
  )

const open = (l1Entries: number) => Effect.promise(() => openPeer(library, { port, l1Entries, prefix }))
const close = (cache: PeerCache) => Effect.promise(() => cache.close())
// 32 writes at a time, as the redis suite fills: 1000 writes of 50 KB at once (50 MB in one burst)
// can outlast a command timeout on a loaded machine, and then not every value reaches L1.
const fill = (cache: PeerCache, keys: ReadonlyArray<string>, values: ReadonlyArray<object>) =>
  Effect.promise(async () => {
    for (let start = 0; start < keys.length; start += 32) {
      await Promise.all(keys.slice(start, start + 32).map((key, i) => cache.set(key, values[start + i]!)))
    }
  })

const sizeCases = (server: Redis, size: SizeName) =>
  Effect.gen(function*() {
    const values = Array.from({ length: KEYS }, (_, i) => makeValue(size, i))
    const keys = values.map((_, i) => `${size}:${i}`)
    // L1 hits: an L1 that holds every key.
    const whole = yield* open(10_000)
    yield* fill(whole, keys, values)
    yield* run(library, server, size, "l1", (ops) => Effect.promise(() => batchedReads(ops, (i) => whole.get(keys[i % KEYS]!))))
    yield* close(whole)
    // L2 hits: an L1 of 16 entries, which reads cycling over 1000 keys always miss (and refill).
    const small = yield* open(16)
    for (const [scenario, inFlight] of [["l2.seq", 1], ["l2.100", IN_FLIGHT]] as const) {
      yield* run(library, server, size, scenario, hits(small, keys, inFlight))
    }
    yield* close(small)
    // Miss then set: an L1 of 1000 entries (this cache's and bentocache's default).
    const fresh = yield* open(1000)
    for (const [scenario, inFlight] of [["mts.seq", 1], ["mts.100", IN_FLIGHT]] as const) {
      yield* run(library, server, size, scenario, missThenSet(fresh, values, inFlight))
    }
    yield* close(fresh)
  })

const server = new Redis({ host: "127.0.0.1", port, lazyConnect: true })
await server.connect()
for (const size of sizes) {
  await Effect.runPromise(sizeCases(server, size))
  // The next size, and the next library, start from an empty server, as the redis suite's sizes do.
  await server.flushdb()
}
await server.quit()
// A library's background timers must not keep this process (and the benchmark) waiting.
process.exit(0)
