/**
 * `corked` and `corkedForTurn` against a real 3-master cluster: the commands of a batch (of
 * every batch of a turn, for `corkedForTurn`), one per slot, reach each node in one socket
 * read (the server's `total_reads_processed`), and still answer one by one.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Cluster } from "ioredis"
import { corked, corkedForTurn } from "../../src/internal/corked.js"
import { type RedisClusterHandle, startRedisCluster } from "../support/Cluster.js"

const readsOf = (info: string) => Number(/^total_reads_processed:(\d+)/m.exec(info)?.[1])

/** Every master's `total_reads_processed`. */
const readsPerNode = (cluster: RedisClusterHandle) =>
  Effect.forEach(cluster.nodes, (node) => Effect.map(node.cli("INFO", "stats"), readsOf))

/** A raw ioredis Cluster on `cluster`, every node's connection made before a count starts. */
const connectTo = (cluster: RedisClusterHandle) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const connected = new Cluster(cluster.startupNodes.map(({ host, port }) => ({ host, port })), { lazyConnect: true })
      await connected.connect()
      await Promise.all(connected.nodes("master").map((node) => node.ping()))
      return connected
    }),
    (connected) => Effect.promise(() => connected.quit().catch(() => "closed"))
  )

describe("corked", () => {
  it.live("a batch of one-key commands reaches each node in one read (uncorked: ~one read per command)", () =>
    Effect.gen(function*() {
      const cluster = yield* startRedisCluster()
      const client = yield* connectTo(cluster)
      const keys = Array.from({ length: 90 }, (_, i) => `corked:${i}`)
      yield* Effect.promise(() => Promise.all(keys.map((key) => client.set(key, key))))
      const reads = () => readsPerNode(cluster)

      // What counting costs by itself (redis-cli's own connection), with nothing sent between.
      const idle = yield* reads()
      const before = yield* reads()
      const answers = yield* Effect.promise(() => corked(client, () => Promise.all(keys.map((key) => client.get(key)))))
      const after = yield* reads()

      assert.deepStrictEqual(answers, keys)
      after.forEach((count, i) => {
        const counting = before[i]! - idle[i]!
        assert.isAtMost(count - before[i]! - counting, 1, `node ${i} read its ~30 commands in one go`)
      })
    }), 60_000)

  it.live("corkedForTurn: the batches of one turn (reads, then writes) reach each node in one read", () =>
    Effect.gen(function*() {
      const cluster = yield* startRedisCluster()
      const client = yield* connectTo(cluster)
      const keys = Array.from({ length: 90 }, (_, i) => `turn:${i}`)
      yield* Effect.promise(() => Promise.all(keys.map((key) => client.set(key, key))))
      const reads = () => readsPerNode(cluster)

      const idle = yield* reads()
      const before = yield* reads()
      // Three batches in one turn: two of reads, one of writes, each corked on its own.
      const answers = yield* Effect.promise(() => {
        const first = corkedForTurn(client, () => Promise.all(keys.slice(0, 45).map((key) => client.get(key))))
        const second = corkedForTurn(client, () => Promise.all(keys.slice(45).map((key) => client.get(key))))
        const written = corkedForTurn(client, () => Promise.all(keys.map((key) => client.set(`${key}:copy`, key))))
        return Promise.all([first, second, written])
      })
      const after = yield* reads()

      assert.deepStrictEqual([...answers[0], ...answers[1]], keys)
      assert.isTrue(answers[2].every((reply) => reply === "OK"))
      after.forEach((count, i) => {
        const counting = before[i]! - idle[i]!
        assert.isAtMost(count - before[i]! - counting, 1, `node ${i} read its ~60 commands of three batches in one go`)
      })
    }), 60_000)
})
