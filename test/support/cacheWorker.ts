/**
 * A cache instance in a process of its own, for tests of behaviour across instances
 * (coherence, failover). It builds `Cache.layerRedis` from the JSON options in argv[2],
 * answers one JSON command per stdin line with one JSON line on stdout, and exits when
 * stdin closes. Started by test/support/workers.ts.
 */
import { Context, Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { Redis } from "ioredis"
import { createInterface } from "node:readline"
import { Cache, type CacheService, type RedisCacheOptions } from "../../src/index.js"
import { SecurityConfig } from "../../src/security/SecurityConfig.js"
import type { WorkerOptions, WorkerSecurity } from "./workers.js"

interface Command {
  readonly id: number
  readonly op:
    | "set"
    | "get"
    | "delete"
    | "clear"
    | "invalidatePattern"
    | "status"
    | "stats"
    | "getOrSet"
    | "getOrSetCounted"
    | "setConcurrently"
    | "deleteMany"
    | "invalidateTags"
    | "present"
  readonly key?: string
  readonly value?: unknown
  readonly ttl?: number
  readonly pattern?: string
  readonly glob?: boolean
  /** set: the entry's tags; invalidateTags: the tags to invalidate. */
  readonly tags?: ReadonlyArray<string>
  /** getOrSetCounted: the lookup INCRs this key (outside the cache's prefix) with a raw client, then sleeps. */
  readonly counter?: string
  readonly sleepMs?: number
  /** getOrSetCounted: how many concurrent callers this process runs (default 1); the answer is the list of their answers. */
  readonly callers?: number
  /**
   * getOrSetCounted: negative caching (ms): the lookup answers `Option.some(value)`, or
   * `Option.none()` when `value` is null, and each answer is sent as a {@link Found}.
   */
  readonly missTtl?: number
  /**
   * setConcurrently: keys set at once (each to its own name), so they leave as one batched command;
   * present: keys to read; deleteMany: the keys deleted.
   */
  readonly keys?: ReadonlyArray<string>
}

// A client of its own, outside the cache: what a lookup does to count its runs.
let raw: Redis | undefined
const rawClient = (): Redis => {
  // The test's own server: a worker is always given its URL (never the machine's Redis).
  const url = typeof options.redisUrl === "string" ? options.redisUrl : options.redisUrl?.[0]
  if (url === undefined) throw new Error("getOrSetCounted needs redisUrl")
  raw ??= new Redis(url)
  return raw
}

const countedLookup = (command: Command) =>
  Effect.promise(() => rawClient().incr(command.counter ?? "lookups")).pipe(
    Effect.andThen(Effect.sleep(command.sleepMs ?? 0)),
    Effect.as(command.value)
  )

// One caller of getOrSetCounted: with missTtl its lookup answers an Option, sent back as a Found.
const countedCall = (cache: CacheService, command: Command): Effect.Effect<unknown, unknown> => {
  const key = command.key ?? ""
  if (command.missTtl === undefined) return cache.getOrSet(key, countedLookup(command))
  const lookup = Effect.map(countedLookup(command), (value) => value === null ? Option.none() : Option.some(value))
  return Effect.map(
    cache.getOrSet(key, lookup, { missTtl: command.missTtl }),
    (found) => Option.isSome(found) ? { found: true, value: found.value } : { found: false }
  )
}

const run = (cache: CacheService, command: Command): Effect.Effect<unknown, unknown> => {
  const key = command.key ?? ""
  switch (command.op) {
    case "set":
      return cache.set(key, command.value, {
        ...(command.ttl === undefined ? {} : { ttl: command.ttl }),
        ...(command.tags === undefined ? {} : { tags: command.tags })
      })
    case "get":
      return Effect.map(cache.get(key), (found) => Option.isSome(found) ? { found: true, value: found.value } : { found: false })
    case "getOrSet":
      return cache.getOrSet(key, Effect.succeed(command.value))
    case "getOrSetCounted":
      return command.callers === undefined
        ? countedCall(cache, command)
        : Effect.all(Array.from({ length: command.callers }, () => countedCall(cache, command)), {
          concurrency: "unbounded"
        })
    case "setConcurrently":
      return Effect.forEach(command.keys ?? [], (each) => cache.set(each, each), { concurrency: "unbounded", discard: true })
    case "present":
      return Effect.map(cache.getMany(command.keys ?? []), (found) => (command.keys ?? []).filter((_, i) => Option.isSome(found[i]!)))
    case "deleteMany":
      return cache.deleteMany(command.keys ?? [])
    case "delete":
      return cache.delete(key)
    case "clear":
      return cache.clear
    case "invalidatePattern":
      return cache.invalidatePattern(command.pattern ?? "", { glob: command.glob === true })
    case "invalidateTags":
      return cache.invalidateTags(command.tags ?? [])
    case "status":
      return Effect.map(cache.status, (status) => ({
        mode: status.mode,
        pendingReplay: status.pendingReplay,
        invalidation: { ...status.invalidation, lastFlushCause: Option.getOrNull(status.invalidation.lastFlushCause) },
        l1Entries: status.l1.entries
      }))
    case "stats":
      return Effect.map(cache.stats, ({ l1Hits, l2Hits, misses, resilience }) => ({ l1Hits, l2Hits, misses, resilience }))
  }
}

// The secret fields arrive as plain strings and become Redacted here, as an application's config would make them.
const securityConfig = ({ aclPassword, redisAuth, ...plain }: WorkerSecurity): SecurityConfig =>
  new SecurityConfig({
    ...plain,
    ...(aclPassword === undefined ? {} : { aclPassword: Redacted.make(aclPassword) }),
    ...(redisAuth === undefined ? {} : { redisAuth: Redacted.make(redisAuth) })
  })

const { security, ...rest } = JSON.parse(process.argv[2] ?? "{}") as WorkerOptions
const options: RedisCacheOptions = security === undefined ? rest : { ...rest, security: securityConfig(security) }

const main = Effect.gen(function*() {
  const scope = yield* Scope.make()
  const context = yield* Layer.buildWithScope(Cache.layerRedis(options), scope)
  const cache = Context.get(context, Cache)
  const lines = createInterface({ input: process.stdin })
  const reply = (payload: unknown) => process.stdout.write(`${JSON.stringify(payload)}\n`)
  reply({ id: 0, ok: true, result: "ready" })
  yield* Effect.callback<void>((resume) => {
    lines.on("line", (line) => {
      const command = JSON.parse(line) as Command
      Effect.runPromiseExit(run(cache, command)).then((exit) =>
        reply(Exit.isSuccess(exit)
          ? { id: command.id, ok: true, result: exit.value ?? null }
          : { id: command.id, ok: false, error: String(exit.cause) })
      )
    })
    lines.on("close", () => resume(Effect.void))
  })
  yield* Scope.close(scope, Exit.void)
})

Effect.runPromise(main).then(() => process.exit(0), (error) => {
  process.stderr.write(`${String(error)}\n`)
  process.exit(1)
})
