import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Scope } from "effect"
import { TestClock } from "effect/testing"
import { MemoryTier, type MemoryTierOptions } from "../../src/tiers/MemoryTier.js"

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** A tier whose periodic sweep never runs, so only the test decides when entries go. */
const makeTier = (options: Partial<MemoryTierOptions> = {}) =>
  MemoryTier.make({ maxEntries: 100, maxBytes: 10_000, sweepInterval: Infinity, ...options })

const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length

describe("MemoryTier", () => {
  describe("LRU order and the count bound", () => {
    it.effect("evicts the least recently used entry; get refreshes recency", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier({ maxEntries: 3 })
        tier.set("a", 1, 1, HOUR)
        tier.set("b", 2, 1, HOUR)
        tier.set("c", 3, 1, HOUR)
        assert.deepStrictEqual(tier.keys(), ["c", "b", "a"])
        assert.strictEqual(tier.get("a"), 1)
        tier.set("d", 4, 1, HOUR)
        assert.deepStrictEqual(tier.keys(), ["d", "a", "c"])
        assert.isFalse(tier.has("b"))
        assert.strictEqual(tier.stats().evictions, 1)
        assert.strictEqual(tier.stats().entries, 3)
      }))

    it.effect("peek and has leave recency alone", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier({ maxEntries: 2 })
        tier.set("a", 1, 1, HOUR)
        tier.set("b", 2, 1, HOUR)
        assert.strictEqual(tier.peek("a"), 1)
        assert.isTrue(tier.has("a"))
        tier.set("c", 3, 1, HOUR)
        assert.isFalse(tier.has("a"))
        assert.deepStrictEqual(tier.keys(), ["c", "b"])
      }))

    it.effect("overwriting a key in a full cache evicts nothing", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier({ maxEntries: 3 })
        tier.set("a", 1, 10, HOUR)
        tier.set("b", 2, 10, HOUR)
        tier.set("c", 3, 10, HOUR)
        assert.isTrue(tier.set("a", "new", 10, HOUR))
        assert.deepStrictEqual(tier.keys(), ["a", "c", "b"])
        assert.strictEqual(tier.get("a"), "new")
        assert.deepStrictEqual(tier.stats(), {
          entries: 3, bytes: 30, maxEntries: 3, maxBytes: 10_000, hits: 1, misses: 0, evictions: 0, expirations: 0
        })
      }))
  })

  describe("the byte bound", () => {
    it.effect("evicts least recently used entries until the new entry fits", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier({ maxBytes: 100 })
        tier.set("a", 1, 40, HOUR)
        tier.set("b", 2, 40, HOUR)
        tier.get("a")
        tier.set("c", 3, 40, HOUR)
        assert.deepStrictEqual(tier.keys(), ["c", "a"])
        assert.strictEqual(tier.stats().bytes, 80)
        tier.set("d", 4, 100, HOUR) // exactly maxBytes: everything else goes
        assert.deepStrictEqual(tier.keys(), ["d"])
        assert.strictEqual(tier.stats().bytes, 100)
        assert.strictEqual(tier.stats().evictions, 3)
      }))

    it.effect("a heavier overwrite evicts other entries for bytes, never the key itself", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier({ maxBytes: 100 })
        tier.set("a", 1, 30, HOUR)
        tier.set("b", 2, 30, HOUR)
        tier.set("c", 3, 30, HOUR)
        assert.isTrue(tier.set("b", "heavy", 60, HOUR))
        assert.deepStrictEqual(tier.keys(), ["b", "c"])
        assert.strictEqual(tier.stats().bytes, 90)
        assert.strictEqual(tier.stats().evictions, 1)
        assert.isTrue(tier.set("b", "light", 5, HOUR))
        assert.strictEqual(tier.stats().bytes, 35)
      }))

    it.effect("refuses an entry heavier than maxBytes and removes the older value", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier({ maxBytes: 100 })
        tier.set("a", "old", 10, HOUR)
        tier.set("b", 2, 10, HOUR)
        assert.isFalse(tier.set("a", "huge", 101, HOUR))
        assert.isUndefined(tier.get("a"))
        assert.isFalse(tier.set("z", "huge", Infinity, HOUR))
        assert.deepStrictEqual(tier.keys(), ["b"])
        assert.strictEqual(tier.stats().bytes, 10)
        assert.strictEqual(tier.stats().evictions, 0)
      }))

    it.effect("weights are whole bytes, at least one", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier()
        tier.set("zero", 1, 0, HOUR)
        tier.set("frac", 2, 2.5, HOUR)
        tier.set("nan", 3, Number.NaN, HOUR)
        assert.strictEqual(tier.stats().bytes, 1 + 3 + 1)
      }))

    it.effect("byte accounting stays exact through overwrite, delete, expiry, removeWhere and clear", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier()
        tier.set("user:1", 1, 100, 1000)
        tier.set("user:2", 2, 200, HOUR)
        tier.set("post:1", 3, 300, HOUR)
        tier.set("post:2", 4, 400, HOUR)
        assert.strictEqual(tier.stats().bytes, 1000)
        tier.set("post:2", 4, 450, HOUR)
        assert.strictEqual(tier.stats().bytes, 1050)
        assert.isTrue(tier.delete("post:1"))
        assert.strictEqual(tier.stats().bytes, 750)
        yield* TestClock.adjust(1001)
        assert.isUndefined(tier.get("user:1"))
        assert.strictEqual(tier.stats().bytes, 650)
        assert.strictEqual(tier.removeWhere((key) => key.startsWith("user:")), 1)
        assert.strictEqual(tier.stats().bytes, 450)
        tier.clear()
        assert.deepStrictEqual([tier.stats().bytes, tier.stats().entries], [0, 0])
      }))
  })

  describe("values", () => {
    it.effect("a hit returns the very object stored; null is a value, undefined is refused", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier()
        const value = { nested: [1, 2] }
        tier.set("obj", value, 10, HOUR)
        assert.strictEqual(tier.get("obj"), value)
        assert.isTrue(tier.set("null", null, 1, HOUR))
        assert.isNull(tier.get("null"))
        assert.isTrue(tier.has("null"))
        tier.set("u", "old", 1, HOUR)
        assert.isFalse(tier.set("u", undefined, 1, HOUR))
        assert.isFalse(tier.has("u"))
        assert.deepStrictEqual([tier.stats().hits, tier.stats().misses], [2, 0])
      }))
  })

  describe("TTL", () => {
    it.effect("an entry lives exactly ttlMillis under the TestClock, then a read removes it", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier()
        tier.set("k", "v", 10, 1000)
        yield* TestClock.adjust(400)
        assert.strictEqual(tier.remainingTtl("k"), 600)
        yield* TestClock.adjust(600)
        assert.strictEqual(tier.get("k"), "v")
        assert.strictEqual(tier.remainingTtl("k"), 0)
        yield* TestClock.adjust(1)
        assert.isFalse(tier.has("k"))
        assert.isUndefined(tier.peek("k"))
        assert.isUndefined(tier.remainingTtl("k"))
        assert.deepStrictEqual(tier.keys(), [])
        assert.strictEqual(tier.stats().entries, 1) // still stored: has/peek do not remove
        assert.isUndefined(tier.get("k"))
        assert.deepStrictEqual(tier.stats(), {
          entries: 0, bytes: 0, maxEntries: 100, maxBytes: 10_000, hits: 1, misses: 1, evictions: 0, expirations: 1
        })
      }))

    it.effect("overwriting restarts the TTL", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier()
        tier.set("k", 1, 1, 1000)
        yield* TestClock.adjust(900)
        tier.set("k", 2, 1, 1000)
        yield* TestClock.adjust(900)
        assert.strictEqual(tier.get("k"), 2)
      }))

    it.effect("a non-positive TTL stores nothing; an infinite TTL never expires", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier()
        tier.set("k", "old", 1, HOUR)
        assert.isFalse(tier.set("k", "new", 1, 0))
        assert.isFalse(tier.has("k"))
        assert.isFalse(tier.set("n", 1, 1, -5))
        assert.isFalse(tier.set("nan", 1, 1, Number.NaN))
        assert.isTrue(tier.set("forever", 1, 1, Infinity))
        yield* TestClock.adjust(365 * DAY)
        assert.strictEqual(tier.get("forever"), 1)
        assert.strictEqual(tier.remainingTtl("forever"), Infinity)
        assert.strictEqual(tier.stats().entries, 1)
      }))

    it.effect("a TTL of 30 days works and starts no timer", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier({ maxEntries: 2000 })
        const before = timers()
        for (let i = 0; i < 1000; i++) tier.set(`k${i}`, i, 1, 30 * DAY)
        assert.strictEqual(tier.get("k7"), 7)
        assert.strictEqual(timers(), before)
        yield* TestClock.adjust(30 * DAY)
        assert.strictEqual(tier.get("k7"), 7)
        yield* TestClock.adjust(1)
        assert.isUndefined(tier.get("k7"))
        assert.strictEqual(tier.keys().length, 0)
      }))

    it.effect("delete, has and removeWhere see only live entries", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier()
        tier.set("short:1", 1, 1, 100)
        tier.set("short:2", 2, 1, 100)
        tier.set("long:1", 3, 1, HOUR)
        yield* TestClock.adjust(101)
        assert.isFalse(tier.delete("short:1"))
        assert.isFalse(tier.delete("missing"))
        assert.isTrue(tier.delete("long:1"))
        tier.set("long:2", 4, 1, HOUR)
        assert.strictEqual(tier.removeWhere(() => true), 1)
        assert.strictEqual(tier.stats().expirations, 0) // nothing expired was *read*; deletes are not expirations
      }))

    it.effect("an expired entry pushed out by a bound counts as an expiration, not an eviction", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier({ maxEntries: 2 })
        tier.set("old", 1, 1, 100)
        tier.set("live", 2, 1, HOUR)
        yield* TestClock.adjust(200)
        tier.set("new", 3, 1, HOUR)
        tier.set("newer", 4, 1, HOUR)
        assert.deepStrictEqual([tier.stats().expirations, tier.stats().evictions], [1, 1])
      }))
  })

  describe("sweep", () => {
    it.effect("examines at most N entries from the least recently used end", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier()
        for (let i = 0; i < 6; i++) tier.set(`e${i}`, i, 10, 100) // LRU end
        tier.set("live", "x", 10, HOUR)
        for (let i = 6; i < 10; i++) tier.set(`e${i}`, i, 10, 100) // behind a live entry
        yield* TestClock.adjust(101)
        assert.strictEqual(tier.sweep(4), 4)
        assert.strictEqual(tier.stats().entries, 7)
        assert.strictEqual(tier.sweep(3), 2) // e4, e5, then the live entry
        assert.strictEqual(tier.sweep(), 4)
        assert.deepStrictEqual(tier.keys(), ["live"])
        assert.deepStrictEqual([tier.stats().entries, tier.stats().bytes, tier.stats().expirations], [1, 10, 10])
        assert.strictEqual(tier.sweep(), 0)
      }))

    it.effect("the forked fiber sweeps one batch per interval under the TestClock", () =>
      Effect.gen(function*() {
        const tier = yield* MemoryTier.make({ maxEntries: 100, maxBytes: 10_000, sweepInterval: "10 seconds", sweepBatch: 5 })
        for (let i = 0; i < 8; i++) tier.set(`k${i}`, i, 1, 1000)
        tier.set("live", "x", 1, HOUR)
        yield* TestClock.adjust("9 seconds")
        assert.strictEqual(tier.stats().entries, 9)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(tier.stats().entries, 4)
        yield* TestClock.adjust("10 seconds")
        assert.deepStrictEqual(tier.keys(), ["live"])
        assert.deepStrictEqual([tier.stats().entries, tier.stats().expirations, tier.stats().misses], [1, 8, 0])
      }))

    it.effect("the sweep fiber stops when the scope closes", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const tier = yield* MemoryTier.make({ maxEntries: 10, maxBytes: 100, sweepInterval: "1 second" }).pipe(
          Scope.provide(scope)
        )
        tier.set("k", 1, 1, 10)
        yield* Scope.close(scope, Exit.void)
        yield* TestClock.adjust("5 seconds")
        assert.strictEqual(tier.stats().entries, 1)
      }))

    it.effect("uses the default interval of 30 seconds", () =>
      Effect.gen(function*() {
        const tier = yield* MemoryTier.make({ maxEntries: 10, maxBytes: 100 })
        tier.set("k", 1, 1, 10)
        yield* TestClock.adjust("29 seconds")
        assert.strictEqual(tier.stats().entries, 1)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(tier.stats().entries, 0)
      }))
  })

  describe("stats", () => {
    it.effect("counts hits and misses of get only, and resets", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier()
        tier.set("a", 1, 1, HOUR)
        tier.get("a")
        tier.get("a")
        tier.get("b")
        tier.peek("b")
        tier.has("b")
        assert.deepStrictEqual([tier.stats().hits, tier.stats().misses], [2, 1])
        tier.resetStats()
        assert.deepStrictEqual(tier.stats(), {
          entries: 1, bytes: 1, maxEntries: 100, maxBytes: 10_000, hits: 0, misses: 0, evictions: 0, expirations: 0
        })
      }))

    it.effect("resetStats restarts stats() only: totals() keep counting from construction, never backwards", () =>
      Effect.gen(function*() {
        const tier = yield* makeTier({ maxEntries: 1 })
        tier.set("a", 1, 1, HOUR)
        tier.get("a")
        tier.get("b")
        tier.set("b", 2, 1, HOUR) // evicts a
        tier.set("c", 3, 1, 10) // evicts b
        yield* TestClock.adjust("11 millis")
        tier.get("c") // expired: a miss and an expiration
        tier.resetStats()
        tier.set("d", 4, 1, HOUR)
        tier.get("d")
        const since = tier.stats()
        assert.deepStrictEqual([since.hits, since.misses, since.evictions, since.expirations], [1, 0, 0, 0])
        const totals = tier.totals()
        assert.deepStrictEqual([totals.hits, totals.misses, totals.evictions, totals.expirations], [2, 2, 2, 1])
        assert.deepStrictEqual([totals.entries, totals.bytes, totals.maxEntries], [since.entries, since.bytes, 1])
        tier.resetStats()
        assert.strictEqual(tier.totals().hits, 2)
        assert.strictEqual(tier.stats().hits, 0)
      }))
  })

  describe("construction", () => {
    it.effect("layer provides the service", () =>
      Effect.gen(function*() {
        const tier = yield* MemoryTier
        tier.set("k", 1, 1, HOUR)
        assert.strictEqual(tier.get("k"), 1)
      }).pipe(Effect.provide(MemoryTier.layer({ maxEntries: 10, maxBytes: 100 }))))

    it.effect("options out of range are a defect naming the field", () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<[Partial<MemoryTierOptions>, string]> = [
          [{ maxEntries: 0 }, "maxEntries"],
          [{ maxEntries: 1.5 }, "maxEntries"],
          [{ maxBytes: -1 }, "maxBytes"],
          [{ sweepBatch: 0 }, "sweepBatch"],
          [{ sweepInterval: 0 }, "sweepInterval"]
        ]
        for (const [options, field] of cases) {
          const exit = yield* Effect.exit(makeTier(options))
          assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause), field)
          assert.include(String(Cause.squash((exit as Exit.Failure<unknown, never>).cause)), field)
        }
      }))
  })
})
