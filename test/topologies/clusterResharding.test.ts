/**
 * A resharding under the cache's batches, on a real 3-master cluster. A batch sends each
 * slot's lone request straight to the master the cache's slot map names
 * (src/internal/clusterBatch.ts); here that map is stale on purpose (no periodic refresh)
 * while the test moves slots from the first master to the second by hand, the way
 * `redis-cli --cluster reshard` does: `SETSLOT IMPORTING`/`MIGRATING` and `MIGRATE` (the old
 * owner answers `ASK` for the keys gone), then `SETSLOT NODE` (it answers `MOVED`). Every
 * request must still get its own answer, the cache must never leave Connected, and what it
 * wrote must be where a fresh connection finds it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { slotOf } from "../../src/internal/slots.js"
import { clusterNodes, startRedisCluster } from "../support/Cluster.js"
import { redisCache } from "../support/cache.js"

const PREFIX = "reshard:"
// The first master serves slots 0-5460 of 3 (redis-cli --cluster create splits them evenly).
const FIRST_MASTER_LAST_SLOT = 5460
const MOVED_SLOTS = 20

// `count` keys of the first master, each in a slot of its own, so that a batch of them is one
// command per key, each sent straight to a node.
const keysOfFirstMaster = (count: number) => {
  const keys: Array<string> = []
  const slots = new Set<number>()
  for (let i = 0; keys.length < count; i++) {
    const slot = slotOf(`${PREFIX}k:${i}`)
    if (slot > FIRST_MASTER_LAST_SLOT || slots.has(slot)) continue
    slots.add(slot)
    keys.push(`k:${i}`)
  }
  return keys
}

// Another key in the slot of `key`: its full key is the hash tag of the new one.
const sibling = (key: string, name: string) => `{${PREFIX}${key}}:${name}`

const errorCount = (info: string, reply: string) => Number(new RegExp(`^errorstat_${reply}:count=(\\d+)`, "m").exec(info)?.[1] ?? 0)

describe("Cache.layerRedis on Redis Cluster, resharded under its batches", () => {
  it.live("ASK and MOVED for requests sent straight to the old owner are followed: every answer right, never memory-only", () =>
    Effect.gen(function*() {
      const cluster = yield* startRedisCluster()
      const [from, to, third] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]]
      const ids = new Map((yield* clusterNodes(from)).map((line) => [line.port, line.id]))
      const fromId = ids.get(from.port)!
      const toId = ids.get(to.port)!
      // No slot-map refresh but the one a MOVED triggers: the map stays stale while the slots move.
      const cache = yield* redisCache({
        cluster: { nodes: cluster.urls, slotsRefreshInterval: 3_600_000 },
        keyPrefix: PREFIX,
        enableL1: false
      })
      const all = (keys: ReadonlyArray<string>) =>
        Effect.forEach(keys, (key) => cache.get(key), { concurrency: "unbounded" })
      const setAll = (keys: ReadonlyArray<string>) =>
        Effect.forEach(keys, (key) => cache.set(key, key), { concurrency: "unbounded", discard: true })
      const assertRead = (keys: ReadonlyArray<string>, values: ReadonlyArray<Option.Option<unknown>>) =>
        values.forEach((value, i) => assert.deepStrictEqual(Option.getOrUndefined(value), keys[i], keys[i]))

      const keys = keysOfFirstMaster(2 * MOVED_SLOTS)
      yield* setAll(keys)
      const connectedSince = (yield* cache.status).since
      const moving = keys.slice(0, MOVED_SLOTS)
      const before = yield* from.cli("INFO", "errorstats")

      // Migrating: half of each moving slot's keys already on the new owner, the old one answers ASK for them.
      for (const key of moving) {
        const slot = String(slotOf(PREFIX + key))
        yield* to.cli("CLUSTER", "SETSLOT", slot, "IMPORTING", fromId)
        yield* from.cli("CLUSTER", "SETSLOT", slot, "MIGRATING", toId)
      }
      const migrate = (fullKey: string) => from.cli("MIGRATE", to.host, String(to.port), "", "0", "5000", "KEYS", fullKey)
      for (const key of moving.slice(0, MOVED_SLOTS / 2)) yield* migrate(PREFIX + key)
      assertRead(keys, yield* all(keys))
      // New keys in migrating slots go to the new owner (ASK: the old one does not have them).
      const asked = moving.map((key) => sibling(key, "asked"))
      yield* setAll(asked)

      // Moved: the rest of the keys follow, and every master learns the new owner; the cache's map still names the old.
      for (const key of moving.slice(MOVED_SLOTS / 2)) yield* migrate(PREFIX + key)
      for (const key of moving) {
        const slot = String(slotOf(PREFIX + key))
        for (const node of [to, from, third]) yield* node.cli("CLUSTER", "SETSLOT", slot, "NODE", toId)
      }
      const moved = moving.map((key) => sibling(key, "moved"))
      yield* setAll(moved)
      const everything = [...keys, ...asked, ...moved]
      assertRead(everything, yield* all(everything))

      // The redirections did happen (the test exercised them), and none cost the connection.
      const after = yield* from.cli("INFO", "errorstats")
      assert.isAbove(errorCount(after, "ASK"), errorCount(before, "ASK"), "the old owner answered ASK")
      assert.isAbove(errorCount(after, "MOVED"), errorCount(before, "MOVED"), "the old owner answered MOVED")
      const status = yield* cache.status
      assert.strictEqual(status.mode, "Connected")
      assert.strictEqual(status.since, connectedSince, "the cache never left Connected")
      assert.strictEqual(status.pendingReplay, 0, "every write was stored, none queued")

      // What was written is on the new owner, as a fresh connection (and a fresh cache) sees it.
      const onNewOwner = [...moving, ...asked, ...moved].map((key) => PREFIX + key)
      const present = yield* Effect.forEach(onNewOwner, (fullKey) => Effect.map(to.cli("EXISTS", fullKey), Number))
      assert.strictEqual(present.reduce((a, b) => a + b, 0), onNewOwner.length)
      const fresh = yield* redisCache({ cluster: { nodes: cluster.urls }, keyPrefix: PREFIX, enableL1: false })
      assertRead(everything, yield* Effect.forEach(everything, (key) => fresh.get(key), { concurrency: "unbounded" }))
    }), 120_000)
})
