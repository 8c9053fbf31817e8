import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Option, Schedule } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { cacheAclCommands, cacheAclCommandsFor, cacheAclRule } from "../../src/security/aclRule.js"
import { awaitMode, awaitReplayed, redisCache } from "../support/cache.js"
import { forEachTopology, freshTopology } from "../support/topologies.js"

const PASSWORD = "cache-Password-0123456789"

const small = (key: string) => ({ key })

// Large enough (about 13 KB) that one batch of them turns the next batches to MULTI + MGET.
const large = (key: string) => ({ key, text: `${key} `.repeat(1500) })

describe("cacheAclRule allows every command the cache sends (real redis-server)", () => {
  // Not on a cluster: both bodies cut one cache off with killClient, which ioredis' Cluster heals at the
  // next command without an outage (see test/Cache.degradation.test.ts); the ACL on every cluster node is
  // tested in test/topologies/cluster.test.ts.
  forEachTopology((it) => {
    it.effect("every operation, batched reads and writes of small and large values, and a replay after an outage", () => {
      const warnings: Array<string> = []
      const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
        if (logLevel === "Warn") warnings.push(String(message))
      })
      return Effect.gen(function*() {
        const server = yield* freshTopology
        yield* server.useAcl({ username: "cache", password: PASSWORD, rule: cacheAclRule({ prefix: "cache:", ...server.aclRuleOptions }) })
        const connection = server.connect({ username: "cache", password: PASSWORD })
        yield* server.everyMaster("CONFIG", "RESETSTAT")
        // Uncompressed, so that large values stay large in Redis.
        const writer = yield* redisCache({
          ...connection,
          cacheName: "writer",
          compressionThreshold: 16 * 1024 * 1024,
          reconnectSchedule: Schedule.spaced("100 millis")
        })
        const reader = yield* redisCache({ ...connection, cacheName: "reader", enableL1: false })
        for (const [name, valueOf] of [["small", small], ["large", large]] as const) {
          const keys = Array.from({ length: 50 }, (_, i) => `${name}:${i}`)
          yield* Effect.forEach(keys, (key) => writer.set(key, valueOf(key)), { concurrency: "unbounded" })
          // Twice (the reader keeps no L1: both rounds read Redis)
          for (let round = 0; round < 2; round++) {
            const found = yield* Effect.forEach(keys, (key) => reader.get(key), { concurrency: "unbounded" })
            keys.forEach((key, i) => assert.deepStrictEqual(found[i], Option.some(valueOf(key)), key))
          }
        }
        // Batched ttl under staleFor reads the TTLs too: MULTI + MGET + READ_META (EVAL, with TYPE and PTTL).
        const stale = yield* redisCache({ ...connection, cacheName: "stale", staleFor: "1 minute" })
        const ttls = yield* Effect.forEach(["small:0", "small:1", "large:0"], (key) => stale.ttl(key), {
          concurrency: "unbounded"
        })
        for (const ttl of ttls) assert.isTrue(Option.isSome(ttl))
        // One key at a time: exists, ttl, delete, getOrSet.
        yield* writer.set("single", small("single"))
        assert.isTrue(yield* reader.exists("single"))
        assert.isTrue(Option.isSome(yield* reader.ttl("single")))
        assert.isTrue(yield* writer.delete("single"))
        assert.isFalse(yield* reader.exists("single"))
        assert.strictEqual(yield* reader.getOrSet("computed", Effect.succeed(42)), 42)
        assert.deepStrictEqual(yield* writer.get("computed"), Option.some(42))
        // Invalidation by literal text and by glob.
        yield* Effect.forEach(["group:a", "group:b", "other"], (key) => writer.set(key, key))
        assert.strictEqual(yield* writer.invalidatePattern("group:"), 2)
        assert.strictEqual(yield* writer.invalidatePattern("small:1*", { glob: true }), 11)
        assert.isTrue(yield* reader.exists("other"))

        // An outage: a small and a large write, a delete and a pattern delete are queued and replayed.
        // The replay scripts read the envelope header with GETRANGE.
        yield* writer.set("doomed", small("doomed"))
        yield* server.killClient("writer")
        yield* awaitMode(writer, "MemoryOnly")
        yield* writer.set("during-outage", small("during-outage"))
        yield* writer.set("large-during-outage", large("large-during-outage"))
        yield* writer.delete("doomed")
        yield* writer.invalidatePattern("large:")
        yield* awaitReplayed(writer)
        assert.deepStrictEqual(yield* reader.get("during-outage"), Option.some(small("during-outage")))
        assert.deepStrictEqual(yield* reader.get("large-during-outage"), Option.some(large("large-during-outage")))
        assert.isTrue(Option.isNone(yield* reader.get("doomed")), "the delete made during the outage was replayed")
        assert.isFalse(yield* reader.exists("large:0"), "the pattern delete made during the outage was replayed")
        assert.strictEqual((yield* writer.status).droppedWhileDegraded, 0)

        yield* writer.clear
        assert.strictEqual(yield* server.dbSize, 0)

        const stats = (yield* server.everyMaster("INFO", "commandstats")).join("\n")
        // The one command the rule refuses on purpose: CONFIG GET proto-max-bulk-len, asked once per cache
        // (CONFIG GET would also show secrets; the tier then assumes Redis' default, docs/redis-tier.md).
        const rejected = Array.from(new Set(
          stats.split(/\r?\n/).filter((line) => /rejected_calls=[1-9]/.test(line)).map((line) => line.split(":")[0])
        ))
        assert.deepStrictEqual(rejected, ["cmdstat_config|get"], stats)
        for (const command of ["mget", "multi", "exec", "getrange"]) assert.include(stats, `cmdstat_${command}:`, stats)
        // And nothing more than it needs: the cache sent every command the rule allows, but PING
        // (the security check's, tested in CacheSecurity.test.ts). The admin here sends none of them.
        const called = new Set(Array.from(stats.matchAll(/^cmdstat_(\S+?):calls=[1-9]/gm), (m) => m[1]!))
        assert.deepStrictEqual(cacheAclCommandsFor(server.l1Invalidation).filter((command) => command !== "ping" && !called.has(command)), [], stats)
        // (and the notice of the fallback from tracking to the bus on a cluster)
        assert.deepStrictEqual(warnings.filter((line) => !line.includes("memory-only") && !line.includes("is not available on Redis")), [])
      }).pipe(Effect.provide(Logger.layer([logger])))
    })

    it.effect("a replay the server refuses (an ACL without GETRANGE) is dropped with its L1 copies and logged, not retried", () => {
      const errors: Array<string> = []
      const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
        if (logLevel === "Error") errors.push(String(message))
      })
      return Effect.gen(function*() {
        const server = yield* freshTopology
        const rule = cacheAclRule({ prefix: "cache:", ...server.aclRuleOptions }).replace(" +getrange", "")
        yield* server.useAcl({ username: "cache", password: PASSWORD, rule })
        const cache = yield* redisCache({ ...server.connect({ username: "cache", password: PASSWORD }), cacheName: "writer", reconnectSchedule: Schedule.spaced("100 millis") })
        yield* server.killClient("writer")
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
  }, ["standalone", "sentinel"])
})

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..")
const docFiles = ["README.md", ...fs.readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)]

