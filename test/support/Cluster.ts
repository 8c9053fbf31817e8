/**
 * A real Redis Cluster for tests: `masters` servers started with {@link startRedisServer}, joined
 * with `redis-cli --cluster create`, and stopped with the caller's `Scope` like any test server.
 */
import { execFile } from "node:child_process"
import { Effect, type Scope } from "effect"
import { freePort, type RedisServerHandle, startRedisServer } from "./RedisServer.js"

/** How to start a test cluster. */
export interface RedisClusterOptions {
  /** Number of master nodes; at least 3, as Redis Cluster requires. Default 3. */
  readonly masters?: number
  /** Replicas per master (`--cluster-replicas`). Default 0. */
  readonly replicas?: number
  /** Extra `redis-server` arguments for every node. */
  readonly args?: ReadonlyArray<string>
  /** Serve TLS only, on the client port, the cluster bus and replication (PEM paths; no client certificates). */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string }
}

/** A running cluster whose slots are all served. */
export interface RedisClusterHandle {
  /** One handle per master, in slot order (the first serves slot 0). */
  readonly nodes: ReadonlyArray<RedisServerHandle>
  /** The replicas (empty without `replicas`), each with the port of its master. */
  readonly replicas: ReadonlyArray<{ readonly node: RedisServerHandle; readonly masterPort: number }>
  /** `redis://` URLs of the masters, for the cache's `cluster.nodes`. */
  readonly urls: readonly [string, ...Array<string>]
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
    const replicas = options.replicas ?? 0
    if (masters < 3) return yield* Effect.die(new Error(`startRedisCluster: Redis Cluster needs at least 3 masters, got ${masters}`))
    const nodes: Array<RedisServerHandle> = []
    for (let i = 0; i < masters * (1 + replicas); i++) {
      // The bus port is chosen explicitly: the default (port + 10000) can fall outside 1-65535 for high free ports.
      const busPort = yield* freePort
      const tlsArgs = options.tls === undefined ? [] : ["--tls-cluster", "yes", "--tls-replication", "yes"]
      nodes.push(
        yield* startRedisServer({
          ...(options.tls === undefined ? {} : { tls: { ...options.tls, authClients: "no" as const } }),
          args: [
            "--cluster-enabled", "yes", "--cluster-port", String(busPort), "--cluster-node-timeout", "2000",
            ...tlsArgs,
            ...(options.args ?? [])
          ]
        })
      )
    }
    yield* redisCli([
      ...(options.tls === undefined ? [] : ["--tls", "--cacert", options.tls.ca]),
      "--cluster",
      "create",
      ...nodes.map((node) => `${node.host}:${node.port}`),
      "--cluster-replicas",
      String(replicas),
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
    // redis-cli assigns the replicas last; until node 0 has heard, it still lists them as masters.
    let roles = yield* clusterRoles(nodes)
    while (roles.masters.length !== masters || roles.replicas.length !== masters * replicas) {
      if (Date.now() > deadline) return yield* Effect.die(new Error("startRedisCluster: the replicas did not join"))
      yield* realSleep(100)
      roles = yield* clusterRoles(nodes)
    }
    yield* waitForReplicas(roles.replicas)
    return {
      nodes: roles.masters,
      replicas: roles.replicas,
      urls: roles.masters.map((node) => node.url) as unknown as readonly [string, ...Array<string>],
      startupNodes: roles.masters.map((node) => ({ host: node.host, port: node.port }))
    }
  })

interface NodeLine {
  readonly id: string
  readonly port: number
  readonly master: boolean
  readonly masterId: string
  readonly firstSlot: number
}

/** `CLUSTER NODES` as seen by `node`: one entry per node of the cluster. */
export const clusterNodes = (node: RedisServerHandle): Effect.Effect<ReadonlyArray<NodeLine>> =>
  node.cli("CLUSTER", "NODES").pipe(Effect.map((text) =>
    text.split("\n").filter((line) => line.trim() !== "").map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.split(" ")
      return {
        id: id!,
        port: Number(/:(\d+)@/.exec(address!)?.[1]),
        master: flags!.includes("master"),
        masterId: masterId!,
        firstSlot: slots.length === 0 ? Number.POSITIVE_INFINITY : Number(slots[0]!.split("-")[0])
      }
    })
  ))

// Which of the started nodes became masters (in slot order) and which replicas, of whom.
const clusterRoles = (nodes: ReadonlyArray<RedisServerHandle>) =>
  Effect.map(clusterNodes(nodes[0]!), (lines) => {
    const byPort = new Map(nodes.map((node) => [node.port, node]))
    const byId = new Map(lines.map((line) => [line.id, line]))
    const masters = lines.filter((line) => line.master && Number.isFinite(line.firstSlot))
      .sort((a, b) => a.firstSlot - b.firstSlot)
    return {
      masters: masters.map((line) => byPort.get(line.port)!),
      replicas: lines.filter((line) => !line.master && byId.has(line.masterId)).map((line) => ({
        node: byPort.get(line.port)!,
        masterPort: byId.get(line.masterId)!.port
      }))
    }
  })

/** Waits until every replica's link to its master is up (its initial sync done). */
export const waitForReplicas = (
  replicas: ReadonlyArray<{ readonly node: RedisServerHandle }>
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const deadline = Date.now() + CLUSTER_READY_TIMEOUT_MS
    for (const { node } of replicas) {
      while (!/master_link_status:up/.test(yield* node.cli("INFO", "replication"))) {
        if (Date.now() > deadline) return yield* Effect.die(new Error(`replica ${node.port} did not sync with its master`))
        yield* realSleep(100)
      }
    }
  })

/**
 * Waits until every node in `nodes` reports `cluster_state:ok` and agrees that the
 * masters are `masterCount` (after a failover: the promoted replicas).
 */
export const waitForClusterOk = (
  nodes: ReadonlyArray<RedisServerHandle>,
  masterCount = 3
): Effect.Effect<void> =>
  Effect.gen(function*() {
    const deadline = Date.now() + CLUSTER_READY_TIMEOUT_MS
    for (;;) {
      const states = yield* Effect.forEach(nodes, isServing)
      const masters = yield* Effect.forEach(nodes, (node) =>
        Effect.map(clusterNodes(node), (lines) => lines.filter((line) => line.master && !Number.isNaN(line.port)).length))
      if (states.every(Boolean) && masters.every((n) => n >= masterCount)) return
      if (Date.now() > deadline) return yield* Effect.die(new Error("the cluster did not recover cluster_state:ok"))
      yield* realSleep(100)
    }
  })
