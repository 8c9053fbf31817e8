/**
 * Namespaces: `cache.namespace(name)` is the same cache under `<name>:`; `clear` and pattern
 * invalidation stay inside it, in L1 and in a real redis-server.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Option, type Scope } from "effect"
import { Redis } from "ioredis"
import { Cache, type CacheService, ValidationError } from "../../src/index.js"
import { startRedisServer } from "../support/RedisServer.js"
import { redisCache } from "../support/cache.js"

const memoryCache = Effect.map(Layer.build(Cache.layerMemory()), (context) => Context.get(context, Cache)) as Effect.Effect<
  CacheService,
  never,
  Scope.Scope
>

const refusedField = <A, E>(exit: Exit.Exit<A, E>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail") as { readonly error: unknown } | undefined
  assert.instanceOf(reason?.error, ValidationError)
  return (reason!.error as ValidationError).issues[0]?.field
}

const rawClient = (url: string) =>
  Effect.acquireRelease(Effect.sync(() => new Redis(url, { lazyConnect: false })), (client) =>
    Effect.promise(() => client.quit().catch(() => "closed")))

/** The rules every namespace keeps, whichever tier holds the keys. */
const namespaceRules = (cache: CacheService) =>
  Effect.gen(function*() {
    const users = yield* cache.namespace("users")
    const orders = yield* cache.namespace("orders")
    yield* users.set("1", "ada")
    yield* orders.set("1", "order one")
    yield* cache.set("top", "level")
    assert.deepStrictEqual(yield* users.get("1"), Option.some("ada"))
    assert.deepStrictEqual(yield* cache.get("users:1"), Option.some("ada"), "the parent sees <name>:key")
    assert.deepStrictEqual(yield* orders.get("1"), Option.some("order one"))
    assert.isTrue(yield* users.exists("1"))
    assert.isTrue(Option.isSome(yield* users.ttl("1")))
    assert.strictEqual(yield* users.getOrSet("2", Effect.succeed("grace")), "grace")
    assert.deepStrictEqual(yield* cache.get("users:2"), Option.some("grace"))

    // A literal pattern matches the rest of the key, glob characters in it mean themselves.
    yield* users.set("a*b", "star")
    yield* users.set("aXb", "x")
    assert.strictEqual(yield* users.invalidatePattern("a*b"), 1)
    assert.deepStrictEqual(yield* users.get("aXb"), Option.some("x"))
    assert.strictEqual(yield* users.invalidatePattern("a?b", { glob: true }), 1)
    assert.isTrue(Option.isNone(yield* users.get("aXb")))

    // Nested namespaces compose; clear stays inside the namespace.
    const admins = yield* users.namespace("admins")
    yield* admins.set("1", "root")
    assert.deepStrictEqual(yield* cache.get("users:admins:1"), Option.some("root"))
    yield* admins.clear
    assert.isTrue(Option.isNone(yield* admins.get("1")))
    assert.deepStrictEqual(yield* users.get("1"), Option.some("ada"))
    yield* users.clear
    assert.isTrue(Option.isNone(yield* users.get("1")))
    assert.isTrue(Option.isNone(yield* users.get("2")))
    assert.deepStrictEqual(yield* orders.get("1"), Option.some("order one"))
    assert.deepStrictEqual(yield* cache.get("top"), Option.some("level"))
    assert.isFalse(yield* users.delete("absent"))
  })

describe("namespaces", () => {
  it.effect("in memory: keys, clear and patterns stay inside the namespace", () =>
    Effect.flatMap(memoryCache, namespaceRules))

  it.live("against a real redis-server: the same rules, and Redis holds <prefix><name>:key", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({ redisUrl: server.url, keyPrefix: "app:" })
      yield* namespaceRules(cache)
      const raw = yield* rawClient(server.url)
      const keys = (yield* Effect.promise(() => raw.keys("app:*"))).sort()
      assert.deepStrictEqual(keys, ["app:orders:1", "app:top"])

      // A namespace whose name holds glob characters clears only itself.
      const starry = yield* cache.namespace("a*")
      yield* starry.set("k", 1)
      yield* cache.set("ab:k", 2)
      yield* starry.clear
      assert.deepStrictEqual(yield* cache.get("ab:k"), Option.some(2))
      assert.strictEqual(yield* Effect.promise(() => raw.exists("app:a*:k")), 0)
    })))

  it.effect("bad names and patterns are refused with a ValidationError naming the field", () =>
    Effect.gen(function*() {
      const cache = yield* memoryCache
      assert.strictEqual(refusedField(yield* Effect.exit(cache.namespace(""))), "namespace")
      assert.strictEqual(refusedField(yield* Effect.exit(cache.namespace("a\uD800"))), "namespace")
      assert.strictEqual(refusedField(yield* Effect.exit(cache.namespace("x".repeat(257)))), "namespace")
      const users = yield* cache.namespace("users")
      assert.strictEqual(refusedField(yield* Effect.exit(users.invalidatePattern("\uDC00"))), "pattern")
      assert.strictEqual(refusedField(yield* Effect.exit(users.set("\uD800", 1))), "key")
    }))

  it.effect("Cache.layerNamespace gives a part of the program its own view", () =>
    Effect.gen(function*() {
      const root = Cache.layerMemory()
      const program = Effect.gen(function*() {
        yield* Cache.set("1", "tenant value")
        return yield* Cache.get("1")
      })
      const both = Effect.gen(function*() {
        const inTenant = yield* program.pipe(Effect.provide(Cache.layerNamespace("tenant-a")))
        return { inTenant, fromRoot: yield* Cache.get("tenant-a:1") }
      })
      const { fromRoot, inTenant } = yield* both.pipe(Effect.provide(root))
      assert.deepStrictEqual(inTenant, Option.some("tenant value"))
      assert.deepStrictEqual(fromRoot, Option.some("tenant value"))
    }))
})
