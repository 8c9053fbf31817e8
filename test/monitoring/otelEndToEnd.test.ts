/**
 * Spans and metrics of a real cache, against a real redis-server, arriving in
 * in-memory OpenTelemetry exporters through `CacheTelemetry.layerNodeSdk`.
 *
 * The Redis server asks for a password and the cache is given it in its URL:
 * the password, the keys and the values must appear in no span and no metric.
 */
import { assert, describe, it } from "@effect/vitest"
import { SpanKind } from "@opentelemetry/api"
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader
} from "@opentelemetry/sdk-metrics"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Context, Effect, Layer, Metric, Option, Schedule, type Scope } from "effect"
import { Cache, type CacheService } from "../../src/Cache.js"
import * as CacheMetrics from "../../src/monitoring/CacheMetrics.js"
import { CacheMonitor } from "../../src/monitoring/CacheMonitor.js"
import * as CacheTelemetry from "../../src/monitoring/Telemetry.js"
import { type CacheTracingOptions, sha256KeyHash } from "../../src/monitoring/Tracing.js"
import { type RedisServerHandle, startRedisServer } from "../support/RedisServer.js"

const PASSWORD = "otel-s3cret-pw"
const VALUE_MARKER = "value-marker-7d1f"

/** Fresh exporters per test: a metric reader binds to one provider only. */
const makeOtel = (tracing?: Partial<CacheTracingOptions>) => {
  const spans = new InMemorySpanExporter()
  const metrics = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter: metrics, exportIntervalMillis: 60_000 })
  const layer = CacheTelemetry.layerNodeSdk({
    serviceName: "effect-redis-cache-e2e",
    spanProcessor: new SimpleSpanProcessor(spans),
    metricReader: reader,
    ...(tracing === undefined ? {} : { tracing })
  })
  const exportedMetrics = Effect.gen(function*() {
    yield* Effect.promise(() => reader.forceFlush())
    return metrics.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
  })
  return { spans, exportedMetrics, layer }
}

type Otel = ReturnType<typeof makeOtel>

/**
 * Runs `body` with the SDK layer around it and a fresh registry outside that layer.
 * The body's own scope (servers, caches) closes before the SDK shuts down, and the
 * assertions run before that too (shutdown clears the exporters).
 */
const withOtel = <A, E>(
  tracing: Partial<CacheTracingOptions> | undefined,
  body: (otel: Otel) => Effect.Effect<A, E, Scope.Scope>
) =>
  Effect.suspend(() => {
    const otel = makeOtel(tracing)
    return Effect.scoped(body(otel)).pipe(
      Effect.provide(otel.layer),
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
  })

/** A password-protected server and the URL that carries the password. */
const protectedServer = Effect.map(
  startRedisServer({ args: ["--requirepass", PASSWORD] }),
  (server) => ({ server, url: `redis://:${PASSWORD}@127.0.0.1:${server.port}` })
)

const build = (options: Parameters<typeof Cache.layerRedis>[0]) =>
  Effect.map(Effect.orDie(Layer.build(Cache.layerRedis({ connectTimeout: "2 seconds", ...options }))), (context) => ({
    cache: Context.get(context, Cache),
    monitor: Context.get(context, CacheMonitor)
  }))

const named = (otel: Otel, name: string): ReadonlyArray<ReadableSpan> =>
  otel.spans.getFinishedSpans().filter((span) => span.name === name)

/** Everything a span carries that a leak could hide in. */
const spanText = (span: ReadableSpan): string =>
  JSON.stringify({ name: span.name, attributes: span.attributes, events: span.events, status: span.status })

const redisAttributes = (server: RedisServerHandle, cacheName: string, operation: string, command: string) => ({
  "cache.operation": operation,
  "cache.name": cacheName,
  "db.system.name": "redis",
  "db.operation.name": command,
  "server.address": "127.0.0.1",
  "server.port": server.port
})

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const eventually = (label: string, check: () => boolean, withinMs = 20_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + withinMs
    while (!check()) {
      if (Date.now() > deadline) assert.fail(`${label}: not reached within ${withinMs} ms`)
      yield* sleep(25)
    }
  })

