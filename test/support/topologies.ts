/**
 * The core behaviour suites on every deployment the cache supports: one `redis-server`, a
 * Redis Cluster (3 masters) and a Sentinel setup (1 master, 1 replica, 3 Sentinels).
 *
 * {@link forEachTopology} runs one set of test bodies once per topology. Each topology is
 * started once per file (a `layer`, built before its first test and stopped after its
 * last) and reset by {@link freshTopology} at the start of every test: data flushed, ACL
 * users and configuration as started, and every node that a test killed, paused or
 * reconfigured restarted. A test body talks to "the server" through {@link TopologyServer}
 * and never asks which topology it runs on.
 *
 * An outage of "the server" is an outage of every master (a cluster) or of the master
 * (Sentinel) that Redis' own failure detection does not act on: the cluster's node timeout
 * and the Sentinels' `down-after-milliseconds` are longer than any outage here, so no
 * replica is promoted. Failover is tested in test/topologies/*.test.ts.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { layer, type Vitest } from "@effect/vitest"
import { Context, Effect, Layer, type Scope } from "effect"
import type { RedisCacheOptions } from "../../src/index.js"
import { l1InvalidationOf } from "../../src/tiers/RedisTopology.js"
import { startRedisCluster } from "./Cluster.js"
import type { RedisServerHandle } from "./RedisServer.js"
import { startRedisServer } from "./RedisServer.js"
import { startRedisSentinel } from "./RedisSentinel.js"

/** The topologies every core suite runs on. */
export const topologyNames = ["standalone", "cluster", "sentinel"] as const
export type TopologyName = (typeof topologyNames)[number]

/** The all-permissions ACL user every node has (the security fixtures' admin). */
export const TOPOLOGY_ADMIN = { name: "admin", password: "admin-Password-0123456789" } as const

/** Credentials of a Redis ACL user. */
export interface Credentials {
  readonly username: string
  readonly password: string
}

/** "The server" of a test, whatever the topology. */
export interface TopologyServer {
  readonly name: TopologyName
  /** Cache options that connect to it (`redisUrl`, `cluster` or `sentinel`), as `credentials` when given. */
  readonly connect: (credentials?: Credentials) => RedisCacheOptions
  /** What `cacheAclRule` needs besides the prefix on this topology. */
  readonly aclRuleOptions: { readonly cluster?: boolean }
  /** The L1 invalidation mechanism a cache with the default options has here. */
  readonly l1Invalidation: "tracking" | "bus" | "off"
  /** A command, as the admin, on the node that holds its key (a cluster follows MOVED); a keyless one goes to the first master. */
  readonly cli: (...args: ReadonlyArray<string>) => Effect.Effect<string>
  /** A command, as the admin, on every master. */
  readonly everyMaster: (...args: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<string>>
  /** Keys over all masters. */
  readonly dbSize: Effect.Effect<number>
  /** `CLIENT LIST` of every master, one text. */
  readonly clientList: Effect.Effect<string>
  /** Closes, from the server side, every data connection of the cache named `cacheName`. */
  readonly killClient: (cacheName: string) => Effect.Effect<void>
  /** `default` off and a user `username` with `rule` on every data node, kept over restarts (until the next test). */
  readonly useAcl: (user: Credentials & { readonly rule: string }) => Effect.Effect<void>
  /** SIGKILL of every master. */
  readonly kill: Effect.Effect<void>
  /** Every master started again (after `kill`, or a stop); waits until all slots are served. */
  readonly restart: Effect.Effect<void>
  /** SIGSTOP of every master. */
  readonly pause: Effect.Effect<void>
  /** SIGCONT after `pause`. */
  readonly resume: Effect.Effect<void>
}

interface Deployment {
  readonly server: TopologyServer
  readonly reset: Effect.Effect<void>
}

/** The running topology of a describe block. */
export class Topology extends Context.Service<Topology, Deployment>()("test/Topology") {}

/** Flushes and restores the block's topology, and answers it: what a test starts with instead of a server. */
export const freshTopology: Effect.Effect<TopologyServer, never, Topology> = Effect.gen(function*() {
  const deployment = yield* Topology
  yield* deployment.reset
  return deployment.server
})

/**
 * Registers `body`'s tests once per topology, each set in a describe block named after it
 * that shares one running topology. Test bodies use `it.effect` (live clock) and begin with
 * `yield* freshTopology`.
 */
export const forEachTopology = (
  body: (it: Vitest.MethodsNonLive<Topology>, name: TopologyName) => void,
  names: ReadonlyArray<TopologyName> = topologyNames
): void => {
  for (const name of names) {
    layer(Layer.effect(Topology, startTopology(name)), { excludeTestServices: true, timeout: 120_000 })(
      name,
      (it) => body(it, name)
    )
  }
}

const CLUSTER_READY_TIMEOUT_MS = 30_000
const admin = ["--user", TOPOLOGY_ADMIN.name, "--pass", TOPOLOGY_ADMIN.password] as const
const pristineAcl = [
  "user default on nopass ~* &* +@all",
  `user ${TOPOLOGY_ADMIN.name} on >${TOPOLOGY_ADMIN.password} ~* &* +@all`,
  ""
].join("\n")

// Effect.sleep would be fine here (live clock), but the support files wait in real time alike.
const realSleep = (ms: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), ms)
    return Effect.sync(() => clearTimeout(timer))
  })

