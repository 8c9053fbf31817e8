/**
 * The envelope around a payload in one call, as the codec writes it (header, then the
 * payload; text as UTF-8), for tests that need stored bytes of a given shape.
 */
import { encodeHeader, type Header, joinEnvelope } from "../../src/internal/envelope.js"

/** The whole envelope around `payload`. */
export const wrap = (header: Header, payload: Uint8Array | string): Buffer => {
  const head = encodeHeader(header)
  const payloadSize = typeof payload === "string" ? Buffer.byteLength(payload, "utf8") : payload.byteLength
  return joinEnvelope(head, payload, head.byteLength + payloadSize)
}
