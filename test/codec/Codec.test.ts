import { assert, describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option } from "effect"
import * as fc from "fast-check"
import { brotliCompressSync, brotliDecompressSync, deflateSync, inflateSync } from "node:zlib"
import { Codec, type CodecOptions, type Encoded } from "../../src/codec/Codec.js"
import { Compression } from "../../src/codec/Compression.js"
import { Serializer } from "../../src/codec/Serializer.js"
import type { SerializationError } from "../../src/errors.js"
import { wrap } from "../support/envelope.js"
import { structuredTopLevel, withoutNegativeZero } from "./fixtures/values.js"

const HUGE = Number.MAX_SAFE_INTEGER
/** JSON values both serializers accept (the structured one refuses an own `__proto__` key). */
const jsonWithoutProtoKeys = fc.jsonValue().filter((value) => !JSON.stringify(value).includes("\"__proto__\""))

const encodeSync = (codec: Codec["Service"], value: unknown, fingerprint?: number): Encoded =>
  Effect.runSync(codec.encode("k", value, { fingerprint }))
const decodeSync = (codec: Codec["Service"], bytes: Uint8Array, fingerprint?: number): unknown =>
  Effect.runSync(codec.decode("k", bytes, fingerprint))

/** The typed failure of `exit`; fails the test on success or on a defect. */
const failureOf = (exit: Exit.Exit<unknown, SerializationError>): SerializationError => {
  if (Exit.isSuccess(exit)) return assert.fail(`expected a SerializationError, got a value`)
  assert.isFalse(Cause.hasDies(exit.cause), "a defect instead of a SerializationError")
  const error = Exit.findErrorOption(exit)
  assert.isTrue(Option.isSome(error))
  const failure = Option.getOrThrow(error)
  assert.strictEqual(failure._tag, "SerializationError")
  return failure
}
const decodeFailure = (codec: Codec["Service"], bytes: Uint8Array, key = "k"): SerializationError => {
  const failure = failureOf(Effect.runSyncExit(codec.decode(key, bytes)))
  assert.strictEqual(failure.operation, "decode")
  assert.strictEqual(failure.key, key)
  return failure
}
/** Decoding never dies: it succeeds or fails with a SerializationError. */
const decodesOrFails = (codec: Codec["Service"], bytes: Uint8Array): void => {
  const exit = Effect.runSyncExit(codec.decode("k", bytes))
  if (Exit.isFailure(exit)) failureOf(exit)
}

const variants: ReadonlyArray<readonly [string, CodecOptions]> = [
  ["uncompressed", { compressionThreshold: HUGE }],
  ["always compressed", { compressionThreshold: 0 }]
]

