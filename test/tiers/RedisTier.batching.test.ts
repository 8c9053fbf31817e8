import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Logger, Option } from "effect"
import { Redis } from "ioredis"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { CacheService } from "../../src/index.js"
import { type RedisServerHandle, startRedisServer } from "../support/RedisServer.js"
import { redisCache } from "../support/cache.js"
import { commandStats } from "../support/commandStats.js"

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const unbounded = { concurrency: "unbounded" } as const

const keysUpTo = (count: number, name: string) => Array.from({ length: count }, (_, i) => `${name}:${i}`)

const valueOf = (key: string) => ({ key, text: `value of ${key}` })

/** Present and absent keys interleaved, so that every batch holds both. */
const interleave = (present: ReadonlyArray<string>, absent: ReadonlyArray<string>) =>
  present.flatMap((key, i) => i < absent.length ? [key, absent[i]!] : [key])

const expectedOf = (key: string) => key.startsWith("present") ? Option.some(valueOf(key)) : Option.none()

/**
 * Watches the server with MONITOR and counts, by lower-case name, the commands that
 * clients send (a script's own commands come from "lua" and are left out). `settle`
 * waits until every command sent before it has been seen, then hands the counts back
 * and starts counting afresh.
 */
const watchClientCommands = (server: RedisServerHandle) =>
  Effect.gen(function*() {
    const sent = new Map<string, number>()
    const markers = new Set<string>()
    yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const base = new Redis({ host: server.host, port: server.port, lazyConnect: true })
        const watching = await base.monitor()
        watching.on("monitor", (_time: string, args: Array<string>, source: string) => {
          const command = args[0]!.toLowerCase()
          if (command === "echo" && args[1] !== undefined) markers.add(args[1])
          if (source !== "lua") sent.set(command, (sent.get(command) ?? 0) + 1)
        })
        return { base, watching }
      }),
      ({ base, watching }) =>
        Effect.sync(() => {
          watching.disconnect()
          base.disconnect()
        })
    )
    let settled = 0
    const settle = Effect.gen(function*() {
      const marker = `settled-${++settled}`
      yield* server.cli("ECHO", marker)
      // MONITOR reports commands in the order the server ran them: the marker comes after all earlier ones.
      const deadline = Date.now() + 10_000
      while (!markers.has(marker)) {
        if (Date.now() > deadline) return assert.fail("MONITOR never reported the marker")
        yield* sleep(5)
      }
      const counts = new Map(sent)
      sent.clear()
      const of = (command: string) => counts.get(command) ?? 0
      return { of, scripts: of("evalsha") + of("eval") }
    })
    return { settle }
  })

/** Writes every key with its value through `writer`, all at once. */
const writeAll = (writer: CacheService, keys: ReadonlyArray<string>) =>
  Effect.forEach(keys, (key) => writer.set(key, valueOf(key), { ttl: "10 minutes" }), { ...unbounded, discard: true })

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) return assert.fail("expected a failure, got a value")
  assert.isFalse(Cause.hasDies(exit.cause), `a defect instead of a typed failure: ${Cause.pretty(exit.cause)}`)
  return Cause.squash(exit.cause) as E
}

/** An ACL file in a temporary directory that goes with the scope. */
const aclFileWith = (rules: string) =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-redis-cache-acl-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  ).pipe(Effect.map((dir) => {
    const file = path.join(dir, "users.acl")
    fs.writeFileSync(file, `${rules}\n`)
    return file
  }))

const captureLogs = () => {
  const lines: Array<string> = []
  const logger = Logger.make<unknown, void>(({ message }) => {
    lines.push(Array.isArray(message) ? message.join(" ") : String(message))
  })
  return { lines, layer: Logger.layer([logger]) }
}

