/**
 * Keeps a Redis read from refilling L1 with a value that a write or an invalidation
 * made stale while the read was in flight. A read takes a stamp before it is sent; a
 * write or an invalidation of the key (or of everything) after that stamp forbids the
 * refill. Per key, so that invalidations of other keys do not cost refills; bounded, by
 * turning into a whole-cache stamp when too many keys are remembered.
 */

const MAX_REMEMBERED_KEYS = 1_000

/** The guard of one cache's L1. */
export interface RefillGuard {
  /** The stamp a read takes before it asks Redis. */
  readonly stamp: () => number
  /** A write, delete or invalidation of `key`: reads stamped before it must not refill it. */
  readonly touch: (key: string) => void
  /** The same for every key (clear, pattern invalidation, flush). */
  readonly touchAll: () => void
  /** Whether a read stamped `stamp` may put what it read for `key` into L1. */
  readonly mayRefill: (key: string, stamp: number) => boolean
}

/** A new guard. */
export const makeRefillGuard = (): RefillGuard => {
  let counter = 0
  let floor = 0
  const touched = new Map<string, number>()
  const touchAll = () => {
    counter++
    floor = counter
    touched.clear()
  }
  return {
    stamp: () => counter,
    touch: (key) => {
      if (touched.size >= MAX_REMEMBERED_KEYS) return touchAll()
      touched.set(key, ++counter)
    },
    touchAll,
    mayRefill: (key, stamp) => floor <= stamp && (touched.get(key) ?? 0) <= stamp
  }
}
