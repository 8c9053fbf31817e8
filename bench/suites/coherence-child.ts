/**
 * The reading instance of the invalidation-lag row (spawned by coherence.ts): another
 * process with its own cache instance, as a second application server would be.
 *
 *   node --import tsx bench/suites/coherence-child.ts <redisUrl> <key>
 *
 * Prints `ready` once its invalidation link is up. Then, for each value the writer
 * stores under `key` (`{ i }`), it reads the key in a loop (one read per event-loop turn,
 * so that the invalidation socket is served between reads) and prints `seen <i> <ms>` the
 * moment it reads the new value (`ms`: wall clock, `performance.timeOrigin + now()`, the
 * clock the writer reads too). It then reads until it serves `i` from L1 and prints
 * `armed <i>`: the next write can only reach it through an invalidation.
 */
import { Effect, Layer, ManagedRuntime, Option, References } from "effect"
import { Cache } from "../lib/library.js"

const [redisUrl = "", key = ""] = process.argv.slice(2)
// The benchmark holds our stdin: when it ends, so do we (this loop would otherwise run on).
process.stdin.on("close", () => process.exit(0)).resume()
const runtime = ManagedRuntime.make(
  Cache.layerRedis({ redisUrl, keyPrefix: "bench:", cacheName: "bench-lag-reader", failOnConnectionError: true }).pipe(
    Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error"))
  )
)
const cache = await runtime.runPromise(Cache)
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))
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
    await turn()
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