const modeIs = (cache: CacheService, mode: string) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 20_000
    while ((yield* cache.status).mode !== mode) {
      if (Date.now() > deadline) assert.fail(`the cache did not reach ${mode}`)
      yield* sleep(25)
    }
  })

describe("OpenTelemetry end to end: spans", () => {
  it.live("Redis round trips produce client spans with cache and database attributes, and no key, value or password", () =>
    withOtel(undefined, (otel) =>
      Effect.gen(function*() {
        const { server, url } = yield* protectedServer
        const { cache: writer } = yield* build({ redisUrl: url, cacheName: "writer" })
        const { cache: reader } = yield* build({ redisUrl: url, cacheName: "reader" })

        yield* writer.set("user:42", { secret: VALUE_MARKER })
        yield* reader.get("user:42") // L2 hit
        yield* reader.get("absent:1") // miss in both tiers
        yield* writer.get("user:42") // L1 hit: no span
        yield* reader.get("user:42") // L1 hit: no span
        yield* writer.exists("absent:2")
        yield* writer.ttl("user:42")
        yield* writer.delete("user:42")
        yield* writer.invalidatePattern("user:")
        yield* writer.clear

        const [set] = named(otel, "Cache.set")
        assert.isDefined(set)
        assert.strictEqual(set!.kind, SpanKind.CLIENT)
        assert.deepStrictEqual(set!.attributes, redisAttributes(server, "writer", "set", "SET"))
        assert.strictEqual(set!.resource.attributes["service.name"], "effect-redis-cache-e2e")

        // Two Cache.get spans: the L2 hit and the miss. The two L1 hits opened none.
        const gets = named(otel, "Cache.get")
        assert.strictEqual(gets.length, 2)
        for (const get of gets) assert.strictEqual(get.kind, SpanKind.CLIENT)
        assert.deepStrictEqual(gets[0]!.attributes, {
          ...redisAttributes(server, "reader", "get", "GET"),
          "cache.tier": "l2",
          "cache.hit": true
        })
        assert.deepStrictEqual(gets[1]!.attributes, {
          ...redisAttributes(server, "reader", "get", "GET"),
          "cache.tier": "miss",
          "cache.hit": false
        })

        const one = (name: string) => {
          const spans = named(otel, name)
          assert.strictEqual(spans.length, 1, name)
          return spans[0]!
        }
        assert.deepStrictEqual(one("Cache.exists").attributes, redisAttributes(server, "writer", "exists", "EXISTS"))
        assert.deepStrictEqual(one("Cache.ttl").attributes, redisAttributes(server, "writer", "ttl", "PTTL"))
        assert.deepStrictEqual(one("Cache.delete").attributes, redisAttributes(server, "writer", "delete", "UNLINK"))
        assert.deepStrictEqual(
          one("Cache.invalidatePattern").attributes,
          redisAttributes(server, "writer", "invalidate", "SCAN")
        )
        assert.deepStrictEqual(one("Cache.clear").attributes, redisAttributes(server, "writer", "clear", "SCAN"))

        for (const span of otel.spans.getFinishedSpans()) {
          const text = spanText(span)
          for (const secret of [PASSWORD, VALUE_MARKER, "user:42", "absent:", "user:"]) {
            assert.notInclude(text, secret, `${span.name} carries ${secret}`)
          }
          assert.notProperty(span.attributes, "cache.key.hash")
        }
      })))

  it.live("spanL1Hits and includeKeys: an L1 hit gets a span, and spans carry the key's hash, never the key", () =>
    withOtel({ spanL1Hits: true, includeKeys: true }, (otel) =>
      Effect.gen(function*() {
        const { server, url } = yield* protectedServer
        const { cache } = yield* build({ redisUrl: url, cacheName: "traced" })
        yield* cache.set("user:42", { secret: VALUE_MARKER })
        assert.isTrue(Option.isSome(yield* cache.get("user:42"))) // L1 hit

        const hash = sha256KeyHash("user:42")
        const [set] = named(otel, "Cache.set")
        assert.deepStrictEqual(set!.attributes, { ...redisAttributes(server, "traced", "set", "SET"), "cache.key.hash": hash })
        const gets = named(otel, "Cache.get")
        assert.strictEqual(gets.length, 1)
        // An L1 hit touches no server: no database attributes.
        assert.deepStrictEqual(gets[0]!.attributes, {
          "cache.operation": "get",
          "cache.tier": "l1",
          "cache.hit": true,
          "cache.name": "traced",
          "cache.key.hash": hash
        })
        for (const span of otel.spans.getFinishedSpans()) {
          for (const secret of [PASSWORD, VALUE_MARKER, "user:42"]) assert.notInclude(spanText(span), secret)
        }
      })))

  it.live("a reconnect and its replay are traced, without the password", () =>
    withOtel(undefined, (otel) =>
      Effect.gen(function*() {
        const { server, url } = yield* protectedServer
        const { cache } = yield* build({
          redisUrl: url,
          cacheName: "flaky",
          commandTimeout: "300 millis",
          reconnectSchedule: Schedule.spaced("100 millis")
        })
        yield* server.kill
        yield* modeIs(cache, "MemoryOnly")
        yield* cache.set("during", VALUE_MARKER)
        yield* server.restart
        yield* modeIs(cache, "Connected")
        yield* eventually("the reconnect span ended", () => named(otel, "RedisTier.reconnect").length === 1)

        const [replay] = named(otel, "RedisTier.replay")
        assert.isDefined(replay)
        assert.strictEqual(replay!.kind, SpanKind.CLIENT)
        assert.deepStrictEqual(replay!.attributes, { "cache.name": "flaky", "db.system.name": "redis" })
        const [reconnect] = named(otel, "RedisTier.reconnect")
        assert.strictEqual(replay!.parentSpanContext?.spanId, reconnect!.spanContext().spanId)
        for (const span of otel.spans.getFinishedSpans()) {
          for (const secret of [PASSWORD, VALUE_MARKER, "during"]) assert.notInclude(spanText(span), secret)
        }
      })))
})

