/**
 * The switch to memory-only belongs to the connection: a command that times out after
 * its caller gave up (Effect.timeout, interruption) still switches the cache, so the next
 * caller does not wait another commandTimeout on the same dead server.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Schedule } from "effect"
import { startRedisServer } from "../support/RedisServer.js"
import { awaitMode, redisCache } from "../support/cache.js"

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

describe("a timed-out command switches the mode even when nobody waits for it", () => {
  it.live("a caller wrapped in Effect.timeout", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({
        redisUrl: server.url,
        commandTimeout: "400 millis",
        reconnectSchedule: Schedule.spaced("30 seconds")
      })
      yield* cache.set("kept", 1)
      yield* server.pause
      // The caller gives up long before the command's own timeout.
      const answer = yield* cache.get("absent").pipe(Effect.timeoutOption("20 millis"))
      assert.isTrue(Option.isNone(answer))
      yield* awaitMode(cache, "MemoryOnly", 10_000)
      assert.include(Option.getOrElse((yield* cache.status).lastError, () => ""), "timed out")
      // Served from L1 at once: the next caller is not sent to the paused server.
      assert.deepStrictEqual(yield* cache.get("kept"), Option.some(1))
      yield* server.resume
    }))

  it.live("an interrupted caller", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({
        redisUrl: server.url,
        commandTimeout: "400 millis",
        reconnectSchedule: Schedule.spaced("30 seconds")
      })
      yield* server.pause
      const fiber = yield* Effect.forkChild(cache.set("written", { v: 1 }))
      yield* sleep(20)
      yield* Fiber.interrupt(fiber)
      yield* awaitMode(cache, "MemoryOnly", 10_000)
      yield* server.resume
    }))
})
