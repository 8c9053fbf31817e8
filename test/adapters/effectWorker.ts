/**
 * Another instance, in a process of its own, for the adapters' cross-instance tests: it builds
 * `Cache.layerRedis` from the JSON options in argv[2], runs the one operation named in argv[3]
 * (argv[4]: its JSON arguments) through an adapter, prints its outcome as one JSON line and exits.
 */
import { Effect, Layer, Ref } from "effect"
import * as CircuitBreaker from "effect/persistence/CircuitBreaker"
import * as RateLimiter from "effect/persistence/RateLimiter"
import { program } from "../../examples/effect-persistence.js"
import { Cache, CacheBackingPersistence, CacheRedis, type RedisCacheOptions } from "../../src/index.js"

const options = JSON.parse(process.argv[2] ?? "{}") as RedisCacheOptions
const op = process.argv[3]
const args = JSON.parse(process.argv[4] ?? "{}") as { readonly key?: string; readonly limit?: number }
const key = args.key ?? "k"

const cache = Cache.layerRedis(options)
const redis = CacheRedis.layer.pipe(Layer.provide(cache))

const operation: Effect.Effect<unknown, unknown> = (() => {
  switch (op) {
    case "consume":
      return Effect.gen(function*() {
        const limiter = yield* RateLimiter.RateLimiter
        return yield* limiter.consume({ key, limit: args.limit ?? 1, window: "1 hour", onExceeded: "fail" }).pipe(
          Effect.map(({ remaining }) => ({ remaining })),
          Effect.catchTag("RateLimiterError", (error) => Effect.succeed({ refused: error.reason._tag }))
        )
      }).pipe(Effect.provide(RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreRedis()), Layer.provide(redis))))
    case "breaker":
      return Effect.gen(function*() {
        const breaker = yield* CircuitBreaker.CircuitBreaker
        const state = (yield* breaker.state(key))._tag
        const ran = yield* breaker.execute(Effect.succeed("ran"), { key }).pipe(
          Effect.catchTag("CircuitBreakerError", (error) => Effect.succeed(error.reason._tag))
        )
        return { state, ran }
      }).pipe(Effect.provide(
        CircuitBreaker.layer({ tripPolicy: CircuitBreaker.consecutive(2), openDuration: "1 hour" }).pipe(
          Layer.provide(CircuitBreaker.layerStoreRedis()),
          Layer.provide(redis)
        )
      ))
    case "persisted":
      return Effect.gen(function*() {
        const lookups = yield* Ref.make(0)
        const users = yield* program(lookups)
        return { names: users.map((user) => user.name), lookups: yield* Ref.get(lookups) }
      }).pipe(
        Effect.scoped,
        Effect.provide(CacheBackingPersistence.layerPersistence({ namespace: "persistence" }).pipe(Layer.provide(cache)))
      )
    default:
      return Effect.die(new Error(`unknown operation ${op}`))
  }
})()

Effect.runPromise(operation).then((result) => {
  process.stdout.write(`${JSON.stringify(result)}\n`)
  process.exit(0)
}, (error) => {
  process.stderr.write(`${String(error)}\n`)
  process.exit(1)
})
