/**
 * The least-privilege ACL rule for the cache's Redis user: its own key prefix and
 * Pub/Sub channels, and only the commands the cache sends.
 *
 * @since 0.1.0
 */

/**
 * The commands the cache needs: reads and writes of its keys, TTLs, SCAN-based
 * invalidation, Lua scripts and MULTI for batched reads and writes and for replays,
 * Pub/Sub for invalidation messages, and what ioredis sends while connecting (HELLO,
 * AUTH, CLIENT SETNAME, INFO for the ready check). `SELECT` is added when the URL names
 * a database other than 0.
 *
 * @since 0.1.0
 */
export const cacheAclCommands: ReadonlyArray<string> = [
  "get",
  "mget",
  "getrange",
  "type",
  "set",
  "del",
  "unlink",
  "exists",
  "pttl",
  "pexpire",
  "scan",
  "ping",
  "hello",
  "auth",
  "client|setname",
  "info",
  "multi",
  "exec",
  "eval",
  "evalsha",
  "script|load",
  "publish",
  "subscribe"
]

/**
 * The ACL rule (everything after `ACL SETUSER <name> on >password`) that limits a user
 * to keys and channels starting with `prefix` and to {@link cacheAclCommands}:
 *
 * ```
 * ACL SETUSER cache on >password ~myapp:* resetchannels &myapp:* -@all +get +set ...
 * ```
 *
 * @since 0.1.0
 */
export const cacheAclRule = (options: { readonly prefix: string; readonly select?: boolean }): string =>
  [
    `~${options.prefix}*`,
    "resetchannels",
    `&${options.prefix}*`,
    "-@all",
    ...cacheAclCommands.map((command) => `+${command}`),
    ...(options.select === true ? ["+select"] : [])
  ].join(" ")
