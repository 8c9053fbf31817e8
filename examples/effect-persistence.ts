/**
 * Effect's `PersistedCache` and `RequestResolver.persisted`, stored in the two-tier cache:
 *
 *   npx tsx examples/effect-persistence.ts      # REDIS_URL or redis://127.0.0.1:6379
 *
 * Run it twice: the second run finds the users the first one looked up in Redis and
 * looks nothing up. With Redis away it still works (memory-only, replayed later).
 * test/adapters/BackingPersistence.test.ts runs the same program against a private Redis.
 */
import { pathToFileURL } from "node:url"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Exit, Layer, Ref, RequestResolver, Schema } from "effect"
import * as Persistable from "effect/persistence/Persistable"
import * as PersistedCache from "effect/persistence/PersistedCache"
import { Cache, CacheBackingPersistence } from "../src/index.js"

/** What the slow upstream returns. */
export class User extends Schema.Class<User>("User")({ id: Schema.Int, name: Schema.String }) {}

/** A request Effect can persist: its primary key names the stored entry, its schemas encode the result. */
export class GetUser extends Persistable.Class<{ payload: { readonly id: number } }>()("GetUser", {
  primaryKey: ({ id }) => `user-${id}`,
  success: User
}) {}

/**
 * Looks up users through a `PersistedCache` and through a persisted `RequestResolver`;
 * `lookups` counts the calls that reached the upstream.
 */
export const program = (lookups: Ref.Ref<number>) =>
  Effect.gen(function*() {
    const upstream = (request: GetUser) =>
      Ref.update(lookups, (n) => n + 1).pipe(Effect.as(new User({ id: request.id, name: `user ${request.id}` })))

    // PersistedCache: its own small in-memory cache in front of the store.
    const users = yield* PersistedCache.make(upstream, {
      storeId: "users",
      timeToLive: () => "1 hour",
      inMemoryCapacity: 100
    })
    const ada = yield* users.get(new GetUser({ id: 1 }))

    // RequestResolver.persisted: a batched resolver whose results are stored.
    const resolver = yield* RequestResolver.fromEffect((entry: { readonly request: GetUser }) =>
      upstream(entry.request)
    ).pipe(RequestResolver.persisted({ storeId: "users-by-request", timeToLive: (exit) => Exit.isSuccess(exit) ? "1 hour" : 0 }))
    const batch = yield* Effect.forEach([2, 3, 4], (id) => Effect.request(new GetUser({ id }), resolver), {
      concurrency: "unbounded"
    })
    return [ada, ...batch]
  })

/**
 * `Persistence` on a Redis cache. L1 is off: `PersistedCache` (and `RequestResolver.persisted`
 * with `withCache`) keep their own in-memory copies, and while Redis is away the cache still
 * keeps what it writes in memory until it is replayed.
 */
export const persistenceLayer = (redisUrl: string) =>
  CacheBackingPersistence.layerPersistence({ namespace: "persistence" }).pipe(
    Layer.provideMerge(Cache.layerRedis({ redisUrl, enableL1: false, cacheName: "persistence" }))
  )

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const main = Effect.gen(function*() {
    const lookups = yield* Ref.make(0)
    const found = yield* program(lookups)
    console.log(`found ${found.map((user) => user.name).join(", ")}; upstream lookups: ${yield* Ref.get(lookups)}`)
  }).pipe(Effect.scoped, Effect.provide(persistenceLayer(process.env.REDIS_URL ?? "redis://127.0.0.1:6379")))
  NodeRuntime.runMain(main)
}
