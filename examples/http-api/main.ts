/**
 * An HTTP API that caches a slow upstream with effect-redis-cache (docs/http-example.md).
 *
 *   npm run example:http                              http://127.0.0.1:3000, Redis at redis://127.0.0.1:6379
 *   REDIS_URL=redis://host:6380 npm run example:http  another Redis
 *   npm run example:http -- --memory-only             no Redis, on purpose (also CACHE_MEMORY_ONLY=true)
 *
 * Environment: PORT (3000), HOST (127.0.0.1), REDIS_URL, CACHE_MEMORY_ONLY (false),
 * UPSTREAM_DELAY (300 millis: how long each upstream call takes).
 *
 * Without a reachable Redis (and without --memory-only) the server still starts and serves from
 * memory; `/health` answers 503 until the cache connects. SIGTERM or Ctrl-C stops it cleanly: the
 * server stops taking connections and finishes the requests in flight, the shutdown says whether
 * writes made while Redis was away are still waiting for it (they would be lost), then the cache's
 * scope closes its connections, and the process exits 0.
 */
import { createServer } from "node:http"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Cause, Config, Duration, Effect, Exit, Layer, Runtime, Schedule } from "effect"
import { HttpRouter } from "effect/http"
import { Cache } from "../../src/index.js"
import { Routes } from "./routes.js"
import { Upstream } from "./Upstream.js"

const AppConfig = Config.all({
  port: Config.Port("PORT").pipe(Config.withDefault(3000)),
  host: Config.String("HOST").pipe(Config.withDefault("127.0.0.1")),
  redisUrl: Config.String("REDIS_URL").pipe(Config.withDefault("redis://127.0.0.1:6379")),
  memoryOnly: Config.Boolean("CACHE_MEMORY_ONLY").pipe(Config.withDefault(false)),
  upstreamDelay: Config.Duration("UPSTREAM_DELAY").pipe(Config.withDefault(Duration.millis(300)))
})

/**
 * A web server wants Redis back soon after it returns: retry from 100 ms, doubling, but never wait
 * more than a second between attempts (the library's default caps at 10 seconds).
 */
const reconnectSchedule = Schedule.exponential("100 millis", 2).pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(1)))),
  Schedule.jittered
)

const cacheLayer = (config: Config.Success<typeof AppConfig>) =>
  config.memoryOnly
    ? Cache.layerMemory({ cacheName: "products" })
    : Cache.layerRedis({
      redisUrl: config.redisUrl,
      cacheName: "products",
      keyPrefix: "http-api:",
      reconnectSchedule
    })

/**
 * What the shutdown leaves behind. Writes reach Redis before `set` returns, so while connected
 * nothing is pending; writes made while Redis was away wait in the replay queue, and closing now
 * loses them (the entries were in this process' L1 only), so say how many.
 */
const reportShutdown = Effect.gen(function*() {
  const status = yield* Cache.status()
  if (status.pendingReplay === 0 && status.droppedWhileDegraded === 0) {
    return yield* Effect.log(`Shutting down: cache ${status.mode}, no writes waiting for Redis`)
  }
  yield* Effect.logWarning(
    `Shutting down: cache ${status.mode}, writes made while Redis was away and not replayed: ` +
      `${status.pendingReplay} still queued, ${status.droppedWhileDegraded} dropped (queue full)`
  )
})

const main = Effect.gen(function*() {
  const config = yield* AppConfig
  const memoryOnly = config.memoryOnly || process.argv.includes("--memory-only")
  const Server = HttpRouter.serve(Routes).pipe(
    Layer.provide(NodeHttpServer.layer(createServer, {
      port: config.port,
      host: config.host,
      // Requests in flight get this long to finish after SIGTERM; then the server closes anyway.
      gracefulShutdownTimeout: "5 seconds"
    }))
  )
  // The cache and the upstream are built outside the server, so they outlive it: the server stops
  // first, then the shutdown report reads the cache, then the cache's scope closes.
  return yield* Layer.launch(Server).pipe(
    Effect.onExit(() => reportShutdown),
    Effect.provide(Layer.mergeAll(cacheLayer({ ...config, memoryOnly }), Upstream.layer(config.upstreamDelay))),
    Effect.onExit(() => Effect.log("Stopped: the cache's scope is closed"))
  )
})

// A SIGTERM is how a platform asks a server to stop: a clean stop exits 0 (the default is 130).
NodeRuntime.runMain(main, {
  teardown: (exit, onExit) =>
    Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)
})
