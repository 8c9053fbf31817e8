/**
 * Security validation and `doctor` on a real 3-master, 3-replica cluster where one replica
 * has no requirepass: every node is checked, the report names the weak one by host:port and
 * never shows the password; and through real Sentinels with a password, the Sentinels are
 * checked next to the master.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer, Redacted, Schedule } from "effect"
import { doctor } from "../../src/cli/doctor.js"
import { Cache, CacheSecurity, type RedisCacheOptions } from "../../src/index.js"
import { type SecurityValidationResult, Vulnerability } from "../../src/security/SecurityResult.js"
import { startRedisCluster } from "../support/Cluster.js"
import { startRedisSentinel } from "../support/RedisSentinel.js"
import { generateTlsFiles } from "../support/Tls.js"
import { SecurityConfig } from "../../src/security/SecurityConfig.js"

const securityOf = (options: RedisCacheOptions) =>
  Effect.map(Layer.build(Cache.layerRedis({ connectTimeout: "2 seconds", ...options })), (context) =>
    Context.get(context, CacheSecurity))

const PASSWORD = "cluster-secret-pw-0123456789"
const SENTINEL_PASSWORD = "sentinel-secret-pw-0123456789"

const withPassword = (url: string, password: string) => {
  const parsed = new URL(url)
  parsed.password = password
  return parsed.href
}

// Every node asks replicas for the password first (so replication survives), then all but `weak` require it.
const clusterWithOneOpenNode = Effect.gen(function*() {
  const cluster = yield* startRedisCluster({ replicas: 1 })
  const all = [...cluster.nodes, ...cluster.replicas.map(({ node }) => node)]
  for (const node of all) yield* node.cli("CONFIG", "SET", "masterauth", PASSWORD)
  const weak = cluster.replicas[0]!.node
  for (const node of all) if (node !== weak) yield* node.cli("CONFIG", "SET", "requirepass", PASSWORD)
  return { cluster, weak: `${weak.host}:${weak.port}`, nodes: cluster.urls.map((url) => withPassword(url, PASSWORD)) as unknown as readonly [string, ...Array<string>] }
})

describe("security validation of every node", () => {
  it.live("a cluster with one replica without requirepass: six nodes checked, the open one named and the weakest", () =>
    Effect.gen(function*() {
      const { nodes, weak } = yield* clusterWithOneOpenNode
      const security = yield* securityOf({ cluster: { nodes } })
      const result = yield* security.validateSecurity
      assert.strictEqual(result.nodes?.length, 6)
      assert.isFalse(result.isSecure)
      assert.include(result.vulnerabilities, Vulnerability.noAuthentication)
      const open = result.nodes!.filter((node) => node.authenticationEnforced.startsWith("FAILED"))
      assert.deepStrictEqual(open.map((node) => node.node), [weak])
      assert.strictEqual(open[0]!.role, "replica")
      for (const node of result.nodes!.filter((n) => n.node !== weak)) {
        assert.match(node.authenticationEnforced, /^OK/, node.node)
      }
      assert.strictEqual(result.score, Math.min(...result.nodes!.map((node) => node.score)))
      assert.include(result.detailedChecks.nodes_checked, `weakest ${weak} (replica)`)
      const text = yield* security.generateSecurityReport
      assert.include(text, `❌ ${weak} (replica)`)
      const json = JSON.stringify(yield* security.generateSecurityReportJson)
      assert.include(json, weak)
      assert.notInclude(text + json, PASSWORD)
    }), 90_000)

  it.live("doctor on that cluster, from CACHE_REDIS_CLUSTER_NODES: insecure, the open replica named, no password", () =>
    Effect.gen(function*() {
      const { nodes, weak } = yield* clusterWithOneOpenNode
      const result = yield* doctor({ json: true, connectTimeout: "5 seconds" }).pipe(
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({
          REDIS_URL: nodes[0]!,
          CACHE_REDIS_CLUSTER_NODES: nodes.join(",")
        })))
      )
      const validation = result.findings.security?.validation
      assert.strictEqual(validation?.nodes?.length, 6)
      assert.isFalse(validation!.isSecure)
      assert.deepStrictEqual(
        validation!.nodes!.filter((node) => node.authenticationEnforced.startsWith("FAILED")).map((node) => node.node),
        [weak]
      )
      assert.include(result.findings.url, "#cluster=")
      assert.include(result.output, weak)
      assert.notInclude(result.output, PASSWORD)
    }), 90_000)

  it.live("through Sentinels with a password: the master and the three Sentinels are checked, authentication enforced on each", () =>
    Effect.gen(function*() {
      const setup = yield* startRedisSentinel({ masterPassword: PASSWORD, sentinelPassword: SENTINEL_PASSWORD })
      const security = yield* securityOf({
        redisUrl: `redis://:${PASSWORD}@127.0.0.1:6379`,
        sentinel: { sentinels: setup.addresses, name: setup.name, sentinelPassword: Redacted.make(SENTINEL_PASSWORD) }
      })
      const result = yield* security.validateSecurity
      assert.deepStrictEqual(
        result.nodes?.map((node) => [node.node, node.role]),
        [
          [`127.0.0.1:${setup.master.port}`, "master"],
          ...setup.sentinels.map((sentinel) => [`127.0.0.1:${sentinel.port}`, "sentinel"])
        ]
      )
      for (const node of result.nodes!) assert.match(node.authenticationEnforced, /^OK/, node.node)
      assert.notInclude(result.vulnerabilities, Vulnerability.noAuthentication)
      const text = (yield* security.generateSecurityReport) + JSON.stringify(yield* security.generateSecurityReportJson)
      assert.notInclude(text, PASSWORD)
      assert.notInclude(text, SENTINEL_PASSWORD)
    }), 90_000)

  it.live("after a Sentinel failover the checks look at the new master, the one the cache is connected to", () =>
    Effect.gen(function*() {
      const setup = yield* startRedisSentinel()
      const context = yield* Layer.build(Cache.layerRedis({
        sentinel: { sentinels: setup.addresses, name: setup.name },
        reconnectSchedule: Schedule.spaced("200 millis"),
        connectTimeout: "2 seconds"
      }))
      const cache = Context.get(context, Cache)
      const security = Context.get(context, CacheSecurity)
      const masterOf = (result: SecurityValidationResult) => result.nodes?.find((node) => node.role === "master")?.node
      const oldPort = yield* setup.currentMasterPort
      assert.strictEqual(masterOf(yield* security.validateSecurity), `127.0.0.1:${oldPort}`)
      assert.strictEqual(yield* setup.sentinels[0]!.cli("SENTINEL", "FAILOVER", setup.name), "OK")
      const deadline = Date.now() + 30_000
      while ((yield* setup.currentMasterPort) === oldPort) {
        if (Date.now() > deadline) assert.fail("the Sentinels did not fail over")
        yield* Effect.sleep("100 millis")
      }
      const newPort = yield* setup.currentMasterPort
      // The cache is on the new master once a write through it lands there.
      while (true) {
        yield* Effect.ignore(cache.set("probe", Date.now()))
        const onNew = newPort === setup.master.port ? setup.master : setup.replica
        if ((yield* onNew.cli("EXISTS", "cache:probe")) === "1" && (yield* cache.status).mode === "Connected") break
        if (Date.now() > deadline) assert.fail("the cache did not reach the new master")
        yield* Effect.sleep("100 millis")
      }
      assert.strictEqual(masterOf(yield* security.validateSecurity), `127.0.0.1:${newPort}`)
    }), 90_000)

  it.live("Sentinel over TLS with a sentinel password: master, replica and Sentinels TLS; the cache reads and writes; every node shows TLS", () =>
    Effect.gen(function*() {
      const files = yield* generateTlsFiles
      const setup = yield* startRedisSentinel({
        masterPassword: PASSWORD,
        sentinelPassword: SENTINEL_PASSWORD,
        tls: { cert: files.server.cert, key: files.server.key, ca: files.ca.cert }
      })
      const options: RedisCacheOptions = {
        redisUrl: "rediss://127.0.0.1:6379",
        sentinel: { sentinels: setup.addresses, name: setup.name, sentinelPassword: Redacted.make(SENTINEL_PASSWORD), tls: true },
        security: new SecurityConfig({ redisAuth: Redacted.make(PASSWORD), tlsCa: { path: files.ca.cert }, verifyCertificates: true }),
        connectTimeout: "3 seconds"
      }
      const context = yield* Layer.build(Cache.layerRedis(options))
      const cache = Context.get(context, Cache)
      assert.strictEqual((yield* cache.status).mode, "Connected")
      yield* cache.set("over-tls", "v")
      assert.strictEqual(yield* setup.master.cli("-a", PASSWORD, "--no-auth-warning", "EXISTS", "cache:over-tls"), "1")
      const reader = Context.get(yield* Layer.build(Cache.layerRedis({ ...options, enableL1: false })), Cache)
      assert.deepStrictEqual(yield* reader.get("over-tls"), yield* cache.get("over-tls"))
      assert.strictEqual((yield* reader.get("over-tls"))._tag, "Some")
      const result = yield* Context.get(context, CacheSecurity).validateSecurity
      assert.strictEqual(result.nodes?.length, 4)
      for (const node of result.nodes!) {
        assert.isTrue(node.tlsEnabled, node.node)
        assert.match(node.authenticationEnforced, /^OK/, node.node)
      }
      assert.isTrue(result.tlsEnabled)
      assert.match(result.tlsVersion ?? "", /^TLSv1\.[23]$/)
      const text = yield* Context.get(context, CacheSecurity).generateSecurityReport
      assert.include(text, "TLS Encryption: ✅ Enabled")
      assert.notInclude(text, PASSWORD)
      assert.notInclude(text, SENTINEL_PASSWORD)
    }), 90_000)
})
