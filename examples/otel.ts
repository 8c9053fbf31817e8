/**
 * The cache's metrics and spans through OpenTelemetry.
 *
 *   npx tsx examples/otel.ts
 *       spans and metrics printed by the OpenTelemetry SDK's console exporters
 *   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 npx tsx examples/otel.ts
 *       spans and metrics also sent over OTLP/HTTP (a collector, Jaeger, Grafana Alloy...);
 *       metrics still go to the console, spans go to the endpoint only
 *
 * The console path uses `CacheTelemetry.layerNodeSdk` (the `effect-redis-cache/otel`
 * entry point, which needs the optional `@effect/opentelemetry` and `@opentelemetry/*`
 * peers). The OTLP path uses Effect's own `Otlp` exporter, which needs no SDK: the
 * cache's metrics are plain Effect metrics and its spans plain Effect spans. An Effect
 * program has one tracer, so with an endpoint the spans go there instead of the console.
 */
import { ConsoleMetricExporter, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { ConsoleSpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Option } from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp } from "effect/observability"
import { Cache, CacheMonitor } from "../src/index.js"
import * as CacheTelemetry from "../src/monitoring/Telemetry.js"

const serviceName = "effect-redis-cache-otel-example"
const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT

// Console metrics always; console spans only when no OTLP tracer takes them.
const consoleExport = CacheTelemetry.layerNodeSdk({
  serviceName,
  metricReader: new PeriodicExportingMetricReader({
    exporter: new ConsoleMetricExporter(),
    exportIntervalMillis: 60_000
  }),
  ...(endpoint === undefined ? { spanProcessor: new SimpleSpanProcessor(new ConsoleSpanExporter()) } : {}),
  // Per-hit spans and key hashes are off by default; this is where they are turned on.
  tracing: { spanL1Hits: false, includeKeys: false }
})

const otlp = endpoint === undefined
  ? Layer.empty
  : Otlp.layerJson({ baseUrl: endpoint, resource: { serviceName }, metricsExportInterval: "5 seconds" }).pipe(
    Layer.provide(FetchHttpClient.layer)
  )

// The telemetry layers go outside the cache, so the cache is built with the tracing options in place.
const AppLayer = Cache.layerMemory({ cacheName: "otel-example" }).pipe(
  Layer.provideMerge(Layer.merge(consoleExport, otlp))
)

const program = Effect.gen(function*() {
  for (let i = 0; i < 10; i++) yield* Cache.set(`user:${i}`, { id: i, name: `user ${i}` }, { ttl: "1 minute" })
  let found = 0
  for (let i = 0; i < 14; i++) if (Option.isSome(yield* Cache.get(`user:${i}`))) found++
  yield* Cache.delete("user:0")

  const monitor = yield* CacheMonitor
  const stats = yield* monitor.getPerformanceStats // also publishes L1's counters to the metrics
  const target = endpoint === undefined ? "the console" : endpoint
  yield* Effect.log(
    `found ${found} of 14; hit rate ${stats.cacheHitRate.toFixed(1)}% ` +
      `(${stats.l1Hits} L1 hits, ${stats.cacheMisses} misses); exporting to ${target}`
  )
}).pipe(Effect.withSpan("otel-example"))

// Closing the layers flushes the exporters: the console metrics print at exit.
Effect.runPromise(program.pipe(Effect.provide(AppLayer))).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
