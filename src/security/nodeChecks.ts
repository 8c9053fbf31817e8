/**
 * The security checks of every server behind a Redis Cluster (each master and replica
 * that `CLUSTER NODES` lists) or a Sentinel setup (the master and each Sentinel), and the
 * one result that reports the weakest of them. A node is named by `host:port`, never by
 * its credentials.
 *
 * @since 0.1.0
 */
import { Effect, Option, Predicate, Redacted } from "effect"
import type { Redis } from "ioredis"
import type { ConfigurationError, ConnectionError } from "../errors.js"
import type { RedisTopology } from "../tiers/RedisTopology.js"
import { type ConnectionSettings, connectRedis, type NodeAddress, redisConnectionOptions } from "./connectionOptions.js"
import type { SecurityConfig } from "./SecurityConfig.js"
import { runSecurityChecks } from "./securityChecks.js"
import { urlWithAddress } from "../internal/url.js"
import type { NodeSecurity, SecurityValidationResult } from "./SecurityResult.js"

/**
 * One server to check: where it is, what it is, and how to connect to it.
 *
 * @since 0.1.0
 */
export interface SecurityTarget {
  /** `host:port`. */
  readonly node: string
  readonly role: NodeSecurity["role"]
  /** A URL with the node's credentials (shown only redacted). */
  readonly url: string
  readonly settings: ConnectionSettings
}

/** A URL that is `base` with another host and port (credentials, scheme and database kept). */
const nodeName = ({ host, port }: NodeAddress) => `${host}:${port}`

/** The `ip:port` and role of each line of `CLUSTER NODES` (`<id> <ip:port@bus[,host]> <flags> ...`). */
const parseClusterNodes = (text: string): Array<NodeAddress & { readonly role: "master" | "replica" }> =>
  text.split("\n").flatMap((line) => {
    const [, endpoint, flags] = line.trim().split(" ")
    const match = endpoint === undefined ? null : /^(.*):(\d+)@/.exec(endpoint)
    if (match === null || flags === undefined || match[1] === "") return []
    const role = flags.split(",").includes("master") ? "master" as const : "replica" as const
    return [{ host: match[1]!.replace(/^\[(.*)\]$/, "$1"), port: Number(match[2]), role }]
  })

/** A text reply, or None when the server refuses (NOPERM), fails or takes longer than 3 s. */
const callText = (client: Redis, args: ReadonlyArray<string>): Effect.Effect<Option.Option<string>> =>
  Effect.tryPromise(() => client.call(args[0]!, args.slice(1))).pipe(
    Effect.timeoutOption("3 seconds"),
    Effect.map(Option.filter(Predicate.isString)),
    Effect.orElseSucceed(() => Option.none<string>())
  )

/** The nodes a cluster lists, from `client` or a short-lived connection to `url`. */
const clusterTargets = Effect.fnUntraced(function*(
  topology: Extract<RedisTopology, { _tag: "Cluster" }>,
  url: string,
  settings: ConnectionSettings,
  config: Option.Option<SecurityConfig>,
  client: Option.Option<Redis>
) {
  const listing = Option.isSome(client)
    ? yield* callText(client.value, ["CLUSTER", "NODES"])
    : yield* Effect.scoped(
      connectRedis(url, settings, { connectionName: "effect-redis-cache:security-validation" }).pipe(
        Effect.flatMap((connection) => callText(connection, ["CLUSTER", "NODES"])),
        Effect.orElseSucceed(() => Option.none<string>())
      )
    )
  const listed = Option.match(listing, { onNone: () => [], onSome: parseClusterNodes })
  const natMap = topology.tuning.natMap ?? {}
  const targets: Array<SecurityTarget> = []
  for (const { role, ...announced } of listed) {
    const address = natMap[nodeName(announced)] ?? announced
    const nodeUrl = urlWithAddress(url, address.host, address.port)
    targets.push({ node: nodeName(address), role, url: nodeUrl, settings: yield* redisConnectionOptions(nodeUrl, config) })
  }
  return targets
})

/** The Sentinels, with their own credentials, and TLS when the cache speaks TLS to them. */
const sentinelTargets = Effect.fnUntraced(function*(
  topology: Extract<RedisTopology, { _tag: "Sentinel" }>,
  url: string,
  config: Option.Option<SecurityConfig>
) {
  const targets: Array<SecurityTarget> = []
  for (const address of topology.sentinels) {
    const nodeUrl = urlWithAddress(url, address.host, address.port)
    const { db: _db, password: _password, tls, username: _username, ...rest } = yield* redisConnectionOptions(nodeUrl, config)
    // As connectSentinel: TLS to the Sentinels only with `sentinel.tls` and the master's TLS settings.
    // The password goes only into the probe connection's settings, which are never shown.
    const settings: ConnectionSettings = {
      ...rest,
      ...(topology.sentinelUsername === undefined ? {} : { username: topology.sentinelUsername }),
      ...(topology.sentinelPassword === undefined ? {} : { password: Redacted.value(topology.sentinelPassword) }),
      ...(topology.tls && tls !== undefined ? { tls } : {})
    }
    targets.push({ node: nodeName(address), role: "sentinel", url: nodeUrl, settings })
  }
  return targets
})

