/**
 * The least-privilege ACL rule for the cache's Redis user: its own key prefix, the
 * one Pub/Sub channel of server-assisted invalidation, and only the commands the cache sends.
 *
 * @since 0.1.0
 */

/**
 * The commands the cache needs, and nothing else: reads of its keys (`GET`, `MGET` for
 * batches, in a `MULTI` for batches that read TTLs, `GETRANGE` and `TYPE` in scripts), writes
 * (`SET`, `UNLINK`), `EXISTS` and `PTTL`, `SCAN` for `clear` and `invalidatePattern`,
 * Lua scripts (`EVAL`, `EVALSHA`) for batches and replays, what ioredis sends while
 * connecting (`CLIENT SETNAME`, `INFO` for the ready check) and `PING` for the
 * security check and the invalidation link. L1 coherence (docs/coherence.md) adds
 * `CLIENT ID` and `SUBSCRIBE __redis__:invalidate` on its own connection and
 * `CLIENT TRACKING` on the data connection, hence the one channel the rule allows.
 * `AUTH` and `HELLO` need no permission: Redis lets every user run them. `SELECT` is
 * added when the URL names a database other than 0.
 * `getOrSet`'s `distributedLock` needs nothing more: `SET ... NX PX` takes the lock (a key
 * under the prefix), a script (`GET`, `UNLINK`) releases it, and waiters poll with `GET`.
 * test/security/aclRule.test.ts runs a cache under exactly this rule and checks
 * that the cache uses every one of these commands (`PING` aside) and is refused none.
 * `cacheAclCommandsFor("bus")` swaps `CLIENT TRACKING` for `PUBLISH`, and `"off"` needs
 * neither, nor `CLIENT ID` and `SUBSCRIBE`.
 */
// (the commands every cache sends, whatever its l1Invalidation)
const baseCommands: ReadonlyArray<string> = [
  "get",
  "mget",
  "getrange",
  "type",
  "set",
  "unlink",
  "exists",
  "pttl",
  "scan",
  "multi",
  "exec",
  "eval",
  "evalsha",
  "ping",
  "client|setname",
  "info"
]

/** The extra commands and the channel each `l1Invalidation` mechanism needs. */
const coherence = {
  tracking: { commands: ["client|id", "client|tracking", "subscribe"], channel: () => "__redis__:invalidate" },
  bus: { commands: ["client|id", "subscribe", "publish"], channel: (prefix: string) => `${prefix}__l1:v1` },
  off: { commands: [], channel: () => undefined }
} as const

/**
 * The commands of {@link cacheAclCommands} for a cache whose `l1Invalidation` is
 * `mechanism` (default `"tracking"`).
 *
 * @since 0.1.0
 */
export const cacheAclCommandsFor = (mechanism: "tracking" | "bus" | "off" = "tracking"): ReadonlyArray<string> => [
  ...baseCommands,
  ...coherence[mechanism].commands
]

/**
 * The commands a cache with the default `l1Invalidation: "tracking"` sends (see above).
 *
 * @since 0.1.0
 */
export const cacheAclCommands: ReadonlyArray<string> = cacheAclCommandsFor("tracking")

/**
 * The ACL rule (everything after `ACL SETUSER <name> on >password`) that limits a user
 * to keys starting with `prefix`, to the `__redis__:invalidate` channel, and to {@link cacheAclCommands}:
 *
 * ```
 * ACL SETUSER cache on >password ~myapp:* resetchannels -@all +get +mget +getrange ...
 * ```
 *
 * @since 0.1.0
 */
export const cacheAclRule = (options: {
  readonly prefix: string
  readonly select?: boolean
  /**
   * The cache's `l1Invalidation` (default `"tracking"`, and `"bus"` on a cluster, where tracking
   * falls back to it): which coherence commands and channel it needs.
   */
  readonly l1Invalidation?: "tracking" | "bus" | "off"
  /** A Redis Cluster: ioredis also reads the slot map (`CLUSTER SLOTS`) and checks `CLUSTER INFO` (docs/topologies.md). */
  readonly cluster?: boolean
}): string => {
  const mechanism = options.l1Invalidation ?? (options.cluster === true ? "bus" : "tracking")
  const channel = coherence[mechanism].channel(options.prefix)
  return [
    `~${options.prefix}*`,
    "resetchannels",
    ...(channel === undefined ? [] : [`&${channel}`]),
    "-@all",
    ...cacheAclCommandsFor(mechanism).map((command) => `+${command}`),
    ...(options.select === true ? ["+select"] : []),
    ...(options.cluster === true ? ["+cluster|slots", "+cluster|info"] : [])
  ].join(" ")
}
