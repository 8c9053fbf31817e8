/**
 * L1 coherence on Redis Sentinel (tracking and the bus, across a failover) and on Redis
 * Cluster (the bus, keys on every master, across a manual failover), each cache instance
 * a separate Node process (test/support/workers.ts) on real servers.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import type { RedisCacheOptions } from "../../src/index.js"
import { startRedisCluster, waitForClusterOk } from "../support/Cluster.js"
import { redisCache } from "../support/cache.js"
import { type RedisSentinelHandle, startRedisSentinel } from "../support/RedisSentinel.js"
import {
  awaitLinked,
  type CacheWorker,
  eventuallyReads,
  type Found,
  pollUntil,
  readKey,
  startCacheWorker,
  workerStatus
} from "../support/workers.js"

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const instances = (options: RedisCacheOptions, count: number) =>
  Effect.gen(function*() {
    const workers = yield* Effect.all(
      Array.from({ length: count }, (_, i) =>
        startCacheWorker({ cacheName: `instance-${i}`, invalidationPingInterval: "200 millis", ...options })),
      { concurrency: "unbounded" }
    )
    for (const worker of workers) yield* awaitLinked(worker, 20_000)
    return workers
  })

const l1Hits = (worker: CacheWorker) =>
  Effect.map(worker.call("stats"), (stats) => (stats as { readonly l1Hits: number }).l1Hits)

/** Reads `key` on `worker` until it is served from L1 with `value`: the worker then holds a copy to go stale. */
const holdsCopy = (worker: CacheWorker, key: string, value: unknown) =>
  Effect.gen(function*() {
    const before = yield* l1Hits(worker)
    yield* pollUntil(
      () => `worker ${worker.pid} never served ${key} from its L1`,
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* readKey(worker, key), { found: true, value })
        return (yield* l1Hits(worker)) > before
      })
    )
  })

/** Every name in `names` has a connection on `node` (CLIENT LIST): the caches followed the failover there. */
const connectedTo = (cli: (...args: ReadonlyArray<string>) => Effect.Effect<string>, names: ReadonlyArray<string>) =>
  Effect.map(cli("CLIENT", "LIST"), (list) => names.every((name) => list.includes(` name=${name} `)))

const through = (setup: RedisSentinelHandle): RedisCacheOptions => ({
  sentinel: { sentinels: setup.addresses, name: setup.name }
})

describe("L1 coherence through Redis Sentinel (separate processes)", () => {
  for (const mechanism of ["tracking", "bus"] as const) {
    it.live(`${mechanism}: A's set and delete reach B's L1, before and after a SENTINEL FAILOVER`, () =>
      Effect.scoped(Effect.gen(function*() {
        const setup = yield* startRedisSentinel()
        const [a, b] = yield* instances({ ...through(setup), l1Invalidation: mechanism }, 2)
        assert.strictEqual((yield* workerStatus(b!)).invalidation.mechanism, mechanism)

        yield* a!.call("set", { key: "k", value: 1 })
        yield* holdsCopy(b!, "k", 1)
        yield* a!.call("set", { key: "k", value: 2 })
        yield* eventuallyReads(b!, "k", { found: true, value: 2 })
        yield* holdsCopy(b!, "k", 2)
        yield* a!.call("delete", { key: "k" })
        yield* eventuallyReads(b!, "k", { found: false })
        if (mechanism === "tracking") {
          // Tracking also sees another program's write on the master.
          yield* a!.call("set", { key: "other", value: 1 })
          yield* holdsCopy(b!, "other", 1)
          yield* setup.master.cli("DEL", "cache:other")
          yield* eventuallyReads(b!, "other", { found: false })
        }

        const oldPort = yield* setup.currentMasterPort
        assert.strictEqual(yield* setup.sentinels[0]!.cli("SENTINEL", "FAILOVER", setup.name), "OK")
        // Written only once both instances' data and subscriber connections are on the new master
        // (they saw +switch-master) and linked again: a write before that may go to the demoted
        // master, which Redis itself may discard (docs/topologies.md).
        const newMaster = setup.replica
        yield* pollUntil(
          () => "the Sentinels did not fail over",
          Effect.map(setup.currentMasterPort, (port) => port !== oldPort && port === newMaster.port),
          30_000
        )
        const names = ["instance-0", "instance-1"].flatMap((name) => [
          `effect-redis-cache:${name}`,
          `effect-redis-cache:${name}:invalidations`
        ])
        yield* pollUntil(
          () => "the instances did not reconnect to the new master",
          connectedTo(newMaster.cli, names),
          30_000
        )
        yield* awaitLinked(a!, 20_000)
        yield* awaitLinked(b!, 20_000)

        yield* a!.call("set", { key: "after", value: 1 })
        yield* holdsCopy(b!, "after", 1)
        yield* a!.call("set", { key: "after", value: 2 })
        yield* eventuallyReads(b!, "after", { found: true, value: 2 })
        yield* holdsCopy(b!, "after", 2)
        yield* a!.call("delete", { key: "after" })
        yield* eventuallyReads(b!, "after", { found: false })
        // The subscriber follows the master: none is left on the demoted one.
        const demoted = yield* setup.master.cli("CLIENT", "LIST")
        assert.notInclude(demoted, "name=effect-redis-cache:instance-1:invalidations ")
      })), 120_000)
  }
})

