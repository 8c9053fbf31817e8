import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { type BusChange, decodeBusMessage, encodeBusMessage } from "../../../src/internal/coherence/busMessage.js"
import { makeRefillGuard } from "../../../src/internal/coherence/refillGuard.js"

const wellFormed = fc.string({ unit: "grapheme", maxLength: 40 })
const change: fc.Arbitrary<BusChange> = fc.oneof(
  fc.array(wellFormed, { maxLength: 20 }).map((keys) => ({ _tag: "Keys" as const, keys })),
  fc.record({ pattern: wellFormed, glob: fc.boolean() }).map((p) => ({ _tag: "Pattern" as const, ...p })),
  fc.constant({ _tag: "Clear" as const })
)

describe("bus messages", () => {
  it("decode to exactly what was encoded: change, write time, instance", () =>
    fc.assert(fc.property(change, fc.integer({ min: 0, max: 2 ** 48 - 1 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), (c, at, id) => {
      const instance = Buffer.from(id)
      const decoded = decodeBusMessage(encodeBusMessage(c, at, instance))
      assert.deepStrictEqual(decoded?.change, c)
      assert.strictEqual(decoded?.writtenAt, at)
      assert.isTrue(decoded?.instance.equals(instance))
    })))

  it("a message of another version, or cut short, is not read", () => {
    const bytes = encodeBusMessage({ _tag: "Keys", keys: ["abc"] }, 1, Buffer.alloc(16))
    const other = Buffer.from(bytes)
    other[0] = 2
    assert.isUndefined(decodeBusMessage(other))
    assert.isUndefined(decodeBusMessage(bytes.subarray(0, bytes.byteLength - 1)))
    assert.isUndefined(decodeBusMessage(Buffer.from("not a bus message")))
  })
})

describe("the refill guard", () => {
  it("a read stamped before a change of its key may not refill; other keys may", () => {
    const guard = makeRefillGuard()
    const stamp = guard.stamp()
    guard.touch("a")
    assert.isFalse(guard.mayRefill("a", stamp))
    assert.isTrue(guard.mayRefill("b", stamp))
    assert.isTrue(guard.mayRefill("a", guard.stamp()), "a read stamped after the change may")
  })

  it("a write's answer forbids reads stamped before it, and not a later write's own value", () => {
    const guard = makeRefillGuard()
    const readStamp = guard.stamp()
    guard.touch("a")
    const firstWrite = guard.stamp()
    guard.touch("a")
    const secondWrite = guard.stamp()
    const readAfterBoth = guard.stamp()
    assert.isFalse(guard.mayKeep("a", firstWrite), "a write started later supersedes the first")
    guard.written("a")
    assert.isTrue(guard.mayKeep("a", secondWrite), "the first write's answer does not drop the second's value")
    assert.isFalse(guard.mayRefill("a", readStamp))
    assert.isFalse(guard.mayRefill("a", readAfterBoth), "its answer may predate both writes")
    assert.isTrue(guard.mayRefill("a", guard.stamp()))
  })

  it("remembers as many keys as L1 holds, and past that forgets the oldest as a floor", () => {
    const guard = makeRefillGuard(5_000)
    const before = guard.stamp()
    const stamps = Array.from({ length: 5_000 }, (_, i) => {
      guard.touch(`k${i}`)
      return guard.stamp()
    })
    // Every write of a setMany of 5,000 keys touched its key before the first was answered.
    assert.isTrue(stamps.every((stamp, i) => guard.mayKeep(`k${i}`, stamp)))
    assert.isTrue(guard.mayRefill("other", before))
    guard.touch("one-more")
    assert.isFalse(guard.mayRefill("other", before), "k0's record is forgotten: stamps before it lose, for every key")
    assert.isTrue(stamps.every((stamp, i) => guard.mayKeep(`k${i}`, stamp)), "and no stamp after it")
  })

  it("forgets records about a second old, as a floor: a cache at rest keeps no record per key it wrote", () => {
    let time = 0
    const guard = makeRefillGuard(5_000, () => time)
    const old = guard.stamp()
    guard.touch("a")
    guard.written("b")
    const afterBoth = guard.stamp()
    time = 900
    guard.touch("c")
    assert.isFalse(guard.mayRefill("a", old), "a record younger than a second is kept")
    assert.isTrue(guard.mayRefill("a", afterBoth))
    time = 1_200
    guard.touch("d")
    assert.isTrue(guard.mayRefill("unrelated", old), "forgotten only once a note of the stamps made after them is a second old")
    time = 2_000
    guard.touch("e")
    // a and b are forgotten: a stamp from before them loses everywhere, a later one is unaffected.
    assert.isFalse(guard.mayRefill("unrelated", old))
    assert.isFalse(guard.mayKeep("unrelated", old))
    assert.isTrue(guard.mayRefill("a", afterBoth) && guard.mayRefill("b", afterBoth))
    assert.isFalse(guard.mayRefill("c", afterBoth), "c, made after that note, is still remembered")
  })

  it("ages 50,000 records out at once, and frees them a few per record made, not in one call", () => {
    let time = 0
    const guard = makeRefillGuard(100_000, () => time)
    const stamps = Array.from({ length: 50_000 }, (_, i) => {
      guard.touch(`k${i}`)
      return guard.stamp()
    })
    time = 200
    guard.touch("noted") // notes the stamp reached: the 50,000 records are older
    time = 1_300
    guard.touch("first-after")
    assert.isFalse(guard.mayRefill("unrelated", stamps[49_998]!), "every record a second old is forgotten: the floor passes them")
    assert.isTrue(guard.mayRefill("unrelated", stamps[49_999]!))
    assert.isFalse(guard.mayRefill("noted", stamps[49_999]!), "a younger record is kept")
    assert.isAbove(guard.size(), 49_000, "the call that aged them freed only a few")
    for (let i = 0; i < 25_000; i++) guard.touch(`later${i}`)
    assert.strictEqual(guard.size(), 25_002, "freed two per record made: none of the 50,000 is left")
    assert.isFalse(guard.mayRefill("later0", stamps[49_999]!), "the later records are kept")
  })

  it("touchAll forbids every read in flight, and so does remembering too many keys", () => {
    const guard = makeRefillGuard()
    const before = guard.stamp()
    guard.touchAll()
    assert.isFalse(guard.mayRefill("any", before))
    const stamp = guard.stamp()
    for (let i = 0; i <= 10_000; i++) guard.touch(`k${i}`)
    assert.isFalse(guard.mayRefill("never-touched", stamp), "past the bound, the whole cache counts as touched")
    assert.isTrue(guard.mayRefill("never-touched", guard.stamp()))
  })
})
