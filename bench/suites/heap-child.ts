/**
 * One heap measurement in a fresh process (spawned by heap.ts), so that nothing another
 * measurement left behind is freed, or kept alive, in the middle of this one.
 *
 *   node --expose-gc --import tsx bench/suites/heap-child.ts <values|lru|cache> <size> <entries>
 *
 * Prints the heap bytes the filled structure retains, as JSON.
 */
import { Context, Effect, Exit, Layer, References, Scope } from "effect"
import { LRUCache } from "lru-cache"
import { Cache } from "../lib/library.js"
import { collectGarbage, type SizeName } from "../lib/harness.js"
import { makeValue, sizes } from "../lib/values.js"

/**
 * A value as a cache holds it after reading it back from Redis: parsed from JSON, so its
 * strings are flat (a template literal's result is a rope that the first JSON.stringify
 * would flatten, changing its size in the middle of a measurement).
 */
const freshValue = (size: SizeName, seed: number): object => JSON.parse(JSON.stringify(makeValue(size, seed))) as object

const heapUsed = (): number => {
  collectGarbage()
  return process.memoryUsage().heapUsed
}

const fillers: Record<"values" | "lru" | "cache", (size: SizeName, entries: number) => Effect.Effect<unknown>> = {
  values: (size: SizeName, entries: number) =>
    Effect.sync(() => {
      const keys: Array<string> = []
      const values: Array<object> = []
      for (let i = 0; i < entries; i++) {
        keys.push(`heap:${i}`)
        values.push(freshValue(size, i))
      }
      return [keys, values]
    }),
  lru: (size: SizeName, entries: number) =>
    Effect.sync(() => {
      const lru = new LRUCache<string, object>({ max: entries })
      for (let i = 0; i < entries; i++) lru.set(`heap:${i}`, freshValue(size, i))
      if (lru.size !== entries) throw new Error(`lru-cache holds ${lru.size} of ${entries}`)
      return lru
    }),
  // The L1 tier is the same in layerMemory and layerRedis; the memory layer fills it without a server.
  cache: (size: SizeName, entries: number) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const services = yield* Effect.orDie(
        Layer.buildWithScope(Cache.layerMemory({ maxEntries: entries, maxBytes: 2 ** 45 }), scope)
      )
      const cache = Context.get(services, Cache)
      for (let i = 0; i < entries; i++) yield* Effect.orDie(cache.set(`heap:${i}`, freshValue(size, i)))
      const held = (yield* cache.stats).l1.entries
      if (held !== entries) return yield* Effect.die(new Error(`L1 holds ${held} of ${entries}`))
      return { cache, close: Scope.close(scope, Exit.void) }
    }).pipe(Effect.provideService(References.MinimumLogLevel, "None")) // its memory warnings are expected here
}

const [kind, size, entriesText] = process.argv.slice(2)
if (!(kind === "values" || kind === "lru" || kind === "cache") || !sizes.includes(size as SizeName)) {
  throw new Error(`usage: heap-child.ts <values|lru|cache> <${sizes.join("|")}> <entries>`)
}
if (!collectGarbage()) throw new Error("heap-child.ts needs --expose-gc")
const entries = Number(entriesText)
// Warm the code paths on a few entries first, so that compiled code is not counted.
await Effect.runPromise(fillers[kind](size as SizeName, 100))
const before = heapUsed()
const held = await Effect.runPromise(fillers[kind](size as SizeName, entries))
const bytes = heapUsed() - before
process.stdout.write(`${JSON.stringify({ kind, size, entries, bytes, held: held !== undefined })}\n`)
// The cache's sweep fiber would keep the process alive; nothing here needs an orderly shutdown.
process.exit(0)
