/**
 * The L1 tier: an in-process LRU cache bounded by entry count and by bytes, with a TTL
 * per entry, built on `lru-cache`.
 *
 * Values are stored as given, already decoded: a hit returns the very object that was
 * set (no copy, no parse), so cached values are shared and must be treated as
 * immutable. Each entry carries a `weight`, its encoded size in bytes as computed by the
 * caller, which counts toward `maxBytes`.
 *
 * Expiry is lazy (an expired entry is removed when it is next read) plus a bounded
 * periodic sweep run by a fiber in the tier's scope; there is never a timer per entry
 * (Node timers overflow past 24.8 days, and a million timers cost a million handles).
 * Time is read from Effect's `Clock`, so `TestClock.adjust` moves expiry in tests.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Layer, Schedule, type Scope } from "effect"
import { LRUCache } from "lru-cache"

// The clock every program gets unless it provides another one (Effect keeps one instance).
const liveClock = Effect.runSync(Clock.clockWith(Effect.succeed))

/**
 * How large the memory tier may grow and how it sweeps expired entries.
 *
 * @since 0.1.0
 */
export interface MemoryTierOptions {
  /**
   * Most entries held at once (a positive integer). lru-cache preallocates its index
   * arrays for this many slots, about 52 bytes each, so do not set it far above need.
   */
  readonly maxEntries: number
  /** Most bytes held at once: the sum of the entries' weights (a positive integer). */
  readonly maxBytes: number
  /** Time between two sweeps of expired entries; default 30 seconds. An infinite interval disables the sweep. */
  readonly sweepInterval?: Duration.Input
  /** Most entries one sweep examines, starting from the least recently used end; default 1000. */
  readonly sweepBatch?: number
}

/**
 * A snapshot of the memory tier's size and counters.
 *
 * `entries` and `bytes` count what is stored, including expired entries that neither a
 * read nor the sweep has removed yet (they still hold memory). `evictions` counts live
 * entries pushed out by either bound; `expirations` counts expired entries removed, by
 * a read, by the sweep, or by a bound that pushed out an entry that had already expired.
 *
 * @since 0.1.0
 */
export interface MemoryTierStats {
  readonly entries: number
  readonly bytes: number
  readonly maxEntries: number
  readonly maxBytes: number
  readonly hits: number
  readonly misses: number
  readonly evictions: number
  readonly expirations: number
}

/**
 * An entry as `peekEntry` gives it.
 *
 * @since 0.1.0
 */
export interface MemoryEntry {
  readonly value: unknown
  /** Past its TTL, kept for fail-safe only. */
  readonly stale: boolean
  /** Milliseconds until its TTL ends (`Infinity`: never); negative once it has. */
  readonly remainingMillis: number
}

const defaultSweepInterval = Duration.seconds(30)
const defaultSweepBatch = 1000

/**
 * The L1 memory tier.
 *
 * Its operations are synchronous on purpose: the Cache answers an L1 hit with a single
 * `Effect.sync` around {@link MemoryTier} `get`; if each tier call were an Effect of its
 * own, every hit would cost a second effect (and the hit path is the product's
 * heartbeat). Only construction, which reads the `Clock` and forks the sweep, is an
 * Effect.
 *
 * @since 0.1.0
 */
