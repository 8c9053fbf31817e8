import { assert, describe, it } from "@effect/vitest"
import { BASE_HEADER_SIZE, encodeHeader, EnvelopeError, joinEnvelope, unwrap } from "../../src/internal/envelope.js"
import { wrap } from "../support/envelope.js"

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")

const reasonOf = (bytes: Uint8Array): string => {
  try {
    unwrap(bytes)
  } catch (error) {
    assert.instanceOf(error, EnvelopeError)
    return (error as EnvelopeError).message
  }
  return assert.fail("expected unwrap to throw")
}

describe("envelope", () => {
  it("lays out magic, version, flags, serializer id, compression id, then the payload", () => {
    const bytes = wrap({ serializerId: 2, compressionId: 0, fingerprint: undefined }, Buffer.from([0xaa, 0xbb]))
    assert.strictEqual(hex(bytes), "c4e701000200aabb")
  })

  it("sets the compressed flag with the compression id and writes the fingerprint big-endian", () => {
    const bytes = wrap({ serializerId: 1, compressionId: 1, fingerprint: 0x01020304 }, Buffer.from([0xff]))
    assert.strictEqual(hex(bytes), "c4e70103010101020304ff")
    const envelope = unwrap(bytes)
    assert.deepStrictEqual(
      { ...envelope, payload: hex(envelope.payload) },
      {
        version: 1,
        compressed: true,
        serializerId: 1,
        compressionId: 1,
        fingerprint: 0x01020304,
        writtenAt: undefined,
        expiresAt: undefined,
        tags: undefined,
        payload: "ff"
      }
    )
  })

  it("writes the write time as a big-endian uint48 before the fingerprint", () => {
    const writtenAt = 0x0102_0304_0506
    const bytes = wrap({ serializerId: 1, compressionId: 0, fingerprint: 0x0a0b0c0d, writtenAt }, Buffer.from([0xff]))
    assert.strictEqual(hex(bytes), "c4e70106010001020304050" + "60a0b0c0dff")
    const envelope = unwrap(bytes)
    assert.strictEqual(envelope.writtenAt, writtenAt)
    assert.strictEqual(envelope.fingerprint, 0x0a0b0c0d)
    assert.strictEqual(hex(envelope.payload), "ff")
  })

  it("writes the logical expiry (bit3) as a big-endian uint48 after the fingerprint, leaving older fields in place", () => {
    const header = { serializerId: 1, compressionId: 0, fingerprint: 0x0a0b0c0d, writtenAt: 0x0102_0304_0506 }
    const older = wrap(header, Buffer.from([0xff]))
    const bytes = wrap({ ...header, expiresAt: 0x1112_1314_1516 }, Buffer.from([0xff]))
    assert.strictEqual(hex(bytes), "c4e7010e0100" + "010203040506" + "0a0b0c0d" + "111213141516" + "ff")
    // the first 16 bytes are exactly those of an envelope without an expiry but for the flag
    assert.strictEqual(hex(bytes.subarray(4, 16)), hex(older.subarray(4, 16)))
    const envelope = unwrap(bytes)
    assert.strictEqual(envelope.expiresAt, 0x1112_1314_1516)
    assert.strictEqual(envelope.writtenAt, 0x0102_0304_0506)
    assert.strictEqual(envelope.fingerprint, 0x0a0b0c0d)
    assert.strictEqual(hex(envelope.payload), "ff")
    // an envelope of the previous layout (no bit3) still reads, with no expiry
    assert.strictEqual(unwrap(older).expiresAt, undefined)
    assert.strictEqual(unwrap(wrap({ serializerId: 1, compressionId: 0, fingerprint: undefined, expiresAt: 5 }, Buffer.alloc(0))).expiresAt, 5)
  })

  it("writes the tags (bit4) last: a count, then each tag's uint16 byte length and UTF-8 bytes", () => {
    const header = { serializerId: 1, compressionId: 0, fingerprint: undefined, writtenAt: 0x0102_0304_0506 }
    const bytes = wrap({ ...header, tags: ["a", "é"] }, Buffer.from([0xff]))
    assert.strictEqual(hex(bytes), "c4e701140100" + "010203040506" + "02" + "000161" + "0002c3a9" + "ff")
    const envelope = unwrap(bytes)
    assert.deepStrictEqual(envelope.tags, ["a", "é"])
    assert.strictEqual(envelope.writtenAt, 0x0102_0304_0506)
    assert.strictEqual(hex(envelope.payload), "ff")
    assert.strictEqual(unwrap(wrap(header, Buffer.from([0xff]))).tags, undefined)
  })

  it("refuses tags that run past the end or a tag count of 0", () => {
    const header = { serializerId: 1, compressionId: 0, fingerprint: undefined }
    const bytes = wrap({ ...header, tags: ["abc"] }, Buffer.alloc(0))
    assert.match(reasonOf(bytes.subarray(0, bytes.byteLength - 1)), /its tags run past the end/)
    const zero = Buffer.from(bytes)
    zero[BASE_HEADER_SIZE] = 0
    assert.match(reasonOf(zero), /tag count is 0/)
  })

  it("reads a fingerprint above 2^31 as an unsigned number", () => {
    const envelope = unwrap(wrap({ serializerId: 1, compressionId: 0, fingerprint: 0xffffffff }, Buffer.alloc(0)))
    assert.strictEqual(envelope.fingerprint, 0xffffffff)
  })

  it("writes text as UTF-8 straight after the header in one buffer", () => {
    const text = "{\"é\":\"✓\"}"
    const header = encodeHeader({ serializerId: 1, compressionId: 0, fingerprint: undefined })
    const bytes = joinEnvelope(header, text, header.byteLength + Buffer.byteLength(text))
    assert.strictEqual(bytes.byteLength, BASE_HEADER_SIZE + Buffer.byteLength(text))
    assert.strictEqual(Buffer.from(unwrap(bytes).payload).toString("utf8"), text)
  })

  it("returns the payload as a view, not a copy", () => {
    const bytes = wrap({ serializerId: 1, compressionId: 0, fingerprint: undefined }, Buffer.from("123"))
    const { payload } = unwrap(bytes)
    assert.strictEqual(payload.buffer, bytes.buffer)
    assert.strictEqual(payload.byteOffset, bytes.byteOffset + BASE_HEADER_SIZE)
  })

  describe("rejects", () => {
    const valid = (): Buffer => wrap({ serializerId: 1, compressionId: 0, fingerprint: undefined }, Buffer.from("1"))

    it("an empty value", () => {
      assert.match(reasonOf(Buffer.alloc(0)), /^empty value/)
    })

    it("bytes without the magic (JSON, text, pickle, zlib)", () => {
      for (const foreign of ["{\"a\":1}", "rawj:{}", "\u0080\u0004", "x\u009c"]) {
        assert.match(reasonOf(Buffer.from(foreign, "latin1")), /^not written by effect-redis-cache: starts with 0x/)
      }
      assert.match(reasonOf(Buffer.from([0xc4])), /starts with 0xc4, expected magic/)
    })

    it("a header cut short", () => {
      for (let length = 2; length < BASE_HEADER_SIZE; length++) {
        assert.match(reasonOf(valid().subarray(0, length)), new RegExp(`^truncated envelope: ${length} bytes`))
      }
    })

    it("a fingerprint cut short", () => {
      const bytes = wrap({ serializerId: 1, compressionId: 0, fingerprint: 7 }, Buffer.alloc(0))
      assert.match(reasonOf(bytes.subarray(0, 8)), /the header with its fingerprint needs 10/)
    })

    it("an expiry cut short (bit3 without its 6 bytes)", () => {
      const bytes = valid()
      bytes[3] = 0b1000
      assert.match(reasonOf(bytes), /the header with its expiry needs 12/)
    })

    it("an unknown version", () => {
      const bytes = valid()
      bytes[2] = 2
      assert.match(reasonOf(bytes), /^unsupported envelope version 2/)
    })

    it("unknown flag bits", () => {
      for (let bit = 5; bit < 8; bit++) {
        const bytes = valid()
        bytes[3] = 1 << bit
        assert.match(reasonOf(bytes), /^unknown envelope flags/)
      }
    })

    it("a compressed flag that disagrees with the compression id", () => {
      const flagged = valid()
      flagged[3] = 1
      assert.match(reasonOf(flagged), /compressed flag is set but the compression id is 0/)
      const unflagged = valid()
      unflagged[5] = 1
      assert.match(reasonOf(unflagged), /compression id 1 but the compressed flag is clear/)
    })

    it("serializer id 0", () => {
      const bytes = valid()
      bytes[4] = 0
      assert.match(reasonOf(bytes), /serializer id 0/)
    })
  })
})
