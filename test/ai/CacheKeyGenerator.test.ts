import { assert, describe, it } from "@effect/vitest"
import {
  codePointLength,
  generateKey,
  keyInputIssues,
  pythonStr,
  pythonWordCount
} from "../../src/ai/CacheKeyGenerator.js"
import { CacheLimits } from "../../src/CacheOptions.js"

// Expected keys were produced by the original's algorithm in CPython 3.
const key = (text: string, operation: string, options?: Record<string, unknown>, threshold = 1000) =>
  generateKey(text, operation, options, threshold).key

describe("CacheKeyGenerator", () => {
  it("reproduces the original's three examples byte for byte", () => {
    assert.strictEqual(key("Hello world|a:b", "summarize", {}), "ai_cache:op:summarize|txt:Hello world_a_b")
    assert.strictEqual(key("Hello world", "summarize", { max_length: 100 }), "ai_cache:op:summarize|txt:Hello world|opts:5104236b")
    assert.strictEqual(key("Hello world", "qa", { question: "What?" }), "ai_cache:op:qa|txt:Hello world|opts:2cb720e4|q:da49e93f")
  })

  it("hashes a text only above the threshold: equal is kept, one more is hashed", () => {
    const text = "word ".repeat(100)
    assert.strictEqual(text.length, 500)
    const kept = generateKey(text, "summarize", {}, 500)
    assert.isFalse(kept.hashed)
    assert.strictEqual(kept.key, `ai_cache:op:summarize|txt:${text}`)
    const hashed = generateKey(`${text}x`, "summarize", {}, 500)
    assert.isTrue(hashed.hashed)
    assert.strictEqual(hashed.key, "ai_cache:op:summarize|txt:hash:cb4281b945a5af90")
  })

  it("counts like Python: code points and Python's whitespace", () => {
    const text = "héllo wörld 😀\x1c\u3000tail ".repeat(30)
    assert.strictEqual(codePointLength(text), 600)
    assert.strictEqual(pythonWordCount("a\x1cb\u3000c\ufeffd  "), 3)
    assert.strictEqual(key(text, "sentiment", {}, 100), "ai_cache:op:sentiment|txt:hash:e509475ae7636524")
  })

  it("options: independent of key order, values as Python's str()", () => {
    const options = {
      temperature: 0.7,
      max_length: 100,
      flag: true,
      none: null,
      tiny: 1e-5,
      big: 12345678901234567890n,
      neg: -2.5
    }
    const expected = "ai_cache:op:summarize|txt:Hello world|opts:9cbb5361"
    assert.strictEqual(key("Hello world", "summarize", options), expected)
    const reversed = Object.fromEntries(Object.entries(options).reverse())
    assert.strictEqual(key("Hello world", "summarize", reversed), expected)
    assert.strictEqual(
      key("Hello world", "summarize", { list: [1, "x", null, true, 0.5], dict: { b: "it's", a: ["q"] }, s: "a\nb" }),
      "ai_cache:op:summarize|txt:Hello world|opts:7dec5c3f"
    )
    // Sorted by code point, as Python sorts: an astral character after U+FF01.
    assert.strictEqual(
      key("Hello world", "summarize", { "é": 1, z: 2, "\u{1F600}": 3, "\uFF01": 4 }),
      "ai_cache:op:summarize|txt:Hello world|opts:c904b9cc"
    )
  })

  it("undefined option values are left out, as if absent", () => {
    assert.strictEqual(key("t", "op", { a: undefined }), key("t", "op", {}))
    assert.strictEqual(key("t", "op", { a: 1, b: undefined }), key("t", "op", { a: 1 }))
  })

  it("pythonStr", () => {
    assert.deepStrictEqual(
      [true, false, null, 1, -0, 1.5, 0.1, 1e-7, 1e21, NaN, Infinity, -Infinity, 10n].map(pythonStr),
      ["True", "False", "None", "1", "0", "1.5", "0.1", "1e-07", "1000000000000000000000", "nan", "inf", "-inf", "10"]
    )
    assert.strictEqual(pythonStr(["it's", "say \"hi\"", "both ' \"", "tab\t", "\x00"]), `["it's", 'say "hi"', 'both \\' "', 'tab\\t', '\\x00']`)
    assert.strictEqual(pythonStr({ k: [1, { n: null }] }), "{'k': [1, {'n': None}]}")
  })

  it("a question adds q: only when it is a non-empty string", () => {
    assert.notInclude(key("t", "qa", { question: "" }), "|q:")
    assert.notInclude(key("t", "qa", { question: null }), "|q:")
    assert.include(key("t", "qa", { question: "Why?" }), "|q:")
  })

  it("at the original's default threshold (1000) the boundary is the original's: 1000 kept, 1001 hashed", () => {
    // ORIGIN.md: the text is kept while len(text) <= threshold. Under the old
    // 1024-unit key limit, texts of 999 and 1000 characters were hashed.
    for (const length of [998, 999, 1000]) {
      const text = "x".repeat(length)
      const kept = generateKey(text, "summarize", {}, 1000)
      assert.isFalse(kept.hashed, `${length} characters`)
      assert.strictEqual(kept.key, `ai_cache:op:summarize|txt:${text}`)
      const withParts = generateKey(text, "qa", { question: "Why?", model: "m" }, 1000)
      assert.isFalse(withParts.hashed, `${length} characters with options and a question`)
      assert.match(withParts.key, /^ai_cache:op:qa\|txt:x+\|opts:[0-9a-f]{8}\|q:[0-9a-f]{8}$/)
    }
    assert.isTrue(generateKey("x".repeat(1001), "summarize", {}, 1000).hashed)
    assert.isTrue(generateKey("x".repeat(1001), "qa", { question: "Why?" }, 1000).hashed)
  })

  it("the key limit never changes a key at thresholds up to 1000; beyond, a too long key hashes its text", () => {
    // The worst case the docs promise: 1000 astral characters (2000 code units), options,
    // a question and an operation of 2054 characters make a key of exactly the limit.
    const emoji = "\u{1F600}".repeat(1000)
    const options = { question: "Why?", model: "m" }
    const longest = generateKey(emoji, "o".repeat(2054), options, 1000)
    assert.isFalse(longest.hashed)
    assert.strictEqual(longest.key.length, CacheLimits.maxKeyLength)
    assert.isTrue(generateKey(emoji, "o".repeat(2055), options, 1000).hashed)
    // A threshold above the default lets a text reach the limit: that text is hashed.
    const text = "x".repeat(CacheLimits.maxKeyLength)
    const hashed = generateKey(text, "summarize", {}, 10_000)
    assert.isTrue(hashed.hashed)
    assert.isAtMost(hashed.key.length, CacheLimits.maxKeyLength)
    assert.isFalse(generateKey("x".repeat(CacheLimits.maxKeyLength - 26), "summarize", {}, 10_000).hashed)
    assert.isTrue(generateKey("x".repeat(CacheLimits.maxKeyLength - 25), "summarize", {}, 10_000).hashed)
  })

  it("reports bad input as validation issues instead of throwing", () => {
    const rules = (text: unknown, operation: unknown, options?: unknown) =>
      keyInputIssues(text, operation, options).map((issue) => `${issue.field}: ${issue.rule}`)
    assert.deepStrictEqual(rules("t", "summarize", {}), [])
    assert.deepStrictEqual(rules(null, "summarize"), ["text: must be a string"])
    assert.deepStrictEqual(rules("t", null), ["operation: must be a string"])
    assert.deepStrictEqual(rules("t", " "), ["operation: must not be empty"])
    assert.deepStrictEqual(rules("t", "a|b"), ["operation: must not contain '|' (it separates the key's parts)"])
    assert.deepStrictEqual(rules("t", "op", ["x"]), ["options: must be a record (a plain object)"])
    assert.deepStrictEqual(rules("t", "op", { question: 42 }), ["options.question: must be a string"])
    const [dateIssue] = rules("t", "op", { at: new Date(0) })
    assert.include(dateIssue, "options.at: must be a string, number, boolean, null, array or plain object")
    const loop: Record<string, unknown> = {}
    loop.self = loop
    assert.deepStrictEqual(rules("t", "op", { loop }), ["options.loop: must not contain itself"])
    assert.strictEqual(rules(1, "", "x").length, 3)
  })
})
