/**
 * The tag clock (src/internal/cache/tagClock.ts) and the tag timestamp format (tags.ts):
 * a fetch in flight when a tag changes does not cache what it read; without a link a time
 * is trusted for a bounded age, with a link that is down not at all; a tag key's value is
 * our envelope's write time or another program's decimal milliseconds.
 */
import { assert, describe, it } from "@effect/vitest"
import { makeTagClock, UNLINKED_MAX_AGE_MILLIS } from "../../src/internal/cache/tagClock.js"
import { invalidationTimeOf, timestampEnvelope } from "../../src/internal/cache/tags.js"

describe("tag clock", () => {
  it("caches what a fetch read, unless the tag changed while it was in flight", () => {
    let now = 1_000
    const clock = makeTagClock(() => now, () => Infinity)
    assert.isUndefined(clock.known("t"))
    const early = clock.stamp()
    clock.forget("t")
    clock.fill("t", 5, early)
    assert.isUndefined(clock.known("t"), "the change came after the fetch's stamp")
    clock.fill("t", 7, clock.stamp())
    assert.strictEqual(clock.known("t"), 7)
    const before = clock.stamp()
    clock.invalidated("t", 9)
    clock.fill("t", 7, before)
    assert.strictEqual(clock.known("t"), 9, "a local invalidation wins over a fetch in flight")
    clock.forgetAll()
    assert.isUndefined(clock.known("t"))
    now += 1
  })

  it("without a link, trusts a time for a bounded age; with a link that is down, not at all", () => {
    let now = 0
    let maxAge = UNLINKED_MAX_AGE_MILLIS
    const clock = makeTagClock(() => now, () => maxAge)
    clock.fill("t", 3, clock.stamp())
    now = UNLINKED_MAX_AGE_MILLIS - 1
    assert.strictEqual(clock.known("t"), 3)
    now = UNLINKED_MAX_AGE_MILLIS
    assert.isUndefined(clock.known("t"))
    maxAge = 0
    clock.fill("t", 3, clock.stamp())
    assert.isUndefined(clock.known("t"))
  })

  it("reads a tag key as our envelope's write time, or decimal milliseconds; anything else is now", () => {
    assert.strictEqual(invalidationTimeOf(timestampEnvelope(1_796_295_393_263), 5), 1_796_295_393_263)
    assert.strictEqual(invalidationTimeOf(Buffer.from("1796295393263"), 5), 1_796_295_393_263)
    assert.strictEqual(invalidationTimeOf(Buffer.from("soon"), 5), 5)
    assert.strictEqual(invalidationTimeOf(Buffer.from([0xc4, 0xe7, 0x09]), 5), 5)
  })
})
