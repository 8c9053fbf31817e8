/**
 * Replay drops only what the server refuses: one queued operation refused during replay (a
 * key outside the user's ACL key patterns, a value above the server's proto-max-bulk-len) is
 * dropped, counted and logged, and every other queued operation reaches Redis.
 */
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Logger, Option, Schedule } from "effect"
import type { CacheService } from "../../src/index.js"
import { cacheAclRule } from "../../src/security/aclRule.js"
import { startRedisServer } from "../support/RedisServer.js"
import { awaitMode, awaitReplayed, redisCache } from "../support/cache.js"

const PASSWORD = "cache-Password-0123456789"
const ADMIN_PASSWORD = "admin-Password-0123456789"
const unbounded = { concurrency: "unbounded" } as const
const keys = Array.from({ length: 60 }, (_, i) => `ok:${i}`)

const aclFileWith = (cacheRule: string) =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-redis-cache-replay-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.map((dir) => {
    const file = path.join(dir, "users.acl")
    fs.writeFileSync(
      file,
      ["user default off", `user cache on >${PASSWORD} ${cacheRule}`, `user admin on >${ADMIN_PASSWORD} ~* &* +@all`, ""]
        .join("\n")
    )
    return file
  }))

const errorLines = () => {
  const lines: Array<string> = []
  const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
    if (logLevel === "Error") lines.push(String(message))
  })
  return { lines, layer: Logger.layer([logger]) }
}

const expectAllReadable = (reader: CacheService) =>
  Effect.gen(function*() {
    const found = yield* Effect.forEach(keys, (key) => reader.get(key), unbounded)
    keys.forEach((key, i) => assert.deepStrictEqual(found[i], Option.some({ key }), key))
  })

describe("replay drops only what the server refuses", () => {
  it.live("a queued key outside the user's ACL key patterns is dropped alone; the rest is replayed", () => {
    const errors = errorLines()
    return Effect.gen(function*() {
      // The cache user may only touch cache:ok:*; the cache writes under cache:.
      const server = yield* startRedisServer({ aclFile: yield* aclFileWith(cacheAclRule({ prefix: "cache:ok:" })) })
      const writer = yield* redisCache({
        redisUrl: `redis://cache:${PASSWORD}@127.0.0.1:${server.port}`,
        cacheName: "writer",
        reconnectSchedule: Schedule.spaced("200 millis")
      })
      yield* server.kill
      yield* awaitMode(writer, "MemoryOnly")
      yield* Effect.forEach(keys.slice(0, 30), (key) => writer.set(key, { key }), unbounded)
      yield* writer.set("not-allowed", { key: "not-allowed" })
      yield* Effect.forEach(keys.slice(30), (key) => writer.set(key, { key }), unbounded)
      assert.strictEqual((yield* writer.status).pendingReplay, keys.length + 1)
      yield* server.restart
      yield* awaitReplayed(writer)

      const status = yield* writer.status
      assert.strictEqual(status.mode, "Connected")
      assert.strictEqual(status.droppedWhileDegraded, 1)
      const reader = yield* redisCache({
        redisUrl: `redis://admin:${ADMIN_PASSWORD}@127.0.0.1:${server.port}`,
        cacheName: "reader"
      })
      yield* expectAllReadable(reader)
      assert.isTrue(Option.isNone(yield* reader.get("not-allowed")))
      // Not from L1 (the refused write's copy is gone); Redis refuses this user the key.
      const after = yield* Effect.exit(writer.get("not-allowed"))
      assert.isFalse(Exit.isSuccess(after) && Option.isSome(after.value), "the refused write's L1 copy must go")
      const line = errors.lines.find((text) => text.includes("\"not-allowed\""))
      assert.isDefined(line, errors.lines.join("\n"))
      assert.include(line, "NOPERM")
      assert.include(line, "dropped 1 queued operations")
    }).pipe(Effect.provide(errors.layer))
  })

  it.live("a queued value above the limit the server has on reconnection is dropped alone", () => {
    const errors = errorLines()
    return Effect.gen(function*() {
      const server = yield* startRedisServer()
      const writer = yield* redisCache({
        redisUrl: server.url,
        cacheName: "writer",
        commandTimeout: "300 millis",
        reconnectSchedule: Schedule.spaced("200 millis")
      })
      // The cache learnt Redis' default limit when it connected; the server now takes less.
      yield* server.cli("CONFIG", "SET", "proto-max-bulk-len", "1mb")
      yield* server.pause
      yield* writer.set(keys[0]!, { key: keys[0]! }) // times out: the outage begins, this write is queued
      yield* awaitMode(writer, "MemoryOnly")
      yield* writer.set("too-large", randomBytes(2_250_000).toString("base64"))
      yield* Effect.forEach(keys.slice(1), (key) => writer.set(key, { key }), unbounded)
      yield* server.resume
      yield* awaitReplayed(writer)

      assert.strictEqual((yield* writer.status).droppedWhileDegraded, 1)
      yield* expectAllReadable(yield* redisCache({ redisUrl: server.url, cacheName: "reader" }))
      assert.strictEqual(yield* server.cli("EXISTS", "cache:too-large"), "0")
      assert.isTrue(Option.isNone(yield* writer.get("too-large")))
      assert.isTrue(errors.lines.some((text) => text.includes("\"too-large\"") && text.includes("proto-max-bulk-len")))
    }).pipe(Effect.provide(errors.layer))
  })
})
