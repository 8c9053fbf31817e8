/**
 * The command watchdog (src/internal/commandWatchdog.ts): commandTimeout enforced by one timer
 * per connection instead of ioredis' timer per command. A command the server does not answer
 * fails as ioredis' own timeout failed it, the connection stays in step with the server, an
 * answered command is never failed, the cache degrades and recovers through it, and the timer
 * does not keep a process alive.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Option, Schedule } from "effect"
import type { Redis } from "ioredis"
import { watchdogTickMillis } from "../../src/internal/commandWatchdog.js"
import { connectRedis } from "../../src/security/connectionOptions.js"
import { awaitMode, awaitReplayed, redisCache } from "../support/cache.js"
import { startRedisServer } from "../support/RedisServer.js"

const watched = (port: number, commandTimeout: number) =>
  connectRedis(`redis://127.0.0.1:${port}`, { host: "127.0.0.1", port, connectTimeout: 2_000 }, {
    commandTimeout,
    commandWatchdog: true
  })

// What a command settled with: its reply, or the message it was rejected with.
const settled = <A>(send: () => Promise<A>) =>
  Effect.promise(() => send().then((reply) => ({ reply }), (error: Error) => ({ error: error.message })))

// A hang guard, not a timing claim.
const guarded = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  effect.pipe(Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die(new Error("hung")) }))

describe("commandWatchdog", () => {
  it("ticks at an eighth of the timeout, between 10 ms and 100 ms", () => {
    assert.strictEqual(watchdogTickMillis(200), 25)
    assert.strictEqual(watchdogTickMillis(1_000), 100)
    assert.strictEqual(watchdogTickMillis(60_000), 100)
    assert.strictEqual(watchdogTickMillis(20), 10)
  })

  it.live("a command the server does not answer fails with ioredis' timeout error; the connection stays in step", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const client: Redis = yield* watched(server.port, 300)
      // ioredis arms no timer of its own.
      assert.isUndefined(client.options.commandTimeout)
      yield* Effect.promise(() => client.set("k", "v"))
      yield* server.pause
      const outcomes = yield* guarded(Effect.all([
        settled(() => client.get("k")),
        settled(() => client.set("k", "w")),
        settled(() => client.get("k"))
      ], { concurrency: "unbounded" }))
      assert.deepStrictEqual(outcomes, [
        { error: "Command timed out" },
        { error: "Command timed out" },
        { error: "Command timed out" }
      ])
      yield* server.resume
      // The late replies settle nothing: each next command gets its own answer.
      assert.deepStrictEqual(yield* guarded(settled(() => client.get("k"))), { reply: "w" })
      assert.deepStrictEqual(yield* guarded(settled(() => client.ping())), { reply: "PONG" })
    }))

  it.live("commands answered in time are never failed, however long the connection is busy", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const client = yield* watched(server.port, 100)
      // Well past the timeout in all, in commands one at a time and many at once.
      const until = Date.now() + 600
      let sent = 0
      while (Date.now() < until) {
        yield* Effect.promise(() => client.incr("n"))
        yield* Effect.promise(() => Promise.all(Array.from({ length: 50 }, () => client.incr("n"))))
        sent += 51
      }
      assert.strictEqual(yield* Effect.promise(() => client.get("n")), String(sent))
    }))

  it.live("the cache degrades when its server stops answering, and recovers after it resumes", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const cache = yield* redisCache({
        redisUrl: server.url,
        commandTimeout: "300 millis",
        reconnectSchedule: Schedule.spaced("100 millis")
      })
      yield* cache.set("before", 1)
      yield* server.pause
      // The first command meets the pause and times out; the cache answers from memory meanwhile.
      assert.isTrue(Option.isNone(yield* guarded(cache.get("absent"))))
      yield* awaitMode(cache, "MemoryOnly", 10_000)
      assert.include(Option.getOrElse((yield* cache.status).lastError, () => ""), "timed out")
      yield* guarded(cache.set("during", 2))
      yield* server.resume
      yield* awaitReplayed(cache)
      assert.notStrictEqual(yield* server.cli("GET", "cache:during"), "")
      assert.deepStrictEqual(yield* cache.get("during"), Option.some(2))
    }))

  it.live("its timer does not keep a process alive", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const script = fileURLToPath(new URL("../support/watchdog-idle.ts", import.meta.url))
      const exit = yield* Effect.exit(Effect.callback<string, Error>((resume) => {
        const child = execFile(
          process.execPath,
          ["--import", "tsx", script, server.url],
          { timeout: 30_000 },
          (error, stdout) => resume(error ? Effect.fail(error) : Effect.succeed(stdout))
        )
        return Effect.sync(() => child.kill("SIGKILL"))
      }))
      assert.isTrue(Exit.isSuccess(exit), String(exit))
      assert.include(Exit.isSuccess(exit) ? exit.value : "", "PONG")
    }))
})
