import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Option, Schema, Stream, Fiber } from "effect"
import { Cache, type CacheEvent, SerializationError } from "../../src/index.js"
import { startRedisServer } from "../support/RedisServer.js"
import { redisCache } from "../support/cache.js"

const V1 = Schema.Struct({ id: Schema.Number, name: Schema.String })
const V2 = Schema.Struct({ id: Schema.Number, fullName: Schema.String })

describe("a stored value that no longer fits its schema", () => {
  it.live("is a miss by default: get gives None, getOrSet looks up and overwrites, counted and announced", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const oldDeploy = yield* redisCache({ redisUrl: server.url })
      const newDeploy = yield* redisCache({ redisUrl: server.url })
      yield* oldDeploy.set("user:1", { id: 1, name: "Ada" }, { schema: V1 })

      const seen: Array<CacheEvent> = []
      const listener = yield* newDeploy.events.pipe(
        Stream.runForEach((event) => Effect.sync(() => seen.push(event))),
        Effect.forkScoped
      )
      yield* Effect.sleep("10 millis")
      assert.deepStrictEqual(yield* newDeploy.get("user:1", V2), Option.none())
      const fresh = yield* newDeploy.getOrSet("user:1", Effect.succeed({ id: 1, fullName: "Ada Lovelace" }), { schema: V2 })
      assert.deepStrictEqual(fresh, { id: 1, fullName: "Ada Lovelace" })
      // overwritten in Redis: the old deploy now sees a mismatch, the new one a hit
      const other = yield* redisCache({ redisUrl: server.url })
      assert.deepStrictEqual(yield* other.get("user:1", V2), Option.some({ id: 1, fullName: "Ada Lovelace" }))
      assert.deepStrictEqual(yield* other.get("user:1", V1), Option.none())
      assert.strictEqual((yield* newDeploy.stats).schemaMismatches, 2)
      assert.strictEqual((yield* newDeploy.stats).serializationErrors, 0)
      yield* Effect.sleep("10 millis")
      yield* Fiber.interrupt(listener)
      assert.isTrue(seen.some((event) => event._tag === "SchemaMismatch" && event.key === "user:1"))
    })))

  it.effect("the memory layer reads it as a miss too, from L1", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(Cache.layerMemory())
      const cache = Context.get(context, Cache)
      yield* cache.set("k", { id: 1, name: "Ada" }, { schema: V1 })
      assert.deepStrictEqual(yield* cache.get("k", V2), Option.none())
      assert.deepStrictEqual(yield* cache.get("k", V1), Option.some({ id: 1, name: "Ada" }))
      assert.strictEqual((yield* cache.stats).schemaMismatches, 1)
    }).pipe(Effect.scoped))

  it.live("with onSchemaMismatch: \"fail\" it is a SerializationError, as before", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const writer = yield* redisCache({ redisUrl: server.url })
      const strict = yield* redisCache({ redisUrl: server.url, onSchemaMismatch: "fail" })
      yield* writer.set("user:1", { id: 1, name: "Ada" }, { schema: V1 })
      const exit = yield* Effect.exit(strict.get("user:1", V2))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const reason = exit.cause.reasons.find((r) => r._tag === "Fail") as { readonly error: unknown } | undefined
        assert.instanceOf(reason?.error, SerializationError)
      }
    })))

  it.effect("an invalid onSchemaMismatch option is a ValidationError naming the field", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Layer.build(Cache.layerMemory({ onSchemaMismatch: "ignore" as never })))
      assert.isTrue(Exit.isFailure(exit))
      assert.match(String(Exit.isFailure(exit) ? exit.cause : ""), /onSchemaMismatch/)
    }).pipe(Effect.scoped))
})
