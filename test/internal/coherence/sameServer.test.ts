/**
 * Through Sentinel the data connection and the invalidation subscriber each ask the
 * Sentinels for the master, and around a failover may be told different servers. The link
 * is made only while both are on the same server (`run_id`): a `CLIENT TRACKING ... REDIRECT`
 * to a client id of another server would point at a stranger. Driven directly on the
 * Invalidation service, with a data connection the test places on the replica, then on
 * the master (real servers: 1 master, 1 replica, 3 Sentinels).
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Schedule, type Scope } from "effect"
import { Redis } from "ioredis"
import { Invalidation } from "../../../src/coherence/Invalidation.js"
import { CacheEvents } from "../../../src/events/CacheEvents.js"
import { MemoryTier } from "../../../src/tiers/MemoryTier.js"
import { startRedisSentinel } from "../../support/RedisSentinel.js"
import { pollUntil } from "../../support/workers.js"

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))
const nothingPending = { size: 0, has: () => false }

const plainClient = (port: number): Effect.Effect<Redis, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new Redis({ host: "127.0.0.1", port })),
    (client) => Effect.sync(() => client.disconnect())
  )

const trackingInfo = (client: Redis) => Effect.promise(() => client.call("CLIENT", "TRACKINGINFO") as Promise<Array<unknown>>)

describe("the invalidation link through Sentinel links only on the data connection's server", () => {
  // The bus shows the check most plainly: without it, a data connection publishing on the replica
  // would link to a subscriber on the master. (Tracking there would also fail to redirect to an id the
  // replica does not have, or, worse, redirect to whichever replica client has that id.)
  for (const mechanism of ["tracking", "bus"] as const) {
  it.live(`${mechanism}: a data connection on the replica is never linked; on the master it is`, () =>
    Effect.scoped(Effect.gen(function*() {
      const setup = yield* startRedisSentinel({ downAfterMs: 60_000 })
      const context = yield* Layer.build(
        Invalidation.layer({
          mechanism,
          // Through Sentinel only the credentials and scheme of redisUrl are used.
          redisUrl: setup.master.url,
          topology: { _tag: "Sentinel", sentinels: setup.addresses, name: setup.name, tls: false },
          security: Option.none(),
          keyPrefix: "same:",
          cacheName: "same-server",
          connectTimeout: "2 seconds",
          commandTimeout: "1 second",
          reconnectSchedule: Schedule.spaced("100 millis"),
          pingInterval: "200 millis"
        }).pipe(
          Layer.provide(Layer.mergeAll(
            MemoryTier.layer({ maxEntries: 100, maxBytes: 1_000_000, sweepInterval: "30 seconds" }),
            CacheEvents.layer()
          ))
        )
      )
      const invalidation = Context.get(context, Invalidation)

      const onReplica = yield* plainClient(setup.replica.port)
      yield* invalidation.connected(onReplica, nothingPending)
      assert.isFalse(invalidation.linked())
      // The subscriber is dropped and asks again, and again lands on the master: over a few of its
      // rounds the link never comes up, and the replica connection never tracks.
      for (let round = 0; round < 5; round++) {
        yield* sleep(200)
        assert.isFalse(invalidation.linked())
      }
      assert.include((yield* trackingInfo(onReplica)).map(String).join(" "), "off")

      yield* invalidation.disconnected(onReplica)
      const onMaster = yield* plainClient(setup.master.port)
      yield* invalidation.connected(onMaster, nothingPending)
      yield* pollUntil(() => "the link did not come up on the master", Effect.sync(() => invalidation.linked()))
      if (mechanism === "tracking") {
        const info = (yield* trackingInfo(onMaster)).map(String).join(" ")
        assert.include(info, "bcast")
        assert.include(info, "noloop")
      }
      assert.strictEqual((yield* invalidation.status).mechanism, mechanism)
    })), 60_000)
  }
})
