/**
 * Builds a Redis cache, uses it, and lets the layer close. The test that runs this
 * file expects the process to exit by itself: a connection, timer or fiber left
 * open would keep it alive until the test kills it.
 */
import { Effect } from "effect"
import { Cache } from "../../src/index.js"

const url = process.argv[2] ?? "redis://127.0.0.1:1"
await Effect.runPromise(
  Effect.gen(function*() {
    yield* Cache.set("k", { at: 1 })
    yield* Cache.get("k")
  }).pipe(Effect.provide(Cache.layerRedis({ redisUrl: url, cacheName: "closes-cleanly" })))
)
console.log("closed")
