/**
 * The coherence rule as a property, through faults: random steps of sets, deletes, reads,
 * getOrSets and their batched forms on three cache instances (separate processes, one real
 * redis-server), where a step may also kill one instance's subscriber or data connection
 * (`CLIENT KILL`), stop the server for 50-300 ms (SIGSTOP/SIGCONT, longer than some commands'
 * 300 ms timeout, so instances go memory-only and replay), or restart it with its data saved.
 * Once every instance is connected and linked again with nothing left to replay or publish,
 * and one invalidation round trip has passed, every instance reads what Redis holds (read by a
 * fourth instance with no L1). Which value Redis holds is not the question: a write queued while
 * memory-only and replayed later wins over a newer delete by another instance (newest wins by
 * write time, without tombstones: docs/redis-tier.md); the property asks only that no L1 disagrees.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { barrier, type Command, instance, key, KEYS, runCommand, someKeys } from "../support/coherenceProperty.js"
import { type RedisServerHandle, startRedisServer } from "../support/RedisServer.js"
import {
  type CacheWorker,
  pollUntil,
  readKey as read,
  startCacheWorker,
  type WorkerStatus,
  workerStatus
} from "../support/workers.js"

// COMMAND_TIMEOUT_MS must sit inside the pauses' range, so that some pauses time commands out and some do not.
const COMMAND_TIMEOUT_MS = 300
// Small enough for CI; FAULTS_PROPERTY_RUNS=300 for a long local run (each run takes about a second).
const RUNS = Number(process.env.FAULTS_PROPERTY_RUNS ?? 10)

type Fault =
  | { readonly fault: "killSubscriber" | "killData"; readonly instance: number; readonly afterMs: number }
  | { readonly fault: "pause"; readonly forMs: number; readonly afterMs: number }
  | { readonly fault: "restart"; readonly afterMs: number }

type Action = Command | Fault

// Only the commands whose meaning under faults is plain: a write either reached Redis or is
// queued for replay, a read changes nothing in Redis (getOrSet's miss writes like a set).
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constantFrom("set" as const, "getOrSet" as const), instance, key, value: fc.nat(1_000_000) }),
  fc.record({ op: fc.constantFrom("delete" as const, "get" as const), instance, key }),
  fc.record({ op: fc.constant("get" as const), instance, key }),
  fc.record({ op: fc.constantFrom("deleteMany" as const, "present" as const), instance, keys: someKeys })
)
// afterMs puts a fault among the step's commands rather than always before them.
const afterMs = fc.nat(20)
const fault: fc.Arbitrary<Fault> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ fault: fc.constantFrom("killSubscriber" as const, "killData" as const), instance, afterMs }) },
  { weight: 3, arbitrary: fc.record({ fault: fc.constant("pause" as const), forMs: fc.integer({ min: 50, max: 300 }), afterMs }) },
  { weight: 1, arbitrary: fc.record({ fault: fc.constant("restart" as const), afterMs }) }
)
const action: fc.Arbitrary<Action> = fc.oneof({ weight: 3, arbitrary: command }, { weight: 1, arbitrary: fault })
// Short plans too: a stale copy a fault let through is often repaired by a later write of the key or
// a later fault's flush, so the bugs of a missed flush show best when the fault is near the end.
const steps = fc.array(fc.array(action, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 10 })

const isFault = (a: Action): a is Fault => "fault" in a
const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

// The cache names its data connection effect-redis-cache:<cacheName> and its subscriber
// effect-redis-cache:<cacheName>:invalidations (CLIENT KILL cannot select by name). A connection
// not found is one already lost and not yet back: nothing to kill.
const killConnection = (server: RedisServerHandle, name: string) =>
  Effect.gen(function*() {
    const clients = (yield* server.cli("CLIENT", "LIST")).split("\n")
    for (const line of clients.filter((client) => client.includes(`name=${name} `))) {
      yield* server.cli("CLIENT", "KILL", "ID", /id=(\d+)/.exec(line)![1]!)
    }
  })

const inflict = (server: RedisServerHandle, f: Fault) =>
  Effect.gen(function*() {
    yield* sleep(f.afterMs)
    switch (f.fault) {
      case "killSubscriber":
        return yield* killConnection(server, `effect-redis-cache:instance-${f.instance}:invalidations`)
      case "killData":
        return yield* killConnection(server, `effect-redis-cache:instance-${f.instance}`)
      case "pause":
        yield* server.pause
        yield* sleep(f.forMs)
        return yield* server.resume
      case "restart":
        // The test server saves nothing on its own (--save ""): SHUTDOWN SAVE writes what it holds,
        // and the new process loads it from the same directory.
        yield* server.cli("SHUTDOWN", "SAVE")
        return yield* server.restart
    }
  })

const settled = ({ invalidation, mode, pendingReplay }: WorkerStatus) =>
  mode === "Connected" && invalidation.linked && pendingReplay === 0 && invalidation.unsentMessages === 0

// Every instance is connected and linked with nothing to replay or publish; held once more after
// longer than a command timeout, so that a command caught by the last fault has had its say.
const awaitSettled = (all: ReadonlyArray<CacheWorker>) =>
  Effect.gen(function*() {
    for (let pass = 0; pass < 2; pass++) {
      for (const worker of all) {
        let last: WorkerStatus | undefined
        yield* pollUntil(
          () => `instance ${worker.pid} did not settle: ${JSON.stringify(last)}`,
          Effect.map(workerStatus(worker), (status) => {
            last = status
            return settled(status)
          }),
          30_000
        )
      }
      if (pass === 0) yield* sleep(COMMAND_TIMEOUT_MS + 100)
    }
  })

const startInstances = (server: RedisServerHandle, mechanism: "tracking" | "bus") =>
  Effect.gen(function*() {
    const workers = yield* Effect.all(
      [0, 1, 2].map((i) =>
        startCacheWorker({
          redisUrl: server.url,
          cacheName: `instance-${i}`,
          invalidationPingInterval: "200 millis",
          commandTimeout: `${COMMAND_TIMEOUT_MS} millis`,
          l1Invalidation: mechanism
        })
      ),
      { concurrency: "unbounded" }
    )
    // Reads Redis with no L1 to be stale; on the bus it announces its marker writes.
    const reference = yield* startCacheWorker({
      redisUrl: server.url,
      cacheName: "reference",
      enableL1: false,
      commandTimeout: `${COMMAND_TIMEOUT_MS} millis`,
      l1Invalidation: mechanism === "bus" ? "bus" : "off"
    })
    yield* awaitSettled([...workers, reference])
    return { workers, reference }
  })

describe.each(["tracking", "bus"] as const)("L1 coherence as a property through faults (%s, three processes)", (mechanism) => {
  it.live("after random steps of commands and faults (killed connections, a stopped server, a restart), once all settled and one invalidation round trip, every instance reads what Redis holds", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const { reference, workers } = yield* startInstances(server, mechanism)
      let round = 0
      const property = fc.asyncProperty(steps, (plan) =>
        Effect.runPromise(Effect.gen(function*() {
          const current = round++
          for (const step of plan) {
            // A step's faults run in order (a pause and a restart must not overlap), beside its commands.
            // A command may fail under a fault (its outcome is then whatever Redis holds, which is what is compared).
            const faults = Effect.forEach(step.filter(isFault), (f) => inflict(server, f), { discard: true })
            const commands = step.filter((a): a is Command => !isFault(a)).map((c) =>
              Effect.ignore(runCommand(workers, current, c))
            )
            yield* Effect.all([faults, ...commands], { concurrency: "unbounded" })
          }
          yield* awaitSettled([...workers, reference])
          yield* barrier(reference, workers, current)
          for (const key of KEYS.map((key) => `${current}:${key}`)) {
            const truth = yield* read(reference, key)
            for (const [i, worker] of workers.entries()) {
              assert.deepStrictEqual(yield* read(worker, key), truth, `instance ${i} reads ${key} unlike Redis`)
            }
          }
        }))
      )
      yield* Effect.promise(() => fc.assert(property, { numRuns: RUNS }))
    })), Math.max(180_000, RUNS * 5_000))
})
