/**
 * Key patterns for invalidation, shared by the memory tier and Redis so that one
 * pattern removes the same keys from both.
 *
 * A pattern is read in one of two modes:
 * - **literal** (the default): matches every key that *contains* the text, like the
 *   original AI cache's `invalidate_pattern`. Glob characters in the text mean
 *   themselves, so user input can never widen an invalidation by accident.
 * - **glob**: Redis glob syntax (`*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\x`), matched
 *   exactly as Redis' `stringmatchlen` matches `SCAN MATCH` / `KEYS` patterns,
 *   including its corner cases (see {@link globToRegExp}).
 *
 * @since 0.1.0
 */

/**
 * How a pattern is read: `glob: true` for Redis glob syntax, `false` for literal text.
 *
 * @since 0.1.0
 */
export interface PatternOptions {
  readonly glob: boolean
}

/**
 * Literal mode: a predicate that holds for keys containing `text` (the empty text is
 * contained in every key).
 *
 * @since 0.1.0
 */
export const literalPredicate = (text: string): (key: string) => boolean => (key) => key.includes(text)

/**
 * Escapes `* ? [ ] \` with a backslash, so that Redis (and {@link globToRegExp}) reads
 * `text` as itself inside a glob, e.g. in `SCAN MATCH`.
 *
 * @since 0.1.0
 */
export const escapeGlob = (text: string): string => text.replace(/[*?[\]\\]/g, "\\$&")

/** Redis gives up on a pattern nested deeper than this many `*` (util.c, "abusive patterns"). */
const maxStarNesting = 1000

const STAR = 42 // *
const QUESTION = 63 // ?
const OPEN = 91 // [
const CLOSE = 93 // ]
const BACKSLASH = 92 // \
const CARET = 94 // ^
const DASH = 45 // -

/** One byte of the key: the bytes in `ranges` (inclusive pairs), or every other byte when `negated`. */
interface ByteClass {
  readonly ranges: ReadonlyArray<readonly [number, number]>
  readonly negated: boolean
}

type Token = "star" | ByteClass

/** A C `char` on x86: bytes from 0x80 up are negative. */
const signed = (byte: number): number => (byte >= 0x80 ? byte - 0x100 : byte)

/**
 * The bytes of the class range `a-b`. Redis compares the ends and the key's byte as C
 * `char`s, signed on x86-64 (where Redis mostly runs, and where it was checked against
 * this code); so with an end >= 0x80 the range can wrap into two byte intervals.
 * (On ARM, where `char` is unsigned, Redis itself answers differently for such ranges.)
 */
const signedRange = (a: number, b: number): Array<readonly [number, number]> => {
  const lo = Math.min(signed(a), signed(b)), hi = Math.max(signed(a), signed(b))
  if (lo >= 0 || hi < 0) return [[lo & 0xff, hi & 0xff]]
  return [[0, hi], [lo & 0xff, 0xff]]
}

const anyByte: ByteClass = { ranges: [], negated: true }
const literalByte = (byte: number): ByteClass => ({ ranges: [[byte, byte]], negated: false })

/**
 * Reads a glob the way Redis' `stringmatchlen` walks it. How Redis advances through a
 * pattern never depends on the key, so the pattern can be read once into tokens.
 * Redis' quirks kept on purpose: an unclosed `[` runs to the end of the pattern; `[]`
 * matches nothing and `[^]` any byte; a range's ends may come in either order; `[a-]`
 * is the range `]`..`a` (the `]` is consumed); `\` escapes inside a class too; a
 * trailing `\` is a literal backslash.
 */
const tokenize = (bytes: Uint8Array): Array<Token> => {
  const tokens: Array<Token> = []
  const n = bytes.length
  const at = (i: number): number => (i < n ? bytes[i]! : 0) // Redis reads the terminating NUL
  let i = 0
  while (i < n) {
    const byte = at(i)
    if (byte === STAR) {
      while (at(i + 1) === STAR && i + 1 < n) i++
      tokens.push("star")
    } else if (byte === QUESTION) {
      tokens.push(anyByte)
    } else if (byte === OPEN) {
      i++
      const negated = i < n && at(i) === CARET
      if (negated) i++
      const ranges: Array<readonly [number, number]> = []
      for (;;) {
        if (at(i) === BACKSLASH && n - i >= 2) {
          i++
          ranges.push([at(i), at(i)])
        } else if (i < n && at(i) === CLOSE) {
          break
        } else if (i >= n) {
          break
        } else if (n - i >= 3 && at(i + 1) === DASH) {
          ranges.push(...signedRange(at(i), at(i + 2)))
          i += 2
        } else {
          ranges.push([at(i), at(i)])
        }
        i++
      }
      tokens.push({ ranges, negated })
    } else if (byte === BACKSLASH && n - i >= 2) {
      i++
      tokens.push(literalByte(at(i)))
    } else {
      tokens.push(literalByte(byte))
    }
    i++
  }
  return tokens
}

