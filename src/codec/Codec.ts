/**
 * The `Codec` service: turns a cached value into the bytes stored in Redis (a
 * versioned envelope around a serialized, possibly compressed payload) and back.
 *
 * - Values are serialized with the configured {@link Serializer} (JSON by default)
 *   and compressed with the configured {@link Compression} (zlib by default) when
 *   their serialized size is above `compressionThreshold`.
 * - Decoding reads whatever serializer and compression the envelope names, so
 *   switching the configured serializer never strands entries written before.
 * - Every failure is a `SerializationError` naming the key, the operation and the
 *   precise reason; corrupt or foreign bytes never become a defect.
 *
 * See `docs/codec.md` for the byte layout.
 *
 * @since 0.1.0
 */
import { Context, Effect, Exit, Layer } from "effect"
import { constants as bufferConstants } from "node:buffer"
import { SerializationError } from "../errors.js"
import { EncodedEnvelope, EnvelopeError, type Header, MAX_WRITTEN_AT, unwrap } from "../internal/envelope.js"
import { Compression } from "./Compression.js"
import { Serializer, UnsupportedValueError } from "./Serializer.js"

/**
 * An envelope as its two parts, not yet joined into one buffer. A writer that sends
 * them one after the other (the Redis tier does for large values) stores a value
 * without copying it into a fresh buffer: under Node 24 every such buffer of a
 * large value counts toward V8's external memory, whose growth starts full
 * garbage collections of the whole heap (docs/benchmarks.md).
 *
 * @since 0.1.0
 */
export interface EnvelopeParts {
  /** The envelope's header (a few bytes). */
  readonly header: Uint8Array
  /**
   * What follows the header: the serializer's bytes, compressed or not, or, for a
   * serializer that writes text and a value left uncompressed, the text itself,
   * stored as UTF-8.
   */
  readonly payload: Uint8Array | string
  /** The whole envelope's length in bytes: what Redis stores. */
  readonly storedSize: number
}

/**
 * The result of encoding one value.
 *
 * @since 0.1.0
 */
export interface Encoded extends EnvelopeParts {
  /** The envelope in one buffer (`header` then `payload`), joined when first read. */
  readonly bytes: Uint8Array
  /** Serialized size before compression: the entry's weight in L1. */
  readonly size: number
  readonly compressed: boolean
  /** Time spent compressing (0 when the value was below the threshold). */
  readonly compressionNanos: number
}

/**
 * How a {@link Codec} writes values. Every option is optional.
 *
 * @since 0.1.0
 */
export interface CodecOptions {
  /** The serializer new values are written with. Default `Serializer.json`. */
  readonly serializer?: Serializer
  /** Default `Compression.zlib`; `Compression.none` never compresses. */
  readonly compression?: Compression
  /** Compress when the serialized size in bytes is above this. Integer >= 0, default 1000. */
  readonly compressionThreshold?: number
  /** 1 (fastest) .. 9 (smallest), default 6. */
  readonly compressionLevel?: number
  /** More serializers this codec can read (the built-in ones always are). */
  readonly decoders?: ReadonlyArray<Serializer>
  /**
   * The largest value, in serialized bytes (before compression; the stored payload is
   * never larger), that this codec writes or reads. `encode` and `measure` refuse a
   * bigger value, so that nothing is stored that a reader would refuse; `decode`
   * refuses a bigger payload, and a zlib stream that would inflate past it. Integer
   * >= 1, default 64 MiB.
   */
  readonly maxValueBytes?: number | undefined
}

// What the envelope's tag section can hold (the Cache checks tags with a ValidationError first).
const tagsFit = (tags: ReadonlyArray<string>): boolean =>
  tags.length >= 1 && tags.length <= 255 &&
  tags.every((tag) => typeof tag === "string" && tag.length > 0 && Buffer.byteLength(tag, "utf8") <= 0xffff)

/**
 * What an envelope records besides the payload.
 *
 * @since 0.1.0
 */
