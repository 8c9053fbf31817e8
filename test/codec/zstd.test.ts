/**
 * zstd (node:zlib's, Node >= 22.15) beside zlib: the codec writes it when asked, every
 * codec reads it whatever it writes, the decompression bound holds, and through real
 * Redis a zstd cache and a zlib cache read each other's values. On a Node without zstd
 * the option is refused up front and a stored zstd value fails to decode with a reason
 * that names the Node version, never a defect.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import { Redis } from "ioredis"
import * as nodeZlib from "node:zlib"
import { Codec } from "../../src/codec/Codec.js"
import { Compression, zstdAvailable } from "../../src/codec/Compression.js"
import { Cache } from "../../src/index.js"
import { wrap } from "../support/envelope.js"
import { startRedisServer } from "../support/RedisServer.js"
import { redisCache } from "../support/cache.js"

const order = {
  id: "order-1",
  lines: Array.from({ length: 40 }, (_, i) => ({ sku: `sku-${i}`, quantity: i % 7, price: 10 + i / 4, note: "gift wrap" }))
}
const COMPRESSION_ID_OFFSET = 5

describe.skipIf(!zstdAvailable)("zstd where Node has it", () => {
  it.effect("the codec writes compression id 2 with zstd and reads it back exactly; a zlib codec reads it too", () =>
    Effect.gen(function*() {
      const zstdCodec = Codec.make({ compression: Compression.zstd, compressionThreshold: 100 })
      const zlibCodec = Codec.make({ compressionThreshold: 100 })
      const encoded = yield* zstdCodec.encode("k", order)
      assert.strictEqual(encoded.bytes[COMPRESSION_ID_OFFSET], 2)
      assert.isBelow(encoded.bytes.byteLength, JSON.stringify(order).length)
      assert.deepStrictEqual(yield* zstdCodec.decode("k", encoded.bytes), order)
      assert.deepStrictEqual(yield* zlibCodec.decode("k", encoded.bytes), order)
      // and the other way round
      assert.deepStrictEqual(yield* zstdCodec.decode("k", (yield* zlibCodec.encode("k", order)).bytes), order)
    }))

  it.effect("decompression stops at maxValueBytes: a zstd bomb is a SerializationError", () =>
    Effect.gen(function*() {
      const bomb = nodeZlib.zstdCompressSync(Buffer.alloc(8 * 1024 * 1024, 0x20))
      const reader = Codec.make({ maxValueBytes: 1024 * 1024 })
      const exit = yield* Effect.exit(reader.decode("bomb", wrap({ serializerId: 1, compressionId: 2, fingerprint: undefined }, bomb)))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        assert.isFalse(Cause.hasDies(exit.cause))
        const error = Option.getOrThrow(Exit.findErrorOption(exit))
        assert.strictEqual(error._tag, "SerializationError")
      }
    }))

  it.live("through a real redis-server: a zstd cache and a zlib cache read each other's values", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const zstdCache = yield* redisCache({ redisUrl: server.url, compression: "zstd", compressionThreshold: 100 })
      const zlibCache = yield* redisCache({ redisUrl: server.url, compressionThreshold: 100, enableL1: false })
      yield* zstdCache.set("order", order)
      const raw = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis(server.port, server.host)),
        (client) => Effect.promise(() => client.quit())
      )
      const stored = yield* Effect.promise(() => raw.getBuffer("cache:order"))
      assert.strictEqual(stored?.[COMPRESSION_ID_OFFSET], 2)
      assert.deepStrictEqual(Option.getOrThrow(yield* zlibCache.get("order")), order)
      yield* zlibCache.set("from-zlib", order)
      assert.strictEqual((yield* Effect.promise(() => raw.getBuffer("cache:from-zlib")))?.[COMPRESSION_ID_OFFSET], 1)
      const fresh = yield* redisCache({ redisUrl: server.url, compression: "zstd", enableL1: false })
      assert.deepStrictEqual(Option.getOrThrow(yield* fresh.get("from-zlib")), order)
    }))
})

describe.skipIf(zstdAvailable)("zstd where Node lacks it", () => {
  it.effect("compression: \"zstd\" is a ValidationError on compression that names the Node version", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Effect.asVoid(
        Effect.flatMap(Effect.succeed(Cache.layerRedis({ redisUrl: "redis://127.0.0.1:1", compression: "zstd" })), (layer) =>
          Effect.scoped(Effect.asVoid(Effect.provide(Effect.void, layer))))
      )))
      assert.isTrue(Exit.isFailure(exit))
      const error = Option.getOrThrow(Exit.findErrorOption(exit)) as { _tag: string; message: string }
      assert.strictEqual(error._tag, "ValidationError")
      assert.include(error.message, "compression")
      assert.include(error.message, process.version)
    }))

  it.effect("a stored zstd value fails to decode with a reason naming Node's version, not a defect", () =>
    Effect.gen(function*() {
      // A zstd frame's magic number and a few bytes: without zstd they are never parsed.
      const frame = Buffer.from("28b52ffd2005290000227a7374642200", "hex")
      const exit = yield* Effect.exit(Codec.make().decode("k", wrap({ serializerId: 1, compressionId: 2, fingerprint: undefined }, frame)))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        assert.isFalse(Cause.hasDies(exit.cause))
        assert.include(Option.getOrThrow(Exit.findErrorOption(exit)).reason, "zstd needs")
      }
    }))
})
