/**
 * What a received invalidation does to L1 and to the refill guard, on the real tier and
 * guard (no Redis: this is the L1 side of the link; the link itself is tested against
 * real servers in chunking.test.ts and test/coherence/). A small message forbids the
 * refills of its own keys only; a large one forbids every refill in flight at once, which
 * keeps the refill guard's maps out of a burst's evictions.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { CacheEvents } from "../../../src/events/CacheEvents.js"
import { makeKeyWaiters } from "../../../src/internal/coherence/keyWaiters.js"
import { makeL1Effects } from "../../../src/internal/coherence/l1Effects.js"
import { makeRefillGuard } from "../../../src/internal/coherence/refillGuard.js"
import { makeTagSignals } from "../../../src/internal/coherence/tagSignals.js"
import { MemoryTier } from "../../../src/tiers/MemoryTier.js"

const KEYS = 500

const filledL1 = Effect.gen(function*() {
  const memory = yield* MemoryTier.make({ maxEntries: 10 * KEYS, maxBytes: 1_000_000, sweepInterval: Infinity })
  const events = yield* CacheEvents.make()
  const guard = makeRefillGuard(memory.stats().maxEntries)
  const l1 = yield* makeL1Effects(
    { memory, events, guard, monitor: Option.none(), waiters: makeKeyWaiters(), tags: makeTagSignals() },
    Date.now
  )
  for (let i = 0; i < KEYS; i++) memory.set(`k${i}`, i, 1, Infinity)
  return { memory, guard, l1 }
})

const keysFrom = (start: number, count: number) => Array.from({ length: count }, (_, i) => `k${start + i}`)

describe("the L1 side of an invalidation", () => {
  it.effect("a message of a few keys evicts them and forbids only their refills", () =>
    Effect.scoped(Effect.gen(function*() {
      const { guard, l1, memory } = yield* filledL1
      const readStamp = guard.stamp()
      let evicted = -1
      l1.evictAll({ items: keysFrom(0, 10), keyAt: (key) => key, done: (count) => (evicted = count) })
      assert.strictEqual(evicted, 10)
      assert.isFalse(memory.has("k0"))
      assert.isFalse(guard.mayRefill("k0", readStamp), "a read in flight may not refill a key of the message")
      assert.isTrue(guard.mayRefill("k100", readStamp), "nor does the message cost other keys their refills")
    })))

  it.effect("a message of many keys evicts them and forbids every refill in flight", () =>
    Effect.scoped(Effect.gen(function*() {
      const { guard, l1, memory } = yield* filledL1
      const readStamp = guard.stamp()
      let evicted = -1
      l1.evictAll({ items: keysFrom(0, 200), keyAt: (key) => key, done: (count) => (evicted = count) })
      assert.strictEqual(evicted, 200)
      assert.strictEqual(memory.stats().entries, KEYS - 200)
      assert.isFalse(guard.mayRefill("k0", readStamp))
      assert.isFalse(guard.mayRefill("k300", readStamp), "the whole cache counts as touched")
      assert.isTrue(guard.mayRefill("k300", guard.stamp()), "a read stamped after it may refill")
    })))
})
