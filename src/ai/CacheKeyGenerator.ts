/**
 * The keys of the AI response cache, built exactly as the original
 * `CacheKeyGenerator` built them, so a port can share a Redis with the Python
 * service and find its entries:
 *
 * ```
 * ai_cache:op:{operation}|txt:{text or hash:…}[|opts:{md5 8}][|q:{md5 8}]
 * ai_cache:op:summarize|txt:Hello world_a_b                  text "Hello world|a:b", no options
 * ai_cache:op:summarize|txt:Hello world|opts:5104236b        options { max_length: 100 }
 * ai_cache:op:qa|txt:Hello world|opts:2cb720e4|q:da49e93f    options { question: "What?" }
 * ```
 *
 * - The text is kept (with `|` and `:` replaced by `_`) while its length is at
 *   most `textHashThreshold`; above it, it becomes
 *   `hash:` + the first 16 hex digits of sha256(text + "len:{n}" + "words:{w}").
 * - The options part is md5("k1=v1&k2=v2…") over the keys in sorted order, so the
 *   order of the keys never matters; each value is written as Python's `str(v)`.
 * - `q:` is md5 of `options.question` when it is a non-empty string.
 *
 * Lengths and word counts are Python's: code points, and words split on Python's
 * whitespace. Python values have JavaScript counterparts as follows: strings as
 * themselves, integers as integers (`1.0` in JavaScript is the integer 1, so it
 * gives `1`, where Python's float `1.0` gave `1.0`), other numbers as Python's
 * float `repr` (`0.1`, `1e-05`, `inf`, `nan`), `true`/`false` as `True`/`False`,
 * `null` as `None`, a bigint as an integer, arrays as Python lists and plain objects
 * as Python dicts (`[1, 'x']`, `{'a': 1}`, keys in insertion order). Option keys
 * whose value is `undefined` are left out, as if absent. Any other value (a
 * function, a Date, a Map, a class instance) has no Python counterpart and is a
 * `ValidationError`, rather than a key that silently depends on `toString`.
 *
 * The key limit: a key is at most `CacheLimits.maxKeyLength` (4096) UTF-16 code
 * units. A key that keeps its text is at most `42 + operation + 2 × threshold`
 * units (a character outside the BMP, such as an emoji, takes 2), so at any
 * `textHashThreshold` up to 1000, the original's default, every key keeps the
 * original's format while the operation name is at most 2054 characters. Only
 * above that, a text short enough to be kept whose key would still exceed the
 * limit is hashed instead (the original had no limit); such keys are the only
 * ones that differ.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { CacheLimits } from "../CacheOptions.js"
import type { ValidationIssue } from "../errors.js"

/**
 * The options that distinguish two responses to the same text and operation
 * (model parameters, the question of a Q&A, …).
 *
 * @since 0.1.0
 */
export type AIKeyOptions = Readonly<Record<string, unknown>>

/**
 * A key and what went into it (for metrics).
 *
 * @since 0.1.0
 */
export interface GeneratedKey {
  readonly key: string
  /** The text's length in code points, as Python's `len`. */
  readonly textLength: number
  /** Whether the text was replaced by its hash. */
  readonly hashed: boolean
  readonly hasOptions: boolean
  readonly hasQuestion: boolean
}

/**
 * The prefix of every AI cache key.
 *
 * @since 0.1.0
 */
export const AI_KEY_PREFIX = "ai_cache:"

/**
 * The key prefix shared by every response of one operation: what
 * `invalidateByOperation` removes.
 *
 * @since 0.1.0
 */
export const operationKeyPrefix = (operation: string): string => `${AI_KEY_PREFIX}op:${operation}|`

const md5 = (text: string): string => createHash("md5").update(text, "utf8").digest("hex")
const sha256 = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex")

const surrogatePair = /[\uD800-\uDBFF][\uDC00-\uDFFF]/g
const anySurrogate = /[\uD800-\uDFFF]/

/**
 * The length of a string in code points, as Python's `len`.
 *
 * @since 0.1.0
 */
