/**
 * The caches one `CacheMonitor` serves, by cache name: their L1 sources, the L1 hits
 * recorded for them, and their modes.
 *
 * Several caches may share a monitor (and several caches may share a name). Their L1
 * counts are summed per name in pulled metric series (read at collection time, see
 * `PulledSeries`) and summed over every name for the analytics. A detached L1 (its
 * cache's scope closed) leaves what it counted behind, so no counter goes backwards;
 * its size leaves the gauges.
 *
 * Used by `CacheMonitor`; not exported from the package.
 *
 * @since 0.1.0
 */
import type { Context } from "effect"
import type { CacheMode } from "./Analytics.js"
import * as CacheMetrics from "./CacheMetrics.js"
import * as PulledSeries from "./PulledSeries.js"

/**
 * L1's own counters and size, read by the monitor on demand. The counters must
 * count from L1's construction and never go down (`MemoryTier.totals`, not
 * `MemoryTier.stats`, which a user may reset).
 *
 * @since 0.1.0
 */
export interface L1Source {
  /** The cache this L1 belongs to; its series carry it as `cache.name`. Default: the monitor's `cacheName`. */
  readonly cacheName?: string
  /** L1's current (monotonic) totals, read at snapshot and metric collection time. */
  readonly stats: () => {
    entries: number
    bytes: number
    maxEntries: number
    maxBytes: number
    hits: number
    misses: number
    evictions: number
    expirations: number
  }
}

/**
 * L1 counters summed over sources, attached and detached.
 *
 * @since 0.1.0
 */
export interface L1Counts {
  hits: number
  misses: number
  evictions: number
  expirations: number
}

/**
 * L1 sizes and bounds summed over the attached sources.
 *
 * @since 0.1.0
 */
export interface L1Size {
  entries: number
  bytes: number
  maxEntries: number
  maxBytes: number
}

/**
 * The served caches, as the monitor uses them.
 *
 * @since 0.1.0
 */
export interface ServedCaches {
  /** Adds `source` under `cacheName` (already resolved); returns its detach. */
  readonly attach: (source: L1Source, cacheName: string | undefined) => () => void
  /** Counts a recorded L1 hit, unless an attached L1 of that cache counts it; whether it counted it. */
  readonly recordL1Hit: (cacheName: string | undefined) => boolean
  readonly setMode: (cacheName: string | undefined, mode: CacheMode) => void
  /** The last mode reported for a cache, if any. */
  readonly modeOf: (cacheName: string | undefined) => CacheMode | undefined
  /** Each cache's mode, by name (`default` for an unnamed one). */
  readonly modes: () => Readonly<Record<string, CacheMode>>
  /** The least healthy mode among the caches, or `undefined` before any mode was reported. */
  readonly worstMode: () => CacheMode | undefined
  /** L1's own counts, summed over every source ever attached (recorded hits excluded). */
  readonly counts: () => L1Counts
  /** Sizes and bounds summed over the attached sources, or `undefined` without any. */
  readonly size: () => L1Size | undefined
  /** Removes the monitor's metric series providers (its counts stay in the counters). */
  readonly close: () => void
}

interface Served {
  readonly sources: Set<L1Source>
  readonly retired: L1Counts
  recordedHits: number
  mode: CacheMode | undefined
  counters: ReadonlyArray<PulledSeries.Provision> | undefined
  gauges: ReadonlyArray<PulledSeries.Provision> | undefined
}

// From the most degraded: a shared monitor's current mode is its least healthy cache's.
const modeOrder: ReadonlyArray<CacheMode> = ["MemoryOnly", "Connecting", "Connected", "Memory"]

const zero = (): L1Counts => ({ hits: 0, misses: 0, evictions: 0, expirations: 0 })

const addCounts = (into: L1Counts, from: L1Counts): void => {
  into.hits += from.hits
  into.misses += from.misses
  into.evictions += from.evictions
  into.expirations += from.expirations
}

// An unbounded L1 adds nothing to a limit gauge (a gauge cannot say "no limit").
const finite = (n: number): number => Number.isFinite(n) ? n : 0

/**
 * Makes the served-cache registry. `contextFor` gives the metric context (registry and
 * attributes) of a series with the given attributes added.
 *
 * @since 0.1.0
 */
