/**
 * L1 coherence (tracking, and the bus) where it is deployed for real: over TLS with a verified server
 * certificate, and as the least-privilege ACL user of `cacheAclRule`. Each instance is a
 * separate process on one real redis-server; both connections of an instance (data and
 * invalidations) go through the same security settings.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { cacheAclRule } from "../../src/security/aclRule.js"
import { type RedisServerHandle, type RedisServerOptions, startRedisServer } from "../support/RedisServer.js"
import { generateTlsFiles } from "../support/Tls.js"
import {
  awaitLinked,
  type CacheWorker,
  eventuallyReads,
  readKey,
  startCacheWorker,
  type WorkerSecurity,
  workerStatus
} from "../support/workers.js"

const PASSWORD = "cache-Password-0123456789"
const ADMIN = ["--user", "admin", "--pass", "admin-Password-0123456789"] as const

const aclFile = (l1Invalidation: "tracking" | "bus") => Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-redis-cache-coherence-acl-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => {
  const file = path.join(dir, "users.acl")
  fs.writeFileSync(file, [
    "user default off",
    `user cache on >${PASSWORD} ${cacheAclRule({ prefix: "cache:", l1Invalidation })}`,
    `user admin on >${ADMIN[3]} ~* &* +@all`,
    ""
  ].join("\n"))
  return file
}))

/** A server, how the cache instances reach it, and how the test's own redis-cli does. */
interface Deployment {
  readonly server: RedisServerHandle
  readonly security: WorkerSecurity
  /** redis-cli as a user that may do anything (the default user where there is no ACL). */
  readonly cli: (...args: ReadonlyArray<string>) => Effect.Effect<string>
  readonly acl: boolean
  readonly mechanism: "tracking" | "bus"
}

const deploy = (variant: { readonly tls: boolean; readonly acl: boolean; readonly mechanism: "tracking" | "bus" }) =>
  Effect.gen(function*() {
    const files = variant.tls ? yield* generateTlsFiles : undefined
    const options: RedisServerOptions = {
      ...(files === undefined ? {} : { tls: { cert: files.server.cert, key: files.server.key, ca: files.ca.cert } }),
      ...(variant.acl ? { aclFile: yield* aclFile(variant.mechanism) } : {})
    }
    const server = yield* startRedisServer(options)
    const security: WorkerSecurity = {
      ...(files === undefined ? {} : { tlsCa: { path: files.ca.cert } }),
      ...(variant.acl ? { aclUsername: "cache", aclPassword: PASSWORD } : {})
    }
    const cli = (...args: ReadonlyArray<string>) => variant.acl ? server.cli(...ADMIN, ...args) : server.cli(...args)
    if (variant.acl) yield* cli("ACL", "LOG", "RESET")
    return { server, security, cli, acl: variant.acl, mechanism: variant.mechanism } satisfies Deployment
  })

const instances = (deployment: Deployment, count: number) =>
  Effect.gen(function*() {
    const workers = yield* Effect.all(
      Array.from({ length: count }, (_, i) =>
        startCacheWorker(
          {
            redisUrl: deployment.server.url,
            cacheName: `instance-${i}`,
            invalidationPingInterval: "200 millis",
            l1Invalidation: deployment.mechanism
          },
          { security: deployment.security }
        )),
      { concurrency: "unbounded" }
    )
    for (const worker of workers) yield* awaitLinked(worker)
    return workers
  })

/** Reads `key` twice on each worker, so that each holds an L1 copy. */
const warm = (workers: ReadonlyArray<CacheWorker>, key: string, value: unknown) =>
  Effect.forEach(workers, (worker) =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* readKey(worker, key), { found: true, value })
      assert.deepStrictEqual(yield* readKey(worker, key), { found: true, value })
    }), { discard: true })

/** Every refusal in ACL LOG, as `reason object`: redis-cli prints each entry as lines of field, value. */
const aclRefusals = (deployment: Deployment) =>
  Effect.map(deployment.cli("ACL", "LOG"), (text) => {
    const lines = text.split(/\r?\n/).filter((line) => line !== "")
    const entries: Array<Record<string, string>> = []
    for (let i = 0; i + 1 < lines.length; i += 2) {
      if (lines[i] === "count") entries.push({})
      const entry = entries.at(-1)
      if (entry !== undefined) entry[lines[i]!] = lines[i + 1]!
    }
    return entries.map((entry) => `${entry.reason} ${entry.object}`)
  })

const variants = [
  { name: "TLS (verified server certificate)", tls: true, acl: false, mechanism: "tracking" },
  { name: "the least-privilege ACL user of cacheAclRule", tls: false, acl: true, mechanism: "tracking" },
  { name: "TLS and the least-privilege ACL user", tls: true, acl: true, mechanism: "tracking" },
  { name: "TLS and the least-privilege ACL user, with the bus", tls: true, acl: true, mechanism: "bus" }
] as const

describe.each(variants)("L1 coherence across processes under $name", (variant) => {
  it.live("A's set, delete and clear reach B; a redis-cli write reaches both (tracking); A's own writes do not echo", () =>
    Effect.scoped(Effect.gen(function*() {
      const deployment = yield* deploy(variant)
      const [a, b] = yield* instances(deployment, 2)

      yield* a!.call("set", { key: "k", value: 1 })
      yield* warm([b!], "k", 1)
      yield* a!.call("set", { key: "k", value: 2 })
      yield* eventuallyReads(b!, "k", { found: true, value: 2 })
      yield* warm([b!], "k", 2)
      yield* a!.call("delete", { key: "k" })
      yield* eventuallyReads(b!, "k", { found: false })
      yield* a!.call("set", { key: "kept", value: "kept" })
      yield* warm([b!], "kept", "kept")
      yield* a!.call("clear")
      yield* eventuallyReads(b!, "kept", { found: false })

      // Another program's write under the prefix (the admin where there is an ACL): tracking sees it, a bus cannot.
      if (deployment.mechanism === "tracking") {
        yield* a!.call("set", { key: "shared", value: "shared" })
        yield* warm([a!, b!], "shared", "shared")
        yield* deployment.cli("DEL", "cache:shared")
        yield* eventuallyReads(a!, "shared", { found: false })
        yield* eventuallyReads(b!, "shared", { found: false })
      }

      // NOLOOP (or A ignoring its own bus message): A's own write leaves A's fresh copy alone.
      const receivedBefore = (yield* workerStatus(a!)).invalidation.invalidationsReceived
      const hitsBefore = ((yield* a!.call("stats")) as { readonly l1Hits: number }).l1Hits
      yield* a!.call("set", { key: "own", value: "mine" })
      yield* eventuallyReads(b!, "own", { found: true, value: "mine" })
      assert.deepStrictEqual(yield* readKey(a!, "own"), { found: true, value: "mine" })
      assert.strictEqual(((yield* a!.call("stats")) as { readonly l1Hits: number }).l1Hits, hitsBefore + 1)
      assert.strictEqual((yield* workerStatus(a!)).invalidation.invalidationsReceived, receivedBefore)
      assert.isTrue((yield* workerStatus(b!)).invalidation.linked)

      if (deployment.acl) {
        // The one refusal the rule makes on purpose: CONFIG GET proto-max-bulk-len (docs/redis-tier.md).
        const refused = new Set(yield* aclRefusals(deployment))
        assert.deepStrictEqual(Array.from(refused), ["command config|get"], (yield* deployment.cli("ACL", "LOG")))
      }
    })), 90_000)
})
