import { assert, describe, it } from "@effect/vitest"
import { groupBySlot, slotOf } from "../../src/internal/slots.js"

describe("hash slots (cluster-key-slot, as ioredis routes)", () => {
  it("matches the slots Redis computes (CLUSTER KEYSLOT) and honours hash tags", () => {
    // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
    assert.strictEqual(slotOf("123456789"), 12739)
    assert.strictEqual(slotOf("foo"), 12182)
    assert.strictEqual(slotOf("somekey"), 11058)
    assert.strictEqual(slotOf("{user1000}.following"), slotOf("{user1000}.followers"))
    assert.strictEqual(slotOf("cache:{tenant}:a"), slotOf("tenant"))
  })

  it("groups by slot, each group in the order of the input", () => {
    const keys = ["a", "{t}1", "b", "{t}2", "a"]
    const groups = groupBySlot(keys, (key) => key)
    assert.deepStrictEqual(groups.flat().sort(), [0, 1, 2, 3, 4])
    assert.isTrue(groups.some((group) => group.includes(1) && group.includes(3)))
    for (const group of groups) {
      assert.strictEqual(new Set(group.map((i) => slotOf(keys[i]!))).size, 1)
      assert.deepStrictEqual(group, [...group].sort((x, y) => x - y))
    }
  })
})
