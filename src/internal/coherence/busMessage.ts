/**
 * The wire format of the invalidation bus: one small binary message per batch of
 * changes, published on the cache's channel after Redis acknowledged them.
 *
 * ```
 * offset  size  field
 * 0       1     version: 1
 * 1       1     operation: 1 keys, 2 literal pattern, 3 glob pattern, 4 clear
 * 2       6     write time, milliseconds since the epoch, big-endian uint48
 * 8       16    the publishing instance's id (receivers ignore their own messages)
 * 24      ...   keys: each a big-endian uint32 byte length and its UTF-8 bytes (without
 *               the key prefix); a pattern: its UTF-8 bytes; clear: nothing
 * ```
 *
 * Hand-written: the format is a few fixed fields and length-prefixed strings, and a
 * general codec (CBOR, JSON) would cost more than the message on the write path.
 */

/** What a message announces. */
export type BusChange =
  | { readonly _tag: "Keys"; readonly keys: ReadonlyArray<string> }
  | { readonly _tag: "Pattern"; readonly pattern: string; readonly glob: boolean }
  | { readonly _tag: "Clear" }

/** A decoded message. */
export interface BusMessage {
  readonly change: BusChange
  readonly writtenAt: number
  readonly instance: Buffer
}

/** The wire version; a receiver drops messages of another version (a newer writer) after a flush. */
export const BUS_VERSION = 1
const HEADER_SIZE = 24
const INSTANCE_SIZE = 16
const OPERATION = { Keys: 1, Pattern: 2, Glob: 3, Clear: 4 } as const

/** Encodes one message. */
export const encodeBusMessage = (change: BusChange, writtenAt: number, instance: Buffer): Buffer => {
  const body = change._tag === "Keys"
    ? change.keys.map((key) => Buffer.from(key, "utf8"))
    : change._tag === "Pattern"
    ? [Buffer.from(change.pattern, "utf8")]
    : []
  const size = HEADER_SIZE + body.reduce((total, part) => total + part.byteLength + (change._tag === "Keys" ? 4 : 0), 0)
  const out = Buffer.allocUnsafe(size)
  out[0] = BUS_VERSION
  out[1] = change._tag === "Keys"
    ? OPERATION.Keys
    : change._tag === "Clear"
    ? OPERATION.Clear
    : change.glob
    ? OPERATION.Glob
    : OPERATION.Pattern
  out.writeUIntBE(writtenAt, 2, 6)
  instance.copy(out, 8, 0, INSTANCE_SIZE)
  let offset = HEADER_SIZE
  for (const part of body) {
    if (change._tag === "Keys") offset = out.writeUInt32BE(part.byteLength, offset)
    offset += part.copy(out, offset)
  }
  return out
}

/** Decodes one message; `undefined` for a message this version cannot read (or not a message). */
export const decodeBusMessage = (bytes: Buffer): BusMessage | undefined => {
  if (bytes.byteLength < HEADER_SIZE || bytes[0] !== BUS_VERSION) return undefined
  const writtenAt = bytes.readUIntBE(2, 6)
  const instance = bytes.subarray(8, 8 + INSTANCE_SIZE)
  const operation = bytes[1]
  if (operation === OPERATION.Clear) return { change: { _tag: "Clear" }, writtenAt, instance }
  if (operation === OPERATION.Pattern || operation === OPERATION.Glob) {
    const pattern = bytes.toString("utf8", HEADER_SIZE)
    return { change: { _tag: "Pattern", pattern, glob: operation === OPERATION.Glob }, writtenAt, instance }
  }
  if (operation !== OPERATION.Keys) return undefined
  const keys: Array<string> = []
  let offset = HEADER_SIZE
  while (offset + 4 <= bytes.byteLength) {
    const length = bytes.readUInt32BE(offset)
    offset += 4
    if (offset + length > bytes.byteLength) return undefined
    keys.push(bytes.toString("utf8", offset, offset + length))
    offset += length
  }
  return offset === bytes.byteLength ? { change: { _tag: "Keys", keys }, writtenAt, instance } : undefined
}