/**
 * Every server to check for `topology`: on one server, `url` alone; on a cluster, every
 * node `CLUSTER NODES` lists (the first `url` alone when it cannot be listed); through
 * Sentinel, the master (`url`) and each Sentinel.
 *
 * @since 0.1.0
 */
export const securityTargets = Effect.fnUntraced(function*(
  topology: RedisTopology,
  url: string,
  config: Option.Option<SecurityConfig>,
  client: Option.Option<Redis>
): Effect.fn.Return<ReadonlyArray<SecurityTarget>, ConfigurationError> {
  const settings = yield* redisConnectionOptions(url, config)
  const first: SecurityTarget = {
    node: nodeName(settings),
    role: "master",
    url,
    settings
  }
  if (topology._tag === "Cluster") {
    const listed = yield* clusterTargets(topology, url, settings, config, client)
    return listed.length === 0 ? [first] : listed
  }
  if (topology._tag === "Sentinel") return [first, ...(yield* sentinelTargets(topology, url, config))]
  return [first]
})

/**
 * Checks one target on `live` when it is the cache's own connection to it, else on a
 * short-lived connection; an unreachable node is `onUnreachable`'s result.
 *
 * @since 0.1.0
 */
export const checkTarget = (
  target: SecurityTarget,
  live: Option.Option<Redis>,
  onUnreachable: (error: ConnectionError) => Effect.Effect<SecurityValidationResult>
): Effect.Effect<SecurityValidationResult> => {
  const context = {
    url: target.url,
    settings: target.settings,
    kind: target.role === "sentinel" ? "sentinel" : "data",
    probe: ["DBSIZE"]
  } as const
  if (Option.isSome(live)) return runSecurityChecks(live.value, context)
  return Effect.scoped(
    connectRedis(target.url, target.settings, { connectionName: "effect-redis-cache:security-validation" }).pipe(
      Effect.flatMap((client) => runSecurityChecks(client, context))
    )
  ).pipe(Effect.catch(onUnreachable))
}

const nodeSummary = (target: SecurityTarget, result: SecurityValidationResult): NodeSecurity => ({
  node: target.node,
  role: target.role,
  isSecure: result.isSecure,
  score: result.score,
  tlsEnabled: result.tlsEnabled,
  authConfigured: result.authConfigured,
  authenticationEnforced: result.detailedChecks.authentication_enforced ??
    result.detailedChecks.connectivity ?? "UNKNOWN: not checked",
  vulnerabilities: result.vulnerabilities,
  warnings: result.warnings
})

const unique = (lists: ReadonlyArray<ReadonlyArray<string>>) => [...new Set(lists.flat())]

/** `host:port (role): score N, secure|insecure[, what is wrong]`. */
const nodeLine = (node: NodeSecurity): string => {
  const problems = [
    ...node.vulnerabilities,
    ...(node.tlsEnabled ? [] : ["plain TCP"])
  ]
  return `${node.isSecure ? "OK" : "FAILED"}: score ${node.score}${problems.length === 0 ? "" : `; ${problems.join("; ")}`}`
}

/**
 * One result for several nodes: the weakest node's (lowest score; an insecure one first),
 * secure only when every node is, with TLS and credentials only when every node has them,
 * every node's vulnerabilities and warnings, a `node <host:port> (<role>)` check per node
 * and the per-node summaries in `nodes`. One node: its own result, unchanged.
 *
 * @since 0.1.0
 */
export const weakestOf = (
  checked: ReadonlyArray<{ readonly target: SecurityTarget; readonly result: SecurityValidationResult }>
): SecurityValidationResult => {
  if (checked.length === 1) return checked[0]!.result
  const nodes = checked.map(({ result, target }) => nodeSummary(target, result))
  const weakest = [...checked].sort((a, b) =>
    Number(a.result.isSecure) - Number(b.result.isSecure) || a.result.score - b.result.score
  )[0]!
  const results = checked.map(({ result }) => result)
  const nodeChecks = Object.fromEntries(nodes.map((node) => [`node ${node.node} (${node.role})`, nodeLine(node)]))
  const insecure = nodes.filter((node) => !node.isSecure).map((node) => node.node)
  return {
    ...weakest.result,
    isSecure: results.every((result) => result.isSecure),
    authConfigured: results.every((result) => result.authConfigured),
    tlsEnabled: results.every((result) => result.tlsEnabled),
    certificateValid: results.every((result) => result.certificateValid),
    vulnerabilities: unique(results.map((result) => result.vulnerabilities)),
    warnings: unique([
      ...results.map((result) => result.warnings),
      insecure.length === 0 ? [] : [`Insecure nodes: ${insecure.join(", ")} (the weakest is ${weakest.target.node})`]
    ]),
    recommendations: unique(results.map((result) => result.recommendations)),
    detailedChecks: {
      ...weakest.result.detailedChecks,
      nodes_checked: `${nodes.length} nodes; weakest ${weakest.target.node} (${weakest.target.role}), score ${weakest.result.score}`,
      ...nodeChecks
    },
    nodes
  }
}
