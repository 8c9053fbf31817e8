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
 * to an operation its commandTimeout has failed, or one that only loses its refill). When
 * records age out the floors rise at once, which leaves them inert, and their memory is freed
 * a few records per record made (all at once when every record has aged): a `setMany` of
 * 100,000 keys left 200,000 records that the first write a second later deleted in one 20 ms
 * turn (the 100,000-invalidation burst's longest block, docs/benchmarks.md).
 */

/** The least number of keys a guard remembers, whatever L1's capacity. */
const MIN_REMEMBERED_KEYS = 1_000
/** The most: about 4 MB per kind of record at most; a larger L1 keeps the last 100,000 of a larger setMany. */
const MAX_REMEMBERED_KEYS = 100_000
/** How long a record is kept (as long as the default commandTimeout). */
const RECORD_MILLIS = 1_000
/** How often the guard notes which stamp it is at, to know which records have aged out. */
const MARK_MILLIS = RECORD_MILLIS / 8
/**
 * Aged-out entries of each kind dropped per record made: more than one, to get ahead of a
 * backlog; few, since each costs two lookups in a large Map (about 0.3 µs).
 */
const DROP_STEP = 2

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
  /** How many records it holds, of both kinds (what its bounds bound). */
  readonly size: () => number
}

/** Past this many dropped entries, a record order is compacted (once they are half of it). */
const COMPACT_AT = 1_024

/**
 * The records of one kind: a stamp per key (looked up), and the order they were made in,
 * oldest first (forgotten from the front). Not a Map's insertion order: forgetting from its
 * front one record at a time leaves holes that V8 skips on every new iterator, quadratic.
 * An entry of the order whose key was recorded again since is stale and forgets nothing.
 */
const makeRecords = () => {
  const stamps = new Map<string, number>()
  let keys: Array<string> = []
  let order: Array<number> = []
  let head = 0
  // Drops the oldest entry of the order; the stamp of the record it forgot (0: it was stale).
  const dropOldest = (): number => {
    const key = keys[head]!
    const stamp = order[head]!
    head++
    if (head >= COMPACT_AT && head * 2 >= keys.length) {
      keys = keys.slice(head)
      order = order.slice(head)
      head = 0
    }
    if (stamps.get(key) !== stamp) return 0
    stamps.delete(key)
    return stamp
  }
  const clear = () => {
    stamps.clear()
    keys = []
    order = []
    head = 0
  }
  return {
    get: (key: string) => stamps.get(key),
    has: (key: string) => stamps.has(key),
    size: () => stamps.size,
    /** Entries of the order not yet dropped, stale ones included. */
    backlog: () => keys.length - head,
    record: (key: string, stamp: number) => {
      stamps.set(key, stamp)
      keys.push(key)
      order.push(stamp)
    },
    /** Forgets the oldest record; its stamp (0: none left). */
    forgetOldest: (): number => {
      while (head < keys.length) {
        const stamp = dropOldest()
        if (stamp > 0) return stamp
      }
      return 0
    },
    /** Drops up to `limit` entries of the order stamped up to `through`; whether any such entry is left. */
    dropAged: (through: number, limit: number): boolean => {
      if (keys.length > 0 && order[keys.length - 1]! <= through) {
        clear()
        return false
      }
      for (let dropped = 0; dropped < limit && head < keys.length && order[head]! <= through; dropped++) dropOldest()
      return head < keys.length && order[head]! <= through
    },
    clear
  }
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
  const touched = makeRecords()
  const answered = makeRecords()
  // Pairs (stamp, time), oldest first, one per MARK_MILLIS at most while records are made.
  const marks: Array<number> = []
  // Records stamped up to this have aged out (the floors are past them) and are still being dropped (0: none are).
  let agedThrough = 0
  const touchAll = () => {
    counter++
    floor = counter
    readFloor = counter
    agedThrough = 0
    touched.clear()
    answered.clear()
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
  // A touch record forgotten raises the floor to its stamp; an answer record, the reads' floor only.
  const forgetTouch = (stamp: number) => {
    floor = Math.max(floor, stamp)
  }
  const forgetAnswer = (stamp: number) => {
    readFloor = Math.max(readFloor, stamp)
  }
  // Records stamped up to `through` are a second old: the floors pass them, which is what
  // forgetting them means; their memory goes a few at a time.
  const ageOut = (through: number) => {
    forgetTouch(through)
    forgetAnswer(through)
    agedThrough = through
  }
  const dropAged = () => {
    const touchesLeft = touched.dropAged(agedThrough, DROP_STEP)
    if (!answered.dropAged(agedThrough, DROP_STEP) && !touchesLeft) agedThrough = 0
  }
  const remember = (records: ReturnType<typeof makeRecords>, key: string, forget: (stamp: number) => void) => {
    const through = agedOut(now())
    if (through > 0) ageOut(through)
    if (agedThrough > 0) dropAged()
    // A key recorded again replaces its record; its old entry in the order goes stale.
    if ((records.size() >= bound && !records.has(key)) || records.backlog() >= 2 * bound) forget(records.forgetOldest())
    records.record(key, ++counter)
  }
  const mayKeep = (key: string, stamp: number) => floor <= stamp && (touched.get(key) ?? 0) <= stamp
  return {
    stamp: () => counter,
    touch: (key) => remember(touched, key, forgetTouch),
    touchAll,
    written: (key) => remember(answered, key, forgetAnswer),
    mayRefill: (key, stamp) => readFloor <= stamp && mayKeep(key, stamp) && (answered.get(key) ?? 0) <= stamp,
    mayKeep,
    size: () => touched.size() + answered.size()
  }
}
