/**
 * Keeps a Redis read from refilling L1 with a value that a write or an invalidation
 * made stale while the read was in flight. A read takes a stamp before it is sent; a
 * write or an invalidation of the key (or of everything) after that stamp forbids the
 * refill. Per key, so that invalidations of other keys do not cost refills; bounded, by
 * turning into a whole-cache stamp when too many keys are remembered.
 *
 * A write is remembered twice: when it starts (no read or write stamped before may keep
 * its value) and when Redis answers it (no read stamped before may refill). The second
 * matters because a read's answer can be older than a write answered before the read
 * resumes: the read went out first, or its batch needed a second round trip (MGET, then
 * EXISTS for its misses). A write answered is no reason to drop a later write's own value,
 * so writes look at the first record only.
 */

const MAX_REMEMBERED_KEYS = 1_000

/** The guard of one cache's L1. */
export interface RefillGuard {
  /** The stamp a read or a write takes before it asks Redis. */
  readonly stamp: () => number
  /** A write, delete or invalidation of `key`: reads and writes stamped before it must not refill it. */
  readonly touch: (key: string) => void
  /** The same for every key (clear, pattern invalidation, flush). */
  readonly touchAll: () => void
  /** Redis answered a write of `key`: reads stamped before it must not refill it. */
  readonly written: (key: string) => void
  /** Whether a read stamped `stamp` may put what it read for `key` into L1. */
  readonly mayRefill: (key: string, stamp: number) => boolean
  /** Whether a write stamped `stamp` may keep its own value of `key` in L1. */
  readonly mayKeep: (key: string, stamp: number) => boolean
}

/** A new guard. */
export const makeRefillGuard = (): RefillGuard => {
  let counter = 0
  let floor = 0
  const touched = new Map<string, number>()
  const answered = new Map<string, number>()
  const touchAll = () => {
    counter++
    floor = counter
    touched.clear()
    answered.clear()
  }
  const remember = (keys: Map<string, number>, key: string) => {
    if (keys.size >= MAX_REMEMBERED_KEYS) return touchAll()
    keys.set(key, ++counter)
  }
  const mayKeep = (key: string, stamp: number) => floor <= stamp && (touched.get(key) ?? 0) <= stamp
  return {
    stamp: () => counter,
    touch: (key) => remember(touched, key),
    touchAll,
    written: (key) => remember(answered, key),
    mayRefill: (key, stamp) => mayKeep(key, stamp) && (answered.get(key) ?? 0) <= stamp,
    mayKeep
  }
}
