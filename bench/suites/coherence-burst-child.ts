/**
 * The reading instance of the invalidation-burst rows (spawned by coherence.ts): a cache that
 * holds `count` keys in L1 while another client rewrites all of them, and what that does to
 * its event loop.
 *
 *   node --import tsx bench/suites/coherence-burst-child.ts <JSON cache options> <count>
 *
 * It stores `k:<i>` (under the `keyPrefix` of its options) for i < count itself (so that they are in its L1), prints `ready`,
 * and on the line `go` from the benchmark starts `monitorEventLoopDelay` and prints `armed`.
 * The benchmark then rewrites every key. Once its link has reported all of them (its
 * `invalidationsReceived` grew by `count`) or 60 s passed, it prints one JSON line, and
 * stores the keys again for the next burst (`ready`, `go`, ...) until its stdin closes. The
 * first burst runs the code of the link's eviction and of ioredis' subscriber decoding for
 * the first time (compiled lazily, interpreted before it is optimized); later ones are what
 * a process that has seen invalidations before meets. The JSON line: when
 * (wall clock, `performance.timeOrigin + now()`), how many were reported, the L1 entries left,
 * the flushes, the event-loop delay's max, p99 and p50 in milliseconds over the burst, and the
 * most CPU time spent between two ticks of a 1 ms timer (the longest block, without the waits
 * for a CPU that a loaded machine adds to the delay): by the main thread, which runs the event
 * loop (Linux: /proc/self/task/<pid>/schedstat), and by the whole process (V8's GC threads too).
 *
 * Before `armed` it collects its garbage (it needs --expose-gc): filling L1 leaves about 150 MB
 * of it in the old generation, and the burst's allocations then start a mark-compact whose
 * final pause (23-26 ms at load 5-8) collects the fill, not the burst (docs/benchmarks.md).
 */
import { closeSync, openSync, readSync } from "node:fs"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { createInterface } from "node:readline"
import { Layer, ManagedRuntime, References } from "effect"
import type { RedisCacheOptions } from "../../src/index.js"
import { collectGarbage } from "../lib/harness.js"
import { Cache } from "../lib/library.js"

const [options = "{}", countText = "0"] = process.argv.slice(2)
const count = Number(countText)
const FILL_CHUNK = 1000
const POLL_MS = 5
const GIVE_UP_MS = 60_000

const runtime = ManagedRuntime.make(
  Cache.layerRedis({
    ...(JSON.parse(options) as RedisCacheOptions),
    cacheName: "bench-burst-reader",
    l1MaxEntries: 2 * count,
    l1MaxBytes: 1024 * 1024 * 1024,
    failOnConnectionError: true
  }).pipe(Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error")))
)
const cache = await runtime.runPromise(Cache)
const status = () => runtime.runPromise(cache.status)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const now = () => performance.timeOrigin + performance.now()

for (;;) {
  const { invalidation, mode } = await status()
  if (mode === "Connected" && invalidation.linked) break
  await sleep(10)
}
const fill = async () => {
  for (let start = 0; start < count; start += FILL_CHUNK) {
    const entries = Array.from({ length: Math.min(FILL_CHUNK, count - start) }, (_, i) => ({ key: `k:${start + i}`, value: { i: start + i } }))
    await runtime.runPromise(cache.setMany(entries))
  }
  // A read refills what setMany left out of L1: past as many touched keys as L1 holds the refill
  // guard turns into one stamp for the whole cache, which keeps the sets in flight out of L1.
  for (let start = 0; start < count; start += FILL_CHUNK) {
    await runtime.runPromise(cache.getMany(Array.from({ length: Math.min(FILL_CHUNK, count - start) }, (_, i) => `k:${start + i}`)))
  }
  const filled = await status()
  if (filled.l1.entries !== count) throw new Error(`burst reader: ${filled.l1.entries} L1 entries, expected ${count}`)
  return filled
}

const lines = createInterface({ input: process.stdin })
const waiting: Array<() => void> = []
lines.on("line", () => waiting.shift()?.())
lines.once("close", async () => {
  await runtime.dispose()
  process.exit(0)
})
const nextLine = () => new Promise<void>((resolve) => waiting.push(resolve))

// One burst: armed on `go`, over once the link has reported every key.
const burst = async (filled: Awaited<ReturnType<typeof fill>>) => {
  if (!collectGarbage()) throw new Error("coherence-burst-child.ts needs --expose-gc")
  const delay = monitorEventLoopDelay({ resolution: 1 })
  const before = filled.invalidation
  // The CPU time spent between two ticks of a 1 ms timer: on a loaded machine the wall-clock
  // delay also counts the time the process waited for a CPU, this does not. The process's time
  // counts V8's background threads, which run beside the loop; the main thread's is the block.
  const schedstat = (() => {
    try {
      return openSync(`/proc/self/task/${process.pid}/schedstat`, "r")
    } catch {
      return undefined
    }
  })()
  const schedBuffer = Buffer.alloc(128)
  // Nanoseconds on a CPU, the first field.
  const mainThreadMs = (fd: number) => Number.parseInt(schedBuffer.toString("latin1", 0, readSync(fd, schedBuffer, 0, 128, 0)), 10) / 1e6
  const processMs = () => {
    const { system, user } = process.cpuUsage()
    return (user + system) / 1000
  }
  let maxCpuMs = 0
  let maxMainCpuMs: number | undefined
  let cpuBefore = processMs()
  let mainBefore = schedstat === undefined ? 0 : mainThreadMs(schedstat)
  const ticks = setInterval(() => {
    const cpu = processMs()
    maxCpuMs = Math.max(maxCpuMs, cpu - cpuBefore)
    cpuBefore = cpu
    if (schedstat === undefined) return
    const main = mainThreadMs(schedstat)
    maxMainCpuMs = Math.max(maxMainCpuMs ?? 0, main - mainBefore)
    mainBefore = main
  }, 1)
  delay.enable()
  process.stdout.write("armed\n")
  const started = Date.now()
  let current = await status()
  while (current.invalidation.invalidationsReceived - before.invalidationsReceived < count && Date.now() - started < GIVE_UP_MS) {
    await sleep(POLL_MS)
    current = await status()
  }
  const at = now()
  delay.disable()
  clearInterval(ticks)
  if (schedstat !== undefined) closeSync(schedstat)
  const ms = (ns: number) => ns / 1e6
  process.stdout.write(`${
    JSON.stringify({
      at,
      reported: current.invalidation.invalidationsReceived - before.invalidationsReceived,
      l1Left: current.l1.entries,
      flushes: current.invalidation.flushes - before.flushes,
      maxMs: ms(delay.max),
      maxCpuMs,
      maxMainCpuMs,
      p99Ms: ms(delay.percentile(99)),
      p50Ms: ms(delay.percentile(50))
    })
  }\n`)
}

for (;;) {
  const filled = await fill()
  process.stdout.write("ready\n")
  await nextLine()
  await burst(filled)
}
