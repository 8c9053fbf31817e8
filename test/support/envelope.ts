/**
 * The envelope around a payload in one call, its length worked out, for tests that
 * need stored bytes of a given shape.
 */
import { type Header, headerSize, wrap as wrapSized } from "../../src/internal/envelope.js"

/** The whole envelope around `payload` (text as UTF-8). */
export const wrap = (header: Header, payload: Uint8Array | string): Buffer =>
  wrapSized(
    header,
    payload,
    headerSize(header) + (typeof payload === "string" ? Buffer.byteLength(payload, "utf8") : payload.byteLength)
  )
