/**
 * Metric series whose value is read when metrics are collected (`Metric.snapshot`, an
 * OpenTelemetry reader, a Prometheus scrape) instead of being pushed by updates.
 *
 * L1 counts its hits in plain numbers on the hit path; a pulled series reads them at
 * collection time (`Metric.registerUnsafe`), so every exporter sees current L1 counts
 * with no work on the hit path and no periodic publishing.
 *
 * Several monitors in one registry may serve caches of the same name, and each would
 * replace the other's registration: so a series is registered once per registry and
 * sums every provider. A counter keeps what a removed provider had counted, and never
 * reports less than it did before, so it never goes backwards.
 *
 * Used by `CacheMonitor`; not exported from the package.
 *
 * @since 0.1.0
 */
import { Context, Metric } from "effect"

/**
 * Whether a series is a monotonic counter or a gauge.
 *
 * @since 0.1.0
 */
export type Kind = "Counter" | "Gauge"

/**
 * What `provide` returns: `remove` takes the provider out of its series.
 *
 * @since 0.1.0
 */
export interface Provision {
  readonly remove: () => void
}

interface Shared {
  readonly providers: Set<() => number>
  registration: Metric.Registration | undefined
  /** Counters only: what removed providers had counted. */
  retired: number
  /** Counters only: the last value reported. */
  last: number
}

// Per registry, so that isolated registries (tests) never share a series.
const registries = new WeakMap<Metric.MetricRegistry, Map<string, Shared>>()

const seriesKey = (metric: Metric.Metric<number, unknown>, attributes: Metric.Metric.AttributeSet): string =>
  JSON.stringify([metric.id, Object.entries(attributes).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)])

const total = (shared: Shared): number => {
  let value = shared.retired
  for (const read of shared.providers) value += read()
  return value
}

const register = (metric: Metric.Metric<number, unknown>, kind: Kind, context: Context.Context<never>): Shared => {
  const shared: Shared = { providers: new Set(), registration: undefined, retired: 0, last: 0 }
  shared.registration = Metric.registerUnsafe(metric, context, {
    get: (): unknown => {
      if (kind === "Gauge") return { value: total(shared) }
      // A provider whose source restarted must not take the counter back.
      shared.last = Math.max(shared.last, total(shared))
      return { count: shared.last, incremental: true }
    },
    update: () => {},
    modify: () => {}
  })
  return shared
}

/**
 * Adds `read` to the series of `metric` whose attributes and registry are those of
 * `context`, registering the series on first use. A counter's `read` must not decrease.
 * On `remove`, a counter keeps the provider's last value; a gauge without providers is
 * removed from the registry.
 *
 * @since 0.1.0
 */
export const provide = (
  metric: Metric.Metric<number, unknown>,
  kind: Kind,
  context: Context.Context<never>,
  read: () => number
): Provision => {
  const registry = Context.get(context, Metric.MetricRegistry)
  let byKey = registries.get(registry)
  if (byKey === undefined) {
    byKey = new Map()
    registries.set(registry, byKey)
  }
  const key = seriesKey(metric, {
    ...metric.attributes,
    ...Context.get(context, Metric.CurrentMetricAttributes)
  })
  let shared = byKey.get(key)
  if (shared === undefined) {
    shared = register(metric, kind, context)
    byKey.set(key, shared)
  }
  const series = shared
  const registered = byKey
  series.providers.add(read)
  return {
    remove: () => {
      if (!series.providers.delete(read)) return
      if (kind === "Counter") {
        series.retired += read()
      } else if (series.providers.size === 0) {
        series.registration?.remove()
        registered.delete(key)
      }
    }
  }
}