describe("Codec", () => {
  describe("round trip", () => {
    for (const [label, options] of variants) {
      it(`json, ${label}`, () => {
        const codec = Codec.make({ ...options, serializer: Serializer.json })
        fc.assert(
          fc.property(fc.jsonValue(), (value) => {
            expect(decodeSync(codec, encodeSync(codec, value).bytes)).toStrictEqual(JSON.parse(JSON.stringify(value)))
          }),
          { numRuns: 200 }
        )
      })

      it(`structured, ${label}`, () => {
        const codec = Codec.make({ ...options, serializer: Serializer.structured })
        fc.assert(
          fc.property(structuredTopLevel, (value) => {
            expect(decodeSync(codec, encodeSync(codec, value).bytes)).toStrictEqual(withoutNegativeZero(value))
          }),
          { numRuns: 200 }
        )
      })
    }
  })

  describe("encode", () => {
    it("defaults to json, zlib above 1000 bytes, level 6", () => {
      const codec = Codec.make()
      assert.strictEqual(codec.serializer, Serializer.json)
      const text = "x".repeat(998) // 1000 bytes with the quotes
      const atThreshold = encodeSync(codec, text)
      assert.deepStrictEqual([atThreshold.size, atThreshold.compressed, atThreshold.compressionNanos], [1000, false, 0])
      assert.strictEqual(atThreshold.storedSize, 1006)
      const above = encodeSync(codec, `${text}x`)
      assert.strictEqual(above.size, 1001)
      assert.isTrue(above.compressed)
      assert.isAbove(above.compressionNanos, 0)
      assert.strictEqual(above.storedSize, above.bytes.byteLength)
      assert.isBelow(above.storedSize, 100)
      const body = Buffer.from(above.bytes).subarray(6)
      assert.deepStrictEqual(Buffer.from(above.bytes).subarray(0, 6), Buffer.from([0xc4, 0xe7, 1, 1, 1, 1]))
      assert.deepStrictEqual(body, deflateSync(Buffer.from(JSON.stringify(`${text}x`)), { level: 6 }))
    })

    it("writes json with multi-byte characters into the envelope exactly", () => {
      const codec = Codec.make()
      const value = { text: "日本語 ✓ 🎉" }
      const encoded = encodeSync(codec, value)
      assert.strictEqual(encoded.size, Buffer.byteLength(JSON.stringify(value)))
      assert.strictEqual(Buffer.from(encoded.bytes).subarray(6).toString(), JSON.stringify(value))
    })

    it("keeps the envelope as header and payload; bytes joins them once", () => {
      const value = { text: "日本語 ✓ 🎉 ".repeat(100) }
      const plain = encodeSync(Codec.make({ compressionThreshold: HUGE }), value)
      assert.strictEqual(plain.payload, JSON.stringify(value))
      assert.deepStrictEqual(Buffer.from(plain.header), Buffer.from([0xc4, 0xe7, 1, 0, 1, 0]))
      assert.strictEqual(plain.storedSize, 6 + plain.size)
      assert.deepStrictEqual(Buffer.from(plain.bytes), Buffer.concat([plain.header, Buffer.from(JSON.stringify(value))]))
      assert.strictEqual(plain.bytes, plain.bytes)

      const packed = encodeSync(Codec.make({ compressionThreshold: 0 }), value)
      assert.isTrue(packed.compressed)
      assert.instanceOf(packed.payload, Uint8Array)
      assert.strictEqual(packed.storedSize, packed.header.byteLength + (packed.payload as Uint8Array).byteLength)
      assert.deepStrictEqual(Buffer.from(packed.bytes), Buffer.concat([packed.header, packed.payload as Uint8Array]))

      const binary = encodeSync(Codec.make({ serializer: Serializer.structured, compressionThreshold: HUGE }), value)
      assert.instanceOf(binary.payload, Uint8Array)
      assert.deepStrictEqual(decodeSync(Codec.make(), binary.bytes), value)
    })

    it("an encoded value stays intact when the next one is compressed, even if a compression returns a view of its input", () => {
      // Drops the leading "{" of a JSON object and puts it back: its output points into its input.
      const dropBrace: Compression = {
        id: 131,
        name: "drop-brace",
        compress: (bytes) => bytes.subarray(1),
        decompress: (bytes) => Buffer.concat([Buffer.from("{"), bytes])
      }
      for (const compression of [Compression.zlib, dropBrace]) {
        const codec = Codec.make({ compression, compressionThreshold: 10 })
        const values = Array.from({ length: 5 }, (_, i) => ({ i, text: `${i}`.repeat(200 + i * 300) }))
        const encoded = values.map((value) => encodeSync(codec, value))
        encoded.forEach((e, i) => {
          assert.isTrue(e.compressed, compression.name)
          assert.deepStrictEqual(decodeSync(codec, e.bytes), values[i], compression.name)
        })
      }
    })

    it("stores incompressible data uncompressed even above the threshold", () => {
      const codec = Codec.make({ serializer: Serializer.structured, compressionThreshold: 0 })
      const random = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + (i >> 3) * 104729) % 251))
      const encoded = encodeSync(codec, deflateSync(random))
      assert.isFalse(encoded.compressed)
      assert.strictEqual(Buffer.from(encoded.bytes)[3], 0)
      assert.isAbove(encoded.compressionNanos, 0)
    })

    it("never compresses with Compression.none", () => {
      const codec = Codec.make({ compression: Compression.none, compressionThreshold: 0 })
      const encoded = encodeSync(codec, "a".repeat(5000))
      assert.isFalse(encoded.compressed)
      assert.strictEqual(encoded.storedSize, encoded.size + 6)
    })

    it("fails with operation encode and the path for a value the serializer rejects", () => {
      const failure = failureOf(Effect.runSyncExit(Codec.make().encode("user:1", { user: { createdAt: new Date() } })))
      assert.strictEqual(failure.operation, "encode")
      assert.strictEqual(failure.key, "user:1")
      assert.strictEqual(
        failure.reason,
        "$.user.createdAt: a Date does not survive JSON; use the structured serializer or a Schema"
      )
      assert.include(failure.message, "\"user:1\"")
    })

    it("fails cleanly for undefined with either serializer", () => {
      for (const serializer of [Serializer.json, Serializer.structured]) {
        const codec = Codec.make({ serializer })
        const encodeFailure = failureOf(Effect.runSyncExit(codec.encode("k", undefined)))
        assert.match(encodeFailure.reason, /^\$: undefined cannot be cached/)
        failureOf(Effect.runSyncExit(codec.measure("k", undefined)))
      }
    })

    it("fails, without dying, when a serializer blows the stack or throws a non-Error", () => {
      let deep: unknown = 1
      for (let i = 0; i < 200_000; i++) deep = [deep]
      const structured = failureOf(Effect.runSyncExit(Codec.make({ serializer: Serializer.structured }).encode("k", deep)))
      assert.strictEqual(structured.operation, "encode")
      const throwing: Serializer = {
        id: 200,
        name: "throwing",
        serialize: () => {
          throw "nope"
        },
        deserialize: () => null
      }
      assert.strictEqual(
        failureOf(Effect.runSyncExit(Codec.make({ serializer: throwing }).encode("k", 1))).reason,
        "the throwing serializer failed: nope"
      )
    })

    it("rejects a fingerprint that is not a uint32", () => {
      for (const fingerprint of [-1, 1.5, 2 ** 32]) {
        assert.match(failureOf(Effect.runSyncExit(Codec.make().encode("k", 1, { fingerprint }))).reason, /uint32/)
      }
    })
  })

  describe("measure", () => {
    it("is the serialized size, the same as Encoded.size", () => {
      for (const serializer of [Serializer.json, Serializer.structured]) {
        const codec = Codec.make({ serializer, compressionThreshold: 0 })
        fc.assert(
          fc.property(jsonWithoutProtoKeys, (value) => {
            assert.strictEqual(Effect.runSync(codec.measure("k", value)), encodeSync(codec, value).size)
          }),
          { numRuns: 100 }
        )
      }
    })

    it("fails like encode for a rejected value", () => {
      const failure = failureOf(Effect.runSyncExit(Codec.make().measure("k", { n: 1n })))
      assert.strictEqual(failure.operation, "encode")
      assert.match(failure.reason, /^\$\.n: a BigInt/)
    })
  })

  describe("decode", () => {
    it("reads entries of every built-in serializer and compression, whatever is configured", () => {
      const value = { list: Array.from({ length: 300 }, (_, i) => i) }
      const writers = [
        Codec.make({ serializer: Serializer.json, compressionThreshold: 0 }),
        Codec.make({ serializer: Serializer.json, compressionThreshold: HUGE }),
        Codec.make({ serializer: Serializer.structured, compressionThreshold: 0 }),
        Codec.make({ serializer: Serializer.structured, compressionThreshold: HUGE })
      ]
      const readers = [
        Codec.make({ serializer: Serializer.json, compression: Compression.none }),
        Codec.make({ serializer: Serializer.structured, compressionLevel: 1 })
      ]
      for (const writer of writers) {
        for (const reader of readers) assert.deepStrictEqual(decodeSync(reader, encodeSync(writer, value).bytes), value)
      }
    })

    it("names the key, the operation and the reason for foreign bytes", () => {
      const failure = decodeFailure(Codec.make(), Buffer.from("{\"legacy\":true}"), "session:42")
      assert.strictEqual(
        failure.reason,
        "not written by effect-redis-cache: starts with 0x7b 0x22, expected magic 0xc4 0xe7"
      )
      assert.strictEqual(
        failure.message,
        "Cannot decode the value stored at key \"session:42\": not written by effect-redis-cache: starts with 0x7b 0x22, expected magic 0xc4 0xe7"
      )
    })

    it("names an unknown serializer or compression and lists what it reads", () => {
      const codec = Codec.make()
      const unknownSerializer = wrap({ serializerId: 77, compressionId: 0, fingerprint: undefined }, Buffer.from("1"))
      assert.strictEqual(
        decodeFailure(codec, unknownSerializer).reason,
        "unknown serializer id 77 (this codec reads 1 json, 2 structured)"
      )
      const unknownCompression = wrap({ serializerId: 1, compressionId: 9, fingerprint: undefined }, Buffer.from("1"))
      assert.strictEqual(decodeFailure(codec, unknownCompression).reason, "unknown compression id 9 (this codec reads 1 zlib, 2 zstd)")
    })

    it("reports a broken zlib stream and an unreadable payload", () => {
      const codec = Codec.make()
      const badZlib = wrap({ serializerId: 1, compressionId: 1, fingerprint: undefined }, Buffer.from("not zlib"))
      assert.match(decodeFailure(codec, badZlib).reason, /^decompression with zlib failed: /)
      const badJson = wrap({ serializerId: 1, compressionId: 0, fingerprint: undefined }, Buffer.from("{nope"))
      assert.match(decodeFailure(codec, badJson).reason, /^the json serializer could not read the payload: /)
      const badCbor = wrap({ serializerId: 2, compressionId: 0, fingerprint: undefined }, Buffer.from([0x82, 0x01]))
      assert.match(decodeFailure(codec, badCbor).reason, /^the structured serializer could not read the payload: /)
    })

    it("refuses a decompression bomb and an oversized payload", () => {
      const codec = Codec.make({ maxValueBytes: 1024 * 1024 })
      const bomb = wrap(
        { serializerId: 1, compressionId: 1, fingerprint: undefined },
        deflateSync(Buffer.from(`"${"a".repeat(50 * 1024 * 1024)}"`), { level: 9 })
      )
      assert.isBelow(bomb.byteLength, 100 * 1024)
      assert.strictEqual(decodeFailure(codec, bomb).reason, "the value decompresses to more than maxValueBytes (1048576)")
      const big = encodeSync(Codec.make({ compressionThreshold: HUGE }), "b".repeat(1024 * 1024))
      assert.strictEqual(
        decodeFailure(codec, big.bytes).reason,
        "the stored payload is 1048578 bytes, more than maxValueBytes (1048576)"
      )
    })

    it("checks the decompressed size itself, for a compression that does not enforce the limit", () => {
      const lax: Compression = { ...Compression.zlib, id: 140, name: "lax", decompress: (bytes) => inflateSync(bytes) }
      const codec = Codec.make({ compression: lax, maxValueBytes: 1024 })
      const packed = wrap({ serializerId: 1, compressionId: 140, fingerprint: undefined }, deflateSync(`"${"c".repeat(2000)}"`))
      assert.strictEqual(decodeFailure(codec, packed).reason, "the payload is 2002 bytes, more than maxValueBytes (1024)")
    })

    it("checks the schema fingerprint when asked to", () => {
      const codec = Codec.make()
      const encoded = encodeSync(codec, { a: 1 }, 0xdeadbeef)
      assert.deepStrictEqual(Buffer.from(encoded.bytes).subarray(0, 10), Buffer.from([0xc4, 0xe7, 1, 2, 1, 0, 0xde, 0xad, 0xbe, 0xef]))
      assert.deepStrictEqual(decodeSync(codec, encoded.bytes), { a: 1 })
      assert.deepStrictEqual(decodeSync(codec, encoded.bytes, 0xdeadbeef), { a: 1 })
      const mismatch = failureOf(Effect.runSyncExit(codec.decode("k", encoded.bytes, 0x1234)))
      assert.strictEqual(mismatch.reason, "schema fingerprint mismatch: stored deadbeef, expected 1234")
      assert.deepStrictEqual(decodeSync(codec, encodeSync(codec, { a: 1 }).bytes, 0x1234), { a: 1 })
    })
  })

  describe("plugging in", () => {
    const lines: Serializer = {
      id: 200,
      name: "lines",
      serialize: (value) => Buffer.from((value as ReadonlyArray<string>).join("\n")),
      deserialize: (bytes) => Buffer.from(bytes).toString().split("\n")
    }
    const brotli: Compression = {
      id: 130,
      name: "brotli",
      compress: (bytes) => brotliCompressSync(bytes),
      decompress: (bytes, maxOutputBytes) => brotliDecompressSync(bytes, { maxOutputLength: maxOutputBytes })
    }

    it("a user serializer and compression write their ids and read back", () => {
      const codec = Codec.make({ serializer: lines, compression: brotli, compressionThreshold: 10 })
      const value = Array.from({ length: 50 }, () => "same line")
      const encoded = encodeSync(codec, value)
      assert.deepStrictEqual([...Buffer.from(encoded.bytes).subarray(3, 6)], [1, 200, 130])
      assert.deepStrictEqual(decodeSync(codec, encoded.bytes), value)
    })

    it("a codec reads another serializer listed in decoders, and names the ones it lacks", () => {
      const written = encodeSync(Codec.make({ serializer: lines }), ["a", "b"]).bytes
      assert.deepStrictEqual(decodeSync(Codec.make({ decoders: [lines] }), written), ["a", "b"])
      assert.strictEqual(
        decodeFailure(Codec.make(), written).reason,
        "unknown serializer id 200 (this codec reads 1 json, 2 structured)"
      )
    })

    it("a deserializer that throws becomes a decode failure", () => {
      const broken: Serializer = { ...lines, deserialize: () => { throw new TypeError("bad bytes") } }
      const written = encodeSync(Codec.make({ serializer: lines }), ["a"]).bytes
      assert.strictEqual(
        decodeFailure(Codec.make({ decoders: [broken] }), written).reason,
        "the lines serializer could not read the payload: bad bytes"
      )
    })

    it("refuses ids outside 128..255 and clashing ids with a RangeError", () => {
      assert.throws(() => Codec.make({ serializer: { ...lines, id: 3 } }), RangeError, /128\.\.255, "lines" has 3/)
      assert.throws(() => Codec.make({ serializer: { ...lines, id: 1 } }), RangeError)
      assert.throws(() => Codec.make({ compression: { ...brotli, id: 2 } }), RangeError)
      assert.throws(() => Codec.make({ serializer: lines, decoders: [{ ...lines, name: "other" }] }), RangeError, /both use id 200/)
    })
  })

  describe("options", () => {
    it("are validated with a RangeError naming the option", () => {
      const bad: ReadonlyArray<readonly [CodecOptions, RegExp]> = [
        [{ compressionThreshold: -1 }, /compressionThreshold/],
        [{ compressionThreshold: 1.5 }, /compressionThreshold/],
        [{ compressionLevel: 0 }, /compressionLevel must be an integer in 1\.\.9, got 0/],
        [{ compressionLevel: 10 }, /compressionLevel/],
        [{ maxValueBytes: 0 }, /maxValueBytes must be an integer/],
        [{ maxValueBytes: 1.5 }, /maxValueBytes/]
      ]
      for (const [options, message] of bad) assert.throws(() => Codec.make(options), RangeError, message)
    })
  })

  it.effect("Codec.layer provides the service", () =>
    Effect.gen(function*() {
      const codec = yield* Codec
      const encoded = yield* codec.encode("k", { hello: "world" })
      assert.deepStrictEqual(yield* codec.decode("k", encoded.bytes), { hello: "world" })
      assert.strictEqual(codec.serializer, Serializer.structured)
    }).pipe(Effect.provide(Codec.layer({ serializer: Serializer.structured }))))
})

