/**
 * L2 hits and miss-then-set on a Redis Cluster (3 masters, started by the suite on free
 * loopback ports), 100 in flight, beside raw ioredis `Cluster` doing the same round trips
 * with JSON and auto-pipelining, in the same run.
 */
import { Context, Effect, Layer, Option, type Scope } from "effect"
import { Cluster, Redis } from "ioredis"
import type { CacheService, RedisCacheOptions } from "../../src/index.js"
import { startRedisCluster } from "../../test/support/Cluster.js"
import { isPinned, pinServer } from "../lib/environment.js"
import { type CaseResult, effectRound, promiseRound, type SizeName } from "../lib/harness.js"
import { compression, IN_FLIGHT, KEYS, keyNumbers, rawConnection, seedSize, TTL_MILLIS } from "../lib/l2Setup.js"
import { Cache } from "../lib/library.js"
import { runCase, type SuiteContext } from "../lib/suite.js"
import { sampleServers } from "../lib/serverStats.js"

type StartupNodes = ReadonlyArray<{ readonly host: string; readonly port: number }>

const rawCluster = (nodes: StartupNodes, enableAutoPipelining: boolean): Effect.Effect<Cluster, never, Scope.Scope> =>
  rawConnection(() => new Cluster(nodes.map(({ host, port }) => ({ host, port })), { enableAutoPipelining, lazyConnect: true }))

const clusterCache = (urls: readonly [string, ...Array<string>], options: RedisCacheOptions): Effect.Effect<CacheService, never, Scope.Scope> =>
  Effect.orDie(Effect.map(
    Layer.build(Cache.layerRedis({ cluster: { nodes: urls }, keyPrefix: "bench:", failOnConnectionError: true, ...options })),
    (services) => Context.get(services, Cache)
  ))

/** Runs the cluster cases at every size. */
export const clusterSuite = (context: SuiteContext): Effect.Effect<ReadonlyArray<CaseResult>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const cluster = yield* startRedisCluster()
    // The nodes inherit the benchmark's CPU: they go to the run's own server's, so that, as in the
    // redis suite, the server's work does not take the client's CPU.
    if (isPinned()) {
      const pinned = yield* Effect.forEach(cluster.nodes, (node) =>
        Effect.map(node.cli("INFO", "server"), (info) => pinServer(Number(/process_id:(\d+)/.exec(info)?.[1]))))
      if (!pinned.every(Boolean)) process.stderr.write("cluster suite: the nodes could not be pinned to CPU 0\n")
    }
    const raw = {
      plain: yield* rawCluster(cluster.startupNodes, false),
      pipelined: yield* rawCluster(cluster.startupNodes, true)
    }
    // Every case reports the commands and CPU per operation of all the cluster's nodes together.
    const nodeClients = yield* Effect.forEach(cluster.nodes, (node) =>
      Effect.acquireRelease(
        Effect.sync(() => new Redis({ host: node.host, port: node.port })),
        (client) => Effect.promise(() => client.quit().catch(() => "closed"))
      ))
    const server = sampleServers(nodeClients)
    // L2 hits need an empty L1: these caches keep none. Miss-then-set uses the default (L1 on).
    const l2Caches: Record<string, CacheService> = {}
    const mtsCaches: Record<string, CacheService> = {}
    for (const c of compression) {
      l2Caches[c.tag] = yield* clusterCache(cluster.urls, {
        cacheName: `bench-cluster-l2-${c.tag}`,
        enableL1: false,
        compressionThreshold: c.threshold
      })
      mtsCaches[c.tag] = yield* clusterCache(cluster.urls, {
        cacheName: `bench-cluster-mts-${c.tag}`,
        compressionThreshold: c.threshold
      })
    }
    const results: Array<CaseResult> = []
    const takeKeyNumbers = keyNumbers()

    const sizeCases = (size: SizeName) =>
      Effect.gen(function*() {
        const { libKeys, rawKeys, values } = yield* seedSize(size, raw.pipelined, l2Caches)

        // L2 hits
        for (const pipelining of [false, true]) {
          const client = pipelining ? raw.pipelined : raw.plain
          results.push(yield* runCase(context, {
            id: `baseline.cluster.get.100${pipelining ? ".ap" : ""}`,
            label: `raw ioredis Cluster GET + JSON.parse, 100 in flight${pipelining ? ", auto-pipelining" : ""}`,
            size,
            latency: "per-op",
            server,
            initialOps: 200,
            ...(pipelining ? {} : { baseline: "baseline.cluster.get.100.ap" }),
            round: (ops) =>
              Effect.promise(() =>
                promiseRound(ops, IN_FLIGHT, async (i) => {
                  const text = await client.get(rawKeys[i % KEYS]!)
                  if (text === null) throw new Error("raw GET missed")
                  JSON.parse(text)
                })
              )
          }))
        }
        for (const c of compression) {
          const cache = l2Caches[c.tag]!
          const keys = libKeys[c.tag]!
          results.push(yield* runCase(context, {
            id: `cluster.l2.get.100.${c.tag}`,
            label: `yield* cache.get(k) on a cluster, L2 hit (L1 off), ${c.name}, 100 in flight`,
            size,
            latency: "per-op",
            server,
            initialOps: 200,
            baseline: "baseline.cluster.get.100.ap",
            round: (ops) =>
              effectRound(ops, IN_FLIGHT, (i) =>
                Effect.flatMap(cache.get(keys[i % KEYS]!), (found) =>
                  Option.isSome(found) ? Effect.void : Effect.die(new Error("L2 missed"))))
          }))
        }

        // Miss, then set (every key is new)
        results.push(yield* runCase(context, {
          id: "baseline.cluster.mts.100.ap",
          label: "raw ioredis Cluster GET (miss) + SET PX with JSON, 100 in flight, auto-pipelining",
          size,
          latency: "per-op",
          server,
          initialOps: 200,
          round: (ops) => {
            const first = takeKeyNumbers(ops)
            return Effect.promise(() =>
              promiseRound(ops, IN_FLIGHT, async (i) => {
                const key = `bench:raw:mts:${first + i}`
                if ((await raw.pipelined.get(key)) !== null) throw new Error("raw GET hit a new key")
                await raw.pipelined.set(key, JSON.stringify(values[i % KEYS]), "PX", TTL_MILLIS)
              })
            )
          }
        }))
        for (const c of compression) {
          const cache = mtsCaches[c.tag]!
          results.push(yield* runCase(context, {
            id: `cluster.mts.100.${c.tag}`,
            label: `cache.get(k) (miss) then cache.set(k, v) on a cluster, ${c.name}, 100 in flight`,
            size,
            latency: "per-op",
            server,
            initialOps: 200,
            baseline: "baseline.cluster.mts.100.ap",
            round: (ops) => {
              const first = takeKeyNumbers(ops)
              return effectRound(ops, IN_FLIGHT, (i) => {
                const key = `mts:${first + i}`
                return Effect.flatMap(cache.get(key), (found) =>
                  Option.isNone(found) ? cache.set(key, values[i % KEYS]!) : Effect.die(new Error("hit a new key")))
              })
            }
          }))
        }
        // FLUSHALL on every master: a cluster has no one command for all its keys.
        yield* Effect.promise(() => Promise.all(raw.plain.nodes("master").map((node) => node.flushall())))
      })

    for (const size of context.sizes) yield* sizeCases(size)
    return results
  })
