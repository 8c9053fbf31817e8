/**
 * The binary envelope around every value the codec writes.
 *
 * ```
 * offset  size  field
 * 0       2     magic 0xC4 0xE7 (never valid UTF-8, so no JSON or text value starts with it)
 * 2       1     version (1)
 * 3       1     flags: bit0 compressed, bit1 a fingerprint follows, bit2 a write time follows,
 *               bit3 a logical expiry follows, bit4 tags follow; bits 5-7 reserved, must be 0
 * 4       1     serializer id (1 json, 2 structured, 128-255 user)
 * 5       1     compression id (0 none, 1 zlib, 128-255 user); 0 exactly when bit0 is clear
 * 6       6     write time, milliseconds since the epoch, big-endian uint48 (only when bit2 is set)
 * 6/12    4     schema fingerprint, big-endian uint32 (only when bit1 is set)
 * 6..16   6     logical expiry, milliseconds since the epoch, big-endian uint48 (only when bit3 is set)
 * 6..22   1+n   tags (only when bit4 is set): a count (1-255), then each tag as a big-endian uint16
 *               byte length and its UTF-8 bytes
 * ...     ...   payload
 * ```
 *
 * The write time lets a replay after an outage tell whether the value in Redis
 * was written before or after the queued operation (the Redis tier's Lua scripts
 * read it at `WRITTEN_AT_OFFSET` with GETRANGE). The logical expiry is the end of an
 * entry's TTL when it is kept past it for fail-safe (`staleFor`): its Redis TTL is then
 * TTL + staleFor, and a reader tells a fresh entry from a stale one by this field. It
 * comes after every older field, so entries written without it keep their layout. The tags
 * (`set(key, value, { tags })`) come last for the same reason: a reader compares the
 * entry's write time with each tag's last invalidation (docs/multi-key-and-tags.md).
 *
 * @internal
 */
import type { Encoded } from "../codec/Codec.js"

/** First magic byte. */
export const MAGIC_0 = 0xc4
/** Second magic byte. */
export const MAGIC_1 = 0xe7
/** The only layout version this build writes and reads. */
export const VERSION = 1
/** Flag bit: the payload is compressed with the compression named in the header. */
export const FLAG_COMPRESSED = 0b01
/** Flag bit: a 4-byte schema fingerprint follows the fixed header (and the write time, when present). */
export const FLAG_FINGERPRINT = 0b10
/** Flag bit: a 6-byte write time follows the fixed header. */
export const FLAG_WRITTEN_AT = 0b100
/** Flag bit: a 6-byte logical expiry follows the fingerprint (or what precedes it). */
export const FLAG_EXPIRES_AT = 0b1000
/** Flag bit: the entry's tags follow the logical expiry (or what precedes it). */
export const FLAG_TAGS = 0b10000
const KNOWN_FLAGS = FLAG_COMPRESSED | FLAG_FINGERPRINT | FLAG_WRITTEN_AT | FLAG_EXPIRES_AT | FLAG_TAGS
/** Size of the header without a write time or fingerprint. */
export const BASE_HEADER_SIZE = 6
/** Where the write time starts, when the flag says there is one. */
export const WRITTEN_AT_OFFSET = BASE_HEADER_SIZE
const WRITTEN_AT_SIZE = 6
const FINGERPRINT_SIZE = 4
/** The largest write time the header can hold (uint48). */
export const MAX_WRITTEN_AT = 2 ** 48 - 1

/** The header fields chosen by the writer. */
export interface Header {
  readonly serializerId: number
  /** 0 when the payload is not compressed. */
  readonly compressionId: number
  /** A uint32, or undefined for none. */
  readonly fingerprint: number | undefined
  /** Milliseconds since the epoch (uint48), or undefined for none. */
  readonly writtenAt?: number | undefined
  /** The end of the entry's TTL, milliseconds since the epoch (uint48), or undefined for none. */
  readonly expiresAt?: number | undefined
  /** The entry's tags (1 to 255, each at most 65,535 UTF-8 bytes), or undefined for none. */
  readonly tags?: ReadonlyArray<string> | undefined
}

/** A parsed envelope; `payload` is a view into the input, not a copy. */
export interface Envelope extends Header {
  readonly version: number
  readonly compressed: boolean
  readonly payload: Uint8Array
}

/**
 * Raised (and turned into a `SerializationError` by the codec) when bytes are not a
 * well-formed envelope; the message is the precise reason.
 */
export class EnvelopeError extends Error {
  override readonly name = "EnvelopeError"
}

