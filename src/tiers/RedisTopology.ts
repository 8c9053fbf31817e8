/**
 * Which Redis deployment the L2 tier talks to: one server, a Redis Cluster, or a master
 * found through Redis Sentinel. The tier's interface is the same for all three; this
 * module only says how to connect and how to show the deployment in logs and status.
 *
 * @since 0.1.0
 */
import { Option } from "effect"
import type { Redis } from "ioredis"
import type { ClusterTuning, NodeAddress, SentinelSettings } from "../security/connectionOptions.js"
import { redactUrl, urlWithAddress } from "../internal/url.js"

/**
 * The deployment. `Standalone` connects to the tier's `redisUrl`; `Cluster` to the
 * startup nodes `nodes` (URLs: credentials and TLS of the first, with the
 * `SecurityConfig`, apply to every node); `Sentinel` to the master the Sentinels name
 * (the tier's `redisUrl` then gives only the master's credentials, database and scheme).
 *
 * @since 0.1.0
 */
export type RedisTopology =
  | { readonly _tag: "Standalone" }
  | { readonly _tag: "Cluster"; readonly nodes: ReadonlyArray<string>; readonly tuning: ClusterTuning }
  | ({ readonly _tag: "Sentinel" } & SentinelSettings)

/**
 * The standalone topology.
 *
 * @since 0.1.0
 */
export const standalone: RedisTopology = { _tag: "Standalone" }

/**
 * `host:port` of a node URL (which the options schema has already validated).
 *
 * @since 0.1.0
 */
export const addressOf = (url: string): NodeAddress => {
  const parsed = new URL(url)
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"), port: parsed.port === "" ? 6379 : Number(parsed.port) }
}

const joinAddresses = (addresses: ReadonlyArray<NodeAddress>) =>
  addresses.map(({ host, port }) => `${host}:${port}`).join(",")

/**
 * How the deployment is shown in logs, `status().url` and errors: never a password, and
 * always a URL that parses (spans read the server's address from it). A cluster is its
 * first node with every startup node in the fragment, `redis://h1:p1#cluster=h1:p1,h2:p2`;
 * a sentinel setup is its first Sentinel and the master's name,
 * `redis+sentinel://s1:p1/<name>#sentinels=s1:p1,s2:p2`.
 *
 * @since 0.1.0
 */
export const shownTopology = (topology: RedisTopology, redisUrl: string): string => {
  switch (topology._tag) {
    case "Standalone":
      return redactUrl(redisUrl)
    case "Cluster": {
      const addresses = topology.nodes.map(addressOf)
      const scheme = /^rediss:/.test(topology.nodes[0] ?? "") ? "rediss" : "redis"
      return `${scheme}://${joinAddresses(addresses.slice(0, 1))}#cluster=${joinAddresses(addresses)}`
    }
    case "Sentinel":
      return `redis+sentinel://${joinAddresses(topology.sentinels.slice(0, 1))}/${encodeURIComponent(topology.name)}` +
        `#sentinels=${joinAddresses(topology.sentinels)}`
  }
}

/**
 * The one URL that stands for the `redisUrl` option: itself, or the first of a list.
 *
 * @since 0.1.0
 */
export const primaryUrl = (redisUrl: string | ReadonlyArray<string> | undefined): string | undefined =>
  typeof redisUrl === "string" ? redisUrl : redisUrl?.[0]

/** The options that choose the topology (validated by `validateTopology` in CacheOptions). */
interface TopologyOptions {
  readonly redisUrl?: string | ReadonlyArray<string>
  readonly cluster?: { readonly nodes: ReadonlyArray<string> } & ClusterTuning
  readonly sentinel?: {
    readonly sentinels: ReadonlyArray<NodeAddress>
    readonly name: string
    readonly sentinelUsername?: string
    readonly sentinelPassword?: Exclude<SentinelSettings["sentinelPassword"], undefined>
    readonly tls?: boolean
  }
  readonly l1Invalidation?: "tracking" | "bus" | "off"
}

/**
 * The topology the options describe: `cluster`, or `redisUrl` as a list (a cluster too),
 * or `sentinel`, else standalone.
 *
 * @since 0.1.0
 */
export const topologyOf = (options: TopologyOptions): RedisTopology => {
  if (options.cluster !== undefined) {
    const { nodes, ...tuning } = options.cluster
    return { _tag: "Cluster", nodes, tuning }
  }
  if (Array.isArray(options.redisUrl)) return { _tag: "Cluster", nodes: options.redisUrl, tuning: {} }
  if (options.sentinel !== undefined) {
    const { tls, ...sentinel } = options.sentinel
    return { _tag: "Sentinel", ...sentinel, tls: tls ?? false }
  }
  return standalone
}

/**
 * The L1 invalidation mechanism in force, and why when it is not the one asked for.
 * Through Sentinel both mechanisms work as on one server (the subscriber follows the master
 * too). On a cluster `"tracking"` becomes `"bus"` (the bus over the cluster's pub/sub, which
 * every node forwards to all nodes): server-assisted tracking is per node, and would need a
 * tracked connection and a subscriber per master, re-made on every topology change
 * (docs/coherence.md, "On Redis Cluster").
 *
 * @since 0.1.0
 */
export const l1InvalidationOf = (
  options: TopologyOptions
): { readonly mechanism: "tracking" | "bus" | "off"; readonly notice: string | undefined } => {
  const asked = options.l1Invalidation ?? "tracking"
  if (asked !== "tracking" || topologyOf(options)._tag !== "Cluster") return { mechanism: asked, notice: undefined }
  return {
    mechanism: "bus",
    notice: `l1Invalidation "tracking" is not available on Redis Cluster: L1 coherence uses the bus, which does not ` +
      `see writes by other programs nor expiry in Redis (see docs/coherence.md)`
  }
}

/**
 * The URL the security checks (`CacheSecurity`, which also opens probe connections of its
 * own) look at: `redisUrl` on one server; on a cluster or through Sentinel, the server the
 * tier's `client` is connected to (a cluster's first master, the master the Sentinels named)
 * with the scheme and credentials of the URL the connection was made with. Never the unused
 * default `redisUrl` of a cluster or a sentinel setup.
 *
 * @since 0.1.0
 */
export const securityUrlOf = (
  topology: RedisTopology,
  redisUrl: string,
  client: Option.Option<Redis>
): string => {
  if (topology._tag === "Standalone" || Option.isNone(client)) {
    return topology._tag === "Cluster" ? topology.nodes[0]! : redisUrl
  }
  const base = topology._tag === "Cluster" ? topology.nodes[0]! : redisUrl
  // A Sentinel-found connection keeps the placeholder host in its options; its socket knows the master.
  const stream = (client.value as { readonly stream?: { readonly remoteAddress?: string; readonly remotePort?: number } }).stream
  const host = stream?.remoteAddress ?? client.value.options.host
  const port = stream?.remotePort ?? client.value.options.port
  return host === undefined || port === undefined ? new URL(base).href : urlWithAddress(base, host, port)
}