// One ACL file for every data node: each saves the same users into it, and loads it on restart.
const aclFile: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-redis-cache-topology-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => {
  const file = path.join(dir, "users.acl")
  fs.writeFileSync(file, pristineAcl)
  return file
}))

const withCredentials = (url: string, credentials: Credentials | undefined): string => {
  if (credentials === undefined) return url
  const parsed = new URL(url)
  parsed.username = credentials.username
  parsed.password = credentials.password
  return parsed.href
}

const clientIdsNamed = (list: string, cacheName: string): Array<string> =>
  list.split("\n")
    .filter((line) => line.includes(` name=effect-redis-cache:${cacheName} `))
    .flatMap((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1] ?? [])

/** What differs per topology; the rest of {@link TopologyServer} is built from it. */
interface Shape {
  readonly name: TopologyName
  readonly connect: (credentials?: Credentials) => RedisCacheOptions
  /** Every master (one outside a cluster). */
  readonly masters: ReadonlyArray<RedisServerHandle>
  /** Every data node: masters and replicas. */
  readonly dataNodes: ReadonlyArray<RedisServerHandle>
  readonly cli: (...args: ReadonlyArray<string>) => Effect.Effect<string>
  /** Waits until the restarted masters serve again. */
  readonly serving: Effect.Effect<void>
  readonly check: Effect.Effect<void>
}

const startTopology = (name: TopologyName): Effect.Effect<Deployment, never, Scope.Scope> =>
  Effect.gen(function*() {
    const acl = yield* aclFile
    const shape = name === "standalone"
      ? yield* standaloneShape(acl)
      : name === "cluster"
      ? yield* clusterShape(acl)
      : yield* sentinelShape(acl)
    return deploymentOf(shape, acl)
  })

const standaloneShape = (acl: string) =>
  Effect.map(startRedisServer({ aclFile: acl }), (server): Shape => ({
    name: "standalone",
    connect: (credentials) => ({ redisUrl: withCredentials(server.url, credentials) }),
    masters: [server],
    dataNodes: [server],
    cli: (...args) => server.cli(...admin, ...args),
    serving: Effect.void,
    check: Effect.void
  }))

const clusterServing = (masters: ReadonlyArray<RedisServerHandle>): Effect.Effect<void> =>
  Effect.gen(function*() {
    const deadline = Date.now() + CLUSTER_READY_TIMEOUT_MS
    for (;;) {
      const states = yield* Effect.forEach(masters, (node) => node.cli(...admin, "CLUSTER", "INFO"))
      if (states.every((info) => /cluster_state:ok/.test(info))) return
      if (Date.now() > deadline) return yield* Effect.die(new Error(`the cluster did not serve again:\n${states.join("\n")}`))
      yield* realSleep(100)
    }
  })

const clusterShape = (acl: string) =>
  Effect.map(
    // A node timeout longer than any outage of these tests: no master is declared failed.
    startRedisCluster({ args: ["--aclfile", acl, "--cluster-node-timeout", "5000"] }),
    (cluster): Shape => {
      const first = cluster.nodes[0]!
      return {
        name: "cluster",
        connect: (credentials) => ({
          cluster: { nodes: [withCredentials(cluster.urls[0], credentials), ...cluster.urls.slice(1)] }
        }),
        masters: cluster.nodes,
        dataNodes: cluster.nodes,
        // redis-cli -c follows MOVED to the node that holds the key.
        cli: (...args) => first.cli("-c", ...admin, ...args),
        serving: clusterServing(cluster.nodes),
        check: Effect.void
      }
    }
  )

