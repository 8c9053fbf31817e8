/**
 * A value the server cannot take (above its proto-max-bulk-len) fails alone, with a typed
 * error, before it is sent: the connection and the writes beside it are not harmed, and
 * nothing is queued for a replay that could never succeed.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Schedule } from "effect"
import type { CacheService, CacheStatus } from "../../src/index.js"
import { cacheAclRule } from "../../src/security/aclRule.js"
import { startRedisServer } from "../support/RedisServer.js"
import { awaitMode, redisCache } from "../support/cache.js"

const unbounded = { concurrency: "unbounded" } as const
const LIMIT = 1024 * 1024

// Random text compresses to about three quarters: 3 MB stays above 1 MB, compressed or not.
const tooLarge = () => randomBytes(2_250_000).toString("base64")

/** The modes the cache switches to from now on. */
const modesOf = (cache: CacheService) =>
  Effect.gen(function*() {
    const modes: Array<string> = []
    yield* cache.registerCallback("mode_change", (_from, to) => modes.push(to))
    return modes
  })

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))
const PASSWORD = "cache-Password-0123456789"

/** An ACL file whose `cache` user has the least-privilege rule (no CONFIG). */
const leastPrivilegeAclFile = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-redis-cache-limits-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => {
  const file = path.join(dir, "users.acl")
  fs.writeFileSync(file, `user default on nopass ~* &* +@all\nuser cache on >${PASSWORD} ${cacheAclRule({ prefix: "cache:" })}\n`)
  return file
}))

/** Polls until `done` holds for the cache's status (a hang guard of 20 s, not a timing claim). */
const until = (cache: CacheService, done: (status: CacheStatus) => boolean) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 20_000
    while (!done(yield* cache.status)) {
      if (Date.now() > deadline) assert.fail(`never reached: ${JSON.stringify(yield* cache.status)}`)
      yield* sleep(20)
    }
  })

/** `rule`: what the issue's rule must say about the limit. */
const expectTooLarge = (exit: Exit.Exit<unknown, unknown>, key: string, rule = `at most ${LIMIT} bytes`) => {
  assert.isTrue(Exit.isFailure(exit), `${key} was reported as written`)
  const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) as Record<string, unknown> : {}
  assert.strictEqual(error._tag, "ValidationError", String(error.message))
  assert.strictEqual(error.key, key)
  const [issue] = error.issues as ReadonlyArray<{ field: string; value: string; rule: string }>
  assert.strictEqual(issue?.field, "value")
  assert.include(issue?.rule, rule)
  assert.include(issue?.rule, "proto-max-bulk-len")
  assert.match(issue?.value ?? "", /^\d+ bytes/)
  assert.isAbove(Number.parseInt(issue?.value ?? "0", 10), LIMIT)
}

describe("a write the server cannot take fails alone", () => {
  it.live("alone and batched beside small writes: typed failure, the rest stored, Connected, nothing queued", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer({ args: ["--proto-max-bulk-len", "1mb"] })
      const writer = yield* redisCache({ redisUrl: server.url, cacheName: "writer" })
      const modes = yield* modesOf(writer)

      expectTooLarge(yield* Effect.exit(writer.set("big-alone", tooLarge())), "big-alone")

      const smallKeys = Array.from({ length: 40 }, (_, i) => `small:${i}`)
      const writes = [
        ...smallKeys.slice(0, 20).map((key) => writer.set(key, { key })),
        writer.set("big-batched", tooLarge()),
        ...smallKeys.slice(20).map((key) => writer.set(key, { key }))
      ]
      const exits = yield* Effect.forEach(writes, Effect.exit, unbounded)
      expectTooLarge(exits[20]!, "big-batched")
      exits.filter((_, i) => i !== 20).forEach((exit) => assert.isTrue(Exit.isSuccess(exit), String(exit)))

      const status = yield* writer.status
      assert.strictEqual(status.mode, "Connected")
      assert.strictEqual(status.pendingReplay, 0)
      assert.deepStrictEqual(modes, [])
      // Another instance on the same server reads every small value; the big ones were never stored.
      const reader = yield* redisCache({ redisUrl: server.url, cacheName: "reader" })
      const found = yield* Effect.forEach(smallKeys, (key) => reader.get(key), unbounded)
      smallKeys.forEach((key, i) => assert.deepStrictEqual(found[i], Option.some({ key }), key))
      assert.isTrue(Option.isNone(yield* reader.get("big-alone")))
      assert.isTrue(Option.isNone(yield* reader.get("big-batched")))
      assert.isTrue(Option.isNone(yield* writer.get("big-alone")), "a refused value must not be served from L1")
      assert.strictEqual(yield* server.cli("EXISTS", "cache:big-alone", "cache:big-batched"), "0")
    }))

  it.live("while memory-only the limit of the last server seen applies: refused, not queued", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer({ args: ["--proto-max-bulk-len", "1mb"] })
      const cache = yield* redisCache({
        redisUrl: server.url,
        commandTimeout: "300 millis",
        reconnectSchedule: Schedule.spaced("200 millis")
      })
      yield* server.kill
      yield* awaitMode(cache, "MemoryOnly")
      expectTooLarge(yield* Effect.exit(cache.set("big", tooLarge())), "big")
      yield* cache.set("small", 1)
      assert.strictEqual((yield* cache.status).pendingReplay, 1)
    }))

  it.live("a user without CONFIG on a server with a lower limit: one value breaks the connection once, then fails alone", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer({ aclFile: yield* leastPrivilegeAclFile, args: ["--proto-max-bulk-len", "1mb"] })
      const writer = yield* redisCache({
        redisUrl: `redis://cache:${PASSWORD}@127.0.0.1:${server.port}`,
        cacheName: "writer",
        reconnectSchedule: Schedule.spaced("100 millis")
      })
      const modes = yield* modesOf(writer)
      const smallKeys = Array.from({ length: 20 }, (_, i) => `small:${i}`)
      const big = tooLarge()
      // Sent beside the others, the value breaks the connection: the cache cannot know the limit.
      const exits = yield* Effect.forEach(
        [...smallKeys.map((key) => writer.set(key, { key })), writer.set("big", big)],
        Effect.exit,
        unbounded
      )
      const bigExit = exits[smallKeys.length]!
      // Either Redis answered "invalid bulk length" before closing, and the write failed alone, or
      // the connection closed first and the write was queued: then the replay sends the small
      // writes first and the big one alone, and losing the connection on it (or that answer)
      // teaches the cache that the server cannot take it, so the next replay drops it.
      if (Exit.isFailure(bigExit)) {
        assert.include(String(Cause.squash(bigExit.cause)), "invalid bulk length")
      }
      yield* until(writer, (status) =>
        status.mode === "Connected" && status.pendingReplay === 0 &&
        (Exit.isFailure(bigExit) || status.droppedWhileDegraded === 1))
      const reader = yield* redisCache({ redisUrl: server.url, cacheName: "reader" })
      const found = yield* Effect.forEach(smallKeys, (key) => reader.get(key), unbounded)
      smallKeys.forEach((key, i) => assert.deepStrictEqual(found[i], Option.some({ key }), key))
      assert.strictEqual(yield* server.cli("EXISTS", "cache:big"), "0")
      // From now on a value that size fails alone, at once; the cache stays Connected.
      const exit = yield* Effect.exit(writer.set("big-again", big))
      expectTooLarge(exit, "big-again", "assumed for a Redis server that does not tell it")
      yield* sleep(500)
      yield* awaitMode(writer, "Connected")
      assert.isAtMost(modes.length, 4, modes.join(", "))
    }))
})
