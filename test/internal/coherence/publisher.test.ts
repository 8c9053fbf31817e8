import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { Redis } from "ioredis"
import { decodeBusMessage } from "../../../src/internal/coherence/busMessage.js"
import { makePublisher } from "../../../src/internal/coherence/publisher.js"
import { startRedisServer } from "../../support/RedisServer.js"

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))
const instance = Buffer.alloc(16, 7)

describe("the bus publisher (real redis-server)", () => {
  it.live("changes of one tick leave as one message; a publish that fails is kept and sent when a connection is back", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      const received: Array<ReadonlyArray<string>> = []
      const subscriber = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis({ port: server.port, host: server.host, protocol: 2 })),
        (client) => Effect.sync(() => client.disconnect())
      )
      subscriber.on("messageBuffer", (_channel: Buffer, message: Buffer) => {
        const decoded = decodeBusMessage(message)
        if (decoded?.change._tag === "Keys") received.push(decoded.change.keys)
      })
      yield* Effect.promise(() => subscriber.subscribe("bus"))
      const failures: Array<unknown> = []
      const publisher = makePublisher("bus", instance, Date.now, (error) => Effect.sync(() => failures.push(error)), Effect.runFork)

      // A connection that is gone: ioredis rejects at once (no offline queue).
      const gone = new Redis({ port: server.port, host: server.host, lazyConnect: true, enableOfflineQueue: false })
      publisher.attach(gone)
      publisher.announce({ _tag: "Keys", keys: ["a", "b"] })
      publisher.announce({ _tag: "Keys", keys: ["b", "c"] })
      yield* sleep(100)
      assert.strictEqual(failures.length, 1, "one message for the tick, and it failed")
      assert.strictEqual(publisher.unsent(), 3, "newest wins per key: a, b, c kept")
      assert.deepStrictEqual(received, [])

      const live = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis({ port: server.port, host: server.host })),
        (client) => Effect.sync(() => client.disconnect())
      )
      yield* Effect.promise(() => live.ping())
      publisher.attach(live)
      const deadline = Date.now() + 5_000
      while (received.length === 0 && Date.now() < deadline) yield* sleep(10)
      assert.deepStrictEqual(received.map((keys) => [...keys].sort()), [["a", "b", "c"]])
      assert.strictEqual(publisher.unsent(), 0)
      gone.disconnect()
    })))

  it.live("a publish refused on a connection that stays up is sent again on it later, with nothing else announced", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* startRedisServer()
      // A user who may not publish yet: as on a cluster node that fails while the cache's connection stays up.
      yield* server.cli("ACL", "SETUSER", "publisher", "on", ">publisher-Password-0123", "~*", "resetchannels", "&bus", "-@all", "+ping")
      const received: Array<ReadonlyArray<string>> = []
      const subscriber = yield* Effect.acquireRelease(
        Effect.sync(() => new Redis({ port: server.port, host: server.host, protocol: 2 })),
        (client) => Effect.sync(() => client.disconnect())
      )
      subscriber.on("messageBuffer", (_channel: Buffer, message: Buffer) => {
        const decoded = decodeBusMessage(message)
        if (decoded?.change._tag === "Keys") received.push(decoded.change.keys)
      })
      yield* Effect.promise(() => subscriber.subscribe("bus"))
      const client = yield* Effect.acquireRelease(
        Effect.sync(() =>
          new Redis({ port: server.port, host: server.host, username: "publisher", password: "publisher-Password-0123" })
        ),
        (connection) => Effect.sync(() => connection.disconnect())
      )
      yield* Effect.promise(() => client.ping())
      const failures: Array<unknown> = []
      const publisher = makePublisher("bus", instance, Date.now, (error) => Effect.sync(() => failures.push(error)), Effect.runFork)
      publisher.attach(client)
      publisher.announce({ _tag: "Keys", keys: ["k"] })
      const refusedBy = Date.now() + 5_000
      while (failures.length === 0 && Date.now() < refusedBy) yield* sleep(10)
      assert.include(String(failures[0]), "NOPERM")
      assert.strictEqual(publisher.unsent(), 1)

      yield* server.cli("ACL", "SETUSER", "publisher", "+publish")
      const deadline = Date.now() + 10_000
      while (received.length === 0 && Date.now() < deadline) yield* sleep(10)
      assert.deepStrictEqual(received, [["k"]])
      assert.strictEqual(publisher.unsent(), 0)
    })))
})
