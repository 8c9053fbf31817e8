/**
 * Compression of serialized payloads.
 *
 * `Compression.zlib` (id 1) is built in and can always be read. `Compression.zstd`
 * (id 2) is built in where Node has it (node:zlib's zstd, Node >= 22.15); elsewhere a
 * zstd value fails to decode with a reason that says so. `Compression.none` (id 0)
 * turns compression off. Any object implementing {@link Compression} with an id in
 * 128..255 can be plugged in as well.
 *
 * @since 0.1.0
 */
import * as nodeZlib from "node:zlib"

const { deflateSync, inflateSync } = nodeZlib

/**
 * Compresses and decompresses payloads. `id` is written into every compressed
 * envelope so the codec knows how to decompress it: 0 is "none", 1 is zlib, 2 is zstd,
 * 128..255 are free for user compressions, 3..127 are reserved.
 *
 * `decompress` must refuse (throw) rather than produce more than
 * `maxOutputBytes`, so that a small stored value cannot expand into a huge one
 * (a decompression bomb).
 *
 * @since 0.1.0
 */
export interface Compression {
  readonly id: number
  readonly name: string
  /**
   * `level` is 1 (fastest) .. 9 (smallest). `bytes` may be a view of a buffer the codec
   * reuses for the next value: read it during the call, do not keep it.
   */
  readonly compress: (bytes: Uint8Array, level: number) => Uint8Array
  /** Refuses (throws) rather than produce more than `maxOutputBytes` (a decompression bomb). */
  readonly decompress: (bytes: Uint8Array, maxOutputBytes: number) => Uint8Array
}

const none: Compression = {
  id: 0,
  name: "none",
  compress: (bytes) => bytes,
  decompress: (bytes) => bytes
}

// zlib allocates its output in chunks of `chunkSize` bytes, 16 KB unless told. A chunk sized
// to the expected output saves a third of a 2 KB value's inflate and a sixth of its deflate
// (measured on cached JSON); an output larger than the guess takes one more chunk.
const MIN_CHUNK_BYTES = 64
const MAX_GUESSED_CHUNK_BYTES = 1024 * 1024
// Cached JSON shrinks 4-12x under deflate.
const INFLATE_RATIO_GUESS = 8
// Above this input size a deflate chunk is no longer carved from Node's shared pool but is a
// buffer of its own, kept alive by the output that points into it, and under Node 24 such
// buffers start full collections as they add up (docs/benchmarks.md). Large inputs get a
// chunk of an eighth of their size: 50 KB of cached JSON deflates to 4 KB, and with a 25 KB
// chunk the compressed 50 KB miss-then-set ran at 0.8x of its speed with a 6 KB one.
const LARGE_DEFLATE_INPUT_BYTES = 8192
const deflateChunkBytes = (inputBytes: number): number =>
  Math.max(MIN_CHUNK_BYTES, Math.ceil(inputBytes / (inputBytes > LARGE_DEFLATE_INPUT_BYTES ? 8 : 2)))

const zlib: Compression = {
  id: 1,
  name: "zlib",
  compress: (bytes, level) =>
    deflateSync(bytes, { level, chunkSize: deflateChunkBytes(bytes.byteLength) }),
  // maxOutputLength makes zlib stop and throw as soon as the output would pass the limit
  decompress: (bytes, maxOutputBytes) =>
    inflateSync(bytes, {
      maxOutputLength: maxOutputBytes,
      chunkSize: Math.max(
        MIN_CHUNK_BYTES,
        Math.min(bytes.byteLength * INFLATE_RATIO_GUESS, maxOutputBytes, MAX_GUESSED_CHUNK_BYTES)
      )
    })
}

/**
 * Whether this Node has node:zlib's zstd (Node >= 22.15 and >= 23.8). Read through the
 * module object: a named import of a missing export would fail to load on older Nodes.
 *
 * @since 0.1.0
 */
export const zstdAvailable: boolean = typeof nodeZlib.zstdCompressSync === "function" &&
  typeof nodeZlib.zstdDecompressSync === "function"

const zstdMissing = (): never => {
  throw new Error(`zstd needs node:zlib's zstd (Node >= 22.15); this is Node ${process.version}`)
}

const zstd: Compression = {
  id: 2,
  name: "zstd",
  // `level` is the codec's 1..9, a valid zstd level as it is (zstd's own scale goes to 22).
  compress: (bytes, level) =>
    zstdAvailable
      ? nodeZlib.zstdCompressSync(bytes, { params: { [nodeZlib.constants.ZSTD_c_compressionLevel]: level } })
      : zstdMissing(),
  // The same output chunk guess as inflate: with Node's 16 KB default a 50 KB value took 1.5x as long.
  decompress: (bytes, maxOutputBytes) =>
    zstdAvailable
      ? nodeZlib.zstdDecompressSync(bytes, {
        maxOutputLength: maxOutputBytes,
        chunkSize: Math.max(
          MIN_CHUNK_BYTES,
          Math.min(bytes.byteLength * INFLATE_RATIO_GUESS, maxOutputBytes, MAX_GUESSED_CHUNK_BYTES)
        )
      })
      : zstdMissing()
}

/**
 * The built-in compressions: `Compression.zlib` (id 1, deflate with a zlib header
 * and Adler-32 checksum), `Compression.zstd` (id 2, node:zlib's zstd where Node has it,
 * see {@link zstdAvailable}) and `Compression.none` (id 0, never compress).
 *
 * @since 0.1.0
 */
export const Compression: {
  /** Never compress. */
  readonly none: Compression
  /** node:zlib deflate/inflate; inflate is bounded by `maxOutputBytes`. */
  readonly zlib: Compression
  /** node:zlib zstd (Node >= 22.15); decompression is bounded by `maxOutputBytes`. */
  readonly zstd: Compression
} = { none, zlib, zstd }