export class MemoryTier extends Context.Service<MemoryTier, {
  /**
   * The value stored under `key`, or `undefined` on a miss (absent or expired; an
   * expired entry is removed and counted as an expiration). Counts a hit or a miss and
   * makes the entry the most recently used. Creates no object or closure.
   */
  readonly get: (key: string) => unknown
  /**
   * Like `get` on a hit (counted, most recently used); a miss is `undefined` and counted
   * nothing, for a caller that answers misses through `get` (the Promise facade).
   */
  readonly getHit: (key: string) => unknown
  /** Like `get`, but counts nothing and leaves recency alone (an expired entry stays until swept). */
  readonly peek: (key: string) => unknown
  /**
   * Stores `value` under `key` for `ttlMillis` milliseconds (`Infinity`: no expiry) and
   * makes it the most recently used. `weight` is the entry's size in bytes, rounded up
   * to a whole byte, at least 1. Returns `false`, storing nothing, when the entry alone
   * is heavier than `maxBytes`, when `ttlMillis` is not positive (already expired) or
   * when `value` is `undefined`; any older value for `key` is then removed, so it is
   * never served stale. Overwriting a key never evicts another entry for the count
   * bound; a heavier new value evicts least recently used entries until `maxBytes` holds.
   */
  readonly set: (key: string, value: unknown, weight: number, ttlMillis: number, staleMillis?: number) => boolean
  /**
   * The entry under `key` with whether it is past its TTL: a live entry, or one set with
   * `staleMillis` that is past its TTL but within those milliseconds after it (fail-safe's
   * `staleFor`). `get`, `has` and `remainingTtl` treat the latter as absent. Counts
   * nothing and leaves recency alone.
   */
  readonly peekEntry: (key: string) => MemoryEntry | undefined
  /** Removes `key`; whether a live (unexpired) entry existed. */
  readonly delete: (key: string) => boolean
  /** Whether a live entry exists, without touching recency. */
  readonly has: (key: string) => boolean
  /** Milliseconds left before `key` expires (`Infinity` if it never does), `undefined` when absent or expired. */
  readonly remainingTtl: (key: string) => number | undefined
  /** The live keys, most recently used first. */
  readonly keys: () => ReadonlyArray<string>
  /** Removes the live keys `predicate` holds for; how many. */
  readonly removeWhere: (predicate: (key: string) => boolean) => number
  /** Removes every entry (the counters are kept; see `resetStats`). */
  readonly clear: () => void
  /**
   * Examines at most `maxEntries` entries (default: the `sweepBatch` option) from the
   * least recently used end and removes the expired ones; how many it removed.
   */
  readonly sweep: (maxEntries?: number) => number
  /** A snapshot of sizes, bounds and counters; the counters count from the last `resetStats`. */
  readonly stats: () => MemoryTierStats
  /**
   * `stats` with counters that count from the tier's construction: `resetStats` never
   * moves them. For monitors and metric exporters, which must never see a counter go back.
   */
  readonly totals: () => MemoryTierStats
  /**
   * Makes `stats` count hits, misses, evictions and expirations from zero again. It moves
   * a baseline and leaves `totals` alone, so the hit path keeps its plain increments.
   */
  readonly resetStats: () => void
}>()("effect-redis-cache/MemoryTier") {
  /**
   * Builds a tier that reads time from the current `Clock` and sweeps expired entries
   * in a fiber that lives as long as the scope. Options that break the documented
   * ranges are a defect: the Cache validates its configuration before it gets here.
   *
   * @since 0.1.0
   */
  static readonly make: (options: MemoryTierOptions) => Effect.Effect<MemoryTier["Service"], never, Scope.Scope> =
    Effect.fnUntraced(function*(options: MemoryTierOptions) {
      const clock = yield* Clock.Clock
      const sweepInterval = Duration.fromInputUnsafe(options.sweepInterval ?? defaultSweepInterval)
      const sweepBatch = options.sweepBatch ?? defaultSweepBatch
      const problem = notPositiveInteger("maxEntries", options.maxEntries) ??
        notPositiveInteger("maxBytes", options.maxBytes) ??
        notPositiveInteger("sweepBatch", sweepBatch) ??
        (Duration.toMillis(sweepInterval) > 0 ? undefined : `sweepInterval must be positive, got ${Duration.format(sweepInterval)}`)
      if (problem !== undefined) return yield* Effect.die(new RangeError(`MemoryTier: ${problem}`))
      const tier = makeTier(options.maxEntries, options.maxBytes, sweepBatch, clock)
      if (Duration.isFinite(sweepInterval)) {
        // `schedule` waits one interval before the first run: a new tier has nothing to sweep.
        yield* Effect.sync(() => tier.sweep()).pipe(Effect.schedule(Schedule.spaced(sweepInterval)), Effect.forkScoped)
      }
      return tier
    })

  /**
   * The tier as a layer; its sweep fiber stops when the layer is released.
   *
   * @since 0.1.0
   */
  static readonly layer = (options: MemoryTierOptions): Layer.Layer<MemoryTier> =>
    Layer.effect(MemoryTier, MemoryTier.make(options))
}