interface ShownRule {
  readonly where: string
  readonly form: "ACL SETUSER" | "ACL file"
  readonly rule: string
}

// Shell-like words: quotes group and are removed ('>pw', "~cache:*").
const words = (text: string): Array<string> =>
  Array.from(text.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g), (m) => m[1] ?? m[2] ?? m[3]!)

// The rule of a user line: its words after the user name, without on/off and passwords.
const ruleOf = (afterName: ReadonlyArray<string>): string =>
  afterName.filter((w) => !/^(on|off|nopass|resetpass)$/i.test(w) && !/^[><#!]/.test(w)).join(" ")

/** Every ACL rule a Markdown file shows: `ACL SETUSER` anywhere (a redis-cli line, inline code), `user` lines in code blocks. */
const shownRules = (file: string): Array<ShownRule> => {
  const rules: Array<ShownRule> = []
  // A trailing backslash continues a command on the next line.
  const lines = fs.readFileSync(path.join(root, file), "utf8").replace(/\\\n\s*/g, " ").split("\n")
  let inCode = false
  lines.forEach((line, i) => {
    if (/^\s*(```|~~~)/.test(line)) {
      inCode = !inCode
      return
    }
    const where = `${file}:${i + 1}`
    for (const match of line.matchAll(/ACL\s+SETUSER\s+([^`]*)/gi)) {
      const [, ...rest] = words(match[1]!)
      rules.push({ where, form: "ACL SETUSER", rule: ruleOf(rest) })
    }
    const fileLine = inCode ? /^\s*user\s+(.*)$/.exec(line) : null
    if (fileLine !== null) {
      const [, ...rest] = words(fileLine[1]!)
      rules.push({ where, form: "ACL file", rule: ruleOf(rest) })
    }
  })
  // `user default off` and the like grant nothing: no rule to compare.
  return rules.filter((shown) => shown.rule !== "")
}