describe("Codec on corrupt input", () => {
  const codecs = [
    ["json", Codec.make({ serializer: Serializer.json, compressionThreshold: HUGE })],
    ["json compressed", Codec.make({ serializer: Serializer.json, compressionThreshold: 0 })],
    ["structured", Codec.make({ serializer: Serializer.structured, compressionThreshold: HUGE })],
    ["structured compressed", Codec.make({ serializer: Serializer.structured, compressionThreshold: 0 })]
  ] as const
  const reader = Codec.make()

  it("random bytes without the magic always fail", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }).filter((b) => !(b[0] === 0xc4 && b[1] === 0xe7)), (bytes) => {
        decodeFailure(reader, bytes)
      }),
      { numRuns: 500 }
    )
  })

  it("random bytes behind a valid-looking header never die", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1),
        fc.constantFrom(1, 2),
        fc.uint8Array({ maxLength: 512 }),
        (compressed, serializerId, payload) => {
          decodesOrFails(reader, wrap({ serializerId, compressionId: compressed, fingerprint: undefined }, payload))
        }
      ),
      { numRuns: 1000 }
    )
  })

  for (const [label, codec] of codecs) {
    // a JSON number can be cut into another valid number ("12" -> "1"), and small values stay
    // uncompressed even at threshold 0; JSON containers and strings cannot be cut into valid JSON
    const value = label.startsWith("json")
      ? fc.oneof(fc.array(fc.jsonValue()), fc.dictionary(fc.string(), fc.jsonValue()), fc.string())
      : structuredTopLevel

    it(`${label}: every truncation fails`, () => {
      fc.assert(
        fc.property(value, (v) => {
          const bytes = encodeSync(codec, v).bytes
          for (let length = 0; length < bytes.byteLength; length++) decodeFailure(reader, bytes.subarray(0, length))
        }),
        { numRuns: 60 }
      )
    })

    it(`${label}: every single-bit flip in the header fails (the fingerprint, write-time and expiry flags aside)`, () => {
      fc.assert(
        fc.property(value, (v) => {
          const bytes = Buffer.from(encodeSync(codec, v).bytes)
          for (let bit = 0; bit < 6 * 8; bit++) {
            // turning the fingerprint, write-time or logical-expiry flag on just moves the payload start
            if (bit === 3 * 8 + 1 || bit === 3 * 8 + 2 || bit === 3 * 8 + 3) continue
            const flipped = Buffer.from(bytes)
            flipped[bit >> 3]! ^= 1 << (bit & 7)
            decodeFailure(reader, flipped)
          }
        }),
        { numRuns: 60 }
      )
    })

    it(`${label}: a bit flip in the payload never dies; in a zlib stream it fails or changes nothing`, () => {
      fc.assert(
        fc.property(value, fc.nat(), fc.nat(7), (v, at, bit) => {
          const bytes = Buffer.from(encodeSync(codec, v).bytes)
          if (bytes.byteLength <= 6) return
          bytes[6 + (at % (bytes.byteLength - 6))]! ^= 1 << bit
          if (bytes[3] !== 1) return decodesOrFails(reader, bytes)
          // Adler-32 catches every change to the output; only the padding bits after the
          // last deflate block are free to flip
          const exit = Effect.runSyncExit(reader.decode("k", bytes))
          if (Exit.isSuccess(exit)) expect(exit.value).toStrictEqual(withoutNegativeZero(decodeSync(codec, encodeSync(codec, v).bytes)))
          else failureOf(exit)
        }),
        { numRuns: 400 }
      )
    })
  }
})
