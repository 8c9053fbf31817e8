/**
 * Builds a Redis cache, uses it, and lets the layer close. The test that runs this
 * file expects the process to exit by itself: a connection, timer or fiber left
 * open would keep it alive until the test kills it. Its argument is a URL, or the
 * connection options as JSON (a cluster's or a sentinel setup's).
 */
import { Effect } from "effect"
import { Cache, type RedisCacheOptions } from "../../src/index.js"

const argument = process.argv[2] ?? "redis://127.0.0.1:1"
const connection: RedisCacheOptions = argument.startsWith("{") ? JSON.parse(argument) : { redisUrl: argument }
await Effect.runPromise(
  Effect.gen(function*() {
    yield* Cache.set("k", { at: 1 })
    yield* Cache.get("k")
  }).pipe(Effect.provide(Cache.layerRedis({ ...connection, cacheName: "closes-cleanly" })))
)
console.log("closed")
