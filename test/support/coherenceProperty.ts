/**
 * The pieces the coherence properties share (test/coherence/property.test.ts without faults,
 * test/coherence/faults.property.test.ts with them): the keys, the commands and how a worker
 * runs them, and the invalidation round trip that ends a plan.
 */
import { Effect } from "effect"
import fc from "fast-check"
import { type CacheWorker, pollUntil, readKey as read } from "./workers.js"

/** The keys a plan touches (each run prefixes them with its round, so that runs do not share keys). */
export const KEYS = ["a", "b", "c", "d"] as const

/** The key the barrier writes through the reference. */
export const MARKER = "barrier"

/** One cache operation of a plan, on one of the three instances. */
export type Command =
  | { readonly op: "set" | "getOrSet"; readonly instance: number; readonly key: string; readonly value: number }
  | { readonly op: "delete" | "get" | "invalidatePattern"; readonly instance: number; readonly key: string }
  | { readonly op: "deleteMany" | "present"; readonly instance: number; readonly keys: ReadonlyArray<string> }
  | { readonly op: "clear"; readonly instance: number }

/** Which of the three instances. */
export const instance = fc.nat(2)
/** One of {@link KEYS}. */
export const key = fc.constantFrom(...KEYS)
/** One to three distinct keys (the batched operations). */
export const someKeys = fc.uniqueArray(key, { minLength: 1, maxLength: 3 })

const l1Hits = (worker: CacheWorker) =>
  Effect.map(worker.call("stats"), (stats) => (stats as { readonly l1Hits: number }).l1Hits)

/** Runs `c` on its instance, with the keys of `round`. */
export const runCommand = (workers: ReadonlyArray<CacheWorker>, round: number, c: Command) => {
  const worker = workers[c.instance]!
  switch (c.op) {
    case "deleteMany":
    case "present":
      return Effect.asVoid(worker.call(c.op, { keys: c.keys.map((key) => `${round}:${key}`) }))
    case "clear":
      return Effect.asVoid(worker.call(c.op, {}))
    case "invalidatePattern":
      return Effect.asVoid(worker.call(c.op, { pattern: `${round}:${c.key}*`, glob: true }))
    case "set":
    case "getOrSet":
      return Effect.asVoid(worker.call(c.op, { key: `${round}:${c.key}`, value: c.value }))
    default:
      return Effect.asVoid(worker.call(c.op, { key: `${round}:${c.key}` }))
  }
}

/**
 * One invalidation round trip on every instance. The reference writes the marker, each
 * instance reads it until it serves it from L1; then the reference overwrites it and each
 * instance reads until it sees the new value. An L1 copy is dropped only by the marker's
 * invalidation, which Redis sends on the instance's subscriber connection after those of
 * every write it processed before: everything before the barrier has been delivered.
 */
export const barrier = (reference: CacheWorker, workers: ReadonlyArray<CacheWorker>, round: number) =>
  Effect.gen(function*() {
    const held = { found: true, value: `held-${round}` }
    const next = { found: true, value: `next-${round}` }
    yield* reference.call("set", { key: MARKER, value: held.value })
    yield* Effect.forEach(workers, (worker) =>
      pollUntil(
        () => `instance ${worker.pid} did not serve the marker from L1`,
        Effect.gen(function*() {
          const before = yield* l1Hits(worker)
          const found = yield* read(worker, MARKER)
          return JSON.stringify(found) === JSON.stringify(held) && (yield* l1Hits(worker)) > before
        })
      ), { discard: true })
    yield* reference.call("set", { key: MARKER, value: next.value })
    yield* Effect.forEach(workers, (worker) =>
      pollUntil(
        () => `instance ${worker.pid} did not see the new marker`,
        Effect.map(read(worker, MARKER), (found) => JSON.stringify(found) === JSON.stringify(next))
      ), { discard: true })
  })
