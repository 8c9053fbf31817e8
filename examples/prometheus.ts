/**
 * A Prometheus scrape endpoint for the cache's metrics.
 *
 *   npx tsx examples/prometheus.ts            serves http://127.0.0.1:9464/metrics until Ctrl-C
 *   npx tsx examples/prometheus.ts --once     prints one scrape and exits
 *   PORT=9100 npx tsx examples/prometheus.ts  another port
 *
 * Effect's `PrometheusMetrics` renders the metric registry in the Prometheus text
 * format; no OpenTelemetry SDK is involved. `CacheMetrics.prometheusNameMapper`
 * gives the names OpenTelemetry's Prometheus exporter would (`cache_hits_total`,
 * `cache_operation_duration_seconds`...). The endpoint is a bare `node:http`
 * server to keep the example free of an HTTP framework; in an Effect HTTP app,
 * `PrometheusMetrics.layerHttp()` adds the same route to your router.
 */
import { createServer } from "node:http"
import { Effect, Schedule } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { Cache, CacheMonitor } from "../src/index.js"
import * as CacheMetrics from "../src/monitoring/CacheMetrics.js"

const port = Number(process.env.PORT ?? 9464)
const once = process.argv.includes("--once")

/** Some traffic: reads of 20 keys of which 15 exist, so the hit rate settles near 75%. */
const traffic = Effect.gen(function*() {
  for (let i = 0; i < 15; i++) yield* Cache.set(`product:${i}`, { id: i, price: i * 10 }, { ttl: "10 minutes" })
  let n = 0
  yield* Effect.suspend(() => Cache.get(`product:${n++ % 20}`)).pipe(
    Effect.repeat(Schedule.spaced("20 millis")),
    Effect.forkScoped
  )
})

const serve = Effect.gen(function*() {
  const monitor = yield* CacheMonitor
  // Publish L1's counters right before each scrape, so a scrape is exact rather than up to a snapshot interval old.
  const scrape = Effect.andThen(
    monitor.snapshot,
    PrometheusMetrics.format({ metricNameMapper: CacheMetrics.prometheusNameMapper })
  )
  const run = Effect.runPromiseWith(yield* Effect.context<never>())
  const server = yield* Effect.acquireRelease(
    Effect.callback<ReturnType<typeof createServer>>((resume) => {
      const http = createServer((request, response) => {
        if (request.url !== "/metrics") {
          response.writeHead(404).end()
          return
        }
        run(scrape).then((body) => {
          response.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" }).end(body)
        }, () => response.writeHead(500).end())
      })
      http.listen(port, "127.0.0.1", () => resume(Effect.succeed(http)))
    }),
    (http) => Effect.callback<void>((resume) => void http.close(() => resume(Effect.void)))
  )
  const address = server.address()
  const url = `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : port}/metrics`

  if (!once) {
    yield* Effect.log(`Serving ${url}; Ctrl-C to stop`)
    return yield* Effect.never
  }
  yield* Effect.sleep("500 millis") // let the traffic run a little
  const body = yield* Effect.promise(() => fetch(url).then((response) => response.text()))
  console.log(body)
  const stats = yield* monitor.getPerformanceStats
  yield* Effect.log(`hit rate ${stats.cacheHitRate.toFixed(1)}% over ${stats.cacheHits + stats.cacheMisses} reads`)
})

Effect.runPromise(
  Effect.scoped(Effect.andThen(traffic, serve)).pipe(Effect.provide(Cache.layerMemory({ cacheName: "catalog" })))
).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
