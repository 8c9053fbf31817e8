/**
 * The coherence rule as a property: whatever the interleaving of sets, deletes, reads,
 * getOrSets, batched deletes and reads, pattern invalidations and clears on three cache instances (separate processes, one real redis-server), once every write
 * is acknowledged and one invalidation round trip has passed, every instance reads what
 * Redis holds. What Redis holds is read by a fourth instance with no L1.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Scope } from "effect"
import fc from "fast-check"
import { startRedisCluster } from "../support/Cluster.js"
import { barrier, type Command, instance, key, KEYS, runCommand as run, someKeys } from "../support/coherenceProperty.js"
import { startRedisServer } from "../support/RedisServer.js"
import { awaitLinked, eventuallyReads, readKey as read, startCacheWorker } from "../support/workers.js"

// A step is one to three commands sent at once: their order in Redis is the processes' race.
// Reads weigh as much as writes, so that instances hold L1 copies for writes to make stale.
// Besides the one-key operations: getOrSet (a read whose miss writes), the batched forms
// (deleteMany, getMany as "present"), a pattern invalidation of one key's pattern, and clear.
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constantFrom("set" as const, "getOrSet" as const), instance, key, value: fc.nat(1_000_000) }),
  fc.record({ op: fc.constantFrom("delete" as const, "get" as const), instance, key }),
  fc.record({ op: fc.constant("get" as const), instance, key }),
  fc.record({ op: fc.constantFrom("deleteMany" as const, "present" as const), instance, keys: someKeys }),
  fc.record({ op: fc.constant("invalidatePattern" as const), instance, key }),
  { weight: 1, arbitrary: fc.record({ op: fc.constant("clear" as const), instance }) }
)
const steps = fc.array(fc.array(command, { minLength: 1, maxLength: 3 }), { minLength: 5, maxLength: 15 })

// Where the instances connect: one server, or every node of a 3-master cluster (where coherence is the bus).
type Target = { readonly redisUrl: string } | { readonly cluster: { readonly nodes: readonly [string, ...Array<string>] } }

const startInstances = (target: Target, mechanism: "tracking" | "bus") =>
  Effect.gen(function*() {
    const workers = yield* Effect.all(
      [0, 1, 2].map((i) =>
        startCacheWorker({
          ...target,
          cacheName: `instance-${i}`,
          invalidationPingInterval: "200 millis",
          l1Invalidation: mechanism
        })
      ),
      { concurrency: "unbounded" }
    )
    // Reads Redis through the same codec, with no L1 to be stale. On the bus it must announce
    // its marker writes, or the barrier would never pass.
    const reference = yield* startCacheWorker({
      ...target,
      cacheName: "reference",
      enableL1: false,
      l1Invalidation: mechanism === "bus" ? "bus" : "off"
    })
    for (const worker of workers) yield* awaitLinked(worker)
    return { workers, reference }
  })

const startTarget = (topology: "standalone" | "cluster"): Effect.Effect<Target, never, Scope.Scope> =>
  topology === "standalone"
    ? Effect.map(startRedisServer(), (server) => ({ redisUrl: server.url }))
    : Effect.map(startRedisCluster(), (cluster) => ({ cluster: { nodes: cluster.urls } }))

describe.each([
  { topology: "standalone", mechanism: "tracking", runs: 60 },
  { topology: "standalone", mechanism: "bus", runs: 40 },
  // Batches split by slot, pattern invalidation and clear on every master.
  { topology: "cluster", mechanism: "bus", runs: 25 }
] as const)("L1 coherence as a property ($mechanism on $topology, three processes)", ({ mechanism, runs, topology }) => {
  it.live("after random interleavings of writes, deletes and reads (one-key, batched, by pattern, clear) and one invalidation round trip, every instance reads what Redis holds", () =>
    Effect.scoped(Effect.gen(function*() {
      const { reference, workers } = yield* startInstances(yield* startTarget(topology), mechanism)
      let round = 0
      const property = fc.asyncProperty(steps, (plan) =>
        Effect.runPromise(Effect.gen(function*() {
          const current = round++
          for (const step of plan) {
            yield* Effect.all(step.map((c) => run(workers, current, c)), { concurrency: "unbounded" })
          }
          yield* barrier(reference, workers, current)
          for (const key of KEYS.map((key) => `${current}:${key}`)) {
            const truth = yield* read(reference, key)
            for (const [i, worker] of workers.entries()) {
              // On a cluster a PUBLISH goes to any node, which forwards it to the others over links of
              // their own: the marker's message can overtake an earlier one on its way to a subscriber,
              // so the barrier orders nothing there, and each instance must come to read what Redis
              // holds within a bound instead (an L1 copy that stays stale fails it).
              if (topology === "cluster") yield* eventuallyReads(worker, key, truth, 2_000)
              else assert.deepStrictEqual(yield* read(worker, key), truth, `instance ${i} reads ${key} unlike Redis`)
            }
          }
        }))
      )
      yield* Effect.promise(() => fc.assert(property, { numRuns: runs }))
    })), 180_000)
})
