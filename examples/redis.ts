/**
 * Watch the cache keep working while Redis comes and goes:
 *
 *   npx tsx examples/redis.ts            # REDIS_URL or redis://127.0.0.1:6379, runs until Ctrl-C
 *   npx tsx examples/redis.ts --seconds 5
 *
 * Stop and start your Redis while it runs: the mode switches to MemoryOnly, reads
 * and writes go on from memory, and when Redis is back the cache reconnects by
 * itself and replays what was written meanwhile. Keys live under
 * `effect-redis-cache-example:` and expire within a minute.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Option, Schedule } from "effect"
import { Cache } from "../src/index.js"

const secondsFlag = process.argv.indexOf("--seconds")
const seconds = secondsFlag === -1 ? Infinity : Number(process.argv[secondsFlag + 1])
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

const tick = Effect.gen(function*() {
  const cache = yield* Cache
  const n = Date.now() % 100
  yield* cache.set(`counter:${n}`, { n, at: new Date().toISOString() })
  const read = yield* cache.get(`counter:${n}`)
  const status = yield* cache.status
  const stats = yield* cache.stats
  console.log(
    `${new Date().toISOString()}  mode=${status.mode.padEnd(10)} read=${Option.isSome(read) ? "ok " : "miss"}` +
      `  l1Hits=${stats.l1Hits} l2Hits=${stats.l2Hits} pendingReplay=${status.pendingReplay}` +
      Option.match(status.lastError, { onNone: () => "", onSome: (e) => `  lastError=${e}` })
  )
})

const program = Effect.gen(function*() {
  const status = yield* Cache.status()
  console.log(
    status.mode === "Connected"
      ? `Connected to ${redisUrl}. Stop and start Redis to watch the cache degrade and recover.`
      : `Redis at ${redisUrl} is not reachable: falling back to memory, reconnecting in the background.`
  )
  const runs = Number.isFinite(seconds) ? Math.max(1, Math.round(seconds * 2)) : Infinity
  yield* tick.pipe(Effect.repeat(Number.isFinite(runs) ? Schedule.spaced("500 millis").pipe(Schedule.upTo({ times: runs - 1 })) : Schedule.spaced("500 millis")))
}).pipe(
  Effect.provide(Cache.layerRedis({
    redisUrl,
    keyPrefix: "effect-redis-cache-example:",
    defaultTtl: "1 minute",
    connectTimeout: "500 millis",
    commandTimeout: "500 millis"
  }))
)

NodeRuntime.runMain(program)
