import { assert, describe, it } from "@effect/vitest"
import { SpanKind } from "@opentelemetry/api"
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader
} from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Metric, type Scope } from "effect"
import { CacheMonitor } from "../../src/monitoring/CacheMonitor.js"
import * as CacheTelemetry from "../../src/monitoring/Telemetry.js"
import { CacheTracingOptions, redisSpanOptions, sha256KeyHash } from "../../src/monitoring/Tracing.js"

const setup = (tracing?: Partial<CacheTracingOptions>) => {
  const spans = new InMemorySpanExporter()
  const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 60_000 })
  const telemetry = CacheTelemetry.layerNodeSdk({
    serviceName: "effect-redis-cache-test",
    spanProcessor: new SimpleSpanProcessor(spans),
    metricReader: reader,
    ...(tracing === undefined ? {} : { tracing })
  })
  const exported = Effect.gen(function*() {
    yield* Effect.promise(() => reader.forceFlush())
    return metrics.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
  })
  return { spans, exported, layer: Layer.merge(telemetry, CacheMonitor.layer({ cacheName: "sessions" })) }
}

/** Fresh exporters per test (a metric reader binds to one provider only); the registry goes outside the SDK layer. */
const withOtel = <A, E>(
  tracing: Partial<CacheTracingOptions> | undefined,
  body: (otel: ReturnType<typeof setup>) => Effect.Effect<A, E, CacheMonitor | Scope.Scope>
) =>
  Effect.suspend(() => {
    const otel = setup(tracing)
    return body(otel).pipe(Effect.provide(otel.layer), Effect.provideService(Metric.MetricRegistry, new Map()))
  })

/** A Redis round trip as the Redis tier traces it. */
const redisGet = Effect.fnUntraced(function*(key: string) {
  const options = yield* CacheTracingOptions
  yield* Effect.void.pipe(Effect.withSpan(
    "RedisTier.get",
    redisSpanOptions(options, {
      operation: "get",
      tier: "l2",
      hit: true,
      key,
      cacheName: "sessions",
      serverAddress: "127.0.0.1",
      serverPort: 6390,
      dbOperation: "GET"
    })
  ))
})

describe("CacheTelemetry.layerNodeSdk", () => {
  it.effect("monitor metrics reach the OpenTelemetry SDK with their names, units and attributes", () =>
    withOtel(undefined, (otel) => Effect.gen(function*() {
      const monitor = yield* CacheMonitor
      yield* monitor.recordModeChange("Connecting", "Connected", "connected")
      yield* monitor.recordOperation({ operation: "get", tier: "l2", durationMillis: 3, success: true })
      yield* monitor.attachL1({
        stats: () => ({
          entries: 4,
          bytes: 512,
          maxEntries: 100,
          maxBytes: 1024,
          hits: 6,
          misses: 2,
          evictions: 1,
          expirations: 0
        })
      })
      const exported = yield* otel.exported
      const byName = (name: string) => exported.find((m) => m.descriptor.name === name)

      const hits = byName("cache.hits")!
      assert.strictEqual(hits.descriptor.unit, "{hit}")
      const points = hits.dataPoints.map((p) => [p.attributes["cache.tier"], p.value]).sort()
      assert.deepStrictEqual(points, [["l1", 6], ["l2", 1]])
      assert.strictEqual(hits.dataPoints[0]!.attributes["cache.name"], "sessions")

      const duration = byName("cache.operation.duration")!
      assert.strictEqual(duration.descriptor.unit, "s")
      const point = duration.dataPoints[0]!
      assert.deepStrictEqual(
        [point.attributes["cache.operation"], point.attributes["cache.tier"], point.attributes["cache.outcome"]],
        ["get", "l2", "hit"]
      )
      assert.strictEqual((point.value as { readonly sum: number }).sum, 0.003)

      assert.strictEqual(byName("cache.l1.memory.usage")!.descriptor.unit, "By")
      assert.strictEqual(byName("cache.l1.memory.usage")!.dataPoints[0]!.value, 512)
      assert.strictEqual(byName("cache.l1.entries")!.dataPoints[0]!.value, 4)
      const connected = byName("cache.mode")!.dataPoints.find((p) => p.attributes["cache.mode.state"] === "connected")
      assert.strictEqual(connected?.value, 1)
    })))

  it.effect("Redis spans carry the cache and database attributes, without the key by default", () =>
    withOtel(undefined, (otel) => Effect.gen(function*() {
      yield* redisGet("user:42")
      const span = otel.spans.getFinishedSpans().find((s) => s.name === "RedisTier.get")
      assert.isDefined(span)
      assert.strictEqual(span!.kind, SpanKind.CLIENT)
      assert.deepStrictEqual(span!.attributes, {
        "cache.operation": "get",
        "cache.tier": "l2",
        "cache.hit": true,
        "cache.name": "sessions",
        "db.system.name": "redis",
        "db.operation.name": "GET",
        "server.address": "127.0.0.1",
        "server.port": 6390
      })
      assert.strictEqual(span!.resource.attributes["service.name"], "effect-redis-cache-test")
    })))
})

describe("CacheTelemetry tracing options", () => {
  it.effect("includeKeys puts a SHA-256 hash of the key on spans, never the key", () =>
    withOtel({ includeKeys: true }, (otel) => Effect.gen(function*() {
      yield* redisGet("user:42")
      const span = otel.spans.getFinishedSpans().find((s) => s.name === "RedisTier.get")!
      assert.strictEqual(span.attributes["cache.key.hash"], sha256KeyHash("user:42"))
      assert.notInclude(JSON.stringify(span.attributes), "user:42")
    })))
})
