import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { deflateSync } from "node:zlib"
import { Compression } from "../../src/codec/Compression.js"

describe("Compression.zlib", () => {
  const zlib = Compression.zlib

  it("is id 1", () => {
    assert.strictEqual(zlib.id, 1)
    assert.strictEqual(zlib.name, "zlib")
  })

  it("round-trips any bytes at every level", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.integer({ min: 1, max: 9 }), (bytes, level) => {
        const back = zlib.decompress(zlib.compress(bytes, level), bytes.byteLength + 1)
        assert.deepStrictEqual(Buffer.from(back), Buffer.from(bytes))
      }),
      { numRuns: 200 }
    )
  })

  it("writes a zlib stream (header 0x78) that compresses repetitive data", () => {
    const input = Buffer.from("abc".repeat(1000))
    const packed = zlib.compress(input, 6)
    assert.strictEqual(packed[0], 0x78)
    assert.isBelow(packed.byteLength, 100)
  })

  it("refuses to inflate past maxOutputBytes (a decompression bomb)", () => {
    const bomb = deflateSync(Buffer.alloc(10 * 1024 * 1024), { level: 9 })
    assert.isBelow(bomb.byteLength, 20 * 1024)
    assert.throws(() => zlib.decompress(bomb, 1024 * 1024), /larger than/)
  })

  it("rejects a corrupt stream", () => {
    const packed = Buffer.from(zlib.compress(Buffer.from("hello hello hello"), 6))
    packed[packed.byteLength - 1]! ^= 0xff // the Adler-32 trailer
    assert.throws(() => zlib.decompress(packed, 1000))
  })
})

describe("Compression.none", () => {
  it("is id 0 and leaves bytes alone", () => {
    const bytes = Buffer.from("x")
    assert.strictEqual(Compression.none.id, 0)
    assert.strictEqual(Compression.none.compress(bytes, 6), bytes)
    assert.strictEqual(Compression.none.decompress(bytes, 10), bytes)
  })
})