const tagsSize = (tags: ReadonlyArray<string> | undefined): number => {
  if (tags === undefined) return 0
  let size = 1
  for (const tag of tags) size += 2 + Buffer.byteLength(tag, "utf8")
  return size
}

/** Header size for the given header. */
export const headerSize = (header: Header): number =>
  BASE_HEADER_SIZE + (header.writtenAt === undefined ? 0 : WRITTEN_AT_SIZE) +
  (header.fingerprint === undefined ? 0 : FINGERPRINT_SIZE) + (header.expiresAt === undefined ? 0 : WRITTEN_AT_SIZE) +
  tagsSize(header.tags)

const writeHeader = (target: Buffer, header: Header): void => {
  target[0] = MAGIC_0
  target[1] = MAGIC_1
  target[2] = VERSION
  target[3] = (header.compressionId === 0 ? 0 : FLAG_COMPRESSED) |
    (header.fingerprint === undefined ? 0 : FLAG_FINGERPRINT) |
    (header.writtenAt === undefined ? 0 : FLAG_WRITTEN_AT) |
    (header.expiresAt === undefined ? 0 : FLAG_EXPIRES_AT) |
    (header.tags === undefined ? 0 : FLAG_TAGS)
  target[4] = header.serializerId
  target[5] = header.compressionId
  let offset = BASE_HEADER_SIZE
  if (header.writtenAt !== undefined) {
    target.writeUIntBE(header.writtenAt, offset, WRITTEN_AT_SIZE)
    offset += WRITTEN_AT_SIZE
  }
  if (header.fingerprint !== undefined) {
    target.writeUInt32BE(header.fingerprint, offset)
    offset += FINGERPRINT_SIZE
  }
  if (header.expiresAt !== undefined) {
    target.writeUIntBE(header.expiresAt, offset, WRITTEN_AT_SIZE)
    offset += WRITTEN_AT_SIZE
  }
  if (header.tags !== undefined) writeTags(target, offset, header.tags)
}

const writeTags = (target: Buffer, start: number, tags: ReadonlyArray<string>): void => {
  target[start] = tags.length
  let offset = start + 1
  for (const tag of tags) {
    const length = target.write(tag, offset + 2, "utf8")
    target.writeUInt16BE(length, offset)
    offset += 2 + length
  }
}

const readTags = (bytes: Uint8Array, start: number): { readonly tags: ReadonlyArray<string>; readonly end: number } => {
  const truncated = () => new EnvelopeError(`truncated envelope: ${bytes.byteLength} bytes, its tags run past the end`)
  if (bytes.byteLength < start + 1) throw truncated()
  const count = bytes[start]!
  if (count === 0) throw new EnvelopeError("corrupt envelope: the tags flag is set but the tag count is 0")
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const tags: Array<string> = []
  let offset = start + 1
  for (let i = 0; i < count; i++) {
    if (bytes.byteLength < offset + 2) throw truncated()
    const length = view.readUInt16BE(offset)
    if (bytes.byteLength < offset + 2 + length) throw truncated()
    tags.push(view.toString("utf8", offset + 2, offset + 2 + length))
    offset += 2 + length
  }
  return { tags, end: offset }
}

/** The header alone: a few bytes, which Node takes from its shared pool. */
export const encodeHeader = (header: Header): Buffer => {
  const target = Buffer.allocUnsafe(headerSize(header))
  writeHeader(target, header)
  return target
}

const writePayload = (target: Buffer, offset: number, payload: Uint8Array | string): Buffer => {
  if (typeof payload === "string") target.write(payload, offset, target.byteLength - offset, "utf8")
  else target.set(payload, offset)
  return target
}

/**
 * The envelope in one buffer, one allocation: the header, then `payload` (text is
 * written as UTF-8; `byteLength` is the whole envelope's length, which the caller has).
 */
export const wrap = (header: Header, payload: Uint8Array | string, byteLength: number): Buffer => {
  const target = Buffer.allocUnsafe(byteLength)
  writeHeader(target, header)
  return writePayload(target, headerSize(header), payload)
}

/** The same from a header already encoded. */
export const joinEnvelope = (header: Uint8Array, payload: Uint8Array | string, byteLength: number): Buffer => {
  const target = Buffer.allocUnsafe(byteLength)
  target.set(header, 0)
  return writePayload(target, header.byteLength, payload)
}

const hex = (byte: number | undefined): string => `0x${(byte ?? 0).toString(16).padStart(2, "0")}`

/**
 * Parses and validates the header. Throws an {@link EnvelopeError} naming what is
 * wrong; the payload itself is not looked at.
 */
