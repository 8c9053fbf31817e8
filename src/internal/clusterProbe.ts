/**
 * Whether a Redis Cluster still serves the cache, asked of its masters.
 *
 * ioredis drops a node whose connection is lost without ending the `Cluster` (its `-node`
 * event also fires when a resharding retires a node), so a cache that sends nothing would
 * go on reporting Connected with every master dead. While connected to a cluster the tier
 * asks every master it knows for `CLUSTER INFO` every {@link CLUSTER_PROBE_MILLIS} (one small
 * command per master, which the least-privilege ACL already allows, for ioredis' ready
 * check). A master that does not answer within `commandTimeout` or closes, one that reports
 * `cluster_state:fail` (a slot without an owner: the cluster refuses commands), or no master
 * at all, is a lost connection: the tier goes memory-only and reconnects.
 *
 * @internal
 */
import type { Cluster, Redis } from "ioredis"

/** How often the tier probes a cluster it is connected to. */
export const CLUSTER_PROBE_MILLIS = 1000

const addressOf = (node: Redis) => `${node.options.host ?? "?"}:${node.options.port ?? "?"}`

const askNode = (node: Redis): Promise<string | undefined> =>
  node.call("CLUSTER", "INFO").then(
    (info) => /cluster_state:ok/.test(String(info)) ? undefined : `${addressOf(node)} reports cluster_state:fail`,
    (error: unknown) => `${addressOf(node)} did not answer CLUSTER INFO: ${error instanceof Error ? error.message : String(error)}`
  )

// A slot whose owner in ioredis' slot map is no longer among its masters (its connection was lost
// and the node dropped): commands to it would fail until the map is refreshed after a failover.
const orphanSlot = (cluster: Cluster, masters: ReadonlyArray<Redis>): string | undefined => {
  const known = new Set(masters.map(addressOf))
  let lastOwner: string | undefined
  for (let slot = 0; slot < cluster.slots.length; slot++) {
    const owner = cluster.slots[slot]?.[0]
    if (owner === undefined || owner === lastOwner) continue
    if (!known.has(owner)) return `the master of slot ${slot} (${owner}) is not connected`
    lastOwner = owner
  }
  return undefined
}

/**
 * Why the cluster cannot serve now (the first problem found), or `undefined` when every
 * slot's master is connected and every master answers `cluster_state:ok`.
 */
export const clusterProblem = (cluster: Cluster): Promise<string | undefined> => {
  const masters = cluster.nodes("master")
  if (masters.length === 0) return Promise.resolve("no master of the cluster is connected")
  const orphan = orphanSlot(cluster, masters)
  if (orphan !== undefined) return Promise.resolve(orphan)
  return Promise.all(masters.map(askNode)).then((problems) => problems.find((problem) => problem !== undefined))
}
