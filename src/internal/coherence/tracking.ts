/**
 * Redis server-assisted client-side caching in its two-connection form: the data
 * connection redirects its tracking to the link's subscriber with
 * `CLIENT TRACKING ON REDIRECT <subscriber id> BCAST PREFIX <keyPrefix> NOLOOP`.
 *
 * BCAST with the cache's prefix reports every change under it (other instances, other
 * programs, expiry and eviction in Redis) without Redis remembering which keys each
 * client read. NOLOOP leaves out the changes made through this instance's own data
 * connection: its writes already update its L1, and an echo would evict the value the
 * write just stored.
 */
import { Effect } from "effect"
import type { Redis } from "ioredis"

// Data connections with tracking on. NOLOOP does not hold for writes made inside a Lua script
// (seen on Redis 7.0.15: EVAL of a SET is reported to the client that ran it, in BCAST mode), so
// the Redis tier sends its batched writes on such a connection as plain SETs, which NOLOOP covers.
const tracked = new WeakSet<Redis>()

/** Whether `client` has tracking on: its batched writes must not go through a script (see above). */
export const isTracked = (client: Redis): boolean => tracked.has(client)

/** The channel Redis sends invalidations on (RESP2 form). */
export const TRACKING_CHANNEL = "__redis__:invalidate"

/**
 * Turns tracking on for `client`, redirected to `redirect`; a connection that already
 * tracks (for a lost subscriber) is switched off first, since prefixes may not overlap.
 */
export const enableTracking = (client: Redis, redirect: number, prefix: string, switchOff: boolean) =>
  Effect.tryPromise(async () => {
    if (switchOff) await client.call("CLIENT", "TRACKING", "OFF")
    await client.call("CLIENT", "TRACKING", "ON", "REDIRECT", String(redirect), "BCAST", "PREFIX", prefix, "NOLOOP")
    tracked.add(client)
  })

/** Whether a failure of `enableTracking` means this server or user will never track (so the bus is used). */
export const isTrackingRefusal = (error: unknown): boolean => {
  const message = String((error as { readonly cause?: unknown }).cause ?? error)
  return /NOPERM|unknown command|unknown subcommand|ERR syntax/i.test(message)
}

/** The cache key (without the prefix) of one key of an invalidation message; `undefined` outside the prefix. */
export const trackedKey = (fullKey: Buffer, prefix: string): string | undefined => {
  const key = fullKey.toString("utf8")
  return key.startsWith(prefix) ? key.slice(prefix.length) : undefined
}