export const make = (contextFor: (attributes: Record<string, string>) => Context.Context<never>): ServedCaches => {
  const served = new Map<string | undefined, Served>()

  const entry = (cacheName: string | undefined): Served => {
    let found = served.get(cacheName)
    if (found === undefined) {
      found = {
        sources: new Set(),
        retired: zero(),
        recordedHits: 0,
        mode: undefined,
        counters: undefined,
        gauges: undefined
      }
      served.set(cacheName, found)
    }
    return found
  }

  const sum = (cache: Served, field: keyof L1Counts): number => {
    let value = cache.retired[field]
    for (const source of cache.sources) value += source.stats()[field]
    return value
  }

  const sizeSum = (cache: Served, field: keyof L1Size): number => {
    let value = 0
    for (const source of cache.sources) value += finite(source.stats()[field])
    return value
  }

  const named = (cacheName: string | undefined): Record<string, string> =>
    cacheName === undefined ? {} : { [CacheMetrics.AttributeKeys.cacheName]: cacheName }

  const provideCounters = (cache: Served, cacheName: string | undefined): void => {
    if (cache.counters !== undefined) return
    const name = named(cacheName)
    const tier = { ...name, [CacheMetrics.AttributeKeys.tier]: "l1" }
    const hits = () => sum(cache, "hits") + cache.recordedHits
    const pull = (metric: typeof CacheMetrics.hits, attributes: Record<string, string>, read: () => number) =>
      PulledSeries.provide(metric, "Counter", contextFor(attributes), read)
    cache.counters = [
      pull(CacheMetrics.hits, tier, hits),
      pull(CacheMetrics.operations, {
        ...tier,
        [CacheMetrics.AttributeKeys.operation]: "get",
        [CacheMetrics.AttributeKeys.outcome]: "hit"
      }, hits),
      pull(CacheMetrics.misses, tier, () => sum(cache, "misses")),
      pull(CacheMetrics.l1Evictions, name, () => sum(cache, "evictions")),
      pull(CacheMetrics.l1Expirations, name, () => sum(cache, "expirations"))
    ]
  }

  const provideGauges = (cache: Served, cacheName: string | undefined): void => {
    if (cache.gauges !== undefined) return
    const context = contextFor(named(cacheName))
    const pull = (metric: typeof CacheMetrics.l1Entries, field: keyof L1Size) =>
      PulledSeries.provide(metric, "Gauge", context, () => sizeSum(cache, field))
    cache.gauges = [
      pull(CacheMetrics.l1Entries, "entries"),
      pull(CacheMetrics.l1MemoryUsage, "bytes"),
      pull(CacheMetrics.l1EntriesLimit, "maxEntries"),
      pull(CacheMetrics.l1MemoryLimit, "maxBytes")
    ]
  }

  const removeAll = (provisions: ReadonlyArray<PulledSeries.Provision> | undefined): void => {
    for (const provision of provisions ?? []) provision.remove()
  }

  const attach = (source: L1Source, cacheName: string | undefined): () => void => {
    const cache = entry(cacheName)
    provideCounters(cache, cacheName)
    provideGauges(cache, cacheName)
    cache.sources.add(source)
    return () => {
      if (!cache.sources.delete(source)) return
      addCounts(cache.retired, source.stats())
      if (cache.sources.size > 0) return
      removeAll(cache.gauges)
      cache.gauges = undefined
    }
  }

  const recordL1Hit = (cacheName: string | undefined): boolean => {
    const cache = entry(cacheName)
    if (cache.sources.size > 0) return false
    provideCounters(cache, cacheName)
    cache.recordedHits++
    return true
  }

  const modes = (): Readonly<Record<string, CacheMode>> => {
    const result: Record<string, CacheMode> = {}
    for (const [cacheName, cache] of served) {
      if (cache.mode !== undefined) result[cacheName ?? "default"] = cache.mode
    }
    return result
  }

  const worstMode = (): CacheMode | undefined => {
    let worst: number | undefined
    for (const cache of served.values()) {
      if (cache.mode === undefined) continue
      const rank = modeOrder.indexOf(cache.mode)
      if (worst === undefined || rank < worst) worst = rank
    }
    return worst === undefined ? undefined : modeOrder[worst]
  }

  const counts = (): L1Counts => {
    const total = zero()
    for (const cache of served.values()) {
      addCounts(total, cache.retired)
      for (const source of cache.sources) addCounts(total, source.stats())
    }
    return total
  }

  const size = (): L1Size | undefined => {
    let total: L1Size | undefined
    for (const cache of served.values()) {
      for (const source of cache.sources) {
        const stats = source.stats()
        total ??= { entries: 0, bytes: 0, maxEntries: 0, maxBytes: 0 }
        total.entries += stats.entries
        total.bytes += stats.bytes
        total.maxEntries += stats.maxEntries
        total.maxBytes += stats.maxBytes
      }
    }
    return total
  }

  return {
    attach,
    recordL1Hit,
    setMode: (cacheName, mode) => {
      entry(cacheName).mode = mode
    },
    modeOf: (cacheName) => served.get(cacheName)?.mode,
    modes,
    worstMode,
    counts,
    size,
    close: () => {
      for (const cache of served.values()) {
        removeAll(cache.counters)
        removeAll(cache.gauges)
        cache.counters = cache.gauges = undefined
      }
    }
  }
}
