/**
 * Serializers turn a cached value into bytes and back.
 *
 * Two are built in and can always be read, whichever one is configured:
 *
 * - `Serializer.json` (id 1): compact JSON. It refuses, with the path of the
 *   offending part, every value JSON would silently change (a `Date`, a `Map`,
 *   `undefined` in an object, `NaN`, a class instance, a cycle...).
 * - `Serializer.structured` (id 2): CBOR (RFC 8949) through `cbor-x`. It also
 *   round-trips `Date`, `Map`, `Set`, `BigInt`, typed arrays, `Buffer`, nested
 *   `undefined` and `NaN`/`Infinity`. It refuses, with its path, a string holding a
 *   lone surrogate, which CBOR's UTF-8 text would turn into U+FFFD.
 *
 * Any object implementing {@link Serializer} with an id in 128..255 can be
 * plugged in as well.
 *
 * @since 0.1.0
 */
import { Encoder } from "cbor-x"
import { isUtf8 } from "node:buffer"

/**
 * Turns values into bytes and back. `id` is written into every envelope so the
 * codec knows which serializer can read a stored value: 1 and 2 are the built-in
 * ones, 128..255 are free for user serializers, 3..127 are reserved.
 *
 * `serialize` throws (any `Error`, its message becomes the `reason` of the
 * `SerializationError`) for a value it cannot represent faithfully; `deserialize`
 * throws for bytes it cannot read. Neither may execute code found in the bytes.
 *
 * @since 0.1.0
 */
export interface Serializer {
  readonly id: number
  readonly name: string
  /** The value as bytes; throws for a value it cannot represent faithfully. */
  readonly serialize: (value: unknown) => Uint8Array
  /** The value back from bytes `serialize` made; throws for bytes it cannot read. */
  readonly deserialize: (bytes: Uint8Array) => unknown
  /**
   * Optional fast path for text formats: the same bytes as `serialize`, as a
   * string. The codec then writes the UTF-8 straight into the envelope instead
   * of allocating the payload first.
   */
  readonly serializeText?: (value: unknown) => string
}

/**
 * Thrown by the built-in serializers for a value they would not read back
 * unchanged; the message starts with the path of the offending part
 * (`$.user.createdAt: a Date does not survive JSON; ...`).
 *
 * @since 0.1.0
 */
export class UnsupportedValueError extends Error {
  override readonly name = "UnsupportedValueError"
  constructor(readonly path: string, readonly problem: string) {
    super(`${path}: ${problem}`)
  }
}