describe("the ACL rules the docs show are cacheAclRule's", () => {
  it("every rule in README.md and docs/*.md equals cacheAclRule with its prefix and select", () => {
    const shown = docFiles.flatMap(shownRules)
    for (const { where, rule } of shown) {
      const prefix = /(?:^| )~(\S*)\*(?: |$)/.exec(rule)?.[1]
      assert.isDefined(prefix, `${where}: no ~<prefix>* key pattern in ${rule}`)
      const words = rule.split(" ")
      const expected = cacheAclRule({ prefix: prefix!, select: words.includes("+select"), cluster: words.includes("+cluster|slots") })
      assert.strictEqual(rule, expected, `${where} shows a rule that is not cacheAclRule's`)
    }
    // Not vacuous: docs/security.md shows the command, the shell line and the ACL file line.
    const security = shown.filter((rule) => rule.where.startsWith("docs/security.md:"))
    assert.sameMembers(Array.from(new Set(security.map((rule) => rule.form))), ["ACL SETUSER", "ACL file"])
    assert.isAtLeast(security.length, 3)
  })

  it("the extractor sees the forms a doc may use", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-redis-cache-acl-doc-"))
    try {
      const file = path.join(dir, "doc.md")
      fs.writeFileSync(file, [
        "Run `ACL SETUSER app on >pw ~app:* -@all +get` once.",
        "```sh",
        "redis-cli --user admin --askpass ACL SETUSER app on '>pw' '~app:*' resetchannels \\",
        "  -@all '+client|setname'",
        "```",
        "```",
        "user default off",
        "user app on #0123abcd ~app:* -@all +set",
        "```",
        "user in prose is not a rule"
      ].join("\n"))
      assert.deepStrictEqual(shownRules(path.relative(root, file)).map(({ form, rule }) => `${form}: ${rule}`), [
        "ACL SETUSER: ~app:* -@all +get",
        "ACL SETUSER: ~app:* resetchannels -@all +client|setname",
        "ACL file: ~app:* -@all +set"
      ])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("docs/security.md explains exactly the commands cacheAclRule allows", () => {
    const text = fs.readFileSync(path.join(root, "docs/security.md"), "utf8")
    const table = text.slice(text.indexOf("| commands | why |"))
    const rows = table.slice(0, table.indexOf("\n\n")).split("\n").slice(2)
    const explained = rows.flatMap((row) => Array.from(row.split(" | ")[0]!.matchAll(/`([^`]+)`/g), (m) => m[1]!.replace("\\|", "|")))
    assert.sameMembers(explained, [...cacheAclCommands, "select"])
  })
})