export const unwrap = (bytes: Uint8Array): Envelope => {
  if (bytes.byteLength < 2 || bytes[0] !== MAGIC_0 || bytes[1] !== MAGIC_1) {
    throw new EnvelopeError(
      bytes.byteLength === 0
        ? "empty value: no envelope"
        : `not written by effect-redis-cache: starts with ${hex(bytes[0])}${
          bytes.byteLength > 1 ? ` ${hex(bytes[1])}` : ""
        }, expected magic 0xc4 0xe7`
    )
  }
  if (bytes.byteLength < BASE_HEADER_SIZE) {
    throw new EnvelopeError(`truncated envelope: ${bytes.byteLength} bytes, the header needs ${BASE_HEADER_SIZE}`)
  }
  const version = bytes[2]!
  if (version !== VERSION) {
    throw new EnvelopeError(`unsupported envelope version ${version} (this build reads version ${VERSION})`)
  }
  const flags = bytes[3]!
  if ((flags & ~KNOWN_FLAGS) !== 0) {
    throw new EnvelopeError(
      `unknown envelope flags ${hex(flags & ~KNOWN_FLAGS)} (known: 0x01 compressed, 0x02 fingerprint, 0x04 write time, ` +
        "0x08 expiry, 0x10 tags)"
    )
  }
  const compressed = (flags & FLAG_COMPRESSED) !== 0
  const compressionId = bytes[5]!
  if (compressed !== (compressionId !== 0)) {
    throw new EnvelopeError(
      compressed
        ? "corrupt envelope: the compressed flag is set but the compression id is 0"
        : `corrupt envelope: compression id ${compressionId} but the compressed flag is clear`
    )
  }
  const serializerId = bytes[4]!
  if (serializerId === 0) throw new EnvelopeError("corrupt envelope: serializer id 0")
  let fingerprint: number | undefined
  let writtenAt: number | undefined
  let offset = BASE_HEADER_SIZE
  if ((flags & FLAG_WRITTEN_AT) !== 0) {
    if (bytes.byteLength < offset + WRITTEN_AT_SIZE) {
      throw new EnvelopeError(
        `truncated envelope: ${bytes.byteLength} bytes, the header with its write time needs ${offset + WRITTEN_AT_SIZE}`
      )
    }
    writtenAt = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUIntBE(offset, WRITTEN_AT_SIZE)
    offset += WRITTEN_AT_SIZE
  }
  if ((flags & FLAG_FINGERPRINT) !== 0) {
    if (bytes.byteLength < offset + FINGERPRINT_SIZE) {
      throw new EnvelopeError(
        `truncated envelope: ${bytes.byteLength} bytes, the header with its fingerprint needs ${offset + FINGERPRINT_SIZE}`
      )
    }
    fingerprint = ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0
    offset += FINGERPRINT_SIZE
  }
  let expiresAt: number | undefined
  if ((flags & FLAG_EXPIRES_AT) !== 0) {
    if (bytes.byteLength < offset + WRITTEN_AT_SIZE) {
      throw new EnvelopeError(
        `truncated envelope: ${bytes.byteLength} bytes, the header with its expiry needs ${offset + WRITTEN_AT_SIZE}`
      )
    }
    expiresAt = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readUIntBE(offset, WRITTEN_AT_SIZE)
    offset += WRITTEN_AT_SIZE
  }
  let tags: ReadonlyArray<string> | undefined
  if ((flags & FLAG_TAGS) !== 0) {
    const read = readTags(bytes, offset)
    tags = read.tags
    offset = read.end
  }
  return {
    version,
    compressed,
    serializerId,
    compressionId,
    fingerprint,
    writtenAt,
    expiresAt,
    tags,
    payload: bytes.subarray(offset)
  }
}

/**
 * An {@link Encoded} that makes each form when it is first read: a small value is
 * written to Redis as `bytes` (one allocation, as if there were no parts), a large one
 * as `header` and `payload`.
 */
export class EncodedEnvelope implements Encoded {
  readonly storedSize: number
  readonly #fields: Header
  #header: Buffer | undefined = undefined
  #bytes: Buffer | undefined = undefined
  constructor(
    fields: Header,
    readonly payload: Uint8Array | string,
    payloadSize: number,
    readonly size: number,
    readonly compressed: boolean,
    readonly compressionNanos: number
  ) {
    this.#fields = fields
    this.storedSize = headerSize(fields) + payloadSize
  }
  get header(): Buffer {
    if (this.#header === undefined) this.#header = encodeHeader(this.#fields)
    return this.#header
  }
  get bytes(): Buffer {
    if (this.#bytes === undefined) this.#bytes = wrap(this.#fields, this.payload, this.storedSize)
    return this.#bytes
  }
}
