/**
 * `maxValueBytes`: a set that a reader would refuse fails at once and stores nothing,
 * in the codec, in the memory cache and in the Redis cache; a value at the limit is
 * written and read back.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer, Option } from "effect"
import { Redis } from "ioredis"
import { Codec } from "../../src/codec/Codec.js"
import { Serializer } from "../../src/codec/Serializer.js"
import type { SerializationError } from "../../src/errors.js"
import { Cache } from "../../src/index.js"
import { type RedisServerHandle, startRedisServer } from "../support/RedisServer.js"
import { redisCache } from "../support/cache.js"

const LIMIT = 1024
/** A JSON string value whose serialized form is exactly `bytes` long (its two quotes included). */
const jsonOfSize = (bytes: number): string => "x".repeat(bytes - 2)

/** The typed failure of `exit`, which must be a SerializationError (not a defect). */
const serializationFailure = (exit: Exit.Exit<unknown, unknown>): SerializationError => {
  if (Exit.isSuccess(exit)) return assert.fail("expected a SerializationError, got a success")
  assert.isFalse(Cause.hasDies(exit.cause), "a defect instead of a SerializationError")
  const error = Option.getOrThrow(Exit.findErrorOption(exit)) as SerializationError
  assert.strictEqual(error._tag, "SerializationError")
  return error
}

const tooLarge = (size: number, limit = LIMIT) =>
  `the value is ${size} bytes serialized, more than maxValueBytes (${limit})`

describe("Codec: maxValueBytes bounds what is written, as it bounds what is read", () => {
  for (const serializer of [Serializer.json, Serializer.structured]) {
    for (const compressionThreshold of [0, Number.MAX_SAFE_INTEGER]) {
      const label = `${serializer.name}, ${compressionThreshold === 0 ? "compressed" : "uncompressed"}`
      it(`${label}: encode, encodeExit and measure refuse a value above the limit, naming both sizes`, () => {
        const codec = Codec.make({ serializer, compressionThreshold, maxValueBytes: LIMIT })
        const over = "y".repeat(5000) // compresses far below the limit: its serialized size is what counts
        const size = serializer.serialize(over).byteLength
        for (const exit of [
          Effect.runSyncExit(codec.encode("big", over)),
          codec.encodeExit("big", over),
          Effect.runSyncExit(codec.measure("big", over))
        ]) {
          const error = serializationFailure(exit)
          assert.strictEqual(error.key, "big")
          assert.strictEqual(error.operation, "encode")
          assert.strictEqual(error.reason, tooLarge(size))
          assert.include(error.message, "Cannot encode the value for key \"big\"")
        }
      })

      it(`${label}: a value exactly at the limit is written and read back`, () => {
        const codec = Codec.make({ serializer, compressionThreshold, maxValueBytes: LIMIT })
        // a JSON string of LIMIT bytes; CBOR writes a 1021-byte string in 3 + 1021 bytes
        const value = serializer === Serializer.json ? jsonOfSize(LIMIT) : "z".repeat(LIMIT - 3)
        const encoded = Effect.runSync(codec.encode("edge", value))
        assert.strictEqual(encoded.size, LIMIT)
        assert.strictEqual(encoded.compressed, compressionThreshold === 0)
        assert.strictEqual(Effect.runSync(codec.measure("edge", value)), LIMIT)
        assert.strictEqual(Effect.runSync(codec.decode("edge", encoded.bytes)), value)
        const oneMore = serializer === Serializer.json ? jsonOfSize(LIMIT + 1) : "z".repeat(LIMIT - 2)
        assert.strictEqual(serializationFailure(codec.encodeExit("edge", oneMore)).reason, tooLarge(LIMIT + 1))
      })
    }
  }

  it("the default limit is 64 MiB (what a default reader accepts)", () => {
    const codec = Codec.make() // measure serializes only: nothing is compressed
    const limit = 64 * 1024 * 1024
    assert.strictEqual(Effect.runSync(codec.measure("k", jsonOfSize(limit))), limit)
    const error = serializationFailure(Effect.runSyncExit(codec.measure("k", jsonOfSize(limit + 1))))
    assert.strictEqual(error.reason, tooLarge(limit + 1, limit))
  })

  it("a reader with a smaller limit refuses what a writer with a larger one stored", () => {
    const written = Effect.runSync(Codec.make({ maxValueBytes: 4 * LIMIT }).encode("k", jsonOfSize(2 * LIMIT)))
    const reader = Codec.make({ maxValueBytes: LIMIT })
    const error = serializationFailure(Effect.runSyncExit(reader.decode("k", written.bytes)))
    assert.strictEqual(error.reason, `the value decompresses to more than maxValueBytes (${LIMIT})`)
  })
})

