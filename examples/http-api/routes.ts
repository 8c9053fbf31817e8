/**
 * The HTTP example's routes (docs/http-example.md):
 *
 *   GET /products/:id   the upstream's product, through `Cache.getOrSet`
 *   GET /health         200 when the cache is Connected (or deliberately memory-only), 503 when degraded
 *   GET /live           200 while the process serves: degraded is not dead
 *   GET /cache/stats    the monitor's analytics and the cache's counters, as JSON
 *   GET /upstream       how many calls reached the upstream
 *   GET /metrics        every metric in the Prometheus text format
 */
import { Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { Cache, CacheMonitor } from "../../src/index.js"
import * as CacheMetrics from "../../src/monitoring/CacheMetrics.js"
import { Product, Upstream } from "./Upstream.js"

const ProductParams = Schema.Struct({
  id: Schema.FiniteFromString.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 1_000_000 }))
})

/** A JSON error body: what went wrong, never a stack or a secret (the cache's errors carry none). */
const problem = (status: number, error: string, message: string) =>
  HttpServerResponse.jsonUnsafe({ error, message }, { status })

/**
 * A product, from the cache or, on a miss, from the upstream. While Redis is away the cache answers
 * from L1 and sends misses to the upstream, so this route keeps working; what it writes meanwhile is
 * replayed to Redis when it is back.
 */
const productRoute = HttpRouter.add(
  "GET",
  "/products/:id",
  Effect.gen(function*() {
    const { id } = yield* HttpRouter.schemaPathParams(ProductParams)
    const upstream = yield* Upstream
    const product = yield* Cache.getOrSet(`product:${id}`, upstream.fetchProduct(id), {
      ttl: "5 minutes",
      schema: Product
    })
    return HttpServerResponse.jsonUnsafe(product)
  }).pipe(
    Effect.catchTag("SchemaError", () => Effect.succeed(problem(400, "BadRequest", "id must be an integer from 1 to 1000000"))),
    Effect.catch((error) => Effect.succeed(problem(503, error._tag, error.message)))
  )
)

/**
 * Readiness for a load balancer or Kubernetes: ready when the cache is `Connected`, or `Memory`
 * (started memory-only on purpose). `MemoryOnly` (Redis lost, serving from L1) and `Connecting`
 * answer 503 with the reason, so the instance is visibly degraded while it still serves requests.
 */
const healthRoute = HttpRouter.add(
  "GET",
  "/health",
  Effect.gen(function*() {
    const status = yield* Cache.status()
    const ready = status.mode === "Connected" || status.mode === "Memory"
    return HttpServerResponse.jsonUnsafe({
      status: ready ? "ready" : "degraded",
      mode: status.mode,
      memoryOnly: status.mode === "Memory",
      since: new Date(status.since).toISOString(),
      lastError: status.lastError._tag === "Some" ? status.lastError.value : null,
      reconnectAttempts: status.reconnectAttempts,
      pendingReplay: status.pendingReplay
    }, { status: ready ? 200 : 503 })
  })
)

/**
 * Liveness: the process answers. A platform must not restart an instance because Redis is away
 * (a restart would lose L1 and the writes waiting for replay, and fix nothing), so this ignores the cache.
 */
const liveRoute = HttpRouter.add("GET", "/live", HttpServerResponse.jsonUnsafe({ status: "alive" }))

/** The monitor's analytics (hit rate, timings, memory, connection) and the cache's own counters. */
const statsRoute = HttpRouter.add(
  "GET",
  "/cache/stats",
  Effect.gen(function*() {
    const monitor = yield* CacheMonitor
    const performance = yield* monitor.getPerformanceStats
    const memoryWarnings = yield* monitor.getMemoryWarnings
    const cache = yield* Cache.stats()
    return HttpServerResponse.jsonUnsafe({ performance, memoryWarnings, cache })
  })
)

const upstreamRoute = HttpRouter.add(
  "GET",
  "/upstream",
  Effect.gen(function*() {
    const upstream = yield* Upstream
    return HttpServerResponse.jsonUnsafe({ calls: yield* upstream.calls })
  })
)

/** Every route of the example, `/metrics` included (with the names OpenTelemetry's Prometheus exporter uses). */
export const Routes = Layer.mergeAll(
  productRoute,
  healthRoute,
  liveRoute,
  statsRoute,
  upstreamRoute,
  PrometheusMetrics.layerHttp({ metricNameMapper: CacheMetrics.prometheusNameMapper })
)
