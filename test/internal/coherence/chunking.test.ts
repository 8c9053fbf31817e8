/**
 * A message that invalidates many keys is evicted a chunk per event-loop turn: one
 * tracking message for a command of another program that removed thousands of keys,
 * and one bus message naming thousands of keys, against a real redis-server. So are
 * many small messages that arrive together (a pipeline of single-key changes): the
 * chunk bounds a turn, not a message. And so is a burst that spans many socket reads,
 * while the subscriber's socket is paused and read again.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Stream } from "effect"
import { Redis } from "ioredis"
import { BUS_VERSION, encodeBusMessage } from "../../../src/internal/coherence/busMessage.js"
import { EVICTION_CHUNK } from "../../../src/internal/coherence/l1Effects.js"
import { redisCache } from "../../support/cache.js"
import { startRedisServer } from "../../support/RedisServer.js"

const PREFIX = "chunks:"
const KEYS = 3 * EVICTION_CHUNK
const names = Array.from({ length: KEYS }, (_, i) => `k:${i}`)
const FILL = 500
// More keys than a few socket reads hold (libuv reads at most 64 KB, about 2,500 tracking keys).
const BURST_KEYS = 12_000

// The L1 entry counts seen once per event-loop turn (setImmediate) until L1 is empty; a
// hang guard fails the test if it never empties.
const entriesPerTurn = (entries: () => number, withinMs = 10_000) =>
  Effect.promise(() =>
    new Promise<Array<number>>((resolve, reject) => {
      const seen: Array<number> = []
      const deadline = Date.now() + withinMs
      const look = () => {
        const count = entries()
        if (seen[seen.length - 1] !== count) seen.push(count)
        if (count === 0) resolve(seen)
        else if (Date.now() > deadline) reject(new Error(`L1 still holds ${count} entries; seen ${seen.join(", ")}`))
        else setImmediate(look)
      }
      setImmediate(look)
    })
  )

/** A cache holding every key of `keys` in L1 (its link up), and another program's client. */
const filledCache = (mechanism: "tracking" | "bus", keys: ReadonlyArray<string> = names) =>
  Effect.gen(function*() {
    const server = yield* startRedisServer()
    const cache = yield* redisCache({
      redisUrl: server.url,
      keyPrefix: PREFIX,
      cacheName: `chunks-${mechanism}`,
      l1Invalidation: mechanism,
      failOnConnectionError: true,
      l1MaxEntries: 10 * keys.length
    })
    const other = yield* Effect.acquireRelease(
      Effect.sync(() => new Redis({ port: server.port, host: server.host })),
      (client) => Effect.sync(() => client.disconnect())
    )
    // L1 takes copies only once the link is up.
    const deadline = Date.now() + 10_000
    while (!(yield* cache.status).invalidation.linked) {
      if (Date.now() > deadline) assert.fail("the invalidation link did not come up")
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
    }
    // FILL keys at a time, then read back: past 1,000 keys remembered the refill guard turns into
    // one stamp for the whole cache, which keeps the sets in flight at that moment out of L1, and
    // the read refills them.
    for (let start = 0; start < keys.length; start += FILL) {
      yield* Effect.orDie(cache.setMany(keys.slice(start, start + FILL).map((key, i) => ({ key, value: start + i }))))
    }
    for (let start = 0; start < keys.length; start += FILL) yield* Effect.orDie(cache.getMany(keys.slice(start, start + FILL)))
    const entries = () => Effect.runSync(cache.stats).l1.entries
    assert.strictEqual(entries(), keys.length, "every key is in L1")
    return { cache, other, entries }
  })

