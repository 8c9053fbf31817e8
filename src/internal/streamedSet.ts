/**
 * `SET key <envelope> PX ttl` written to the socket as the envelope's parts, so a
 * large value is never copied into a fresh buffer on its way out.
 *
 * Given a `Buffer` argument, ioredis copies the whole command into one new buffer.
 * Under Node 24 each such buffer of a 50 KB value (and the codec's own, when it
 * joined header and payload) counts toward V8's external memory, and that growth
 * starts full collections of the whole heap: 26-37 of them in a 12-second run of
 * raw ioredis SETs of 50 KB `Buffer`s against 2-5 with the same values as strings, at
 * about half the throughput. Written as parts, the JSON text goes to the socket as a string
 * (Node encodes it outside the JS heap's accounting) and a binary payload is written
 * as it is, without a copy. ioredis' own `Script` command overrides `toWritable` the
 * same way; the socket is the connection's, and the parts are written in order
 * before ioredis writes what this returns.
 *
 * @internal
 */
import { Command } from "ioredis"
import type { EnvelopeParts } from "../codec/Codec.js"

interface WritableSocket {
  write(chunk: string | Uint8Array): boolean
}

/** One `SET fullKey envelope PX ttlMillis`, its reply `"OK"`. */
export class StreamedSet extends Command {
  readonly #fullKey: string
  readonly #envelope: EnvelopeParts
  readonly #ttl: string

  constructor(fullKey: string, envelope: EnvelopeParts, ttlMillis: number) {
    // the arguments ioredis sees only name the command (debug output, error messages)
    super("set", [fullKey, "<envelope>", "PX", ttlMillis])
    this.#fullKey = fullKey
    this.#envelope = envelope
    this.#ttl = String(ttlMillis)
  }

  override toWritable(socket: object): string {
    const stream = socket as WritableSocket
    const key = this.#fullKey
    const { header, payload, storedSize } = this.#envelope
    stream.write(`*5\r\n$3\r\nSET\r\n$${Buffer.byteLength(key, "utf8")}\r\n${key}\r\n$${storedSize}\r\n`)
    stream.write(header)
    const tail = `\r\n$2\r\nPX\r\n$${this.#ttl.length}\r\n${this.#ttl}\r\n`
    if (typeof payload === "string") return payload + tail
    stream.write(payload)
    return tail
  }
}
