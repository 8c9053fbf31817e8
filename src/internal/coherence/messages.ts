/**
 * What the subscriber does with a message: a tracking invalidation (keys, or null for a
 * flushed Redis) or a bus message from another instance (keys, a pattern, a clear).
 * O(keys in the message); a message with many keys is evicted a chunk per event-loop
 * turn (`L1Effects.evictAll`), so that no message blocks the loop for long.
 */
import { decodeBusMessage } from "./busMessage.js"
import type { L1Effects } from "./l1Effects.js"
import { TRACKING_CHANNEL, trackedKey } from "./tracking.js"

const keyItself = (key: string) => key

/** The subscriber's message handler. `instance` is this instance's id: its own bus messages are ignored. */
export const makeMessageHandler = (l1: L1Effects, prefix: string, busChannel: string, instance: Buffer) =>
(channel: Buffer, message: Buffer | ReadonlyArray<Buffer> | null): void => {
  const name = channel.toString()
  if (name === TRACKING_CHANNEL) {
    // A null payload is FLUSHALL/FLUSHDB (or a tracking table overflow): everything goes.
    if (message === null) {
      l1.flush("redis_flushed")
      return
    }
    l1.evictAll({
      items: message as ReadonlyArray<Buffer>,
      keyAt: (fullKey) => trackedKey(fullKey, prefix),
      done: (evicted) => l1.received(evicted, "tracking")
    })
    return
  }
  if (name !== busChannel || !Buffer.isBuffer(message)) return
  const decoded = decodeBusMessage(message)
  // A message this version cannot read may name keys it cannot see: everything goes.
  if (decoded === undefined) {
    l1.flush("version")
    return
  }
  if (decoded.instance.equals(instance)) return
  const { change, writtenAt } = decoded
  if (change._tag === "Keys") {
    l1.evictAll({ items: change.keys, keyAt: keyItself, done: (evicted) => l1.received(evicted, "bus", writtenAt) })
  } else if (change._tag === "Clear") {
    l1.flush("remote_clear")
    l1.received(1, "bus", writtenAt)
  } else {
    l1.received(l1.evictPattern(change.pattern, change.glob), "bus", writtenAt)
  }
}