export interface EncodeMeta {
  /** Milliseconds since the epoch; the Redis tier uses it to replay outage writes without overwriting newer ones. */
  readonly writtenAt?: number | undefined
  /** A uint32, e.g. derived from the value's Schema. */
  readonly fingerprint?: number | undefined
  /**
   * The end of the entry's TTL, milliseconds since the epoch (the cache writes it with
   * every value): a reader serves it as fresh only before this moment, and bounds its L1
   * copy by it. An entry kept past it for fail-safe (`staleFor`) lives on in Redis.
   */
  readonly expiresAt?: number | undefined
  /** The entry's tags (`set(key, value, { tags })`): 1 to 255 non-empty strings, or undefined for none. */
  readonly tags?: ReadonlyArray<string> | undefined
}

/**
 * A decoded value with its serialized size (its weight in L1).
 *
 * @since 0.1.0
 */
export interface Decoded {
  readonly value: unknown
  readonly size: number
  /** The logical expiry written with the value (`EncodeMeta.expiresAt`), if any. */
  readonly expiresAt?: number | undefined
  /** The entry's tags, if any (then `writtenAt` is its write time, which tag invalidation compares). */
  readonly tags?: ReadonlyArray<string> | undefined
  /** The write time written with the value (`EncodeMeta.writtenAt`), given with `expiresAt` or `tags`. */
  readonly writtenAt?: number | undefined
}

/**
 * The shape of the {@link Codec} service.
 *
 * @since 0.1.0
 */
export interface CodecService {
  /**
   * Serializes, compresses when above the threshold, and wraps `value` in an
   * envelope, with the write time and fingerprint of `meta` when given.
   */
  readonly encode: (key: string, value: unknown, meta?: EncodeMeta) => Effect.Effect<Encoded, SerializationError>
  /** Serializes only and returns the serialized size: the L1 weight, for the memory-only cache. */
  readonly measure: (key: string, value: unknown) => Effect.Effect<number, SerializationError>
  /**
   * Reads an envelope back. When `fingerprint` is given and the envelope carries a
   * different one, it fails with reason "schema fingerprint mismatch ...".
   */
  readonly decode: (key: string, bytes: Uint8Array, fingerprint?: number) => Effect.Effect<unknown, SerializationError>
  /** Like `decode`, also giving the serialized size, so that an L1 refill weighs what a `set` weighs. */
  readonly decodeSized: (key: string, bytes: Uint8Array) => Effect.Effect<Decoded, SerializationError>
  /** `encode` done now, for a caller already inside a running effect: no effect to build and run. */
  readonly encodeExit: (key: string, value: unknown, meta?: EncodeMeta) => Exit.Exit<Encoded, SerializationError>
  /** `decodeSized` done now, for a caller already inside a running effect. */
  readonly decodeSizedExit: (key: string, bytes: Uint8Array) => Exit.Exit<Decoded, SerializationError>
  /** The serializer new values are written with. */
  readonly serializer: Serializer
}

const DEFAULT_THRESHOLD = 1000
const DEFAULT_LEVEL = 6
const DEFAULT_MAX_VALUE_BYTES = 64 * 1024 * 1024
// Text up to this size is encoded for compression into one buffer the codec reuses.
const MAX_SCRATCH_BYTES = 1024 * 1024
const FIRST_USER_ID = 128
const MAX_ID = 255

const describe = (error: unknown): string => error instanceof Error ? error.message : String(error)

/** A failed step, with the reason the `SerializationError` will carry. */
class StepError extends Error {
  override readonly name = "StepError"
}

/** Adds `item` to the id-indexed `table`; user ids must be 128..255 and unique. */
const registerId = <T extends { readonly id: number; readonly name: string }>(
  table: Array<T | undefined>,
  item: T,
  builtIn: ReadonlyArray<T>,
  kind: "serializer" | "compression"
): void => {
  const id = item.id
  if (!builtIn.includes(item) && !(Number.isInteger(id) && id >= FIRST_USER_ID && id <= MAX_ID)) {
    throw new RangeError(`a user ${kind} needs an integer id in 128..255, "${item.name}" has ${id}`)
  }
  const existing = table[id]
  if (existing !== undefined && existing !== item) {
    throw new RangeError(`${kind}s "${item.name}" and "${existing.name}" both use id ${id}`)
  }
  table[id] = item
}