describe("L1 coherence through Redis Sentinel, the master killed (separate processes)", () => {
  const keys = Array.from({ length: 6 }, (_, i) => `held:${i}`)

  for (const mechanism of ["tracking", "bus"] as const) {
    it.live(`${mechanism}: the master SIGKILLed while B holds L1 copies; after the failover B never serves a value older than A's last acknowledged write`, () =>
      Effect.scoped(Effect.gen(function*() {
        const setup = yield* startRedisSentinel()
        const [a, b] = yield* instances({ ...through(setup), l1Invalidation: mechanism }, 2)
        for (const key of keys) yield* a!.call("set", { key, value: 1 })
        for (const key of keys) yield* holdsCopy(b!, key, 1)

        // B does not read from the kill to A's acknowledged write: any value 1 it served after that
        // could only come from the L1 copy it held when its link to the killed master went.
        yield* setup.master.kill
        yield* pollUntil(
          () => "the Sentinels did not promote the replica",
          Effect.map(setup.currentMasterPort, (port) => port === setup.replica.port),
          30_000
        )
        yield* awaitLinked(a!, 30_000)
        for (const key of keys) yield* a!.call("set", { key, value: 2 })
        // Acknowledged: a cache without L1, made now through the Sentinels, reads 2 from the new master
        // (a write A made before it reached the new master was queued, and is waited for to be replayed).
        const witness = yield* redisCache({ ...through(setup), enableL1: false, l1Invalidation: "off" })
        for (const key of keys) {
          yield* pollUntil(
            () => `A's write of ${key} never reached the new master`,
            Effect.map(witness.get(key), (found) => Option.isSome(found) && found.value === 2),
            20_000
          )
        }
        // From now on B answers 2, or a miss while it is still memory-only (its L1 emptied): never 1.
        const served: Array<Found> = []
        const readAll = Effect.forEach(keys, (key) => Effect.tap(readKey(b!, key), (found) => Effect.sync(() => served.push(found))))
        yield* readAll
        yield* awaitLinked(b!, 30_000)
        for (const key of keys) yield* eventuallyReads(b!, key, { found: true, value: 2 }, 20_000)
        yield* readAll
        const stale = served.filter((found) => found.found && found.value !== 2)
        const { invalidation } = yield* workerStatus(b!)
        console.log(
          `sentinel SIGKILL, ${mechanism}: B served ${JSON.stringify(served.slice(0, keys.length))} right after the ` +
            `acknowledgement; ${invalidation.flushes} L1 flushes (last: ${JSON.stringify(invalidation)})`
        )
        assert.deepStrictEqual(stale, [], "B served a value older than A's acknowledged write")
        assert.isAbove(invalidation.flushes, 0, "B flushed its L1 when its link to the killed master went")
      })), 120_000)
  }
})

