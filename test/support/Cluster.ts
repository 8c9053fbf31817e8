/**
 * A real Redis Cluster for tests: `masters` servers started with {@link startRedisServer}, joined
 * with `redis-cli --cluster create`, and stopped with the caller's `Scope` like any test server.
 */
import { execFile } from "node:child_process"
import { Effect, type Scope } from "effect"
import { freePort, type RedisServerHandle, startRedisServer } from "./RedisServer.js"

/** How to start a test cluster. */
export interface RedisClusterOptions {
  /** Number of master nodes (no replicas); at least 3, as Redis Cluster requires. Default 3. */
  readonly masters?: number
  /** Extra `redis-server` arguments for every node. */
  readonly args?: ReadonlyArray<string>
}

/** A running cluster whose slots are all served. */
export interface RedisClusterHandle {
  /** One handle per master, in slot order (the first serves slot 0). */
  readonly nodes: ReadonlyArray<RedisServerHandle>
  /** What an ioredis `Cluster` needs to find the cluster. */
  readonly startupNodes: ReadonlyArray<{ readonly host: "127.0.0.1"; readonly port: number }>
}

const CLUSTER_READY_TIMEOUT_MS = 20_000

// Effect.sleep would hang under it.effect's TestClock; test infrastructure waits in real time.
const realSleep = (ms: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), ms)
    return Effect.sync(() => clearTimeout(timer))
  })

const redisCli = (args: ReadonlyArray<string>): Effect.Effect<string> =>
  Effect.callback<string>((resume) => {
    const child = execFile("redis-cli", args, { encoding: "utf8", timeout: CLUSTER_READY_TIMEOUT_MS }, (error, stdout, stderr) =>
      resume(
        error === null
          ? Effect.succeed(stdout)
          : Effect.die(new Error(`redis-cli ${args.join(" ")} failed: ${stderr || stdout || error.message}`))
      ))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const isServing = (node: RedisServerHandle): Effect.Effect<boolean> =>
  node.cli("CLUSTER", "INFO").pipe(Effect.map((info) => /cluster_state:ok/.test(info)))

/** Starts a cluster in the current Scope; every node is stopped (and its dir removed) when the scope closes. */
export const startRedisCluster = (
  options: RedisClusterOptions = {}
): Effect.Effect<RedisClusterHandle, never, Scope.Scope> =>
  Effect.gen(function*() {
    const masters = options.masters ?? 3
    if (masters < 3) return yield* Effect.die(new Error(`startRedisCluster: Redis Cluster needs at least 3 masters, got ${masters}`))
    const nodes: Array<RedisServerHandle> = []
    for (let i = 0; i < masters; i++) {
      // The bus port is chosen explicitly: the default (port + 10000) can fall outside 1-65535 for high free ports.
      const busPort = yield* freePort
      nodes.push(
        yield* startRedisServer({
          args: ["--cluster-enabled", "yes", "--cluster-port", String(busPort), "--cluster-node-timeout", "2000", ...(options.args ?? [])]
        })
      )
    }
    yield* redisCli([
      "--cluster",
      "create",
      ...nodes.map((node) => `${node.host}:${node.port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes"
    ])
    const deadline = Date.now() + CLUSTER_READY_TIMEOUT_MS
    while (!(yield* Effect.forEach(nodes, isServing)).every(Boolean)) {
      if (Date.now() > deadline) {
        const states = yield* Effect.forEach(nodes, (node) => node.cli("CLUSTER", "INFO"))
        return yield* Effect.die(new Error(`startRedisCluster: the cluster did not reach cluster_state:ok.\n${states.join("\n")}`))
      }
      yield* realSleep(100)
    }
    return { nodes, startupNodes: nodes.map((node) => ({ host: node.host, port: node.port })) }
  })
