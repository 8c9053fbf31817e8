/**
 * Keeps a Redis read from refilling L1 with a value that a write or an invalidation
 * made stale while the read was in flight. A read takes a stamp before it is sent; a
 * write or an invalidation of the key (or of everything) after that stamp forbids the
 * refill. Per key, so that invalidations of other keys do not cost refills; bounded: past
 * the bound the oldest record is forgotten and becomes a floor (whatever was stamped before
 * it counts as touched, for every key). The bound follows L1's capacity, so that a `setMany`
 * of as many keys as L1 holds keeps them all (up to 100,000): every write of it is remembered
 * before the first is answered.
 *
 * A write is remembered twice: when it starts (no read or write stamped before may keep
 * its value) and when Redis answers it (no read stamped before may refill). The second
 * matters because a read's answer can be older than a write answered before the read
 * resumes: the read went out first, or its batch needed a second round trip (MGET, then
 * EXISTS for its misses). A write answered is no reason to drop a later write's own value,
 * so writes look at the first record only.
 */

/** The least number of keys a guard remembers, whatever L1's capacity. */
const MIN_REMEMBERED_KEYS = 1_000
/** The most: about 4 MB per kind of record at most; a larger L1 keeps the last 100,000 of a larger setMany. */
const MAX_REMEMBERED_KEYS = 100_000

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

/** A new guard, remembering up to `capacity` keys (L1's entry bound) of each kind of record. */
export const makeRefillGuard = (capacity = MIN_REMEMBERED_KEYS): RefillGuard => {
  const bound = Math.min(MAX_REMEMBERED_KEYS, Math.max(MIN_REMEMBERED_KEYS, capacity))
  let counter = 0
  // Stamps below `floor` may neither refill nor keep; below `readFloor`, not refill.
  let floor = 0
  let readFloor = 0
  const touched = new Map<string, number>()
  const answered = new Map<string, number>()
  const touchAll = () => {
    counter++
    floor = counter
    readFloor = counter
    touched.clear()
    answered.clear()
  }
  // Insertion order is touch order (a key touched again moves to the end), so the first
  // record is the oldest: forgetting it raises the floor to its stamp and no further.
  const remember = (keys: Map<string, number>, key: string): number => {
    keys.delete(key)
    let forgotten = 0
    if (keys.size >= bound) {
      const [oldest, at] = keys.entries().next().value!
      keys.delete(oldest)
      forgotten = at
    }
    keys.set(key, ++counter)
    return forgotten
  }
  const mayKeep = (key: string, stamp: number) => floor <= stamp && (touched.get(key) ?? 0) <= stamp
  return {
    stamp: () => counter,
    touch: (key) => {
      floor = Math.max(floor, remember(touched, key))
    },
    touchAll,
    written: (key) => {
      readFloor = Math.max(readFloor, remember(answered, key))
    },
    mayRefill: (key, stamp) => readFloor <= stamp && mayKeep(key, stamp) && (answered.get(key) ?? 0) <= stamp,
    mayKeep
  }
}
