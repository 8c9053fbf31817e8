/**
 * The main demo: `npm run demo`.
 *
 * It uses Redis at `REDIS_URL` (default redis://127.0.0.1:6379) when one answers,
 * and keeps working in memory when none does. Everything it writes lives under
 * the key prefix `effect-redis-cache-demo:` and expires within a minute.
 */
import { Duration, Effect, Option, Schema } from "effect"
import { Cache } from "../src/index.js"

class User extends Schema.Class<User>("demo/User")({
  id: Schema.Int,
  name: Schema.String,
  joined: Schema.Date
}) {}

const program = Effect.gen(function*() {
  const status = yield* Cache.status()
  console.log(
    status.mode === "Connected"
      ? `Using Redis at ${Option.getOrElse(status.url, () => "?")} with an L1 copy in memory.`
      : `No Redis reachable (${Option.getOrElse(status.lastError, () => "unknown")}): running memory-only.`
  )

  yield* Cache.registerCallback("get_success", (key) => console.log(`  callback: get_success ${key}`))

  yield* Cache.set("greeting", { text: "hello", at: 1 }, { ttl: "1 minute" })
  console.log("get greeting          ->", yield* Cache.get("greeting"))

  const ada = new User({ id: 1, name: "Ada", joined: new Date("2024-01-02T03:04:05Z") })
  yield* Cache.set("user:1", ada, { schema: User, ttl: "30 seconds" })
  const user = yield* Cache.get("user:1", User)
  console.log("get user:1 (schema)   ->", Option.map(user, (u) => `${u.name}, joined ${u.joined.toISOString()}`))

  console.log("exists user:1         ->", yield* Cache.exists("user:1"))
  console.log("ttl user:1            ->", Option.map(yield* Cache.ttl("user:1"), Duration.format))
  console.log("get missing           ->", yield* Cache.get("missing"))

  const rejected = yield* Cache.set("", 1).pipe(Effect.flip)
  console.log("set with an empty key ->", rejected._tag, "-", rejected.message)
  const lossy = yield* Cache.set("when", new Date()).pipe(Effect.flip)
  console.log("set a bare Date (JSON)->", lossy._tag, "-", lossy.message)

  console.log("delete greeting       ->", yield* Cache.delete("greeting"))
  const stats = yield* Cache.stats()
  console.log(
    `stats: ${stats.l1Hits} L1 hits, ${stats.l2Hits} L2 hits, ${stats.misses} misses, hit rate ${
      (stats.hitRate * 100).toFixed(0)
    }%, ${stats.l1.entries} L1 entries / ${stats.l1.bytes} bytes`
  )
  yield* Cache.clear()
})

const CacheLive = Cache.layerRedis({
  redisUrl: process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  keyPrefix: "effect-redis-cache-demo:",
  connectTimeout: "500 millis",
  defaultTtl: "1 minute"
})

Effect.runPromise(program.pipe(Effect.provide(CacheLive))).then(
  () => console.log("done"),
  (error) => {
    console.error("demo failed:", error)
    process.exit(1)
  }
)
