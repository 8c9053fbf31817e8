import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Option, type Scope } from "effect"
import { Cache, type CacheService, ValidationError } from "../../src/index.js"
import { startRedisServer } from "../support/RedisServer.js"
import { redisCache } from "../support/cache.js"

const loneSurrogateKeys = ["\uD800", "a\uDC00b", "tail\uD83D"] as const

const memoryCache = Effect.map(Layer.build(Cache.layerMemory()), (context) => Context.get(context, Cache)) as Effect.Effect<
  CacheService,
  never,
  Scope.Scope
>

const assertKeyRefused = <A, E>(exit: Exit.Exit<A, E>, field = "key") => {
  assert.isTrue(Exit.isFailure(exit), "the operation must fail")
  if (Exit.isFailure(exit)) {
    const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")
    assert.isDefined(error)
    const failure = (error as { readonly error: unknown }).error
    assert.instanceOf(failure, ValidationError)
    assert.strictEqual((failure as ValidationError).issues[0]?.field, field)
    assert.match((failure as ValidationError).message, /well-formed/)
  }
}

const everyOperationRefuses = (cache: CacheService) =>
  Effect.gen(function*() {
    for (const key of loneSurrogateKeys) {
      assertKeyRefused(yield* Effect.exit(cache.set(key, 1)))
      assertKeyRefused(yield* Effect.exit(cache.get(key)))
      assertKeyRefused(yield* Effect.exit(cache.getOrSet(key, Effect.succeed(1))))
      assertKeyRefused(yield* Effect.exit(cache.delete(key)))
      assertKeyRefused(yield* Effect.exit(cache.exists(key)))
      assertKeyRefused(yield* Effect.exit(cache.ttl(key)))
      assertKeyRefused(yield* Effect.exit(cache.invalidatePattern(key)), "pattern")
      assertKeyRefused(yield* Effect.exit(cache.invalidatePattern(`${key}*`, { glob: true })), "pattern")
    }
  })

describe("keys are well-formed text", () => {
  it.effect("the memory layer refuses a key with a lone surrogate in every operation", () =>
    Effect.scoped(Effect.flatMap(memoryCache, everyOperationRefuses)))

  it.live("the Redis layer refuses them too, and stores nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({ redisUrl: server.url })
      yield* everyOperationRefuses(cache)
      assert.strictEqual(yield* server.cli("DBSIZE"), "0")
    })))

  it.live("distinct well-formed keys stay distinct in Redis (astral and combining characters)", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const writer = yield* redisCache({ redisUrl: server.url })
      const reader = yield* redisCache({ redisUrl: server.url, enableL1: false })
      const keys = ["\uD83D\uDE00", "\uFFFD", "e\u0301", "\u00E9"]
      for (const [index, key] of keys.entries()) yield* writer.set(key, index)
      for (const [index, key] of keys.entries()) {
        assert.deepStrictEqual(yield* reader.get(key), Option.some(index))
      }
      assert.strictEqual(yield* server.cli("DBSIZE"), String(keys.length))
    })))
})
