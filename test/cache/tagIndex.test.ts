/**
 * The L1 tag index (src/internal/cache/tagIndex.ts): a tag evicts its entries and only
 * those; re-indexing replaces a key's tags; at its bound it prunes against L1 first, then
 * evicts the oldest indexed entries from L1, so no entry with tags stays in L1 unindexed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeTagIndex } from "../../src/internal/cache/tagIndex.js"
import { MemoryTier } from "../../src/tiers/MemoryTier.js"

const memoryTier = MemoryTier.make({ maxEntries: 100, maxBytes: 1_000_000 })

describe("tag index", () => {
  it.effect("evicts the entries of a tag, follows re-tagging, and forgets untagged writes", () =>
    Effect.scoped(Effect.gen(function*() {
      const memory = yield* memoryTier
      const index = makeTagIndex(memory)
      for (const key of ["a", "b", "c"]) memory.set(key, key, 1, 60_000)
      index.add("a", ["t", "u"])
      index.add("b", ["u"])
      index.add("c", ["t"])
      index.add("c", ["v"])
      assert.strictEqual(index.evictTag("t"), 1)
      assert.isFalse(memory.has("a"))
      assert.isTrue(memory.has("b") && memory.has("c"))
      index.forget("b")
      assert.strictEqual(index.evictTag("u"), 0)
      assert.isTrue(memory.has("b"))
      assert.strictEqual(index.evictTag("v"), 1)
      assert.strictEqual(index.size(), 0)
    })))

  it.effect("at its bound, drops pairs of keys L1 no longer holds, then evicts the oldest indexed entries", () =>
    Effect.scoped(Effect.gen(function*() {
      const memory = yield* memoryTier
      const index = makeTagIndex(memory, 10)
      for (let i = 0; i < 5; i++) {
        memory.set(`k${i}`, i, 1, 60_000)
        index.add(`k${i}`, ["x", `own${i}`])
      }
      // L1 dropped k0 by itself: its pairs go first; then the oldest live entries leave L1 with
      // theirs, down to half the bound, so that a full index costs one pass per many adds.
      memory.delete("k0")
      memory.set("k5", 5, 1, 60_000)
      index.add("k5", ["x", "own5"])
      assert.deepStrictEqual([1, 2, 3, 4, 5].map((i) => memory.has(`k${i}`)), [false, false, true, true, true])
      // Every entry still in L1 is indexed: the tag reaches all of them.
      assert.strictEqual(index.evictTag("x"), 3)
      assert.isTrue([3, 4, 5].every((i) => !memory.has(`k${i}`)))
    })))
})
