/**
 * The setup the L2 suites share (`redis`, one server; `cluster`, a Redis Cluster): the raw
 * ioredis clients they compare with, the compression settings of their caches, fresh key
 * numbers for miss-then-set, and the keys each size's rounds read.
 */
import { Effect, type Scope } from "effect"
import type { Cluster, Redis } from "ioredis"
import type { CacheService } from "../../src/index.js"
import type { SizeName } from "./harness.js"
import { makeValue } from "./values.js"

/** Distinct keys each size's read rounds cycle over. */
export const KEYS = 1000
/** The TTL of everything the suites write. */
export const TTL_MILLIS = 3_600_000
/** Operations in flight in the concurrent rows. */
export const IN_FLIGHT = 100

/** The caches' compression settings: the default threshold, and none. */
export const compression = [
  { name: "zlib>1000", tag: "z", threshold: 1000 },
  { name: "no compression", tag: "plain", threshold: 16 * 1024 * 1024 }
] as const

/** A raw ioredis client (`Redis` or `Cluster`, made with `lazyConnect`), connected now and quit with the scope. */
export const rawConnection = <C extends Redis | Cluster>(make: () => C): Effect.Effect<C, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = make()
      client.on("error", () => {}) // failures surface as rejected commands
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.quit().catch(() => "closed"))
  )

/** Miss-then-set rows use keys never used before: each round takes the next `ops` numbers. */
export const keyNumbers = (): (ops: number) => number => {
  let serial = 0
  return (ops) => {
    const first = serial
    serial += ops
    return first
  }
}

/** What one size's rounds read and write. */
export interface SizeData {
  readonly values: ReadonlyArray<object>
  /** Keys the raw client wrote the values under (as JSON). */
  readonly rawKeys: ReadonlyArray<string>
  /** By compression tag: keys the L2 cache of that tag wrote the values under. */
  readonly libKeys: Readonly<Record<string, ReadonlyArray<string>>>
}

/** Writes `KEYS` values of `size` through the raw client (JSON) and through each L2 cache (by compression tag). */
export const seedSize = (
  size: SizeName,
  raw: Redis | Cluster,
  l2Caches: Readonly<Record<string, CacheService>>
): Effect.Effect<SizeData> =>
  Effect.gen(function*() {
    const values = Array.from({ length: KEYS }, (_, i) => makeValue(size, i))
    const rawKeys = values.map((_, i) => `bench:raw:${size}:${i}`)
    yield* Effect.promise(() =>
      Promise.all(rawKeys.map((key, i) => raw.set(key, JSON.stringify(values[i]), "PX", TTL_MILLIS)))
    )
    const libKeys: Record<string, ReadonlyArray<string>> = {}
    for (const c of compression) {
      const keys = values.map((_, i) => `l2:${size}:${c.tag}:${i}`)
      libKeys[c.tag] = keys
      yield* Effect.orDie(
        Effect.forEach(keys, (key, i) => l2Caches[c.tag]!.set(key, values[i]!), { concurrency: 32, discard: true })
      )
    }
    return { values, rawKeys, libKeys }
  })
