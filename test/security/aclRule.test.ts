import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Option, Schedule } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { cacheAclRule } from "../../src/security/aclRule.js"
import { type RedisServerHandle, startRedisServer } from "../support/RedisServer.js"
import { awaitMode, awaitReplayed, redisCache } from "../support/cache.js"

const PASSWORD = "cache-Password-0123456789"
const ADMIN = ["--user", "admin", "--pass", "admin-Password-0123456789"] as const

const aclFileWith = (cacheRule: string) => Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-redis-cache-acl-rule-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => {
  const file = path.join(dir, "users.acl")
  fs.writeFileSync(
    file,
    [
      "user default off",
      `user cache on >${PASSWORD} ${cacheRule}`,
      `user admin on >${ADMIN[3]} ~* &* +@all`,
      ""
    ].join("\n")
  )
  return file
}))

const small = (key: string) => ({ key })

const killConnection = (server: RedisServerHandle, cacheName: string) =>
  Effect.gen(function*() {
    const clients = yield* server.cli(...ADMIN, "CLIENT", "LIST")
    const id = new RegExp(`(?:^|\\s)id=(\\d+)\\s.*name=effect-redis-cache:${cacheName}`, "m").exec(clients)?.[1]
    assert.isDefined(id, `no connection named ${cacheName}`)
    yield* server.cli(...ADMIN, "CLIENT", "KILL", "ID", id!)
  })
// Large enough (about 13 KB) that one batch of them turns the next batches to MULTI + MGET.
const large = (key: string) => ({ key, text: `${key} `.repeat(1500) })

describe("cacheAclRule allows every command the cache sends (real redis-server)", () => {
  it.live("batched reads and writes of small and large values, and a replay after an outage", () => {
    const warnings: Array<string> = []
    const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
      if (logLevel === "Warn") warnings.push(String(message))
    })
    return Effect.gen(function*() {
      const server = yield* startRedisServer({ aclFile: yield* aclFileWith(cacheAclRule({ prefix: "cache:" })) })
      const redisUrl = `redis://cache:${PASSWORD}@127.0.0.1:${server.port}`
      yield* server.cli(...ADMIN, "CONFIG", "RESETSTAT")
      // Uncompressed, so that large values stay large in Redis.
      const writer = yield* redisCache({
        redisUrl,
        cacheName: "writer",
        compressionThreshold: 16 * 1024 * 1024,
        reconnectSchedule: Schedule.spaced("100 millis")
      })
      const reader = yield* redisCache({ redisUrl, cacheName: "reader", enableL1: false })
      for (const [name, valueOf] of [["small", small], ["large", large]] as const) {
        const keys = Array.from({ length: 50 }, (_, i) => `${name}:${i}`)
        yield* Effect.forEach(keys, (key) => writer.set(key, valueOf(key)), { concurrency: "unbounded" })
        // Twice: the second batch of large values reads through MULTI + MGET.
        for (let round = 0; round < 2; round++) {
          const found = yield* Effect.forEach(keys, (key) => reader.get(key), { concurrency: "unbounded" })
          keys.forEach((key, i) => assert.deepStrictEqual(found[i], Option.some(valueOf(key)), key))
        }
      }
      // The replay scripts read the envelope header with GETRANGE.
      yield* killConnection(server, "writer")
      yield* awaitMode(writer, "MemoryOnly")
      yield* writer.set("during-outage", small("during-outage"))
      yield* awaitReplayed(writer)
      assert.deepStrictEqual(yield* reader.get("during-outage"), Option.some(small("during-outage")))
      const stats = yield* server.cli(...ADMIN, "INFO", "commandstats")
      // The one command the rule refuses on purpose: CONFIG GET proto-max-bulk-len, asked once per cache
      // (CONFIG GET would also show secrets; the tier then assumes Redis' default, docs/redis-tier.md).
      const rejected = stats.split(/\r?\n/).filter((line) => /rejected_calls=[1-9]/.test(line)).map((line) => line.split(":")[0])
      assert.deepStrictEqual(rejected, ["cmdstat_config|get"], stats)
      for (const command of ["mget", "multi", "exec", "getrange"]) assert.include(stats, `cmdstat_${command}:`, stats)
      assert.deepStrictEqual(warnings.filter((line) => !line.includes("memory-only")), [])
    }).pipe(Effect.provide(Logger.layer([logger])))
  })

  it.live("a replay the server refuses (an ACL without GETRANGE) is dropped with its L1 copies and logged, not retried", () => {
    const errors: Array<string> = []
    const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
      if (logLevel === "Error") errors.push(String(message))
    })
    return Effect.gen(function*() {
      const rule = cacheAclRule({ prefix: "cache:" }).replace(" +getrange", "")
      const server = yield* startRedisServer({ aclFile: yield* aclFileWith(rule) })
      const redisUrl = `redis://cache:${PASSWORD}@127.0.0.1:${server.port}`
      const cache = yield* redisCache({ redisUrl, cacheName: "writer", reconnectSchedule: Schedule.spaced("100 millis") })
      yield* killConnection(server, "writer")
      yield* awaitMode(cache, "MemoryOnly")
      yield* cache.set("during-outage", small("during-outage"))
      yield* awaitReplayed(cache)
      const status = yield* cache.status
      assert.strictEqual(status.mode, "Connected")
      assert.strictEqual(status.droppedWhileDegraded, 1)
      assert.isAtMost(status.reconnectAttempts, 3, "the refused replay was retried")
      assert.deepStrictEqual(yield* cache.get("during-outage"), Option.none())
      assert.isTrue(errors.some((line) => line.includes("dropped 1 queued operations")), errors.join("\n"))
    }).pipe(Effect.provide(Logger.layer([logger])))
  })
})