const notPositiveInteger = (field: string, value: number): string | undefined =>
  Number.isSafeInteger(value) && value > 0 ? undefined : `${field} must be a positive integer, got ${value}`

/**
 * lru-cache's value type excludes `null` and `undefined`. `undefined` is refused by
 * `set` (it would mean "miss"); `null` is stored and returned like any other value
 * (lru-cache only ever tests values against `undefined`).
 */
type Stored = NonNullable<unknown>

const makeTier = (maxEntries: number, maxBytes: number, sweepBatch: number, clock: Clock.Clock): MemoryTier["Service"] => {
  // Monotonic since construction; `stats` subtracts the baseline that `resetStats` moves.
  let hits = 0
  let misses = 0
  let evictions = 0
  let expirations = 0
  const baseline = { hits: 0, misses: 0, evictions: 0, expirations: 0 }
  // Entries kept past their TTL for fail-safe: key -> when they go for good. lru-cache's
  // TTL is the logical one, so `get` misses them; while any exists, `get` leaves an
  // expired entry in place on a miss and removes it only when its grace is over.
  const graceUntil = new Map<string, number>()
  const now = () => clock.currentTimeMillisUnsafe()

  const lru: LRUCache<string, Stored> = new LRUCache<string, Stored>({
    max: maxEntries,
    maxSize: maxBytes,
    // lru-cache treats a start time of 0 as "no TTL", and the TestClock starts at 0.
    perf: { now: () => clock.currentTimeMillisUnsafe() + 1 },
    // Reading the clock is most of the cost of a hit (a hit runs 3x faster without it), so
    // with the live clock lru-cache may reuse `now` for 1 ms (its default resolution,
    // cleared by one unref'd timer). Any other clock (the TestClock) is read on every
    // check, because a cached `now` would not see `TestClock.adjust`.
    ttlResolution: clock === liveClock ? 1 : 0,
    // Called synchronously, before the entry is unlinked, so its TTL is still readable:
    // lru-cache reports a bound pushing out an already expired entry as "evict".
    dispose: (_value, key, reason) => {
      if (reason !== "set" && graceUntil.size > 0) forgetGrace(key)
      if (reason === "expire") expirations++
      else if (reason === "evict") {
        if (lru.getRemainingTTL(key) < 0) expirations++
        else evictions++
      }
    }
  })

  // lru-cache writes a `status` field into the options object of every call; reusing
  // one object per operation keeps `get` allocation-free (its default is a fresh `{}`).
  const getOptions: LRUCache.GetOptions<string, Stored, unknown> = { noDeleteOnStaleGet: false }
  const expireOptions: LRUCache.GetOptions<string, Stored, unknown> = {}
  const peekOptions: LRUCache.PeekOptions<string, Stored, unknown> = {}
  const stalePeekOptions: LRUCache.PeekOptions<string, Stored, unknown> = { allowStale: true }
  const hasOptions: LRUCache.HasOptions<string, Stored, unknown> = {}
  const setOptions: LRUCache.SetOptions<string, Stored, unknown> = { ttl: 0, size: 1 }

  const forgetGrace = (key: string): void => {
    if (graceUntil.delete(key) && graceUntil.size === 0) getOptions.noDeleteOnStaleGet = false
  }

  const graced = (key: string): boolean => {
    const until = graceUntil.get(key)
    return until !== undefined && until > now()
  }

  // A read of an expired entry removes it with reason "expire", which counts it.
  const expireUnlessGraced = (key: string): void => {
    if (lru.getRemainingTTL(key) < 0 && !graced(key)) lru.get(key, expireOptions)
  }

  const get = (key: string): unknown => {
    const value = lru.get(key, getOptions)
    if (value === undefined) {
      misses++
      if (getOptions.noDeleteOnStaleGet === true) expireUnlessGraced(key)
    } else hits++
    return value
  }

  const getHit = (key: string): unknown => {
    const value = lru.get(key, getOptions)
    if (value !== undefined) hits++
    return value
  }

  const peekEntry = (key: string): MemoryEntry | undefined => {
    const value = lru.peek(key, stalePeekOptions)
    if (value === undefined) return undefined
    const remainingMillis = lru.getRemainingTTL(key)
    if (!(remainingMillis < 0)) return { value, stale: false, remainingMillis }
    return graced(key) ? { value, stale: true, remainingMillis } : undefined
  }

  const has = (key: string): boolean => lru.has(key, hasOptions)

  const forgetGraceOfAll = (): void => {
    graceUntil.clear()
    getOptions.noDeleteOnStaleGet = false
  }

  const set = (key: string, value: unknown, weight: number, ttlMillis: number, staleMillis = 0): boolean => {
    const size = weight > 1 ? Math.ceil(weight) : 1
    if (value === undefined || !(ttlMillis > 0) || size > maxBytes) {
      lru.delete(key)
      return false
    }
    // Setting the very value already stored skips lru-cache's size update, which would
    // keep the old weight; removing the entry first records the new one.
    if (lru.peek(key, stalePeekOptions) === value) lru.delete(key)
    setOptions.ttl = ttlMillis === Infinity ? 0 : ttlMillis // 0 is lru-cache's "no TTL"
    setOptions.size = size
    lru.set(key, value as Stored, setOptions)
    if (staleMillis > 0 && ttlMillis !== Infinity) {
      graceUntil.set(key, now() + ttlMillis + staleMillis)
      getOptions.noDeleteOnStaleGet = true
    } else if (graceUntil.size > 0) forgetGrace(key)
    return true
  }

  const remainingTtl = (key: string): number | undefined => {
    const remaining = lru.getRemainingTTL(key) // 0 when absent, negative when expired
    if (remaining > 0) return remaining
    return remaining === 0 && has(key) ? 0 : undefined
  }

  // Entries kept for fail-safe are removed too: an invalidated value must not be served stale.
  const removeWhere = (predicate: (key: string) => boolean): number => {
    const doomed: Array<string> = []
    lru.allowStale = graceUntil.size > 0
    try {
      for (const key of lru.keys()) {
        // with allowStale the walk also meets expired entries: only those in their grace count
        if (predicate(key) && (!lru.allowStale || !(lru.getRemainingTTL(key) < 0) || graced(key))) doomed.push(key)
      }
    } finally {
      lru.allowStale = false
    }
    for (const key of doomed) lru.delete(key)
    return doomed.length
  }

  // lru-cache's `purgeStale` walks every entry; this walk stops after `limit`. Its
  // iterators skip expired entries unless `allowStale` is set, so it is set for the
  // (synchronous) walk only. Expired keys are collected first and removed after the
  // walk, because removing an entry under a live iterator can derail it. A read of an
  // expired entry removes it with reason "expire", which counts it as an expiration.
  const sweep = (limit: number = sweepBatch): number => {
    const expired: Array<string> = []
    let examined = 0
    lru.allowStale = true
    try {
      for (const key of lru.rkeys()) {
        if (examined++ >= limit) break
        if (lru.getRemainingTTL(key) < 0 && !graced(key)) expired.push(key)
      }
    } finally {
      lru.allowStale = false
    }
    for (const key of expired) lru.get(key, expireOptions)
    return expired.length
  }

  return MemoryTier.of({
    get,
    getHit,
    peek: (key) => lru.peek(key, peekOptions),
    set,
    peekEntry,
    delete: (key) => {
      const live = has(key)
      lru.delete(key)
      return live
    },
    has,
    remainingTtl,
    keys: () => Array.from(lru.keys()),
    removeWhere,
    clear: () => {
      lru.clear()
      forgetGraceOfAll()
    },
    sweep,
    stats: () => ({
      entries: lru.size,
      bytes: lru.calculatedSize,
      maxEntries,
      maxBytes,
      hits: hits - baseline.hits,
      misses: misses - baseline.misses,
      evictions: evictions - baseline.evictions,
      expirations: expirations - baseline.expirations
    }),
    totals: () => ({
      entries: lru.size,
      bytes: lru.calculatedSize,
      maxEntries,
      maxBytes,
      hits,
      misses,
      evictions,
      expirations
    }),
    resetStats: () => {
      baseline.hits = hits
      baseline.misses = misses
      baseline.evictions = evictions
      baseline.expirations = expirations
    }
  })
}