export const codePointLength = (text: string): number =>
  anySurrogate.test(text) ? text.length - (text.match(surrogatePair)?.length ?? 0) : text.length

// Python's str.isspace(): the characters str.split() splits on. Not JavaScript's \s:
// Python adds \x1c-\x1f and \x85, and leaves out \ufeff.
// biome-ignore lint/suspicious/noControlCharactersInRegex: \x1c-\x1f are whitespace to Python
const pythonWhitespace = /[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/

/**
 * The number of words of `text.split()` in Python.
 *
 * @since 0.1.0
 */
export const pythonWordCount = (text: string): number => {
  let count = 0
  for (const part of text.split(pythonWhitespace)) if (part !== "") count++
  return count
}

const compareCodePoints = (a: string, b: string): number => {
  // UTF-16 order differs from code point order only when a surrogate meets a
  // character from U+E000 up; Python sorts by code point.
  const left = Array.from(a), right = Array.from(b)
  const n = Math.min(left.length, right.length)
  for (let i = 0; i < n; i++) {
    const x = left[i]!.codePointAt(0)!, y = right[i]!.codePointAt(0)!
    if (x !== y) return x - y
  }
  return left.length - right.length
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const pythonFloat = (n: number): string => {
  if (Number.isNaN(n)) return "nan"
  if (n === Infinity) return "inf"
  if (n === -Infinity) return "-inf"
  if (Number.isInteger(n)) return BigInt(n).toString()
  // Both languages print the shortest digits that round-trip; they differ only in
  // when they switch to exponent notation for small numbers (Python below 1e-4).
  const [mantissa, exponentText] = n.toExponential().split("e") as [string, string]
  const exponent = Number(exponentText)
  if (exponent >= -4) return String(n)
  const digits = String(Math.abs(exponent)).padStart(2, "0")
  return `${mantissa}e${exponent < 0 ? "-" : "+"}${digits}`
}

// Python escapes what str.isprintable() rejects: every category C and Z but the space.
const nonPrintable = /[\p{C}\p{Z}]/u

const pythonStringRepr = (text: string): string => {
  const quote = text.includes("'") && !text.includes("\"") ? "\"" : "'"
  let out = quote
  for (const char of text) {
    if (char === "\\") out += "\\\\"
    else if (char === quote) out += `\\${quote}`
    else if (char === "\n") out += "\\n"
    else if (char === "\r") out += "\\r"
    else if (char === "\t") out += "\\t"
    else if (char !== " " && nonPrintable.test(char)) {
      const code = char.codePointAt(0)!
      out += code < 0x100
        ? `\\x${code.toString(16).padStart(2, "0")}`
        : code < 0x10000
        ? `\\u${code.toString(16).padStart(4, "0")}`
        : `\\U${code.toString(16).padStart(8, "0")}`
    } else out += char
  }
  return out + quote
}

const pythonRepr = (value: unknown): string => typeof value === "string" ? pythonStringRepr(value) : pythonStr(value)

/**
 * Python's `str(value)` for the JavaScript counterparts of Python values (see the
 * module documentation). Call it only on values `keyInputIssues` accepts.
 *
 * @since 0.1.0
 */
export const pythonStr = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return value
    case "number":
      return pythonFloat(value)
    case "bigint":
      return value.toString()
    case "boolean":
      return value ? "True" : "False"
    case "undefined":
      return "None"
  }
  if (value === null) return "None"
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(", ")}]`
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined)
  return `{${entries.map(([k, v]) => `${pythonStringRepr(k)}: ${pythonRepr(v)}`).join(", ")}}`
}

/**
 * Why an option value cannot be part of a key, or `undefined` when it can.
 *
 * @since 0.1.0
 */
export const optionValueIssue = (value: unknown, ancestors: Array<unknown> = []): string | undefined => {
  switch (typeof value) {
    case "string":
    case "number":
    case "bigint":
    case "boolean":
    case "undefined":
      return undefined
  }
  if (value === null) return undefined
  if (!Array.isArray(value) && !isPlainObject(value)) {
    return `must be a string, number, boolean, null, array or plain object (a ${describe(value)} has no Python str())`
  }
  if (ancestors.includes(value)) return "must not contain itself"
  ancestors.push(value)
  const children: ReadonlyArray<unknown> = Array.isArray(value) ? value : Object.values(value)
  for (const child of children) {
    const issue = optionValueIssue(child, ancestors)
    if (issue !== undefined) return issue
  }
  ancestors.pop()
  return undefined
}

const describe = (value: unknown): string => {
  if (typeof value === "function") return "function"
  if (typeof value === "symbol") return "symbol"
  const name = (value as object).constructor?.name
  return typeof name === "string" && name !== "" ? name : "object"
}

const show = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)
  if (value === null || value === undefined || typeof value !== "object") return String(value)
  return Array.isArray(value) ? "an array" : `a ${describe(value)}`
}

/**
 * Every problem with the inputs of a key, as validation issues (empty when they
 * are fine): the text must be a string, the operation a non-empty string without
 * `|` (it separates the key's parts, so `a|b` would fall under `a`'s invalidation),
 * the options a plain object of {@link pythonStr}-able values, and a question a string.
 *
 * @since 0.1.0
 */
export const keyInputIssues = (
  text: unknown,
  operation: unknown,
  options: unknown
): ReadonlyArray<ValidationIssue> => {
  const issues: Array<ValidationIssue> = []
  if (typeof text !== "string") issues.push({ field: "text", value: show(text), rule: "must be a string" })
  if (typeof operation !== "string") {
    issues.push({ field: "operation", value: show(operation), rule: "must be a string" })
  } else if (operation.trim() === "") {
    issues.push({ field: "operation", value: show(operation), rule: "must not be empty" })
  } else if (operation.includes("|")) {
    issues.push({ field: "operation", value: show(operation), rule: "must not contain '|' (it separates the key's parts)" })
  }
  if (options !== undefined) {
    if (!isPlainObject(options)) {
      issues.push({ field: "options", value: show(options), rule: "must be a record (a plain object)" })
    } else {
      for (const [name, value] of Object.entries(options)) {
        const issue = optionValueIssue(value)
        if (issue !== undefined) issues.push({ field: `options.${name}`, value: show(value), rule: issue })
      }
      const question = options.question
      if (question !== undefined && question !== null && typeof question !== "string") {
        issues.push({ field: "options.question", value: show(question), rule: "must be a string" })
      }
    }
  }
  return issues
}

const hashedText = (text: string, length: number): string =>
  `hash:${sha256(`${text}len:${length}words:${pythonWordCount(text)}`).slice(0, 16)}`

/**
 * Builds the key of a response. The inputs must have passed {@link keyInputIssues}.
 *
 * @since 0.1.0
 */
export const generateKey = (
  text: string,
  operation: string,
  options: AIKeyOptions | undefined,
  textHashThreshold: number
): GeneratedKey => {
  const textLength = codePointLength(text)
  const entries = options === undefined
    ? []
    : Object.entries(options).filter(([, value]) => value !== undefined)
  let suffix = ""
  const hasOptions = entries.length > 0
  let hasQuestion = false
  if (hasOptions) {
    entries.sort(([a], [b]) => compareCodePoints(a, b))
    suffix = `|opts:${md5(entries.map(([k, v]) => `${k}=${pythonStr(v)}`).join("&")).slice(0, 8)}`
    const question = options?.question
    if (typeof question === "string" && question !== "") {
      hasQuestion = true
      suffix += `|q:${md5(question).slice(0, 8)}`
    }
  }
  const head = `${AI_KEY_PREFIX}op:${operation}|txt:`
  let hashed = textLength > textHashThreshold
  if (!hashed && head.length + text.length + suffix.length > CacheLimits.maxKeyLength) hashed = true
  const textPart = hashed ? hashedText(text, textLength) : text.replace(/[|:]/g, "_")
  return { key: head + textPart + suffix, textLength, hashed, hasOptions, hasQuestion }
}