// Path helpers (only used on the slow path that explains a rejection).
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/
const propertyPath = (path: string, key: string): string =>
  IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`
const describeKey = (key: unknown): string =>
  typeof key === "string" ? JSON.stringify(key) : typeof key === "bigint" ? `${key}n` : String(key)

const className = (value: object): string => {
  const proto: unknown = Object.getPrototypeOf(value)
  const ctor = typeof proto === "object" && proto !== null ? (proto as { constructor?: unknown }).constructor : undefined
  return typeof ctor === "function" && ctor.name !== "" ? ctor.name : "an anonymous class"
}
const article = (name: string): string => (/^[AEIO]/.test(name) ? `an ${name}` : `a ${name}`)

const isPlainObject = (proto: unknown): boolean => proto === Object.prototype || proto === null

// `String.prototype.isWellFormed` is ES2024 (Node >= 20); the project's lib is ES2023. V8 answers
// at once for a one-byte string and scans a two-byte one, without allocating.
interface WellFormedCheck {
  readonly isWellFormed: () => boolean
}
const isWellFormed = (text: string): boolean => (text as unknown as WellFormedCheck).isWellFormed()

/** The first UTF-16 code unit of `text` that is half of a surrogate pair without its other half. */
const loneSurrogateAt = (text: string): number => {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++
      else return i
    } else if (unit >= 0xdc00 && unit <= 0xdfff) return i
  }
  return -1
}

// Objects nested deeper than this leave the fast check for the exact one, which
// tracks ancestors: a cycle shows up as unbounded depth, so the fast walk needs no
// bookkeeping at all.
const FAST_DEPTH_LIMIT = 128

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

/*
 * Rejecting what JSON would lose costs a walk over the value. Measured on Node
 * 20.20 (2 vCPU) against a plain `JSON.stringify` of 76 B / 1.7 KB / 43 KB objects:
 * a pre-walk then `JSON.stringify` is 23-25% slower, a checking `replacer` 125-131%
 * slower (a replacer takes V8 off its fast stringify path). So: pre-walk. The
 * walk returns a boolean and allocates nothing; only a rejected value is walked
 * again, with paths, to say where the problem is. Symbol-keyed and non-enumerable
 * properties are not data and are not written (as with `structuredClone`).
 */
const jsonSafe = (value: unknown, depth: number): boolean => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true
    case "number":
      return Number.isFinite(value)
    case "object": {
      if (value === null) return true
      if (depth > FAST_DEPTH_LIMIT) return false
      const proto = Object.getPrototypeOf(value)
      if (proto === Array.prototype) {
        const array = value as ReadonlyArray<unknown>
        for (let i = 0; i < array.length; i++) {
          const item = array[i]
          if (item === undefined || !jsonSafe(item, depth + 1)) return false
        }
        return true
      }
      if (!isPlainObject(proto)) return false
      const record = value as Record<string, unknown>
      for (const key in record) {
        const item = record[key]
        if (item === undefined || !jsonSafe(item, depth + 1)) return false
      }
      return true
    }
    default:
      return false
  }
}

const LOSSY_IN_JSON = "does not survive JSON; use the structured serializer or a Schema"

const jsonProblem = (value: unknown): string | undefined => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(value) ? undefined : `${value} ${LOSSY_IN_JSON}`
    case "undefined":
      return `undefined ${LOSSY_IN_JSON}`
    case "bigint":
      return `a BigInt ${LOSSY_IN_JSON}`
    case "function":
      return "a function cannot be cached"
    case "symbol":
      return "a symbol cannot be cached"
    case "object": {
      if (value === null) return undefined
      const proto = Object.getPrototypeOf(value)
      if (proto === Array.prototype || isPlainObject(proto)) return undefined
      if (value instanceof Date || value instanceof Map || value instanceof Set || ArrayBuffer.isView(value)) {
        return `${article(className(value))} ${LOSSY_IN_JSON}`
      }
      return `${article(className(value))} instance does not survive JSON; convert it to a plain object or use a Schema`
    }
  }
}

// The slow path that names the part of a value a serializer refuses: one walk over
// arrays, Maps, Sets and plain objects, with each serializer's own rules for values and
// property names (JSON's rules refuse Maps and Sets before the walk reaches them).
const explainer = (
  problemOf: (value: unknown) => string | undefined,
  propertyProblem: (key: string) => string | undefined
) => {
  const explain = (value: unknown, path: string, ancestors: Set<object>): void => {
    const problem = problemOf(value)
    if (problem !== undefined) throw new UnsupportedValueError(path, problem)
    if (typeof value !== "object" || value === null) return
    if (ancestors.has(value)) throw new UnsupportedValueError(path, "a circular reference cannot be cached")
    ancestors.add(value)
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) explain(value[i], `${path}[${i}]`, ancestors)
    } else if (value instanceof Map) {
      let i = 0
      for (const [key, item] of value) {
        explain(key, `${path}.keys()[${i++}]`, ancestors)
        explain(item, `${path}.get(${describeKey(key)})`, ancestors)
      }
    } else if (value instanceof Set) {
      let i = 0
      for (const item of value) explain(item, `${path}.values()[${i++}]`, ancestors)
    } else if (!ArrayBuffer.isView(value) && !(value instanceof Date)) {
      const record = value as Record<string, unknown>
      for (const key in record) {
        const refused = propertyProblem(key)
        if (refused !== undefined) throw new UnsupportedValueError(propertyPath(path, key), refused)
        explain(record[key], propertyPath(path, key), ancestors)
      }
    }
    ancestors.delete(value)
  }
  return explain
}

const explainJson = explainer(jsonProblem, () => undefined)

const jsonText = (value: unknown): string => {
  // explainJson throws for every value jsonSafe refuses, except a legitimately deep one
  if (!jsonSafe(value, 0)) explainJson(value, "$", new Set())
  return JSON.stringify(value)
}

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const json: Serializer = {
  id: 1,
  name: "json",
  serializeText: jsonText,
  serialize: (value) => Buffer.from(jsonText(value), "utf8"),
  deserialize: (bytes) => {
    const buffer = asBuffer(bytes)
    // a JSON payload with broken UTF-8 is corrupt; toString would quietly turn it into U+FFFD
    if (!isUtf8(buffer)) throw new Error("the JSON payload is not valid UTF-8")
    return JSON.parse(buffer.toString("utf8"))
  }
}

// ---------------------------------------------------------------------------
// Structured (CBOR)
// ---------------------------------------------------------------------------

/*
 * Why CBOR through cbor-x rather than msgpackr (both by the same author, both fast):
 * - without "records" (shared structures, which make bytes depend on state outside
 *   the value) msgpack cannot tell a Map from a plain object: msgpackr decodes both
 *   as one or the other. CBOR has tag 259 for Maps, so both come back as they went in;
 * - CBOR tags are a public registry (RFC 8949 dates and bignums, RFC 8746 typed
 *   arrays, 258 sets), so the bytes are readable by any CBOR library in any
 *   language, not only by the library that wrote them; `Buffer` and `Uint8Array`
 *   stay distinct (tag 64 marks a Uint8Array);
 * - BigInts of any size round-trip (tags 2/3).
 * Options: `useRecords: false` and `pack: false`/`bundleStrings: false` keep every
 * value self-contained; `structuredClone: false` because cycles are refused up front;
 * `copyBuffers: true` so a decoded Buffer never aliases (and pins) the stored bytes.
 * Decoding never runs code: the only constructors cbor-x calls from bytes are Date,
 * Set, Map, RegExp, Error, BigInt and the typed arrays. The optional native
 * `cbor-extract` only speeds up string decoding. `-0` is written as the integer 0,
 * as in JSON, and reads back as 0.
 */
const cbor = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  structuredClone: false,
  pack: false,
  bundleStrings: false,
  copyBuffers: true,
  tagUint8Array: true,
  largeBigIntToFloat: false,
  encodeUndefinedAsNil: false,
  useToJSON: false
})

/** Prototypes of the binary views that round-trip as themselves. */
const TYPED_ARRAY_PROTOTYPES: ReadonlySet<unknown> = new Set([
  Buffer.prototype,
  Uint8Array.prototype,
  Uint8ClampedArray.prototype,
  Uint16Array.prototype,
  Uint32Array.prototype,
  BigUint64Array.prototype,
  Int8Array.prototype,
  Int16Array.prototype,
  Int32Array.prototype,
  BigInt64Array.prototype,
  Float32Array.prototype,
  Float64Array.prototype
])

const structuredSafe = (value: unknown, depth: number): boolean => {
  switch (typeof value) {
    case "string":
      return isWellFormed(value)
    case "boolean":
    case "number":
    case "bigint":
    case "undefined":
      return true
    case "object": {
      if (value === null) return true
      if (depth > FAST_DEPTH_LIMIT) return false
      const proto = Object.getPrototypeOf(value)
      if (proto === Array.prototype) {
        const array = value as ReadonlyArray<unknown>
        for (let i = 0; i < array.length; i++) {
          if (!structuredSafe(array[i], depth + 1)) return false
        }
        return true
      }
      if (isPlainObject(proto)) {
        const record = value as Record<string, unknown>
        for (const key in record) {
          if (key === "__proto__" || !isWellFormed(key) || !structuredSafe(record[key], depth + 1)) return false
        }
        return true
      }
      if (proto === Map.prototype) {
        for (const [key, item] of value as Map<unknown, unknown>) {
          if (!structuredSafe(key, depth + 1) || !structuredSafe(item, depth + 1)) return false
        }
        return true
      }
      if (proto === Set.prototype) {
        for (const item of value as Set<unknown>) {
          if (!structuredSafe(item, depth + 1)) return false
        }
        return true
      }
      return proto === Date.prototype ? dateSurvives(value as Date) : TYPED_ARRAY_PROTOTYPES.has(proto)
    }
    default:
      return false
  }
}

// CBOR stores a Date as float seconds (tag 1) and cbor-x reads it back as
// Math.round(seconds * 1000): exact up to about year 97,000, off by 1 ms beyond.
const dateSurvives = (date: Date): boolean => {
  const time = date.getTime()
  return Number.isNaN(time) || Math.round((time / 1000) * 1000) === time
}

/*
 * A string with a lone surrogate (half of a UTF-16 pair, e.g. "\uD800") has no UTF-8 form,
 * and CBOR text strings are UTF-8: cbor-x writes such a string in a form every decoder,
 * cbor-x included, reads back with U+FFFD in its place. Encoding it losslessly would need a
 * tag of our own that other CBOR readers do not know, so the value is refused instead, with
 * its path (JSON escapes a lone surrogate as \udXXX and keeps it: the json serializer
 * stores such strings unchanged).
 */
const loneSurrogate = (what: string, text: string): string => {
  const at = loneSurrogateAt(text)
  const unit = text.charCodeAt(at).toString(16)
  return `${what} has a lone surrogate (\\u${unit} at index ${at}), which CBOR (UTF-8 text) would read back ` +
    "as U+FFFD; use the json serializer, which keeps it, or a well-formed string"
}

const structuredProblem = (value: unknown): string | undefined => {
  switch (typeof value) {
    case "string":
      return isWellFormed(value) ? undefined : loneSurrogate("the string", value)
    case "function":
      return "a function cannot be cached"
    case "symbol":
      return "a symbol cannot be cached"
    case "object": {
      if (value === null) return undefined
      const proto = Object.getPrototypeOf(value)
      if (proto === Date.prototype) {
        return dateSurvives(value as Date)
          ? undefined
          : `the Date ${(value as Date).toISOString()} is too far from 1970 to keep its milliseconds in CBOR`
      }
      if (
        proto === Array.prototype || isPlainObject(proto) || proto === Map.prototype || proto === Set.prototype ||
        TYPED_ARRAY_PROTOTYPES.has(proto)
      ) return undefined
      return `${article(className(value))} is not supported by the structured serializer (it would not come back ` +
        "as the same class); convert it to a plain object, an array, a Map, a Set, a Date or a typed array, or use a Schema"
    }
    default:
      return undefined
  }
}

const explainStructured = explainer(structuredProblem, (key) =>
  key === "__proto__"
    ? "an own property named \"__proto__\" cannot be cached by the structured serializer (CBOR decoders rename it)"
    : isWellFormed(key)
    ? undefined
    : loneSurrogate("the property name", key))

const structured: Serializer = {
  id: 2,
  name: "structured",
  serialize: (value) => {
    if (!structuredSafe(value, 0)) explainStructured(value, "$", new Set())
    return cbor.encode(value)
  },
  deserialize: (bytes) => cbor.decode(bytes)
}

/**
 * The built-in serializers: `Serializer.json` (id 1) and `Serializer.structured`
 * (id 2).
 *
 * @since 0.1.0
 */
export const Serializer: {
  /** Compact JSON that refuses every value it would not read back unchanged. */
  readonly json: Serializer
  /** CBOR: JSON plus Date, Map, Set, BigInt, typed arrays, Buffer, undefined, NaN, ±Infinity. */
  readonly structured: Serializer
} = { json, structured }
