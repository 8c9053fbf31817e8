/**
 * The main demo: `npm run demo`.
 *
 * Two caches (think: two processes of one service) share the Redis at `REDIS_URL`
 * (default redis://127.0.0.1:6379). Cache A writes a user; A reads it from its own
 * memory (L1); cache B, whose memory is empty, reads it from Redis (L2) and keeps
 * a copy; when A changes the user, Redis tells B to drop its copy (L1 coherence), and B
 * reads the new value. Without a reachable Redis the same program runs memory-only, and B has
 * nothing to share with A. Everything written lives under the key prefix
 * `effect-redis-cache-demo:` and is removed at the end.
 */
import { Context, Duration, Effect, Layer, Option, References, Schema } from "effect"
import { Cache, type CacheService } from "../src/index.js"

class User extends Schema.Class<User>("demo/User")({ id: Schema.Int, name: Schema.String, joined: Schema.Date }) {}

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

const cacheLayer = (cacheName: string) =>
  Cache.layerRedis({
    redisUrl,
    cacheName,
    keyPrefix: "effect-redis-cache-demo:",
    // One quick attempt: a demo without Redis should say so at once, not after retries.
    connectAttempts: 1,
    connectTimeout: "500 millis"
  })

/** Builds a cache that lives as long as the demo's scope, and hands back the service. */
const openCache = (cacheName: string) => Effect.map(Layer.build(cacheLayer(cacheName)), (context) => Context.get(context, Cache))

/** Reads the user and names the tier that answered, from the cache's own counters. */
const read = Effect.fnUntraced(function*(label: string, cache: CacheService) {
  const before = yield* cache.stats
  const user = yield* cache.get("user:1", User)
  const after = yield* cache.stats
  const tier = after.l1Hits > before.l1Hits
    ? "L1 hit (its own memory)"
    : after.l2Hits > before.l2Hits
    ? "L2 hit (Redis)"
    : (yield* cache.status).mode === "Connected"
    ? "miss"
    : "miss (no Redis: B cannot see what A wrote)"
  const shown = Option.match(user, { onNone: () => "nothing", onSome: (u) => `${u.name} (id ${u.id})` })
  console.log(`${label.padEnd(26)}-> ${shown}: ${tier}`)
})

const program = Effect.gen(function*() {
  const a = yield* openCache("demo-a")
  const status = yield* a.status
  console.log(
    status.mode === "Connected"
      ? `Two caches share Redis at ${redisUrl}; each keeps an L1 copy in memory.`
      : `No Redis at ${redisUrl} (${Option.getOrElse(status.lastError, () => "unknown")}): running memory-only.`
  )
  const b = yield* openCache("demo-b")

  const ada = new User({ id: 1, name: "Ada", joined: new Date("2024-01-02T03:04:05Z") })
  yield* a.set("user:1", ada, { schema: User, ttl: "30 seconds" })
  console.log(`${"cache A: set user:1".padEnd(26)}-> Ada, TTL 30 seconds`)
  yield* read("cache A: get user:1", a)
  yield* read("cache B: get user:1", b)
  yield* read("cache B: get user:1 again", b)
  // B's L1 copy is now stale: Redis tells B (CLIENT TRACKING), and B reads the new value from Redis.
  yield* a.set("user:1", new User({ ...ada, name: "Ada Lovelace" }), { schema: User, ttl: "30 seconds" })
  const shared = status.mode === "Connected"
  console.log(`${"cache A: set user:1".padEnd(26)}-> Ada Lovelace${shared ? " (Redis tells B to drop its copy)" : ""}`)
  yield* Effect.sleep("20 millis")
  yield* read("cache B: get user:1", b)
  const ttl = yield* a.ttl("user:1")
  console.log(`${"cache A: ttl user:1".padEnd(26)}-> ${Option.match(ttl, { onNone: () => "none", onSome: Duration.format })}`)

  const badTtl = yield* a.set("user:2", ada, { schema: User, ttl: "0 seconds" }).pipe(Effect.flip)
  console.log(`${"set with a zero TTL".padEnd(26)}-> ${badTtl._tag}: ${badTtl.message}`)
  const emptyKey = yield* a.get("").pipe(Effect.flip)
  console.log(`${"get an empty key".padEnd(26)}-> ${emptyKey._tag}: ${emptyKey.message}`)

  const statsA = yield* a.stats
  const statsB = yield* b.stats
  console.log(`stats: A ${statsA.l1Hits} L1 / ${statsA.l2Hits} L2 hits, B ${statsB.l1Hits} L1 / ${statsB.l2Hits} L2 hits`)
  yield* a.clear
})

Effect.runPromise(
  program.pipe(
    Effect.scoped,
    // The demo prints its own lines; the cache's own logs (connected, memory-only) would repeat them.
    Effect.provideService(References.MinimumLogLevel, "Error")
  )
).then(
  () => console.log("done"),
  (error) => {
    console.error("demo failed:", error)
    process.exit(1)
  }
)