describe("Cache.layerMemory refuses a value above maxValueBytes", () => {
  for (const serializer of ["json", "structured"] as const) {
    it.effect(`${serializer}: set fails with a SerializationError and stores nothing; a value at the limit is kept`, () =>
      Effect.gen(function*() {
        const over = jsonOfSize(LIMIT + 1)
        const error = serializationFailure(yield* Effect.exit(Cache.set("big", over)))
        assert.match(error.reason, /^the value is \d+ bytes serialized, more than maxValueBytes \(1024\)$/)
        assert.isFalse(yield* Cache.exists("big"))
        assert.isTrue(Option.isNone(yield* Cache.get("big")))
        const edge = serializer === "json" ? jsonOfSize(LIMIT) : "z".repeat(LIMIT - 3)
        yield* Cache.set("edge", edge)
        assert.deepStrictEqual(yield* Cache.get("edge"), Option.some(edge))
      }).pipe(Effect.provide(Cache.layerMemory({ maxValueBytes: LIMIT, serializer }))))
  }

  it.effect("the option is validated: below 1024 or not an integer is a ValidationError", () =>
    Effect.gen(function*() {
      for (const maxValueBytes of [10, 2048.5]) {
        const exit = yield* Effect.exit(Layer.build(Cache.layerMemory({ maxValueBytes })))
        assert.isTrue(Exit.isFailure(exit))
        const error = Option.getOrThrow(Exit.findErrorOption(exit))
        assert.strictEqual(error._tag, "ValidationError")
        assert.deepStrictEqual(error.issues.map((issue) => issue.field), ["maxValueBytes"])
        assert.match(error.issues[0]!.rule, /integer|between 1024 and 4294967296/)
      }
    }))
})

/** A plain ioredis client on the test's own server, closed with the test. */
const rawClient = (server: RedisServerHandle) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new Redis({ host: server.host, port: server.port, lazyConnect: true })
      await client.connect()
      return client
    }),
    (client) => Effect.sync(() => client.disconnect())
  )

describe("Cache.layerRedis refuses a value above maxValueBytes and stores nothing", () => {
  for (const compressionThreshold of [0, 16 * 1024 * 1024]) {
    const label = compressionThreshold === 0 ? "compressed" : "uncompressed"
    it.live(`${label}: over the limit fails (even when it compresses below it); at the limit reads back`, () =>
      Effect.gen(function*() {
        const server = yield* startRedisServer()
        const raw = yield* rawClient(server)
        const options = { redisUrl: server.url, maxValueBytes: LIMIT, compressionThreshold }
        const writer = yield* redisCache(options)
        // 5000 bytes of JSON deflate to a few dozen: a reader inflates it and would refuse it
        const error = serializationFailure(yield* Effect.exit(writer.set("big", jsonOfSize(5000))))
        assert.strictEqual(error.reason, tooLarge(5000))
        assert.strictEqual(yield* Effect.promise(() => raw.exists("cache:big")), 0)
        assert.isTrue(Option.isNone(yield* writer.get("big")))

        yield* writer.set("edge", jsonOfSize(LIMIT))
        const stored = yield* Effect.promise(() => raw.strlen("cache:edge"))
        if (compressionThreshold === 0) assert.isBelow(stored, LIMIT)
        else assert.isAbove(stored, LIMIT) // the envelope's header comes on top of the limit
        const reader = yield* redisCache(options) // a fresh L1: the value comes from Redis
        assert.deepStrictEqual(yield* reader.get("edge"), Option.some(jsonOfSize(LIMIT)))
        assert.strictEqual((yield* reader.stats).l2Hits, 1)
      }))
  }
})