describe("RedisTier batches concurrent requests (real redis-server)", () => {
  for (const enableL1 of [true, false]) {
    it.live(`L1 ${enableL1 ? "on" : "off"}: 300 concurrent gets of present and absent keys answer right, batched`, () =>
      Effect.gen(function*() {
        const server = yield* startRedisServer()
        const present = keysUpTo(200, "present")
        const keys = interleave(present, keysUpTo(100, "absent"))
        const writer = yield* redisCache({ redisUrl: server.url })
        yield* writeAll(writer, present)
        // A fresh reader: its L1 is empty, so every get goes to Redis.
        const reader = yield* redisCache({ redisUrl: server.url, enableL1 })
        const watch = yield* watchClientCommands(server)
        yield* watch.settle
        yield* server.cli("CONFIG", "RESETSTAT")
        const answers = yield* Effect.forEach(keys, (key) => reader.get(key), unbounded)
        keys.forEach((key, i) => assert.deepStrictEqual(answers[i], expectedOf(key), key))
        const sent = yield* watch.settle
        assert.isBelow(
          sent.of("get") + sent.of("pttl") + sent.of("mget") + sent.of("exists") + sent.scripts,
          keys.length / 10,
          "reads were not batched"
        )
        // One MGET per batch (and an EXISTS of its absent keys): no script, no GET per key.
        assert.isAtLeast(sent.of("mget"), 1)
        assert.strictEqual(sent.of("get"), 0)
        assert.strictEqual(sent.scripts, 0)
        assert.strictEqual((yield* commandStats(server)).scripts, 0)
        assert.strictEqual((yield* reader.stats).l2Hits, present.length)
        assert.strictEqual((yield* reader.status).mode, "Connected")
      }))
  }

  for (const enableL1 of [true, false]) {
    it.live(`L1 ${enableL1 ? "on" : "off"}: large values are batched through MGET, types checked, TTLs from the envelope`, () =>
      Effect.gen(function*() {
        const server = yield* startRedisServer()
        const large = (key: string) => ({ key, text: `${key} `.repeat(1200) })
        const writer = yield* redisCache({ redisUrl: server.url, compressionThreshold: 16 * 1024 * 1024 })
        const keys = keysUpTo(60, "large")
        yield* Effect.forEach(keys, (key) => writer.set(key, large(key), { ttl: "10 minutes" }), unbounded)
        yield* writer.set("brief", large("brief"), { ttl: "700 millis" })
        yield* server.cli("LPUSH", "cache:list", "x")
        const reader = yield* redisCache({ redisUrl: server.url, enableL1 })
        yield* Effect.forEach(keys.slice(0, 30), (key) => reader.get(key), unbounded)
        const watch = yield* watchClientCommands(server)
        yield* watch.settle
        // One batch: at most 32 keys.
        const present = keys.slice(30, 58)
        const batch = [...present, "brief", "list", "absent"]
        const reads = yield* Effect.forEach(batch, (key) => Effect.exit(reader.get(key)), unbounded)
        const sent = yield* watch.settle
        assert.strictEqual(sent.of("mget"), 1)
        assert.strictEqual(sent.of("multi"), 0)
        assert.strictEqual(sent.scripts, 0)
        // MGET read "list" and "absent" as nil; EXISTS found one of them there, so each was read again alone.
        assert.strictEqual(sent.of("exists"), 1)
        assert.strictEqual(sent.of("get"), 2)
        present.forEach((key, i) => assert.deepStrictEqual(reads[i], Exit.succeed(Option.some(large(key))), key))
        const [brief, list, absent] = reads.slice(present.length)
        assert.deepStrictEqual(brief, Exit.succeed(Option.some(large("brief"))))
        const wrongType = failureOf(list!)
        assert.isTrue(wrongType._tag === "SerializationError" && wrongType.key === "list")
        assert.deepStrictEqual(absent, Exit.succeed(Option.none()))
        // The L1 copy of "brief" ends with the entry (its envelope's expiry), not after the reader's default of an hour.
        yield* sleep(900)
        assert.deepStrictEqual(yield* reader.get("brief"), Option.none())
        assert.strictEqual((yield* reader.status).mode, "Connected")
      }))
  }

  it.live("a batched read refills L1 until the entry's expiry, so L1 never outlives the Redis entry", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const others = keysUpTo(20, "other")
      const writer = yield* redisCache({ redisUrl: server.url })
      yield* writer.set("brief", valueOf("brief"), { ttl: "600 millis" })
      yield* writeAll(writer, others)
      const reader = yield* redisCache({ redisUrl: server.url, defaultTtl: "1 hour" })
      const watch = yield* watchClientCommands(server)
      yield* watch.settle
      const first = yield* Effect.forEach(["brief", ...others], (key) => reader.get(key), unbounded)
      assert.deepStrictEqual(first[0], Option.some(valueOf("brief")))
      const sent = yield* watch.settle
      assert.strictEqual(sent.of("get"), 0, "brief was read alone, not in a batch")
      assert.strictEqual(sent.of("mget"), 1)
      // The batched read did refill L1: the next get is answered from memory.
      const l1HitsBefore = (yield* reader.stats).l1Hits
      assert.deepStrictEqual(yield* reader.get("brief"), Option.some(valueOf("brief")))
      assert.strictEqual((yield* reader.stats).l1Hits, l1HitsBefore + 1)
      yield* sleep(800)
      assert.strictEqual(yield* server.cli("EXISTS", "cache:brief"), "0")
      assert.deepStrictEqual(yield* reader.get("brief"), Option.none())
      // The long-lived keys of the same batch are still served.
      assert.deepStrictEqual(yield* reader.get(others[0]!), Option.some(valueOf(others[0]!)))
    }))

  for (const enableL1 of [true, false]) {
    it.live(`L1 ${enableL1 ? "on" : "off"}: a key of another Redis type fails alone inside a batch`, () =>
      Effect.gen(function*() {
        const server = yield* startRedisServer()
        const writer = yield* redisCache({ redisUrl: server.url })
        yield* writeAll(writer, ["present:a", "present:b"])
        yield* server.cli("LPUSH", "cache:list", "x")
        const reader = yield* redisCache({ redisUrl: server.url, enableL1 })
        const watch = yield* watchClientCommands(server)
        yield* watch.settle
        const [a, list, b, absent] = yield* Effect.forEach(
          ["present:a", "list", "present:b", "absent"],
          (key) => Effect.exit(reader.get(key)),
          unbounded
        )
        const sent = yield* watch.settle
        // One MGET; EXISTS of the two nils found "list", so both were read again alone with GET.
        assert.strictEqual(sent.of("mget"), 1, "the keys were not read in one batch")
        assert.strictEqual(sent.of("exists"), 1)
        assert.strictEqual(sent.of("get"), 2)
        const wrongType = failureOf(list!)
        assert.strictEqual(wrongType._tag, "SerializationError")
        assert.isTrue(wrongType._tag === "SerializationError" && wrongType.key === "list")
        assert.deepStrictEqual(a, Exit.succeed(Option.some(valueOf("present:a"))))
        assert.deepStrictEqual(b, Exit.succeed(Option.some(valueOf("present:b"))))
        assert.deepStrictEqual(absent, Exit.succeed(Option.none()))
        assert.strictEqual((yield* reader.stats).serializationErrors, 1)
        assert.strictEqual((yield* reader.status).mode, "Connected")
        assert.strictEqual(yield* server.cli("TYPE", "cache:list"), "list")
      }))
  }

  it.live("on a tracked connection concurrent sets go as plain SETs in one socket write, none through a script (NOLOOP misses scripts)", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const writer = yield* redisCache({ redisUrl: server.url, l1Invalidation: "tracking" })
      const keys = keysUpTo(50, "tracked")
      const watch = yield* watchClientCommands(server)
      yield* watch.settle
      // The server's socket reads: the SETs leave corked (src/internal/corked.ts), so the server
      // reads them in one go, not one read per SET. What counting costs by itself is taken off.
      const reads = Effect.map(server.cli("INFO", "stats"), (info) => Number(/^total_reads_processed:(\d+)/m.exec(info)?.[1]))
      const idle = yield* reads
      const before = yield* reads
      yield* Effect.forEach(keys, (key) => writer.set(key, valueOf(key)), { ...unbounded, discard: true })
      const after = yield* reads
      const sent = yield* watch.settle
      assert.strictEqual(sent.scripts, 0)
      assert.strictEqual(sent.of("set"), keys.length)
      assert.isAtMost(after - before - (before - idle), 2, "the 50 SETs reached the server in one or two reads")
      const reader = yield* redisCache({ redisUrl: server.url, enableL1: false })
      const answers = yield* Effect.forEach(keys, (key) => reader.get(key), unbounded)
      keys.forEach((key, i) => assert.deepStrictEqual(answers[i], Option.some(valueOf(key)), key))
    }))

  it.live("200 concurrent sets with different TTLs are all stored, each with its own TTL, in few commands", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      // The bus: on a tracked connection batched writes are plain SETs (the next test).
      const writer = yield* redisCache({ redisUrl: server.url, l1Invalidation: "bus" })
      const keys = keysUpTo(200, "ttl")
      const ttlSecondsOf = (i: number) => 30 + i
      const watch = yield* watchClientCommands(server)
      yield* watch.settle
      yield* server.cli("CONFIG", "RESETSTAT")
      yield* Effect.forEach(keys, (key, i) => writer.set(key, valueOf(key), { ttl: `${ttlSecondsOf(i)} seconds` }), {
        ...unbounded,
        discard: true
      })
      const sent = yield* watch.settle
      assert.isBelow(sent.of("set") + sent.scripts, keys.length / 10, "writes were not batched")
      assert.isAtLeast(sent.scripts, 1)
      assert.isAtLeast((yield* commandStats(server)).scripts, 1)
      const reader = yield* redisCache({ redisUrl: server.url })
      const answers = yield* Effect.forEach(keys, (key) => reader.get(key), unbounded)
      keys.forEach((key, i) => assert.deepStrictEqual(answers[i], Option.some(valueOf(key)), key))
      const pttls = (yield* server.cli(
        "EVAL",
        "local out = {} for i, key in ipairs(KEYS) do out[i] = redis.call('PTTL', key) end return out",
        String(keys.length),
        ...keys.map((key) => `cache:${key}`)
      )).split("\n").map(Number)
      assert.strictEqual(pttls.length, keys.length)
      pttls.forEach((pttl, i) => {
        const requested = ttlSecondsOf(i) * 1_000
        assert.isAtMost(pttl, requested, keys[i])
        assert.isAbove(pttl, requested - 10_000, keys[i])
      })
    }))

  it.live("a server whose ACL refuses scripts: writes go one command per key after a warning; reads need no script", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const aclFile = yield* aclFileWith(
        "user default on nopass ~* &* +@all -eval -evalsha -eval_ro -evalsha_ro -script|load"
      )
      const server = yield* startRedisServer({ aclFile })
      assert.include(yield* server.cli("EVAL", "return 1", "0"), "NOPERM")
      // Without coherence: the second round counts reads of L1 copies the writer's rewrites would evict.
      const writer = yield* redisCache({ redisUrl: server.url, cacheName: "writer", l1Invalidation: "off" })
      const readers = [
        yield* redisCache({ redisUrl: server.url, cacheName: "reader-l1", l1Invalidation: "off" }),
        yield* redisCache({ redisUrl: server.url, cacheName: "reader-no-l1", enableL1: false, l1Invalidation: "off" })
      ]
      const present = keysUpTo(100, "present")
      const keys = interleave(present, keysUpTo(50, "absent"))
      const round = Effect.gen(function*() {
        const sets = yield* Effect.forEach(present, (key) => Effect.exit(writer.set(key, valueOf(key))), unbounded)
        for (const exit of sets) assert.deepStrictEqual(exit, Exit.void)
        for (const reader of readers) {
          const reads = yield* Effect.forEach(keys, (key) => Effect.exit(reader.get(key)), unbounded)
          keys.forEach((key, i) => assert.deepStrictEqual(reads[i], Exit.succeed(expectedOf(key)), key))
        }
      })
      yield* round
      assert.isAtLeast((yield* commandStats(server)).rejectedScripts, 1, "the writer tries a script first")
      for (const cacheName of ["writer", "reader-l1", "reader-no-l1"]) {
        assert.strictEqual(
          logs.lines.filter((line) => line.includes(`'${cacheName}' cannot batch with scripts`)).length,
          cacheName === "writer" ? 1 : 0,
          `one warning from the writer, none from the readers (MGET): ${logs.lines.join("\n")}`
        )
      }
      // Once refused, scripts are not tried again: the second round goes one command per key at once.
      const warnings = logs.lines.length
      const watch = yield* watchClientCommands(server)
      yield* watch.settle
      yield* server.cli("CONFIG", "RESETSTAT")
      yield* round
      const sent = yield* watch.settle
      const stats = yield* commandStats(server)
      assert.strictEqual(stats.rejectedScripts, 0)
      assert.strictEqual(stats.scripts, 0)
      assert.strictEqual(sent.of("set"), present.length)
      // The readers batch with MGET (and EXISTS of the absent keys, which finds none): no GET per key.
      assert.strictEqual(sent.of("get"), 0)
      assert.isAtLeast(sent.of("mget"), 2)
      assert.strictEqual(logs.lines.length, warnings)
      for (const cache of [writer, ...readers]) assert.strictEqual((yield* cache.status).mode, "Connected")
    }).pipe(Effect.provide(logs.layer))
  })

  it.live("a key outside the user's ACL key patterns fails alone; the others of its batch answer, batching stays on", () =>
    Effect.gen(function*() {
      const aclFile = yield* aclFileWith("user default on nopass ~cache:ok:* &* +@all")
      const server = yield* startRedisServer({ aclFile })
      const cache = yield* redisCache({ redisUrl: server.url })
      const allowed = keysUpTo(20, "ok")
      yield* writeAll(cache, allowed)
      const reader = yield* redisCache({ redisUrl: server.url })
      const reads = yield* Effect.forEach([...allowed, "secret:1"], (key) => Effect.exit(reader.get(key)), unbounded)
      allowed.forEach((key, i) => assert.deepStrictEqual(reads[i], Exit.succeed(Option.some(valueOf(key))), key))
      const refused = reads[allowed.length]!
      assert.isTrue(Exit.isFailure(refused))
      const error = Cause.squash((refused as Exit.Failure<unknown, unknown>).cause) as { _tag?: string; message?: string }
      assert.strictEqual(error._tag, "InfrastructureError")
      assert.include(error.message ?? "", "NOPERM")
      // The refusal was about a key, not about the command: the reader's next batch is one MGET again.
      const more = keysUpTo(20, "ok:more")
      yield* writeAll(cache, more)
      const watch = yield* watchClientCommands(server)
      yield* watch.settle
      const again = yield* Effect.forEach(more, (key) => reader.get(key), unbounded)
      more.forEach((key, i) => assert.deepStrictEqual(again[i], Option.some(valueOf(key)), key))
      const sent = yield* watch.settle
      assert.strictEqual(sent.of("mget"), 1)
      assert.strictEqual(sent.of("get"), 0)
      assert.strictEqual((yield* reader.status).mode, "Connected")
    }))

  it.live("concurrent sets of large values go as plain SETs sent together, not through a script; a refused one fails alone", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer({ args: ["--maxmemory", "4mb", "--maxmemory-policy", "noeviction"] })
      // About 11 KB each, uncompressed: a script would copy every one of them into Lua.
      const large = (key: string) => ({ key, text: `${key} `.repeat(1200) })
      const writer = yield* redisCache({ redisUrl: server.url, compressionThreshold: 16 * 1024 * 1024 })
      const keys = keysUpTo(20, "large")
      const watch = yield* watchClientCommands(server)
      yield* watch.settle
      yield* Effect.forEach(keys, (key, i) => writer.set(key, large(key), { ttl: `${60 + i} seconds` }), {
        ...unbounded,
        discard: true
      })
      const sent = yield* watch.settle
      assert.strictEqual(sent.scripts, 0)
      assert.strictEqual(sent.of("set"), keys.length)
      const reader = yield* redisCache({ redisUrl: server.url })
      const answers = yield* Effect.forEach(keys, (key) => reader.get(key), unbounded)
      keys.forEach((key, i) => assert.deepStrictEqual(answers[i], Option.some(large(key)), key))
      for (const [i, key] of keys.entries()) {
        const pttl = Number(yield* server.cli("PTTL", `cache:${key}`))
        assert.isTrue(pttl > (60 + i - 5) * 1000 && pttl <= (60 + i) * 1000, `${key}: ${pttl}`)
      }

      // Past maxmemory every SET of the next batch is refused: each set fails alone, the connection stays.
      yield* server.cli(
        "EVAL",
        "for i = 1, 6000 do redis.call('SET', 'filler:' .. i, string.rep('x', 1000)) end return 1",
        "0"
      )
      assert.include(yield* server.cli("SET", "probe", "1"), "OOM")
      yield* server.cli("CONFIG", "RESETSTAT")
      const refusedKeys = keysUpTo(5, "refused")
      const refused = yield* Effect.forEach(refusedKeys, (key) => Effect.exit(writer.set(key, large(key))), unbounded)
      assert.strictEqual((yield* commandStats(server)).rejected("set"), refusedKeys.length)
      for (const exit of refused) {
        const error = failureOf(exit)
        assert.strictEqual(error._tag, "InfrastructureError")
        assert.include(error.message, "OOM")
      }
      assert.strictEqual((yield* writer.status).mode, "Connected")
      assert.deepStrictEqual(yield* writer.get(refusedKeys[0]!), Option.none())
    }))

  it.live("SETs refused for lack of memory fail each set with an InfrastructureError; the cache stays Connected", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer({ args: ["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"] })
      // The bus, so that the batch is one script (a tracked connection sends plain SETs).
      const cache = yield* redisCache({ redisUrl: server.url, l1Invalidation: "bus" })
      yield* cache.set("before", valueOf("before"))
      // One script fills the server past its limit: Redis checks memory as each command starts, not during a script.
      yield* server.cli(
        "EVAL",
        "for i = 1, 3000 do redis.call('SET', 'filler:' .. i, string.rep('x', 1000)) end return 1",
        "0"
      )
      assert.include(yield* server.cli("SET", "probe", "1"), "OOM")
      const watch = yield* watchClientCommands(server)
      yield* watch.settle
      const keys = keysUpTo(10, "refused")
      const batch = yield* Effect.forEach(keys, (key) => Effect.exit(cache.set(key, valueOf(key))), unbounded)
      const inBatch = yield* watch.settle
      assert.strictEqual(inBatch.scripts, 1, "the sets did not go as one batch")
      assert.strictEqual(inBatch.of("set"), 0)
      // A lone set is a plain SET, which Redis refuses before running it (so MONITOR does not show it).
      yield* server.cli("CONFIG", "RESETSTAT")
      const lone = yield* Effect.exit(cache.set("alone", valueOf("alone")))
      assert.strictEqual((yield* commandStats(server)).rejected("set"), 1)
      for (const exit of [...batch, lone]) {
        const error = failureOf(exit)
        assert.strictEqual(error._tag, "InfrastructureError")
        assert.include(error.message, "OOM")
      }
      const status = yield* cache.status
      assert.strictEqual(status.mode, "Connected")
      assert.strictEqual(status.pendingReplay, 0)
      // A refused value is not served from L1, and what was stored before is still read from Redis.
      assert.deepStrictEqual(yield* cache.get(keys[0]!), Option.none())
      assert.deepStrictEqual(yield* cache.get("alone"), Option.none())
      const reader = yield* redisCache({ redisUrl: server.url })
      assert.deepStrictEqual(yield* reader.get("before"), Option.some(valueOf("before")))
    }))
})
