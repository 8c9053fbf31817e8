/**
 * The reading instance of the invalidation-lag row (spawned by coherence.ts): another
 * process with its own cache instance, as a second application server would be.
 *
 *   node --import tsx bench/suites/coherence-child.ts <redisUrl | JSON cache options> <key>
 *
 * (JSON cache options, e.g. `{"cluster":{"nodes":[...]}}` or `{"redisUrl":"...","l1Invalidation":"bus"}`,
 * for a topology or a mechanism other than tracking on one server.)
 * Prints `ready` once its invalidation link is up. Then, for each value the writer
 * stores under `key` (`{ i }`), it reads the key again each time its L1 is invalidated
 * (the `L1Invalidated` event; a busy read loop would take a whole core of a 2-vCPU machine
 * from the writer and redis-server, and measure the scheduler instead) and prints
 * `seen <i> <ms>` the moment it reads the new value (`ms`: wall clock, `performance.timeOrigin + now()`, the
 * clock the writer reads too). It then reads until it serves `i` from L1 and prints
 * `armed <i>`: the next write can only reach it through an invalidation.
 */
import { Effect, Layer, ManagedRuntime, Option, References, Stream } from "effect"
import type { RedisCacheOptions } from "../../src/index.js"
import { Cache } from "../lib/library.js"

const [where = "", key = ""] = process.argv.slice(2)
const connection: RedisCacheOptions = where.startsWith("{") ? JSON.parse(where) as RedisCacheOptions : { redisUrl: where }
// The benchmark holds our stdin: when it ends, so do we (this loop would otherwise run on).
process.stdin.on("close", () => process.exit(0)).resume()
const runtime = ManagedRuntime.make(
  Cache.layerRedis({ ...connection, keyPrefix: "bench:", cacheName: "bench-lag-reader", failOnConnectionError: true }).pipe(
    Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error"))
  )
)
const cache = await runtime.runPromise(Cache)
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

// Resolved by the next invalidation (or flush) of this cache's L1; `missed` keeps one that came
// while nobody waited, so no wake-up is lost. A bounded timeout guards against a lost event.
let wake: (() => void) | undefined
let missed = false
runtime.runFork(Stream.runForEach(cache.events, (event) =>
  Effect.sync(() => {
    if (event._tag !== "L1Invalidated" && event._tag !== "L1Flushed") return
    if (wake === undefined) missed = true
    else {
      wake()
      wake = undefined
    }
  })))
const invalidated = () => {
  if (missed) {
    missed = false
    return Promise.resolve()
  }
  return new Promise<void>((resolve) => {
    wake = resolve
    setTimeout(resolve, 100)
  })
}
const now = () => performance.timeOrigin + performance.now()

const current = async (): Promise<number> => {
  const found = await runtime.runPromise(cache.get(key))
  return Option.isSome(found) ? (found.value as { readonly i: number }).i : -1
}

const l1Hits = () => runtime.runPromise(Effect.map(cache.stats, (stats) => stats.l1Hits))

for (;;) {
  const status = await runtime.runPromise(cache.status)
  if (status.mode === "Connected" && status.invalidation.linked) break
  await new Promise((resolve) => setTimeout(resolve, 10))
}
process.stdout.write("ready\n")

let last = -1
for (;;) {
  const i = await current()
  if (i === last) {
    await invalidated()
    continue
  }
  const seenAt = now()
  last = i
  process.stdout.write(`seen ${i} ${seenAt}\n`)
  // Arm: read until the value is served from L1 (a refill may be refused once, by the guard).
  for (;;) {
    const before = await l1Hits()
    const again = await current()
    if (again !== last) break
    if ((await l1Hits()) > before) {
      process.stdout.write(`armed ${i}\n`)
      break
    }
    await turn()
  }
}