const listIds = (table: ReadonlyArray<{ readonly name: string } | undefined>): string =>
  table.flatMap((item, id) => item === undefined ? [] : [`${id} ${item.name}`]).join(", ")

const checkInteger = (option: string, value: number, min: number, max: number): number => {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${option} must be an integer in ${min}..${max}, got ${value}`)
  }
  return value
}

const makeCodec = (options: CodecOptions = {}): CodecService => {
  const serializer = options.serializer ?? Serializer.json
  const compression = options.compression ?? Compression.zlib
  const threshold = checkInteger(
    "compressionThreshold",
    options.compressionThreshold ?? DEFAULT_THRESHOLD,
    0,
    Number.MAX_SAFE_INTEGER
  )
  const level = checkInteger("compressionLevel", options.compressionLevel ?? DEFAULT_LEVEL, 1, 9)
  const maxValueBytes = checkInteger(
    "maxValueBytes",
    options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES,
    1,
    bufferConstants.MAX_LENGTH
  )
  // A writer refuses what a reader would refuse: the same limit, on the same size.
  const checkWritable = (size: number): void => {
    if (size > maxValueBytes) {
      throw new StepError(
        `the value is ${size} bytes serialized, more than maxValueBytes (${maxValueBytes})`
      )
    }
  }

  const builtInSerializers = [Serializer.json, Serializer.structured]
  const serializers: Array<Serializer | undefined> = []
  for (const s of [...builtInSerializers, serializer, ...(options.decoders ?? [])]) {
    registerId(serializers, s, builtInSerializers, "serializer")
  }
  const compressions: Array<Compression | undefined> = []
  const compresses = compression !== Compression.none
  // Every built-in compression is readable, whichever this codec writes: instances of one
  // cache may be configured (or deployed) one at a time.
  const builtInCompressions = [Compression.zlib, Compression.zstd]
  for (const c of builtInCompressions) registerId(compressions, c, builtInCompressions, "compression")
  if (compresses) registerId(compressions, compression, builtInCompressions, "compression")

  const uncompressedHeader = (meta: EncodeMeta | undefined): Header => ({
    serializerId: serializer.id,
    compressionId: 0,
    fingerprint: meta?.fingerprint,
    writtenAt: meta?.writtenAt,
    expiresAt: meta?.expiresAt,
    tags: meta?.tags
  })

  const serializerFailure = (error: unknown): Error =>
    error instanceof UnsupportedValueError
      ? error
      : new StepError(`the ${serializer.name} serializer failed: ${describe(error)}`, { cause: error })
  const serialize = (value: unknown): Uint8Array => {
    try {
      return serializer.serialize(value)
    } catch (error) {
      throw serializerFailure(error)
    }
  }

  const refuseUndefined = (value: unknown): void => {
    if (value === undefined) {
      throw new UnsupportedValueError("$", "undefined cannot be cached (it is how a miss is told apart from a value)")
    }
  }

  // Text is encoded for compression into one reused buffer rather than a fresh one per
  // value: under Node 24 each fresh buffer of a large value adds to V8's external memory,
  // whose growth starts full collections of the whole heap (docs/benchmarks.md). The
  // compression runs synchronously, and an output that points into this buffer is copied.
  let scratch = Buffer.allocUnsafeSlow(0)
  const utf8Input = (text: string, size: number): Buffer => {
    if (size > MAX_SCRATCH_BYTES) return Buffer.from(text, "utf8")
    if (scratch.byteLength < size) {
      scratch = Buffer.allocUnsafeSlow(Math.min(MAX_SCRATCH_BYTES, Math.max(size, 2 * scratch.byteLength)))
    }
    scratch.write(text, 0, size, "utf8")
    return scratch.subarray(0, size)
  }

  // `payload` is what is stored when compression does not make the value smaller.
  const compress = (
    input: Uint8Array,
    payload: Uint8Array | string,
    size: number,
    meta: EncodeMeta | undefined
  ): Encoded => {
    const started = performance.now()
    let packed: Uint8Array
    try {
      packed = compression.compress(input, level)
    } catch (error) {
      throw new StepError(`compression with ${compression.name} failed: ${describe(error)}`, { cause: error })
    }
    if (packed.buffer === scratch.buffer) packed = Buffer.from(packed)
    const compressionNanos = Math.round((performance.now() - started) * 1e6)
    // incompressible data (already compressed, random) is stored as it is
    return packed.byteLength < size
      ? new EncodedEnvelope({
        serializerId: serializer.id,
        compressionId: compression.id,
        fingerprint: meta?.fingerprint,
        writtenAt: meta?.writtenAt,
        expiresAt: meta?.expiresAt,
        tags: meta?.tags
      }, packed, packed.byteLength, size, true, compressionNanos)
      : new EncodedEnvelope(uncompressedHeader(meta), payload, size, size, false, compressionNanos)
  }

  const encodeSync = (value: unknown, meta: EncodeMeta | undefined): Encoded => {
    refuseUndefined(value)
    const fingerprint = meta?.fingerprint
    if (fingerprint !== undefined && !(Number.isInteger(fingerprint) && fingerprint >= 0 && fingerprint <= 0xffffffff)) {
      throw new StepError(`the schema fingerprint must be a uint32, got ${fingerprint}`)
    }
    const writtenAt = meta?.writtenAt
    if (writtenAt !== undefined && !(Number.isInteger(writtenAt) && writtenAt >= 0 && writtenAt <= MAX_WRITTEN_AT)) {
      throw new StepError(`the write time must be a uint48 of milliseconds, got ${writtenAt}`)
    }
    const expiresAt = meta?.expiresAt
    if (expiresAt !== undefined && !(Number.isInteger(expiresAt) && expiresAt >= 0 && expiresAt <= MAX_WRITTEN_AT)) {
      throw new StepError(`the expiry must be a uint48 of milliseconds, got ${expiresAt}`)
    }
    const tags = meta?.tags
    if (tags !== undefined && !tagsFit(tags)) {
      throw new StepError("tags must be 1 to 255 non-empty strings of at most 65,535 UTF-8 bytes each")
    }
    const serializeText = serializer.serializeText
    if (serializeText !== undefined) {
      let text: string
      try {
        text = serializeText(value)
      } catch (error) {
        throw serializerFailure(error)
      }
      const size = Buffer.byteLength(text, "utf8")
      checkWritable(size)
      if (!compresses || size <= threshold) {
        return new EncodedEnvelope(uncompressedHeader(meta), text, size, size, false, 0)
      }
      return compress(utf8Input(text, size), text, size, meta)
    }
    const payload = serialize(value)
    const size = payload.byteLength
    checkWritable(size)
    if (!compresses || size <= threshold) {
      return new EncodedEnvelope(uncompressedHeader(meta), payload, size, size, false, 0)
    }
    return compress(payload, payload, size, meta)
  }

  const measureSync = (value: unknown): number => {
    refuseUndefined(value)
    const serializeText = serializer.serializeText
    let size: number
    if (serializeText === undefined) size = serialize(value).byteLength
    else {
      try {
        size = Buffer.byteLength(serializeText(value), "utf8")
      } catch (error) {
        throw serializerFailure(error)
      }
    }
    checkWritable(size)
    return size
  }

  const decodeSync = (bytes: Uint8Array, fingerprint: number | undefined): Decoded => {
    const envelope = unwrap(bytes)
    if (fingerprint !== undefined && envelope.fingerprint !== undefined && envelope.fingerprint !== fingerprint) {
      throw new StepError(
        `schema fingerprint mismatch: stored ${envelope.fingerprint.toString(16)}, expected ${fingerprint.toString(16)}`
      )
    }
    const reader = serializers[envelope.serializerId]
    if (reader === undefined) {
      throw new StepError(`unknown serializer id ${envelope.serializerId} (this codec reads ${listIds(serializers)})`)
    }
    let payload = envelope.payload
    // a writer with this limit never stores a payload above it, compressed or not
    if (payload.byteLength > maxValueBytes) {
      throw new StepError(
        `the stored payload is ${payload.byteLength} bytes, more than maxValueBytes (${maxValueBytes})`
      )
    }
    if (envelope.compressed) {
      const decompressor = compressions[envelope.compressionId]
      if (decompressor === undefined) {
        throw new StepError(
          `unknown compression id ${envelope.compressionId} (this codec reads ${listIds(compressions)})`
        )
      }
      try {
        payload = decompressor.decompress(payload, maxValueBytes)
      } catch (error) {
        throw (error as { code?: unknown } | null)?.code === "ERR_BUFFER_TOO_LARGE"
          ? new StepError(`the value decompresses to more than maxValueBytes (${maxValueBytes})`, { cause: error })
          : new StepError(`decompression with ${decompressor.name} failed: ${describe(error)}`, { cause: error })
      }
    }
    // a user decompressor may not enforce the limit itself
    if (payload.byteLength > maxValueBytes) {
      throw new StepError(`the payload is ${payload.byteLength} bytes, more than maxValueBytes (${maxValueBytes})`)
    }
    try {
      const value = reader.deserialize(payload)
      const size = payload.byteLength
      const { expiresAt, tags, writtenAt } = envelope
      if (tags !== undefined) return { value, size, expiresAt, tags, writtenAt }
      if (expiresAt === undefined) return { value, size }
      return writtenAt === undefined ? { value, size, expiresAt } : { value, size, expiresAt, writtenAt }
    } catch (error) {
      throw new StepError(`the ${reader.name} serializer could not read the payload: ${describe(error)}`, {
        cause: error
      })
    }
  }

  const encodeExit = (key: string, value: unknown, meta?: EncodeMeta) =>
    attempt(key, "encode", () => encodeSync(value, meta))
  const decodeSizedExit = (key: string, bytes: Uint8Array) => attempt(key, "decode", () => decodeSync(bytes, undefined))

  return {
    serializer,
    encode: (key, value, meta) => Effect.suspend(() => encodeExit(key, value, meta)),
    measure: (key, value) => Effect.suspend(() => attempt(key, "encode", () => measureSync(value))),
    decode: (key, bytes, fingerprint) =>
      Effect.suspend(() => attempt(key, "decode", () => decodeSync(bytes, fingerprint).value)),
    decodeSized: (key, bytes) => Effect.suspend(() => decodeSizedExit(key, bytes)),
    encodeExit,
    decodeSizedExit
  }
}

// One step of the codec, run now: what it throws becomes the SerializationError for the key.
const attempt = <A>(key: string, operation: "encode" | "decode", step: () => A): Exit.Exit<A, SerializationError> => {
  try {
    return Exit.succeed(step())
  } catch (error) {
    return Exit.fail(failure(key, operation, error))
  }
}

const failure = (key: string, operation: "encode" | "decode", error: unknown): SerializationError => {
  const known = error instanceof StepError || error instanceof EnvelopeError || error instanceof UnsupportedValueError
  // anything else escaped a step unexpectedly (a stack overflow in a serializer, a bug): keep it as the cause
  const reason = known ? error.message : `unexpected failure: ${describe(error)}`
  const cause = known ? error.cause : error
  const message = operation === "encode"
    ? `Cannot encode the value for key "${key}": ${reason}`
    : `Cannot decode the value stored at key "${key}": ${reason}`
  return new SerializationError(
    cause === undefined ? { message, key, operation, reason } : { message, key, operation, reason, cause }
  )
}

/**
 * Encodes cached values into versioned envelopes and decodes them back.
 *
 * `Codec.make(options)` builds the service synchronously. It throws a `RangeError`
 * for options that cannot work (a threshold that is not a non-negative integer, a
 * level outside 1..9, a user serializer or compression whose id is outside
 * 128..255 or clashes with another); the cache layers validate their options with
 * Schema before calling it, so that only happens when it is called directly.
 *
 * @since 0.1.0
 */
export class Codec extends Context.Service<Codec, CodecService>()("effect-redis-cache/Codec") {
  /** Builds the service; throws a `RangeError` for impossible options. */
  static readonly make: (options?: CodecOptions) => Codec["Service"] = makeCodec
  /** A layer with a codec built from `options` (a `RangeError` in `make` becomes a defect). */
  static readonly layer = (options?: CodecOptions): Layer.Layer<Codec> => Layer.sync(Codec, () => makeCodec(options))
}