const sentinelShape = (acl: string) =>
  Effect.map(
    // A down-after longer than any outage of these tests: the Sentinels never fail over.
    startRedisSentinel({ aclFile: acl, masterUser: TOPOLOGY_ADMIN, downAfterMs: 60_000 }),
    (setup): Shape => ({
      name: "sentinel",
      connect: (credentials) => ({
        sentinel: { sentinels: setup.addresses, name: setup.name },
        // Through Sentinel, redisUrl gives only the master's credentials (its host is not used).
        ...(credentials === undefined ? {} : { redisUrl: withCredentials("redis://127.0.0.1", credentials) })
      }),
      masters: [setup.master],
      dataNodes: [setup.master, setup.replica],
      cli: (...args) => setup.master.cli(...admin, ...args),
      serving: Effect.void,
      check: Effect.flatMap(setup.currentMasterPort, (port) =>
        port === setup.master.port
          ? Effect.void
          : Effect.die(new Error(`the Sentinels failed over to ${port}: the shared setup is unusable`)))
    })
  )

const deploymentOf = (shape: Shape, acl: string): Deployment => {
  // Whether a test killed, paused or reconfigured a node, or changed the ACL users: the next reset repairs it.
  let disturbed = false
  let aclChanged = false
  const onMasters = (run: (node: RedisServerHandle) => Effect.Effect<void>) =>
    Effect.andThen(
      Effect.sync(() => {
        disturbed = true
      }),
      Effect.forEach(shape.masters, run, { concurrency: "unbounded", discard: true })
    )
  const everyMaster = (...args: ReadonlyArray<string>) => {
    if (args[0]?.toUpperCase() === "CONFIG" && args[1]?.toUpperCase() === "SET") disturbed = true
    return Effect.forEach(shape.masters, (node) => node.cli(...admin, ...args))
  }
  const restart = Effect.andThen(onMasters((node) => node.restart), shape.serving)
  const server: TopologyServer = {
    name: shape.name,
    connect: shape.connect,
    aclRuleOptions: shape.name === "cluster" ? { cluster: true } : {},
    l1Invalidation: l1InvalidationOf(shape.connect()).mechanism,
    cli: shape.cli,
    everyMaster,
    dbSize: Effect.map(everyMaster("DBSIZE"), (sizes) => sizes.reduce((total, size) => total + Number(size), 0)),
    clientList: Effect.map(everyMaster("CLIENT", "LIST"), (lists) => lists.join("\n")),
    killClient: (cacheName) =>
      Effect.forEach(shape.masters, (node) =>
        Effect.flatMap(node.cli(...admin, "CLIENT", "LIST"), (list) =>
          Effect.forEach(clientIdsNamed(list, cacheName), (id) => node.cli(...admin, "CLIENT", "KILL", "ID", id))), {
        discard: true
      }),
    useAcl: ({ password, rule, username }) =>
      Effect.andThen(
        Effect.sync(() => {
          aclChanged = true
        }),
        Effect.forEach(shape.dataNodes, (node) =>
          Effect.all([
            node.cli(...admin, "ACL", "SETUSER", username, "reset", "on", `>${password}`, ...rule.split(" ")),
            node.cli(...admin, "ACL", "SETUSER", "default", "off"),
            node.cli(...admin, "ACL", "SAVE")
          ]), { discard: true })
      ),
    kill: onMasters((node) => node.kill),
    restart,
    pause: onMasters((node) => node.pause),
    resume: onMasters((node) => node.resume)
  }
  const reset = Effect.gen(function*() {
    if (aclChanged) {
      fs.writeFileSync(acl, pristineAcl)
      if (!disturbed) yield* Effect.forEach(shape.dataNodes, (node) => node.cli(...admin, "ACL", "LOAD"), { discard: true })
    }
    // A restart also loads the pristine ACL file and forgets CONFIG SET.
    if (disturbed) yield* restart
    disturbed = false
    aclChanged = false
    yield* shape.check
    yield* Effect.forEach(shape.masters, (node) =>
      Effect.all([node.cli(...admin, "FLUSHALL"), node.cli(...admin, "ACL", "LOG", "RESET")]), { discard: true })
  })
  return { server, reset }
}
