/**
 * Random operation sequences against a reference model of the memory tier.
 *
 * The model is a plain array in recency order (least recently used first) with an
 * expiry time per entry, written from the tier's documented rules: a read of an expired
 * entry removes it; a new key first evicts the least recently used entry when the count
 * is full, then evicts from the same end until the bytes fit; an overwrite evicts only
 * for bytes; an entry heavier than maxBytes (or with a TTL <= 0) is refused and removes
 * the older value; the sweep examines N entries from the least recently used end. Since
 * the model evicts the same victims, the test asserts exact agreement (values, live keys
 * in order, sizes, counters) after every step, plus the invariants the rules imply.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import fc from "fast-check"
import { MemoryTier } from "../../src/tiers/MemoryTier.js"

type Op =
  | { readonly _tag: "set"; readonly key: string; readonly weight: number; readonly ttl: number }
  | { readonly _tag: "get"; readonly key: string }
  | { readonly _tag: "peek"; readonly key: string }
  | { readonly _tag: "delete"; readonly key: string }
  | { readonly _tag: "reset"; readonly key: string; readonly weight: number; readonly ttl: number }
  | { readonly _tag: "removeWhere"; readonly keys: ReadonlyArray<string> }
  | { readonly _tag: "sweep"; readonly limit: number }
  | { readonly _tag: "advance"; readonly millis: number }

interface Entry {
  readonly key: string
  readonly value: object
  readonly weight: number
  readonly expiresAt: number
}

class Model {
  now = 0
  entries: Array<Entry> = [] // least recently used first
  hits = 0
  misses = 0
  evictions = 0
  expirations = 0
  constructor(readonly maxEntries: number, readonly maxBytes: number) {}

  expired = (entry: Entry): boolean => this.now > entry.expiresAt
  index = (key: string): number => this.entries.findIndex((entry) => entry.key === key)
  bytes = (): number => this.entries.reduce((sum, entry) => sum + entry.weight, 0)
  live = (): Array<Entry> => this.entries.filter((entry) => !this.expired(entry))
  remove = (key: string): Entry | undefined => {
    const i = this.index(key)
    return i === -1 ? undefined : this.entries.splice(i, 1)[0]
  }
  evictHead = (): void => {
    const victim = this.entries.shift()!
    if (this.expired(victim)) this.expirations++
    else this.evictions++
  }

  set(key: string, value: object, weight: number, ttl: number): boolean {
    if (weight > this.maxBytes || !(ttl > 0)) {
      this.remove(key)
      return false
    }
    const entry = { key, value, weight, expiresAt: this.now + ttl }
    const existing = this.remove(key)
    if (existing === undefined && this.entries.length === this.maxEntries) this.evictHead()
    while (this.entries.length > 0 && this.bytes() > this.maxBytes - weight) this.evictHead()
    this.entries.push(entry)
    return true
  }

  get(key: string): object | undefined {
    const i = this.index(key)
    const entry = this.entries[i]
    if (entry === undefined) {
      this.misses++
      return undefined
    }
    this.entries.splice(i, 1)
    if (this.expired(entry)) {
      this.expirations++
      this.misses++
      return undefined
    }
    this.entries.push(entry)
    this.hits++
    return entry.value
  }

  peek(key: string): object | undefined {
    const entry = this.entries[this.index(key)]
    return entry === undefined || this.expired(entry) ? undefined : entry.value
  }

  sweep(limit: number): number {
    const doomed = this.entries.slice(0, limit).filter(this.expired)
    this.entries = this.entries.filter((entry) => !doomed.includes(entry))
    this.expirations += doomed.length
    return doomed.length
  }
}

const keys = ["a", "b", "c", "d", "e", "f", "g", "h"]
const keyArb = fc.constantFrom(...keys)
const weightArb = fc.oneof(fc.integer({ min: 1, max: 30 }), fc.constant(1))
const ttlArb = fc.oneof(fc.integer({ min: 1, max: 100 }), fc.constantFrom(0, -1, Infinity))
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      _tag: fc.constant("set" as const),
      key: keyArb,
      weight: weightArb,
      ttl: ttlArb
    })
  },
  {
    weight: 1,
    arbitrary: fc.record({ _tag: fc.constant("reset" as const), key: keyArb, weight: weightArb, ttl: ttlArb })
  },
  { weight: 5, arbitrary: fc.record({ _tag: fc.constant("get" as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("peek" as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("delete" as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("removeWhere" as const), keys: fc.subarray(keys) }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("sweep" as const), limit: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("advance" as const), millis: fc.integer({ min: 0, max: 60 }) }) }
)

const scenarioArb = fc.record({
  maxEntries: fc.integer({ min: 1, max: 6 }),
  maxBytes: fc.integer({ min: 5, max: 60 }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 100, size: "max" })
})

const runScenario = ({ maxBytes, maxEntries, ops }: typeof scenarioArb extends fc.Arbitrary<infer S> ? S : never) =>
  Effect.gen(function*() {
    const tier = yield* MemoryTier.make({ maxEntries, maxBytes, sweepInterval: Infinity })
    const model = new Model(maxEntries, maxBytes)
    const latest = new Map<string, object>() // the last value set for each key
    for (const [step, op] of ops.entries()) {
      const at = `step ${step} ${JSON.stringify(op)}`
      switch (op._tag) {
        case "set": {
          const value = { key: op.key, step }
          latest.set(op.key, value)
          const stored = tier.set(op.key, value, op.weight, op.ttl)
          assert.strictEqual(stored, model.set(op.key, value, op.weight, op.ttl), at)
          // set then read immediately: present unless refused
          assert.strictEqual(tier.peek(op.key), stored ? value : undefined, at)
          break
        }
        case "reset": { // the very value already stored, set again with another weight and TTL
          const value = latest.get(op.key) ?? { key: op.key, step }
          latest.set(op.key, value)
          assert.strictEqual(tier.set(op.key, value, op.weight, op.ttl), model.set(op.key, value, op.weight, op.ttl), at)
          break
        }
        case "get": {
          const value = tier.get(op.key)
          assert.strictEqual(value, model.get(op.key), at)
          if (value !== undefined) assert.strictEqual(value, latest.get(op.key), `${at}: not the latest value`)
          break
        }
        case "peek":
          assert.strictEqual(tier.peek(op.key), model.peek(op.key), at)
          break
        case "delete": {
          const live = model.peek(op.key) !== undefined
          model.remove(op.key)
          assert.strictEqual(tier.delete(op.key), live, at)
          break
        }
        case "removeWhere": {
          const matching = model.live().filter((entry) => op.keys.includes(entry.key)).map((entry) => entry.key)
          for (const key of matching) model.remove(key)
          assert.strictEqual(tier.removeWhere((key) => op.keys.includes(key)), matching.length, at)
          break
        }
        case "sweep":
          assert.strictEqual(tier.sweep(op.limit), model.sweep(op.limit), at)
          break
        case "advance":
          yield* TestClock.adjust(op.millis)
          model.now += op.millis
          break
      }
      const stats = tier.stats()
      assert.isAtMost(stats.entries, maxEntries, at)
      assert.isAtMost(stats.bytes, maxBytes, at)
      assert.deepStrictEqual(tier.keys(), model.live().map((entry) => entry.key).reverse(), at)
      assert.deepStrictEqual(stats, {
        entries: model.entries.length,
        bytes: model.bytes(),
        maxEntries,
        maxBytes,
        hits: model.hits,
        misses: model.misses,
        evictions: model.evictions,
        expirations: model.expirations
      }, at)
      for (const entry of model.entries) {
        const remaining = tier.remainingTtl(entry.key)
        assert.strictEqual(remaining, model.expired(entry) ? undefined : entry.expiresAt - model.now, at)
      }
    }
  }).pipe(Effect.scoped, Effect.provide(TestClock.layer()))

/**
 * LRU in isolation: with A read after being set (so not the LRU), inserting one new key
 * into a full tier evicts exactly one entry, and never A.
 */
const lruArb = fc.record({
  maxEntries: fc.integer({ min: 2, max: 8 }),
  readIndex: fc.nat()
})

describe("MemoryTier (property)", () => {
  it("agrees with the reference model on random operation sequences", async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, (scenario) => Effect.runPromise(runScenario(scenario))), {
      numRuns: 300
    })
  })

  it("a get protects an entry from the next count eviction", async () => {
    await fc.assert(
      fc.asyncProperty(lruArb, ({ maxEntries, readIndex }) =>
        Effect.gen(function*() {
          const tier = yield* MemoryTier.make({ maxEntries, maxBytes: 1000, sweepInterval: Infinity })
          for (let i = 0; i < maxEntries; i++) tier.set(`k${i}`, i, 1, 1000)
          const read = `k${readIndex % maxEntries}`
          tier.get(read)
          tier.set("new", "n", 1, 1000)
          assert.strictEqual(tier.stats().evictions, 1)
          assert.isTrue(tier.has(read))
          assert.isFalse(tier.has(read === "k0" ? "k1" : "k0"))
        }).pipe(Effect.scoped, Effect.provide(TestClock.layer()), Effect.runPromise)
      ),
      { numRuns: 100 }
    )
  })
})
