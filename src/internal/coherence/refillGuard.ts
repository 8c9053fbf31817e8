/**
 * Keeps a Redis read from refilling L1 with a value that a write or an invalidation
 * made stale while the read was in flight. A read takes a stamp before it is sent; a
 * write or an invalidation of the key (or of everything) after that stamp forbids the
 * refill. Per key, so that invalidations of other keys do not cost refills.
 *
 * A write is remembered twice: when it starts (no read or write stamped before may keep
 * its value) and when Redis answers it (no read stamped before may refill). The second
 * matters because a read's answer can be older than a write answered before the read
 * resumes: the read went out first, or its batch needed a second round trip (MGET, then
 * EXISTS for its misses). A write answered is no reason to drop a later write's own value,
 * so writes look at the first record only.
 *
 * Bounded in two ways, both by forgetting the oldest records and turning them into a floor
 * (whatever was stamped before a forgotten record counts as changed, for every key): by
 * count, as many keys as L1 holds (at least 1,000, at most 100,000), so that a `setMany` of as
 * many keys as L1 holds keeps them all, though every write of it is remembered before the
 * first is answered; and by age, `RECORD_MILLIS` (checked when a record is made: no timer),
 * so that a busy cache does not keep a record per key it ever wrote (a stamp that old belongs
 * to an operation its commandTimeout has failed, or one that only loses its refill).
 */

/** The least number of keys a guard remembers, whatever L1's capacity. */
const MIN_REMEMBERED_KEYS = 1_000
/** The most: about 4 MB per kind of record at most; a larger L1 keeps the last 100,000 of a larger setMany. */
const MAX_REMEMBERED_KEYS = 100_000
/** How long a record is kept (as long as the default commandTimeout). */
const RECORD_MILLIS = 1_000
/** How often the guard notes which stamp it is at, to know which records have aged out. */
const MARK_MILLIS = RECORD_MILLIS / 8

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

/**
 * A new guard, remembering up to `capacity` keys (L1's entry bound) of each kind of record,
 * none for longer than `RECORD_MILLIS` by `now` (milliseconds).
 */
export const makeRefillGuard = (capacity = MIN_REMEMBERED_KEYS, now: () => number = Date.now): RefillGuard => {
  const bound = Math.min(MAX_REMEMBERED_KEYS, Math.max(MIN_REMEMBERED_KEYS, capacity))
  let counter = 0
  // Stamps below `floor` may neither refill nor keep; below `readFloor`, not refill.
  let floor = 0
  let readFloor = 0
  const touched = new Map<string, number>()
  const answered = new Map<string, number>()
  // Pairs (stamp, time), oldest first, one per MARK_MILLIS at most while records are made.
  const marks: Array<number> = []
  const touchAll = () => {
    counter++
    floor = counter
    readFloor = counter
    touched.clear()
    answered.clear()
  }
  // Insertion order is touch order (a key touched again moves to the end), so the first
  // records are the oldest: forgetting them raises the floor to their stamps and no further.
  const forgetThrough = (keys: Map<string, number>, through: number): number => {
    let forgotten = 0
    for (const [key, at] of keys) {
      if (at > through) break
      keys.delete(key)
      forgotten = at
    }
    return forgotten
  }
  // The newest stamp older than RECORD_MILLIS (0: none), from the marks.
  const agedOut = (time: number): number => {
    let through = 0
    while (marks.length >= 2 && marks[1]! <= time - RECORD_MILLIS) {
      through = marks[0]!
      marks.splice(0, 2)
    }
    if (marks.length === 0 || time - marks[marks.length - 1]! >= MARK_MILLIS) marks.push(counter, time)
    return through
  }
  // A touch record forgotten raises the floor; an answer record, the reads' floor only.
  const forgetTouches = (through: number) => {
    floor = Math.max(floor, forgetThrough(touched, through))
  }
  const forgetAnswers = (through: number) => {
    readFloor = Math.max(readFloor, forgetThrough(answered, through))
  }
  const remember = (keys: Map<string, number>, key: string, forget: (through: number) => void) => {
    const through = agedOut(now())
    if (through > 0) {
      forgetTouches(through)
      forgetAnswers(through)
    }
    keys.delete(key)
    if (keys.size >= bound) forget(keys.values().next().value!)
    keys.set(key, ++counter)
  }
  const mayKeep = (key: string, stamp: number) => floor <= stamp && (touched.get(key) ?? 0) <= stamp
  return {
    stamp: () => counter,
    touch: (key) => remember(touched, key, forgetTouches),
    touchAll,
    written: (key) => remember(answered, key, forgetAnswers),
    mayRefill: (key, stamp) => readFloor <= stamp && mayKeep(key, stamp) && (answered.get(key) ?? 0) <= stamp,
    mayKeep
  }
}
