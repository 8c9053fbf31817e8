/**
 * `Effect.request` batching through the cache: `npx tsx examples/request-resolver.ts`.
 *
 * A `GetUser` request is answered by `Cache.resolver`: the requests of one batch are read
 * from the cache together (L1, then Redis in batched commands), and only those missing in
 * both tiers go to the "database", in one call. Two caches share the Redis at `REDIS_URL`
 * (default redis://127.0.0.1:6379), so the second finds in Redis what the first looked up;
 * without a reachable Redis the same program runs memory-only. Keys live under
 * `effect-redis-cache-resolver-example:` and are removed at the end.
 */
import { Context, Effect, Layer, References, Request, Schema } from "effect"
import { Cache, type CacheError, type CacheService } from "../src/index.js"

class User extends Schema.Class<User>("example/User")({ id: Schema.Int, name: Schema.String }) {}
class UserNotFound extends Schema.TaggedError<UserNotFound>()("UserNotFound", { id: Schema.Int }) {}

// The request's error type includes CacheError: a batch can fail in the cache as well as in the database.
interface GetUser extends Request.Request<User, UserNotFound | CacheError> {
  readonly _tag: "GetUser"
  readonly id: number
}
const GetUser = Request.tagged<GetUser>("GetUser")

// The "database": one query per call, whatever the number of ids; it knows users 1 to 9.
const queries: Array<ReadonlyArray<number>> = []
const usersByIds = (ids: ReadonlyArray<number>) =>
  Effect.sync(() => {
    queries.push(ids)
    return ids.filter((id) => id < 10).map((id) => new User({ id, name: `user ${id}` }))
  })

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const openCache = (cacheName: string) =>
  Effect.map(
    Layer.build(Cache.layerRedis({
      redisUrl,
      cacheName,
      keyPrefix: "effect-redis-cache-resolver-example:",
      connectAttempts: 1,
      connectTimeout: "500 millis"
    })),
    (context) => Context.get(context, Cache)
  )

/** Reads `ids` through `cache` as one batch of requests, and says what the database was asked. */
const round = Effect.fnUntraced(function*(label: string, cache: CacheService, ids: ReadonlyArray<number>) {
  // The one line: a resolver whose batches go through the cache.
  const resolver = yield* cache.resolver({
    key: (request: GetUser) => `user:${request.id}`,
    lookupMany: (requests) =>
      Effect.map(
        usersByIds(requests.map((request) => request.id)),
        (users) => users.map((user) => [`user:${user.id}`, user] as const)
      ),
    onMissing: (request) => new UserNotFound({ id: request.id }),
    options: { schema: User, ttl: "1 minute" }
  })
  const before = queries.length
  const answers = yield* Effect.forEach(
    ids,
    (id) =>
      Effect.request(GetUser({ id }), resolver).pipe(
        Effect.map((user) => user.name),
        Effect.catchTag("UserNotFound", (error) => Effect.succeed(`no user ${error.id}`))
      ),
    { concurrency: "unbounded" }
  )
  const asked = queries.slice(before).map((query) => `[${query.join(", ")}]`)
  const database = asked.length === 0 ? "not asked" : `asked ${asked.join(" ")}`
  console.log(`${label.padEnd(9)} ${answers.join(", ")} -> database ${database}`)
})

const program = Effect.gen(function*() {
  const a = yield* openCache("resolver-a")
  const b = yield* openCache("resolver-b")
  const shared = (yield* a.status).mode === "Connected"
  console.log(shared ? `Two caches share Redis at ${redisUrl}.` : `No Redis at ${redisUrl}: running memory-only.`)
  yield* a.deleteMany(["user:1", "user:2", "user:3", "user:42"])
  yield* round("A first", a, [1, 2, 3, 2, 42])
  yield* round("A again", a, [1, 2, 3])
  yield* round("B", b, [3, 4])
  const stats = yield* b.stats
  console.log(`B: ${stats.l2Hits} found in Redis, ${stats.misses} looked up`)
  yield* a.clear
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error"))).then(
  () => console.log("done"),
  (error) => {
    console.error("example failed:", error)
    process.exit(1)
  }
)