const hex = (byte: number): string => `\\x${byte.toString(16).padStart(2, "0")}`

const classSource = ({ negated, ranges }: ByteClass): string => {
  if (ranges.length === 0) return negated ? "[\\s\\S]" : "(?!)"
  if (!negated && ranges.length === 1 && ranges[0]![0] === ranges[0]![1]) return hex(ranges[0]![0])
  const body = ranges.map(([lo, hi]) => (lo === hi ? hex(lo) : `${hex(lo)}-${hex(hi)}`)).join("")
  return `[${negated ? "^" : ""}${body}]`
}

/**
 * Compiles a Redis glob into a RegExp with the same meaning as Redis' `stringmatchlen`.
 *
 * The RegExp works on **bytes**, as Redis does: test it against the key's UTF-8 bytes
 * written as a latin1 string (for an ASCII-only key that is the key itself);
 * {@link matcher} does this for you. So `?` matches one byte, not one character.
 *
 * It cannot backtrack catastrophically: between two `*`, a star-free segment is matched
 * at its first occurrence inside an atomic lookahead (`(?=(.*?S))\1`), which is exact
 * because every segment has a fixed length, so matching costs O(key x pattern).
 *
 * Edge cases follow Redis: the empty pattern matches only the empty key; `*` alone
 * matches every key, the empty key included (SCAN and KEYS special-case it); any other
 * pattern needs a non-empty key; a pattern that nests more than 1000 `*` before its
 * last token matches nothing. A class range compares bytes as signed C `char`s, as
 * Redis does on x86-64 (it only matters for a range with an end >= 0x80).
 *
 * @since 0.1.0
 */
export const globToRegExp = (glob: string): RegExp => {
  if (glob === "") return /^$/
  if (glob === "*") return /^[\s\S]*$/
  const tokens = tokenize(Buffer.from(glob, "utf8"))
  const segments: Array<Array<ByteClass>> = [[]]
  for (const token of tokens) {
    if (token === "star") segments.push([])
    else segments[segments.length - 1]!.push(token)
  }
  const stars = segments.length - 1
  const endsWithStar = tokens[tokens.length - 1] === "star"
  if (stars > maxStarNesting + 1 || (stars === maxStarNesting + 1 && !endsWithStar)) return /(?!)/
  const source = segments.map((segment) => segment.map(classSource).join(""))
  if (stars === 0) return new RegExp(`^(?!$)${source[0]}$`)
  const middle = source.slice(1, -1).map((segment, index) => `(?=([\\s\\S]*?${segment}))\\${index + 1}`).join("")
  const last = source[source.length - 1]!
  const tail = last === "" ? "" : `[\\s\\S]*${last}$`
  return new RegExp(`^(?!$)${source[0]}${middle}${tail}`)
}

const nonAscii = /[\u0080-\uffff]/

/** The key's UTF-8 bytes as a latin1 string: what a byte-level RegExp must see. */
const toByteString = (key: string): string =>
  nonAscii.test(key) ? Buffer.from(key, "utf8").toString("latin1") : key

/**
 * A predicate for keys matched by `pattern`: keys containing it (literal mode) or keys
 * the Redis glob matches (glob mode, compared byte for byte as Redis does).
 *
 * @since 0.1.0
 */
export const matcher = (pattern: string, options: PatternOptions): (key: string) => boolean => {
  if (!options.glob) return literalPredicate(pattern)
  const regExp = globToRegExp(pattern)
  return (key) => regExp.test(toByteString(key))
}

/**
 * The `SCAN MATCH` pattern that finds in Redis the keys {@link matcher} matches:
 * literal text becomes `*<escaped text>*`, a glob is passed as is. `keyPrefix` (a
 * namespace stored in front of every key, matched literally) is prepended escaped; the
 * pattern then applies to the rest of the key, so a literal never matches across it.
 *
 * @since 0.1.0
 */
export const toRedisMatch = (
  pattern: string,
  options: PatternOptions & { readonly keyPrefix?: string }
): string => {
  const rest = options.glob ? pattern : pattern === "" ? "*" : `*${escapeGlob(pattern)}*`
  return escapeGlob(options.keyPrefix ?? "") + rest
}
