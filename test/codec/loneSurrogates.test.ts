/**
 * Values are never altered: a string with a lone surrogate (half of a UTF-16 pair)
 * comes back exactly under JSON, and is refused at `set` by the structured serializer
 * (CBOR text is UTF-8, which has no form for it), through the codec, the memory cache
 * and a real redis-server.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import * as fc from "fast-check"
import { Codec } from "../../src/codec/Codec.js"
import { Serializer } from "../../src/codec/Serializer.js"
import type { SerializationError } from "../../src/errors.js"
import { Cache } from "../../src/index.js"
import { startRedisServer } from "../support/RedisServer.js"
import { redisCache } from "../support/cache.js"

/** Lone surrogates in a string, an object key, a Map key and a Set, nested. */
const value = {
  text: "a\uD800b",
  "\uDC00key": ["\uDBFF", { deep: "\uDFFFz" }],
  pair: "\uD83D\uDE00"
}
const structuredValue = { ...value, map: new Map([["\uD800", "ok"]]), set: new Set(["\uDC00"]) }

const serializationFailure = (exit: Exit.Exit<unknown, unknown>): SerializationError => {
  if (Exit.isSuccess(exit)) return assert.fail("expected a SerializationError, got a success")
  assert.isFalse(Cause.hasDies(exit.cause), "a defect instead of a SerializationError")
  const error = Option.getOrThrow(Exit.findErrorOption(exit)) as SerializationError
  assert.strictEqual(error._tag, "SerializationError")
  return error
}

const codeUnitOrPoint = fc.oneof(
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((unit) => String.fromCharCode(unit))
)
const anyString = fc.string({ unit: codeUnitOrPoint, maxLength: 40 })
const wellFormed = (text: string): boolean => (text as unknown as { isWellFormed: () => boolean }).isWellFormed()

describe("the codec keeps every string or refuses it at encode", () => {
  for (const serializer of [Serializer.json, Serializer.structured]) {
    for (const compressionThreshold of [0, Number.MAX_SAFE_INTEGER]) {
      it(`${serializer.name}, ${compressionThreshold === 0 ? "compressed" : "uncompressed"}`, () => {
        const codec = Codec.make({ serializer, compressionThreshold })
        fc.assert(
          // "__proto__" as an own property is refused by structured for its own reason (Serializer.test.ts)
          fc.property(anyString.filter((key) => key !== "__proto__"), anyString, (key, text) => {
            const input = { [key]: [text, text.repeat(3)] }
            const encoded = codec.encodeExit("k", input)
            if (Exit.isSuccess(encoded)) {
              expect(Effect.runSync(codec.decode("k", encoded.value.bytes))).toStrictEqual(input)
            } else {
              // only the structured serializer refuses, and only a string that is not well-formed
              assert.strictEqual(serializer, Serializer.structured)
              assert.isFalse(wellFormed(key) && wellFormed(text))
              assert.include(serializationFailure(encoded).reason, "has a lone surrogate")
            }
          }),
          { numRuns: 300 }
        )
      })
    }
  }
})

describe("Cache.layerMemory", () => {
  it.effect("json keeps lone surrogates", () =>
    Effect.gen(function*() {
      yield* Cache.set("v", value)
      expect(Option.getOrThrow(yield* Cache.get("v"))).toStrictEqual(value)
    }).pipe(Effect.provide(Cache.layerMemory())))

  it.effect("structured refuses them at set, naming the path, and stores nothing", () =>
    Effect.gen(function*() {
      const error = serializationFailure(yield* Effect.exit(Cache.set("v", structuredValue)))
      assert.strictEqual(error.operation, "encode")
      assert.match(error.reason, /^\$\.text: the string has a lone surrogate \(\\ud800 at index 1\)/)
      assert.isFalse(yield* Cache.exists("v"))
      const mapKey = serializationFailure(yield* Effect.exit(Cache.set("m", new Map([["\uD800", 1]]))))
      assert.match(mapKey.reason, /^\$\.keys\(\)\[0\]: the string has a lone surrogate/)
    }).pipe(Effect.provide(Cache.layerMemory({ serializer: "structured" }))))
})

describe("Cache.layerRedis against a real redis-server", () => {
  it.live("json: a value with lone surrogates is read back exactly by another cache, compressed or not", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      for (const compressionThreshold of [0, 16 * 1024 * 1024]) {
        const options = { redisUrl: server.url, compressionThreshold }
        const writer = yield* redisCache(options)
        const reader = yield* redisCache(options)
        yield* writer.set(`v${compressionThreshold}`, value)
        expect(Option.getOrThrow(yield* reader.get(`v${compressionThreshold}`))).toStrictEqual(value)
      }
      assert.include(yield* server.cli("GET", "cache:v16777216"), "\\ud800") // stored as an ASCII escape
    }))

  it.live("structured: set fails with a SerializationError naming the path, and Redis holds nothing", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({ redisUrl: server.url, serializer: "structured" })
      const error = serializationFailure(yield* Effect.exit(cache.set("v", { ok: 1, nested: { "\uDC00": 2 } })))
      assert.strictEqual(error.key, "v")
      assert.match(error.reason, /^\$\.nested\["\\udc00"\]: the property name has a lone surrogate/)
      assert.strictEqual(yield* server.cli("EXISTS", "cache:v"), "0")
      const pair = { emoji: "\uD83D\uDE00", map: new Map([["\u{10FFFF}", 1]]) }
      yield* cache.set("ok", pair)
      const reader = yield* redisCache({ redisUrl: server.url, serializer: "structured" })
      expect(Option.getOrThrow(yield* reader.get("ok"))).toStrictEqual(pair)
    }))
})
