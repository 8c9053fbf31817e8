/**
 * The Redis topology from the environment: `CACHE_REDIS_CLUSTER_NODES` and the
 * `CACHE_REDIS_SENTINEL*` variables, read through a ConfigProvider map, with bad input a
 * ConfigurationError naming the variable; then one cache on a real cluster and one through
 * real Sentinels, built by `layerFromEnv`, and `fromConfig` records with `cluster` or
 * `sentinel` and no `redisUrl`.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Option, Redacted, type Scope } from "effect"
import { Cache } from "../../src/Cache.js"
import { CacheFactory, layerFromEnv } from "../../src/factory/CacheFactory.js"
import { configFromEnv } from "../../src/factory/config.js"
import { startRedisCluster } from "../support/Cluster.js"
import { startRedisSentinel } from "../support/RedisSentinel.js"

const withEnv = (env: Record<string, string>) => Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))

const resolve = (env: Record<string, string>) => configFromEnv.pipe(withEnv(env))

const failure = (env: Record<string, string>) => Effect.flip(resolve(env))

describe("configFromEnv: cluster and sentinel", () => {
  it.effect("CACHE_REDIS_CLUSTER_NODES is the cluster's startup nodes", () =>
    Effect.gen(function*() {
      const config = yield* resolve({ CACHE_REDIS_CLUSTER_NODES: " redis://10.0.0.1:7000, redis://10.0.0.2:7001 " })
      assert.deepStrictEqual(config.options.cluster, { nodes: ["redis://10.0.0.1:7000", "redis://10.0.0.2:7001"] })
      assert.isUndefined(config.options.sentinel)
      assert.strictEqual(config.sources.cluster, "environment")
    }))

  it.effect("CACHE_REDIS_SENTINELS and friends are the sentinel option, the password Redacted", () =>
    Effect.gen(function*() {
      const config = yield* resolve({
        CACHE_REDIS_SENTINELS: "10.0.0.1:26379,[::1]:26380",
        CACHE_REDIS_SENTINEL_NAME: "mymaster",
        CACHE_REDIS_SENTINEL_USERNAME: "watcher",
        CACHE_REDIS_SENTINEL_PASSWORD: "sentinel-secret-pw",
        CACHE_REDIS_SENTINEL_TLS: "yes"
      })
      const sentinel = config.options.sentinel!
      assert.deepStrictEqual(sentinel.sentinels, [{ host: "10.0.0.1", port: 26379 }, { host: "::1", port: 26380 }])
      assert.strictEqual(sentinel.name, "mymaster")
      assert.strictEqual(sentinel.sentinelUsername, "watcher")
      assert.isTrue(Redacted.isRedacted(sentinel.sentinelPassword))
      assert.strictEqual(Redacted.value(sentinel.sentinelPassword!), "sentinel-secret-pw")
      assert.isTrue(sentinel.tls)
      assert.notInclude(JSON.stringify(config), "sentinel-secret-pw")
      assert.notInclude(String(sentinel.sentinelPassword), "sentinel-secret-pw")
    }))

  it.effect("a bad node URL names CACHE_REDIS_CLUSTER_NODES, with the password hidden", () =>
    Effect.gen(function*() {
      const error = yield* failure({ CACHE_REDIS_CLUSTER_NODES: "redis://10.0.0.1:7000,http://:pw-secret@h:1" })
      assert.strictEqual(error._tag, "ConfigurationError")
      assert.strictEqual(error.field, "CACHE_REDIS_CLUSTER_NODES")
      assert.include(error.rule, "node 2")
      assert.notInclude(JSON.stringify(error), "pw-secret")
      assert.notInclude(error.message, "pw-secret")
    }))

  it.effect("nodes that disagree (scheme, database) name CACHE_REDIS_CLUSTER_NODES", () =>
    Effect.gen(function*() {
      const scheme = yield* failure({ CACHE_REDIS_CLUSTER_NODES: "redis://a:7000,rediss://:pw-secret@b:7001" })
      assert.strictEqual(scheme.field, "CACHE_REDIS_CLUSTER_NODES")
      assert.include(scheme.rule, "scheme")
      assert.notInclude(JSON.stringify(scheme), "pw-secret")
      const db = yield* failure({ CACHE_REDIS_CLUSTER_NODES: "redis://a:7000/3" })
      assert.strictEqual(db.field, "CACHE_REDIS_CLUSTER_NODES")
      assert.include(db.rule, "database 0")
    }))

  it.effect("a stray comma, a bad address, a missing name, a stray name, a bad TLS flag: each names its variable", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, string>, string, string]> = [
        [{ CACHE_REDIS_CLUSTER_NODES: "redis://a:7000,,redis://b:7001" }, "CACHE_REDIS_CLUSTER_NODES", "empty items"],
        [{ CACHE_REDIS_SENTINELS: "10.0.0.1", CACHE_REDIS_SENTINEL_NAME: "m" }, "CACHE_REDIS_SENTINELS", "host:port"],
        [{ CACHE_REDIS_SENTINELS: "h:70000", CACHE_REDIS_SENTINEL_NAME: "m" }, "CACHE_REDIS_SENTINELS", "host:port"],
        [{ CACHE_REDIS_SENTINELS: "h:26379" }, "CACHE_REDIS_SENTINEL_NAME", "is required"],
        [{ CACHE_REDIS_SENTINEL_NAME: "m" }, "CACHE_REDIS_SENTINEL_NAME", "without CACHE_REDIS_SENTINELS"],
        [{ CACHE_REDIS_SENTINEL_PASSWORD: "pw-secret" }, "CACHE_REDIS_SENTINEL_PASSWORD", "without"],
        [{ CACHE_REDIS_SENTINELS: "h:1", CACHE_REDIS_SENTINEL_NAME: "m", CACHE_REDIS_SENTINEL_TLS: "maybe" }, "CACHE_REDIS_SENTINEL_TLS", "true"],
        [{ CACHE_REDIS_SENTINELS: "h:1", CACHE_REDIS_SENTINEL_NAME: "m", CACHE_REDIS_CLUSTER_NODES: "redis://a:1" }, "CACHE_REDIS_SENTINELS", "one topology"]
      ]
      for (const [env, field, rule] of cases) {
        const error = yield* failure(env)
        assert.strictEqual(error._tag, "ConfigurationError", JSON.stringify(env))
        assert.strictEqual(error.field, field, JSON.stringify(env))
        assert.include(error.rule, rule, JSON.stringify(env))
        assert.notInclude(JSON.stringify(error), "pw-secret")
      }
    }))

  it.effect("CACHE_CUSTOM_CONFIG's cluster against the environment's Sentinels: one topology, an error", () =>
    Effect.gen(function*() {
      const error = yield* failure({
        CACHE_REDIS_SENTINELS: "h:26379",
        CACHE_REDIS_SENTINEL_NAME: "m",
        CACHE_CUSTOM_CONFIG: JSON.stringify({ cluster: { nodes: ["redis://a:7000"] } })
      })
      assert.strictEqual(error._tag, "ConfigurationError")
      assert.include(error.rule, "pick one topology")
    }))
})

describe("the topology from the environment, on real servers", () => {
  it.live("layerFromEnv on a real 3-master cluster: every master holds keys, all read back", () =>
    Effect.gen(function*(): Effect.fn.Return<void, unknown, Scope.Scope> {
      const cluster = yield* startRedisCluster()
      yield* Effect.gen(function*() {
        const status = yield* Cache.status()
        assert.strictEqual(status.mode, "Connected")
        assert.include(Option.getOrThrow(status.url), "#cluster=")
        const keys = Array.from({ length: 60 }, (_, i) => `env:${i}`)
        yield* Effect.forEach(keys, (key, i) => Cache.set(key, i), { discard: true })
        for (const node of cluster.nodes) assert.isAbove(Number(yield* node.cli("DBSIZE")), 0)
        const read = yield* Effect.forEach(keys, (key) => Cache.get(key))
        read.forEach((value, i) => assert.strictEqual(Option.getOrThrow(value), i))
      }).pipe(
        Effect.provide(layerFromEnv()),
        withEnv({ CACHE_PRESET: "production", CACHE_REDIS_CLUSTER_NODES: cluster.urls.join(",") })
      )
    }), 60_000)

  it.live("layerFromEnv through real Sentinels with a sentinel password: writes land on the master", () =>
    Effect.gen(function*() {
      const setup = yield* startRedisSentinel({ sentinelPassword: "sentinel-secret-pw-123" })
      yield* Effect.gen(function*() {
        assert.strictEqual((yield* Cache.status()).mode, "Connected")
        yield* Cache.set("through-sentinel", "v")
        assert.strictEqual(yield* setup.master.cli("EXISTS", "cache:through-sentinel"), "1")
        assert.strictEqual(Option.getOrThrow(yield* Cache.get("through-sentinel")), "v")
      }).pipe(
        Effect.provide(layerFromEnv()),
        withEnv({
          CACHE_PRESET: "production",
          CACHE_REDIS_SENTINELS: setup.addresses.map(({ host, port }) => `${host}:${port}`).join(","),
          CACHE_REDIS_SENTINEL_NAME: setup.name,
          CACHE_REDIS_SENTINEL_PASSWORD: "sentinel-secret-pw-123"
        })
      )
    }), 60_000)

  it.live("fromConfig takes a cluster without redisUrl; with neither a cluster, Sentinels nor redisUrl it is a ValidationError", () =>
    Effect.gen(function*() {
      const cluster = yield* startRedisCluster()
      yield* Effect.gen(function*() {
        assert.strictEqual((yield* Cache.status()).mode, "Connected")
        yield* Cache.set("from-config", 1)
        assert.strictEqual(Option.getOrThrow(yield* Cache.get("from-config")), 1)
      }).pipe(Effect.provide(CacheFactory.fromConfig({ cluster: { nodes: cluster.urls } })))
      const error = yield* Effect.flip(Layer.build(CacheFactory.fromConfig({ defaultTtl: "1 hour" })))
      assert.strictEqual(error._tag, "ValidationError")
    }), 60_000)
})
