import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import fc from "fast-check"
import { Redis } from "ioredis"
import { escapeGlob, globToRegExp, literalPredicate, matcher, toRedisMatch } from "../../src/internal/pattern.js"
import { startRedisServer } from "../support/RedisServer.js"

const glob = (pattern: string) => matcher(pattern, { glob: true })

/**
 * Redis' `stringmatchlen` (util.c, 7.x), ported line by line as an oracle: bytes, C
 * `char`s signed as on x86-64, the terminating NUL read past the end, the
 * skipLongerMatches pruning and the nesting limit. Plus the `*` special case of SCAN/KEYS.
 */
const redisMatches = (patternText: string, keyText: string): boolean => {
  if (patternText === "*") return true
  const pattern = Buffer.from(patternText, "utf8")
  const string = Buffer.from(keyText, "utf8")
  const signed = (byte: number) => (byte >= 0x80 ? byte - 0x100 : byte)
  const P = (i: number) => (i < pattern.length ? signed(pattern[i]!) : 0)
  const S = (i: number) => (i < string.length ? signed(string[i]!) : 0)
  const c = (char: string) => char.charCodeAt(0)
  let skipLongerMatches = false
  const impl = (p: number, pl: number, s: number, sl: number, nesting: number): boolean => {
    if (nesting > 1000) return false
    while (pl && sl) {
      const head = P(p)
      if (head === c("*")) {
        while (pl && P(p + 1) === c("*")) {
          p++
          pl--
        }
        if (pl === 1) return true
        while (sl) {
          if (impl(p + 1, pl - 1, s, sl, nesting + 1)) return true
          if (skipLongerMatches) return false
          s++
          sl--
        }
        skipLongerMatches = true
        return false
      } else if (head === c("?")) {
        s++
        sl--
      } else if (head === c("[")) {
        p++
        pl--
        const not = P(p) === c("^")
        if (not) {
          p++
          pl--
        }
        let match = false
        for (;;) {
          if (P(p) === c("\\") && pl >= 2) {
            p++
            pl--
            if (P(p) === S(s)) match = true
          } else if (P(p) === c("]")) {
            break
          } else if (pl === 0) {
            p--
            pl++
            break
          } else if (pl >= 3 && P(p + 1) === c("-")) {
            const start = Math.min(P(p), P(p + 2)), end = Math.max(P(p), P(p + 2))
            p += 2
            pl -= 2
            if (S(s) >= start && S(s) <= end) match = true
          } else if (P(p) === S(s)) {
            match = true
          }
          p++
          pl--
        }
        if (not) match = !match
        if (!match) return false
        s++
        sl--
      } else {
        if (head === c("\\") && pl >= 2) {
          p++
          pl--
        }
        if (P(p) !== S(s)) return false
        s++
        sl--
      }
      p++
      pl--
      if (sl === 0) {
        while (P(p) === c("*")) {
          p++
          pl--
        }
        break
      }
    }
    return pl === 0 && sl === 0
  }
  return impl(0, pattern.length, 0, string.length, 0)
}

const tricky = ["a", "b", "*", "?", "[", "]", "^", "-", "\\", ".", "+", "(", ")", "$", "|", "{", "é", "😀"]
const textArb = (chars: ReadonlyArray<string>, maxLength: number) =>
  fc.array(fc.constantFrom(...chars), { maxLength }).map((parts) => parts.join(""))

