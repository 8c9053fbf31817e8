/**
 * Where a link's subscriber connects, per topology:
 *
 * - one server: `redisUrl`;
 * - Sentinel: the master, asked of the Sentinels like the data connection (with the
 *   failover detector, so `+switch-master` ends the subscriber too and the link is made
 *   again on the new master);
 * - a cluster (the bus only): one master of the data connection's cluster, the next one at
 *   each attempt. A cluster forwards every `PUBLISH` to all its nodes, so any node hears the
 *   whole bus; trying the masters in turn keeps a dead node from being retried for ever.
 */
import { Effect, type Scope } from "effect"
import type { Cluster, Redis } from "ioredis"
import type { ConnectionError } from "../../errors.js"
import {
  connectRedis,
  type ConnectionSettings,
  type ConnectRedisOptions,
  connectSentinel
} from "../../security/connectionOptions.js"
import { type RedisTopology, shownTopology } from "../../tiers/RedisTopology.js"

/** How the subscriber's connection is made. */
export interface SubscriberTarget {
  /** Opens one subscriber connection; on a cluster, to the next master of `dataClient`. */
  readonly connect: (dataClient: Redis | undefined) => Effect.Effect<Redis, ConnectionError, Scope.Scope>
  /** Whether the data connection and the subscriber may land on different servers (so tracking must check). */
  readonly mayDiffer: boolean
}

// The tier hands a cluster over typed as a Redis (it answers the same commands).
const mastersOf = (client: Redis | undefined): ReadonlyArray<Redis> =>
  (client as { readonly isCluster?: boolean } | undefined)?.isCluster === true
    ? (client as unknown as Cluster).nodes("master")
    : []

// A node's connection checks the node's own host name (Node's default), not the first URL's.
const forNode = (settings: ConnectionSettings, host: string, port: number): ConnectionSettings => {
  if (settings.tls === undefined) return { ...settings, host, port }
  const { servername: _servername, ...tls } = settings.tls
  return { ...settings, host, port, tls }
}

/** The subscriber target of `topology`. */
export const subscriberTarget = (
  topology: RedisTopology,
  redisUrl: string,
  settings: ConnectionSettings,
  connection: ConnectRedisOptions & { readonly protocol: 2 }
): SubscriberTarget => {
  switch (topology._tag) {
    case "Standalone":
      return { connect: () => connectRedis(redisUrl, settings, connection), mayDiffer: false }
    case "Sentinel": {
      const shown = shownTopology(topology, redisUrl)
      return { connect: () => connectSentinel(shown, topology, settings, connection), mayDiffer: true }
    }
    case "Cluster": {
      const shown = shownTopology(topology, redisUrl)
      let next = 0
      return {
        connect: (dataClient) =>
          Effect.suspend(() => {
            const masters = mastersOf(dataClient)
            const node = masters.length === 0 ? undefined : masters[next++ % masters.length]!
            const host = node?.options.host ?? settings.host
            const port = node?.options.port ?? settings.port
            return connectRedis(shown, forNode(settings, host, port), connection)
          }),
        mayDiffer: false
      }
    }
  }
}
