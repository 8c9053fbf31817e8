/**
 * The bus publisher: after Redis acknowledged a change, the keys (or the pattern, or
 * the clear) go out on the cache's channel. Changes made in one tick leave as one
 * message. A message that cannot be sent is kept (newest wins per key, bounded; past the
 * bound it becomes a clear) and sent when the data connection is back, so a change is
 * never announced silently lost. It is also sent again on the same connection after a pause
 * (doubling, at most 10 s): on a cluster a publish can fail on one node (dying, or not yet
 * known to be dead) while the cache's connection as a whole stays up, and nothing else would
 * send the change before the next one.
 */
import type { Effect } from "effect"
import type { Redis } from "ioredis"
import { type BusChange, encodeBusMessage } from "./busMessage.js"

/** Most keys kept unsent before they are replaced by one clear. */
const MAX_UNSENT_KEYS = 10_000
/** Most keys in one message (a message stays well under a socket write). */
const MAX_KEYS_PER_MESSAGE = 1_000
/** The first and the longest pause before kept changes are sent again on the same connection. */
const RETRY_FIRST_MS = 500
const RETRY_MAX_MS = 10_000

/** The publisher of one cache instance. */
export interface Publisher {
  /** Announces a change Redis acknowledged. */
  readonly announce: (change: BusChange) => void
  /** The data connection to publish on, or none while Redis is away. */
  readonly attach: (client: Redis | undefined) => void
  /** Changes that could not be sent yet. */
  readonly unsent: () => number
}

/** A publisher for `channel`, signing messages with `instance`. */
export const makePublisher = (
  channel: string,
  instance: Buffer,
  now: () => number,
  logFailure: (error: unknown) => Effect.Effect<void>,
  runFork: <A, E>(effect: Effect.Effect<A, E>) => unknown
): Publisher => {
  let client: Redis | undefined
  let keys = new Set<string>()
  let others: Array<BusChange> = []
  let scheduled = false
  let overflowed = false
  let retry: ReturnType<typeof setTimeout> | undefined
  let retryMs = RETRY_FIRST_MS

  const keep = (change: BusChange) => {
    if (change._tag === "Keys") {
      for (const key of change.keys) keys.add(key)
      if (keys.size > MAX_UNSENT_KEYS) overflowed = true
    } else if (change._tag === "Clear") {
      overflowed = true
    } else others.push(change)
  }

  const messages = (): Array<BusChange> => {
    if (overflowed) return [{ _tag: "Clear" }]
    const batches: Array<BusChange> = [...others]
    const all = Array.from(keys)
    for (let i = 0; i < all.length; i += MAX_KEYS_PER_MESSAGE) {
      batches.push({ _tag: "Keys", keys: all.slice(i, i + MAX_KEYS_PER_MESSAGE) })
    }
    return batches
  }

  // Sends what is kept; what fails is kept again for the next attempt.
  const send = () => {
    scheduled = false
    const target = client
    if (target === undefined) return
    const batch = messages()
    keys = new Set()
    others = []
    overflowed = false
    const writtenAt = now()
    for (const change of batch) {
      target.publish(channel, encodeBusMessage(change, writtenAt, instance)).then(() => {
        retryMs = RETRY_FIRST_MS
      }, (error: unknown) => {
        keep(change)
        runFork(logFailure(error))
        retryLater()
      })
    }
  }

  // One pending retry at a time; it only schedules a send, which finds what is kept then.
  const retryLater = () => {
    if (retry !== undefined) return
    retry = setTimeout(() => {
      retry = undefined
      schedule()
    }, retryMs)
    retry.unref()
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS)
  }

  const schedule = () => {
    if (scheduled) return
    scheduled = true
    queueMicrotask(send)
  }

  return {
    announce: (change) => {
      keep(change)
      schedule()
    },
    attach: (next) => {
      client = next
      if (next !== undefined && (keys.size > 0 || others.length > 0 || overflowed)) schedule()
    },
    unsent: () => (overflowed ? 1 : 0) + keys.size + others.length
  }
}