describe("pattern", () => {
  describe("literal mode", () => {
    it("matches keys that contain the text, every character meaning itself", () => {
      const contains = matcher("user:*", { glob: false })
      assert.isTrue(contains("cache:user:*:profile"))
      assert.isFalse(contains("cache:user:1:profile"))
      for (const text of ["a.b", "a+", "(x|y)", "$^", "[abc]", "back\\slash", "?", "é"]) {
        assert.isTrue(literalPredicate(text)(`pre${text}post`), text)
        assert.isFalse(literalPredicate(text)("prexpost"), text)
      }
      assert.isTrue(literalPredicate("")("anything"))
    })
  })

  describe("escapeGlob", () => {
    it("escapes exactly * ? [ ] \\", () => {
      assert.strictEqual(escapeGlob("a*b?c[d]e\\f.+()$^|-"), "a\\*b\\?c\\[d\\]e\\\\f.+()$^|-")
    })

    it("an escaped text matches itself and nothing else", () => {
      fc.assert(fc.property(textArb(tricky, 12), textArb(tricky, 12), (text, other) => {
        const exact = glob(escapeGlob(text))
        assert.isTrue(exact(text))
        if (other !== text) assert.isFalse(exact(other))
      }), { numRuns: 2000 })
    })
  })

  describe("globToRegExp", () => {
    const cases: ReadonlyArray<[pattern: string, key: string, matches: boolean]> = [
      // the examples of the Redis KEYS documentation
      ["h?llo", "hello", true],
      ["h?llo", "hllo", false],
      ["h*llo", "hllo", true],
      ["h*llo", "heeeello", true],
      ["h[ae]llo", "hallo", true],
      ["h[ae]llo", "hillo", false],
      ["h[^e]llo", "hallo", true],
      ["h[^e]llo", "hello", false],
      ["h[a-b]llo", "hbllo", true],
      ["h[a-b]llo", "hcllo", false],
      // escapes
      ["a\\*b", "a*b", true],
      ["a\\*b", "axb", false],
      ["\\?", "?", true],
      ["\\?", "x", false],
      ["a\\", "a\\", true], // a trailing backslash is itself
      ["[\\]]", "]", true],
      ["[\\^a]", "^", true],
      // regex metacharacters mean themselves
      ["a.b", "axb", false],
      ["a.b", "a.b", true],
      ["a+", "aa", false],
      ["(x|y)", "x", false],
      ["(x|y)", "(x|y)", true],
      ["$^", "$^", true],
      ["{1}", "{1}", true],
      // class corner cases, as Redis reads them
      ["[z-a]", "m", true], // reversed range
      ["[abc", "b", true], // unclosed: runs to the end of the pattern
      ["[abc", "b]", false],
      ["[]", "]", false], // empty class matches nothing
      ["[]a]", "a]", false],
      ["[^]", "x", true], // empty negated class matches any byte
      ["[a-]x", "x", true], // `a-]` is the range ]..a, the class never closes
      ["[a-]x", "_", true],
      ["[a-]x", "]x", false],
      ["[", "[", false],
      ["[^", "q", true],
      // empty keys and patterns
      ["", "", true],
      ["", "a", false],
      ["*", "", true],
      ["**", "", false],
      ["?", "", false],
      // bytes, not characters
      ["?", "é", false],
      ["??", "é", true],
      ["caf?", "café", false],
      ["caf??", "café", true],
      ["*😀*", "x😀y", true]
    ]
    it.each(cases)("%j against %j is %s", (pattern, key, matches) => {
      assert.strictEqual(glob(pattern)(key), matches)
      assert.strictEqual(redisMatches(pattern, key), matches, "the oracle disagrees with the table")
    })

    it("agrees with Redis' stringmatchlen on random patterns and keys", () => {
      const patternChars = ["a", "b", "*", "?", "[", "]", "^", "-", "\\", "é", "\u00ff"]
      const keyChars = ["a", "b", "]", "-", "\\", "^", "*", "é", "\u00ff", "z"]
      fc.assert(fc.property(textArb(patternChars, 10), textArb(keyChars, 10), (pattern, key) => {
        assert.strictEqual(glob(pattern)(key), redisMatches(pattern, key))
      }), { numRuns: 20_000 })
      fc.assert(fc.property(textArb(["a", "b", "*", "?", "[ab]"], 14), textArb(["a", "b"], 30), (pattern, key) => {
        assert.strictEqual(glob(pattern)(key), redisMatches(pattern, key))
      }), { numRuns: 5_000 })
    })

    it("gives up beyond 1000 nested stars, as Redis does", () => {
      const key = "a".repeat(1200)
      assert.isTrue(glob("*a".repeat(1000))(key))
      assert.isFalse(glob("*a".repeat(1001))(key))
      assert.isTrue(glob("a*".repeat(1001))(key))
      assert.isFalse(glob("a*".repeat(1002))(key))
      for (const pattern of ["*a".repeat(1000), "*a".repeat(1001), "a*".repeat(1001), "a*".repeat(1002)]) {
        assert.strictEqual(glob(pattern)(key), redisMatches(pattern, key))
      }
    })

    it("does not backtrack catastrophically", () => {
      // A naive translation (one `.*` per star) explores C(200, 20) ways and would hang.
      assert.isFalse(glob(`${"*a".repeat(20)}*b`)("a".repeat(200)))
      assert.isTrue(glob(`${"*a".repeat(20)}*b`)(`${"a".repeat(200)}b`))
      assert.instanceOf(globToRegExp("*"), RegExp)
    })
  })

  describe("toRedisMatch", () => {
    it("builds the SCAN MATCH pattern of a literal or a glob", () => {
      assert.strictEqual(toRedisMatch("user:*", { glob: false }), "*user:\\**")
      assert.strictEqual(toRedisMatch("", { glob: false }), "*")
      assert.strictEqual(toRedisMatch("user:*", { glob: true }), "user:*")
      assert.strictEqual(toRedisMatch("[x]", { glob: false, keyPrefix: "app[1]:" }), "app\\[1\\]:*\\[x\\]*")
      assert.strictEqual(toRedisMatch("u?", { glob: true, keyPrefix: "app*:" }), "app\\*:u?")
    })
  })

  describe("against a real redis-server", () => {
    it.live("KEYS selects exactly the keys matcher selects, in both modes", () =>
      Effect.gen(function*() {
        const server = yield* startRedisServer()
        const redis = yield* Effect.acquireRelease(
          Effect.sync(() => new Redis({ host: server.host, port: server.port, lazyConnect: true })),
          (client) => Effect.sync(() => client.disconnect())
        )
        yield* Effect.promise(() => redis.connect())
        const prefix = "ns[1]*:"
        const keyChars = ["a", "b", "*", "?", "[", "]", "^", "-", "\\", ".", "é", "z"]
        // Cache keys are never empty (with a prefix, Redis would also match the empty rest for `**`).
        const keys = [...new Set(fc.sample(textArb(keyChars, 7), { numRuns: 400, seed: 42 }))].filter((key) => key !== "")
        yield* Effect.promise(() => redis.mset(...keys.flatMap((key) => [`${prefix}${key}`, "1"])))
        const patterns = fc.sample(textArb([...keyChars, "[a-b]", "[^a]", "\\*"], 6), { numRuns: 150, seed: 7 })
        for (const pattern of patterns) {
          for (const options of [{ glob: true }, { glob: false }]) {
            const fromRedis = yield* Effect.promise(() => redis.keys(toRedisMatch(pattern, { ...options, keyPrefix: prefix })))
            const expected = keys.filter(matcher(pattern, options)).map((key) => `${prefix}${key}`)
            assert.deepStrictEqual(fromRedis.sort(), expected.sort(), `${JSON.stringify(pattern)} ${JSON.stringify(options)}`)
          }
        }
      }))
  })
})