/** Every attribute key the cache's metrics may carry: low cardinality by construction. */
const allowedMetricAttributes = new Set<string>(Object.values(CacheMetrics.AttributeKeys))

describe("OpenTelemetry end to end: metrics", () => {
  it.live("the cache's metrics arrive with their names, units and low-cardinality attributes", () =>
    withOtel(undefined, (otel) =>
      Effect.gen(function*() {
        const { url } = yield* protectedServer
        const { cache: writer } = yield* build({ redisUrl: url, cacheName: "writer", compressionThreshold: 0 })
        const { cache: reader, monitor } = yield* build({ redisUrl: url, cacheName: "reader" })
        const keys = ["user:1", "user:2", "user:3"]
        for (const key of keys) yield* writer.set(key, { key, text: VALUE_MARKER.repeat(20) })
        for (const key of keys) yield* reader.get(key) // 3 L2 hits
        for (const key of keys) yield* reader.get(key) // 3 L1 hits
        yield* reader.get("absent:1") // a miss
        yield* reader.invalidatePattern("user:")
        yield* monitor.snapshot

        const exported = (yield* otel.exportedMetrics).filter((m) => m.descriptor.name.startsWith("cache."))
        const known = new Set<string>(CacheMetrics.all.map((metric) => metric.id))
        for (const metric of exported) assert.isTrue(known.has(metric.descriptor.name), metric.descriptor.name)
        const byName = (name: string) => {
          const metric = exported.find((m) => m.descriptor.name === name)
          assert.isDefined(metric, name)
          return metric!
        }
        const point = (name: string, attributes: Record<string, string>) =>
          byName(name).dataPoints.find((p) =>
            Object.entries(attributes).every(([key, value]) => p.attributes[key] === value)
          )

        assert.strictEqual(point("cache.hits", { "cache.name": "reader", "cache.tier": "l1" })?.value, 3)
        assert.strictEqual(point("cache.hits", { "cache.name": "reader", "cache.tier": "l2" })?.value, 3)
        assert.strictEqual(point("cache.misses", { "cache.name": "reader", "cache.tier": "l2" })?.value, 1)
        assert.strictEqual(point("cache.misses", { "cache.name": "reader", "cache.tier": "l1" })?.value, 4)
        assert.strictEqual(
          point("cache.operations", { "cache.name": "writer", "cache.operation": "set", "cache.outcome": "success" })
            ?.value,
          3
        )
        assert.strictEqual(point("cache.mode", { "cache.name": "reader", "cache.mode.state": "connected" })?.value, 1)
        assert.strictEqual(point("cache.invalidations", { "cache.name": "reader" })?.value, 1)
        assert.strictEqual(point("cache.l1.entries", { "cache.name": "reader" })?.value, 0)
        const l2Latency = point("cache.operation.duration", {
          "cache.name": "reader",
          "cache.operation": "get",
          "cache.tier": "l2"
        })?.value as { readonly count: number } | undefined
        assert.strictEqual(l2Latency?.count, 3)
        const compressed = point("cache.compression.uncompressed.size", { "cache.name": "writer" })?.value as
          | { readonly count: number }
          | undefined
        assert.strictEqual(compressed?.count, 3)

        const units: Record<string, string> = {
          "cache.operation.duration": "s",
          "cache.hits": "{hit}",
          "cache.misses": "{miss}",
          "cache.operations": "{operation}",
          "cache.l1.memory.usage": "By",
          "cache.compression.compressed.size": "By",
          "cache.mode": "1",
          "cache.mode.changes": "{change}",
          "cache.invalidation.keys": "{key}"
        }
        for (const [name, unit] of Object.entries(units)) assert.strictEqual(byName(name).descriptor.unit, unit, name)

        for (const metric of exported) {
          for (const dataPoint of metric.dataPoints) {
            for (const [key, value] of Object.entries(dataPoint.attributes)) {
              // @effect/opentelemetry keeps Effect's `unit` attribute on the data point as well as
              // making it the instrument unit: one constant value per metric, no cardinality.
              if (key === "unit") {
                assert.strictEqual(value, metric.descriptor.unit, metric.descriptor.name)
                continue
              }
              assert.isTrue(allowedMetricAttributes.has(key), `${metric.descriptor.name} has the attribute ${key}`)
              for (const secret of [PASSWORD, VALUE_MARKER, "user:", "absent:"]) {
                assert.notInclude(String(value), secret, `${metric.descriptor.name}.${key}`)
              }
            }
          }
        }
      })))

  it.live("an OpenTelemetry collection sees L1 hits made just before it, with no monitor snapshot", () =>
    withOtel(undefined, (otel) =>
      Effect.gen(function*() {
        const { url } = yield* protectedServer
        const { cache } = yield* build({ redisUrl: url, cacheName: "collected" })
        yield* cache.set("user:1", { text: VALUE_MARKER })
        // The exporter keeps every collection: read the latest.
        const latest = (name: string) =>
          Effect.map(otel.exportedMetrics, (exported) => exported.filter((m) => m.descriptor.name === name).at(-1))
        const l1Hits = Effect.map(latest("cache.hits"), (metric) =>
          metric?.dataPoints.find((p) =>
            p.attributes["cache.name"] === "collected" && p.attributes["cache.tier"] === "l1"
          )?.value)
        for (let i = 0; i < 3; i++) yield* cache.get("user:1") // L1 hits: no monitor call, no metric update
        assert.strictEqual(yield* l1Hits, 3)
        yield* cache.get("user:1")
        assert.strictEqual(yield* l1Hits, 4)
        const entries = Effect.map(latest("cache.l1.entries"), (metric) =>
          metric?.dataPoints.find((p) =>
            p.attributes["cache.name"] === "collected"
          )?.value)
        assert.strictEqual(yield* entries, 1)
      })))
})