describe("eviction of a large invalidation message (real redis-server)", () => {
  for (const mechanism of ["tracking", "bus"] as const) {
    it.live(`${mechanism}: ${KEYS} keys in one message are all evicted, over several turns`, () =>
      Effect.scoped(Effect.gen(function*() {
        const { cache, entries, other } = yield* filledCache(mechanism)
        const invalidated = yield* Effect.forkScoped(
          Stream.runHead(Stream.filter(cache.events, (event) => event._tag === "L1Invalidated"))
        )

        const watching = yield* Effect.forkScoped(entriesPerTurn(entries))
        if (mechanism === "tracking") {
          // Another program removes them all in one command: Redis sends one message with every key.
          yield* Effect.promise(() => other.unlink(...names.map((key) => PREFIX + key)))
        } else {
          const message = encodeBusMessage({ _tag: "Keys", keys: names }, Date.now(), Buffer.alloc(16, 9))
          yield* Effect.promise(() => other.publish(`${PREFIX}__l1:v${BUS_VERSION}`, message))
        }
        const seen = yield* Fiber.join(watching)

        assert.strictEqual(seen[seen.length - 1], 0, "every key was evicted")
        assert.isTrue(
          seen.some((count) => count > 0 && count < KEYS),
          `a turn saw L1 partly evicted (the work was split): ${seen.join(", ")}`
        )
        const event = yield* Fiber.join(invalidated)
        assert.deepStrictEqual(
          event.pipe((found) => found._tag === "Some" && found.value._tag === "L1Invalidated" ? found.value.keys : -1),
          KEYS,
          "one event for the message, counting every key"
        )
        assert.strictEqual((yield* cache.status).invalidation.invalidationsReceived, KEYS)
      })))

    it.live(`${mechanism}: many small messages that arrive together are evicted at most a chunk per turn`, () =>
      Effect.scoped(Effect.gen(function*() {
        const { cache, entries, other } = yield* filledCache(mechanism)
        const watching = yield* Effect.forkScoped(entriesPerTurn(entries))
        // One pipeline: Redis answers it in a few socket writes, which ioredis hands over in one turn.
        const pipeline = other.pipeline()
        if (mechanism === "tracking") {
          for (const key of names) pipeline.unlink(PREFIX + key)
        } else {
          for (let start = 0; start < KEYS; start += 100) {
            const keys = names.slice(start, start + 100)
            pipeline.publish(`${PREFIX}__l1:v${BUS_VERSION}`, encodeBusMessage({ _tag: "Keys", keys }, Date.now(), Buffer.alloc(16, 9)))
          }
        }
        yield* Effect.promise(() => pipeline.exec())
        const seen = yield* Fiber.join(watching)

        assert.strictEqual(seen[seen.length - 1], 0, "every key was evicted")
        assert.isTrue(
          seen.some((count) => count > 0 && count < KEYS),
          `a turn saw L1 partly evicted (the work was split): ${seen.join(", ")}`
        )
        // A chunk per turn: between two looks (one turn apart) at most the rest of one turn's
        // chunk and the next turn's.
        for (let i = 1; i < seen.length; i++) {
          assert.isAtMost(seen[i - 1]! - seen[i]!, 2 * EVICTION_CHUNK, `evicted between two turns: ${seen.join(", ")}`)
        }
        assert.strictEqual((yield* cache.status).invalidation.invalidationsReceived, KEYS)
      })))
  }

  // The subscriber's socket is paused while evictions wait, and read again once they are done:
  // a burst that spans many socket reads goes through that many times, with the link up all along.
  it.live(`tracking: ${BURST_KEYS} SETs by another program, many socket reads, are evicted at most two chunks per turn`, () =>
    Effect.scoped(Effect.gen(function*() {
      const keys = Array.from({ length: BURST_KEYS }, (_, i) => `burst:${i}`)
      const { cache, entries, other } = yield* filledCache("tracking", keys)
      const watching = yield* Effect.forkScoped(entriesPerTurn(entries))
      // One command a key, as another program would write them: Redis batches them into messages.
      yield* Effect.promise(() =>
        Promise.all(Array.from({ length: BURST_KEYS / 1000 }, (_, c) => {
          const pipeline = other.pipeline()
          for (const key of keys.slice(c * 1000, (c + 1) * 1000)) pipeline.set(PREFIX + key, "rewritten")
          return pipeline.exec()
        }))
      )
      const seen = yield* Fiber.join(watching)

      assert.strictEqual(seen[seen.length - 1], 0, "every key was evicted")
      for (let i = 1; i < seen.length; i++) {
        assert.isAtMost(seen[i - 1]! - seen[i]!, 2 * EVICTION_CHUNK, `evicted between two turns: ${seen.join(", ")}`)
      }
      const { invalidation } = yield* cache.status
      assert.strictEqual(invalidation.invalidationsReceived, BURST_KEYS)
      assert.isTrue(invalidation.linked, "the link is still up")
      assert.strictEqual(invalidation.flushes, 0, "L1 was not flushed")
    })))
})