describe("L1 coherence on Redis Cluster (separate processes)", () => {
  const keys = Array.from({ length: 12 }, (_, i) => `user:${i}`)

  it.live("tracking falls back to the bus; A's sets and deletes of keys on every master reach B's L1, also after CLUSTER FAILOVER", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* startRedisCluster({ replicas: 1 })
      const [a, b] = yield* instances({ cluster: { nodes: cluster.urls } }, 2)
      assert.strictEqual((yield* workerStatus(b!)).invalidation.mechanism, "bus")

      const round = (value: number) =>
        Effect.gen(function*() {
          for (const key of keys) yield* a!.call("set", { key, value })
          for (const key of keys) yield* holdsCopy(b!, key, value)
          for (const key of keys) yield* a!.call("set", { key, value: value + 1 })
          for (const key of keys) yield* eventuallyReads(b!, key, { found: true, value: value + 1 })
          for (const key of keys) yield* holdsCopy(b!, key, value + 1)
          for (const key of keys.slice(0, 6)) yield* a!.call("delete", { key })
          for (const key of keys.slice(0, 6)) yield* eventuallyReads(b!, key, { found: false })
          yield* a!.call("clear")
          for (const key of keys) yield* eventuallyReads(b!, key, { found: false })
        })

      yield* round(1)
      // The keys were on every master.
      yield* Effect.forEach(keys, (key) => a!.call("set", { key, value: 0 }), { discard: true })
      for (const node of cluster.nodes) assert.isAbove(Number(yield* node.cli("DBSIZE")), 0, `master ${node.port}`)

      // A replica takes over its master's slots; the instances follow (MOVED, or an outage and a reconnect).
      const replica = cluster.replicas[0]!.node
      assert.strictEqual(yield* replica.cli("CLUSTER", "FAILOVER"), "OK")
      yield* pollUntil(
        () => "the replica was not promoted",
        Effect.map(replica.cli("INFO", "replication"), (info) => /role:master/.test(info)),
        30_000
      )
      yield* waitForClusterOk(cluster.nodes)
      yield* sleep(200)
      yield* awaitLinked(a!, 20_000)
      yield* awaitLinked(b!, 20_000)
      yield* round(10)
    })), 120_000)

  it.live("the master a subscriber is on killed (SIGKILL): it subscribes on another master, and B's L1 stays coherent after the failover", () =>
    Effect.scoped(Effect.gen(function*() {
      const cluster = yield* startRedisCluster({ replicas: 1 })
      const [a, b] = yield* instances({ cluster: { nodes: cluster.urls } }, 2)
      for (const key of keys) yield* a!.call("set", { key, value: 1 })
      for (const key of keys) yield* holdsCopy(b!, key, 1)
      const lists = yield* Effect.forEach(cluster.nodes, (node) => node.cli("CLIENT", "LIST"))
      const victim = lists.findIndex((list) => list.includes(" name=effect-redis-cache:instance-1:invalidations "))
      assert.isAtLeast(victim, 0, "B's subscriber is on a master")
      const flushesBefore = (yield* workerStatus(b!)).invalidation.flushes
      yield* cluster.nodes[victim]!.kill
      // Its replica takes over once the other masters agree it failed (cluster-node-timeout 2 s).
      yield* waitForClusterOk([
        ...cluster.nodes.filter((_, i) => i !== victim),
        ...cluster.replicas.map((replica) => replica.node)
      ])
      yield* pollUntil(
        () => "B did not flush its L1 after losing its subscriber",
        Effect.map(workerStatus(b!), ({ invalidation }) => invalidation.flushes > flushesBefore),
        20_000
      )
      yield* awaitLinked(a!, 20_000)
      yield* awaitLinked(b!, 20_000)
      // A reconnection can precede the cluster's notice of the dead master (docs/topologies.md): A's
      // first writes may be queued for replay, so B first waits for them to reach Redis.
      for (const key of keys) yield* a!.call("set", { key, value: 2 })
      for (const key of keys) yield* eventuallyReads(b!, key, { found: true, value: 2 }, 20_000)
      for (const key of keys) yield* holdsCopy(b!, key, 2)
      yield* awaitLinked(a!, 20_000)
      for (const key of keys) yield* a!.call("set", { key, value: 3 })
      for (const key of keys) yield* eventuallyReads(b!, key, { found: true, value: 3 })
    })), 120_000)
})
