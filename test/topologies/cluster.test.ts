/**
 * The cache on a real Redis Cluster (3 masters + 3 replicas, started by each test): the
 * same two-tier semantics as on one server, batched reads and writes across slots, SCAN
 * of every master, degradation and replay when a master dies, and a manual failover.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option } from "effect"
import type { RedisCacheOptions } from "../../src/index.js"
import { Redacted, Schedule } from "effect"
import { cacheAclRule } from "../../src/security/aclRule.js"
import { SecurityConfig } from "../../src/security/SecurityConfig.js"
import { startRedisCluster, waitForClusterOk } from "../support/Cluster.js"
import { generateTlsFiles } from "../support/Tls.js"
import { awaitMode, awaitReplayed, redisCache } from "../support/cache.js"
import { countLost, startLoad } from "./load.js"

const KEYS = 300
const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))
const fastReconnect = { reconnectSchedule: Schedule.spaced("200 millis") }
const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}`)

const dbSizes = (cluster: { readonly nodes: ReadonlyArray<{ cli: (...args: ReadonlyArray<string>) => Effect.Effect<string> }> }) =>
  Effect.forEach(cluster.nodes, (node) => Effect.map(node.cli("DBSIZE"), Number))

describe("Cache.layerRedis on Redis Cluster", () => {
  it.live("set/get/delete/clear/invalidatePattern, batched across slots, read back by a second cache", () =>
    Effect.gen(function*() {
      const cluster = yield* startRedisCluster({ replicas: 1 })
      const writer = yield* redisCache({ cluster: { nodes: cluster.urls } })
      // A list of URLs is a cluster too.
      const reader = yield* redisCache({ redisUrl: cluster.urls })
      assert.strictEqual((yield* writer.status).mode, "Connected")
      assert.match(Option.getOrThrow((yield* writer.status).url), /#cluster=/)

      // Concurrent sets leave in batches, which the tier splits by slot.
      yield* Effect.forEach(keys, (key, i) => writer.set(key, { i }), { concurrency: "unbounded", discard: true })
      const sizes = yield* dbSizes(cluster)
      assert.strictEqual(sizes.reduce((a, b) => a + b, 0), KEYS)
      for (const size of sizes) assert.isAbove(size, 0, "every master holds some of the keys")

      const read = yield* Effect.forEach(keys, (key) => reader.get(key), { concurrency: "unbounded" })
      read.forEach((value, i) => assert.deepStrictEqual(Option.getOrThrow(value), { i }))
      assert.strictEqual((yield* reader.stats).l2Hits, KEYS)

      // Large values take the MULTI + MGET read path and one SET per key.
      const big = "x".repeat(10_000)
      const bigKeys = keys.slice(0, 60).map((key) => `big:${key}`)
      yield* Effect.forEach(bigKeys, (key) => writer.set(key, big), { concurrency: "unbounded", discard: true })
      for (let round = 0; round < 2; round++) {
        const fresh = yield* redisCache({ cluster: { nodes: cluster.urls } })
        const values = yield* Effect.forEach(bigKeys, (key) => fresh.get(key), { concurrency: "unbounded" })
        for (const value of values) assert.strictEqual(Option.getOrThrow(value), big)
      }

      // Keys under one {hash tag} share a slot, and so a command.
      const tagged = keys.slice(0, 50).map((key) => `{tenant}:${key}`)
      yield* Effect.forEach(tagged, (key) => writer.set(key, key), { concurrency: "unbounded", discard: true })
      const taggedRead = yield* Effect.forEach(tagged, (key) => reader.get(key), { concurrency: "unbounded" })
      taggedRead.forEach((value, i) => assert.strictEqual(Option.getOrThrow(value), tagged[i]))

      assert.isTrue(yield* writer.delete("user:0"))
      assert.isTrue(Option.isNone(yield* redisCache({ cluster: { nodes: cluster.urls } }).pipe(Effect.flatMap((c) => c.get("user:0")))))

      // A pattern delete SCANs every master: keys on all three go.
      const removed = yield* writer.invalidatePattern("user:1*", { glob: true })
      const expected = keys.filter((key) => key.startsWith("user:1")).length
      assert.strictEqual(removed, expected)
      const afterPattern = yield* dbSizes(cluster)
      assert.strictEqual(afterPattern.reduce((a, b) => a + b, 0), KEYS - 1 - expected + bigKeys.length + tagged.length)

      yield* writer.clear
      assert.deepStrictEqual(yield* dbSizes(cluster), [0, 0, 0])
      const cleared = yield* redisCache({ cluster: { nodes: cluster.urls } })
      assert.isTrue(Option.isNone(yield* cleared.get("user:5")))
    }), 120_000)

  it.live("the topology options are validated, naming the field, and never echo a password", () =>
    Effect.gen(function*() {
      const failure = (options: RedisCacheOptions) =>
        Effect.map(Effect.exit(redisCache(options)), (exit) => {
          assert.isTrue(Exit.isFailure(exit))
          return JSON.stringify(exit)
        })
      const both = yield* failure({
        cluster: { nodes: ["redis://127.0.0.1:7000"] },
        sentinel: { sentinels: [{ host: "127.0.0.1", port: 26379 }], name: "m" }
      })
      assert.include(both, "sentinel")
      assert.include(both, "cannot be combined with cluster")
      const db = yield* failure({ cluster: { nodes: ["redis://127.0.0.1:7000", "redis://:s3cret@127.0.0.1:7001/2"] } })
      assert.include(db, "cluster.nodes.1")
      assert.include(db, "Redis Cluster has only database 0")
      assert.include(db, "credentials are those of the first node")
      assert.notInclude(db, "s3cret")
      const schemes = yield* failure({ redisUrl: ["redis://127.0.0.1:7000", "rediss://127.0.0.1:7001"] })
      assert.include(schemes, "redisUrl.1")
      const plainPassword = yield* failure({
        // A password must be Redacted: a plain string is refused, and not shown.
        sentinel: { sentinels: [{ host: "127.0.0.1", port: 26379 }], name: "m", sentinelPassword: "hunter2" as never }
      })
      assert.include(plainPassword, "sentinel.sentinelPassword")
      assert.notInclude(plainPassword, "hunter2")
      const badPort = yield* failure({ sentinel: { sentinels: [{ host: "127.0.0.1", port: 0 }], name: "m" } })
      assert.include(badPort, "sentinel.sentinels.0.port")
    }))

  it.live("a master killed (SIGKILL) under load: memory-only, reconnection after the failover, replay; acknowledged writes are read back", () =>
    Effect.gen(function*() {
      const cluster = yield* startRedisCluster({ replicas: 1 })
      const cache = yield* redisCache({ cluster: { nodes: cluster.urls }, ...fastReconnect })
      const load = yield* startLoad(cache)
      yield* sleep(500)
      yield* cluster.nodes[0]!.kill
      yield* awaitMode(cache, "MemoryOnly")
      // The dead master's replica takes over once the others agree it failed (cluster-node-timeout 2 s).
      yield* waitForClusterOk([...cluster.nodes.slice(1), ...cluster.replicas.map((replica) => replica.node)])
      yield* awaitMode(cache, "Connected")
      yield* sleep(300)
      const acknowledged = yield* load.stop
      yield* awaitReplayed(cache)
      const { lost, total } = yield* countLost(yield* redisCache({ cluster: { nodes: cluster.urls } }), acknowledged)
      // The only writes Redis may lose are those the killed master acknowledged and had not yet
      // sent to its replica (asynchronous replication): a handful at most at this rate.
      console.log(`cluster SIGKILL: ${lost} of ${total} acknowledged writes lost by Redis; modes ${load.modes.join(" > ")}`)
      assert.isAtMost(lost, Math.ceil(total * 0.05))
      assert.includeMembers(load.modes, ["MemoryOnly", "Connected"])
      assert.strictEqual((yield* cache.status).mode, "Connected")
    }), 120_000)

  it.live("an idle cache whose masters all die reports memory-only (the tier probes the cluster), and Connected once they are back", () =>
    Effect.gen(function*() {
      const cluster = yield* startRedisCluster({ replicas: 1 })
      const cache = yield* redisCache({ cluster: { nodes: cluster.urls }, l1Invalidation: "off", ...fastReconnect })
      yield* cache.set("idle:before", 1)
      // No command is sent from here on, and no invalidation subscriber (the bus's would notice its
      // own master go): only the tier's probe can tell.
      yield* Effect.forEach(cluster.nodes, (node) => node.kill, { discard: true })
      yield* awaitMode(cache, "MemoryOnly")
      const down = yield* cache.status
      console.log(`every master killed, idle cache: ${Option.getOrThrow(down.lastError)}`)
      // The replicas cannot be promoted without a majority of masters: the masters come back as they were.
      yield* Effect.forEach(cluster.nodes, (node) => node.restart, { discard: true })
      yield* waitForClusterOk([...cluster.nodes, ...cluster.replicas.map((replica) => replica.node)])
      yield* awaitMode(cache, "Connected")
      yield* cache.set("idle:after", 2)
      const reader = yield* redisCache({ cluster: { nodes: cluster.urls } })
      assert.strictEqual(Option.getOrThrow(yield* reader.get("idle:after")), 2)
    }), 120_000)

  it.live("an idle cache whose one master dies reports memory-only, and Connected after its replica takes over", () =>
    Effect.gen(function*() {
      const cluster = yield* startRedisCluster({ replicas: 1 })
      const cache = yield* redisCache({ cluster: { nodes: cluster.urls }, l1Invalidation: "off", ...fastReconnect })
      yield* cache.set("idle:before", 1)
      yield* cluster.nodes[1]!.kill
      yield* awaitMode(cache, "MemoryOnly")
      // It may reconnect before the cluster has noticed (docs/topologies.md), and go memory-only again.
      const { lastError } = yield* cache.status
      console.log(`one master killed, idle cache: ${Option.getOrElse(lastError, () => "(reconnected meanwhile)")}`)
      yield* waitForClusterOk([cluster.nodes[0]!, cluster.nodes[2]!, ...cluster.replicas.map((replica) => replica.node)])
      yield* awaitMode(cache, "Connected")
      yield* cache.set("idle:after", 2)
      yield* awaitReplayed(cache)
      const reader = yield* redisCache({ cluster: { nodes: cluster.urls } })
      assert.strictEqual(Option.getOrThrow(yield* reader.get("idle:after")), 2)
    }), 120_000)

  it.live("CLUSTER FAILOVER under load: MOVED is followed, nothing is lost", () =>
    Effect.gen(function*() {
      const cluster = yield* startRedisCluster({ replicas: 1 })
      const cache = yield* redisCache({ cluster: { nodes: cluster.urls }, ...fastReconnect })
      const load = yield* startLoad(cache)
      yield* sleep(500)
      const replica = cluster.replicas.find((r) => r.masterPort === cluster.nodes[0]!.port)!.node
      assert.strictEqual(yield* replica.cli("CLUSTER", "FAILOVER"), "OK")
      const deadline = Date.now() + 20_000
      while (!/role:master/.test(yield* replica.cli("INFO", "replication"))) {
        if (Date.now() > deadline) assert.fail("the replica was not promoted")
        yield* sleep(50)
      }
      yield* sleep(1_000)
      const acknowledged = yield* load.stop
      yield* awaitReplayed(cache)
      const { lost, total } = yield* countLost(yield* redisCache({ cluster: { nodes: cluster.urls } }), acknowledged)
      console.log(`CLUSTER FAILOVER: ${lost} of ${total} lost; modes ${load.modes.join(" > ") || "(stayed Connected)"}`)
      assert.strictEqual(lost, 0)
      // The promoted replica now serves the slot range: writes reached it.
      assert.isAbove(Number(yield* replica.cli("DBSIZE")), 0)
    }), 120_000)

  it.live("an ACL user on every node: the least-privilege rule plus CLUSTER SLOTS and INFO; nothing refused", () =>
    Effect.gen(function*() {
      const cluster = yield* startRedisCluster()
      const password = "cache-Password-0123456789"
      const admin = ["--user", "admin", "--pass", "admin-Password-0123456789"] as const
      for (const node of cluster.nodes) {
        yield* node.cli("ACL", "SETUSER", "admin", "on", ">admin-Password-0123456789", "~*", "&*", "+@all")
        const rule = cacheAclRule({ prefix: "cache:", cluster: true }).split(" ")
        yield* node.cli("ACL", "SETUSER", "cache", "reset", "on", `>${password}`, ...rule)
        yield* node.cli("ACL", "SETUSER", "default", "off")
      }
      const security = new SecurityConfig({ aclUsername: "cache", aclPassword: Redacted.make(password), verifyCertificates: false })
      const cache = yield* redisCache({ cluster: { nodes: cluster.urls }, security })
      yield* Effect.forEach(keys, (key, i) => cache.set(key, i), { concurrency: "unbounded", discard: true })
      const reader = yield* redisCache({ cluster: { nodes: cluster.urls }, security })
      const read = yield* Effect.forEach(keys, (key) => reader.get(key), { concurrency: "unbounded" })
      read.forEach((value, i) => assert.strictEqual(Option.getOrThrow(value), i))
      assert.strictEqual(yield* cache.invalidatePattern("user:2*", { glob: true }), keys.filter((k) => k.startsWith("user:2")).length)
      yield* cache.clear
      for (const node of cluster.nodes) {
        assert.strictEqual(yield* node.cli(...admin, "DBSIZE"), "0")
        // CONFIG GET proto-max-bulk-len is asked and may be refused (the tier then assumes Redis' default).
        const refused = (yield* node.cli(...admin, "ACL", "LOG")).split("\n").filter((_line, i, lines) => lines[i - 1] === "object")
        assert.deepStrictEqual(refused.filter((object) => object !== "config|get"), [], `refused on ${node.port}`)
        assert.match(yield* node.cli(...admin, "CLIENT", "LIST"), /user=cache/)
      }
    }), 60_000)

  it.live("TLS on every node: rediss:// startup nodes, the CA of the security config, certificates verified", () =>
    Effect.gen(function*() {
      const files = yield* generateTlsFiles
      const cluster = yield* startRedisCluster({ tls: { cert: files.server.cert, key: files.server.key, ca: files.ca.cert } })
      assert.match(cluster.urls[0], /^rediss:/)
      const security = new SecurityConfig({ useTls: true, tlsCa: { path: files.ca.cert }, verifyCertificates: true })
      const cache = yield* redisCache({ cluster: { nodes: cluster.urls }, security })
      assert.strictEqual((yield* cache.status).mode, "Connected")
      yield* Effect.forEach(keys, (key, i) => cache.set(key, i), { concurrency: "unbounded", discard: true })
      for (const size of yield* dbSizes(cluster)) assert.isAbove(size, 0, "every master was written to over TLS")
      const reader = yield* redisCache({ cluster: { nodes: cluster.urls }, security })
      const read = yield* Effect.forEach(keys, (key) => reader.get(key), { concurrency: "unbounded" })
      read.forEach((value, i) => assert.strictEqual(Option.getOrThrow(value), i))
      // A CA the nodes' certificates are not signed by: no node is trusted, the layer fails fast.
      const untrusted = new SecurityConfig({ useTls: true, tlsCa: { path: files.otherCa.cert }, verifyCertificates: true })
      const refused = yield* Effect.exit(
        redisCache({ cluster: { nodes: cluster.urls }, security: untrusted, failOnConnectionError: true, connectAttempts: 1 })
      )
      assert.isTrue(Exit.isFailure(refused))
      assert.include(JSON.stringify(refused), "\"reason\":\"tls\"")
    }), 60_000)
})
