/**
 * Cache instances in separate Node processes (test/support/cacheWorker.ts), each a real
 * `Cache.layerRedis` with its own connections, driven over stdin/stdout. They live in
 * the test's Scope and are killed with it.
 */
import { Effect, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import type { RedisCacheOptions } from "../../src/index.js"

const WORKER = fileURLToPath(new URL("./cacheWorker.ts", import.meta.url))
const REPLY_TIMEOUT_MS = 20_000

/**
 * The security settings of a worker as plain JSON (a `SecurityConfig` does not survive
 * JSON): the worker builds the `SecurityConfig`, wrapping the secret fields in `Redacted`.
 * Test secrets only: they travel in the child's argv.
 */
export interface WorkerSecurity {
  readonly redisAuth?: string
  readonly aclUsername?: string
  readonly aclPassword?: string
  readonly useTls?: boolean
  readonly tlsCa?: { readonly path: string }
  readonly tlsCert?: { readonly path: string }
  readonly tlsKey?: { readonly path: string }
  readonly verifyCertificates?: boolean
}

/** What a worker receives as JSON: `Cache.layerRedis` options (no schedule), security as {@link WorkerSecurity}. */
export type WorkerOptions = Omit<RedisCacheOptions, "security" | "reconnectSchedule"> & {
  readonly security?: WorkerSecurity
}

/** One cache instance in its own process. */
export interface CacheWorker {
  readonly pid: number
  /** Sends one command and waits for its answer; a failed operation fails with its cause as text. */
  readonly call: (op: string, args?: Record<string, unknown>) => Effect.Effect<unknown, string>
  /** SIGKILL. */
  readonly kill: Effect.Effect<void>
}

/**
 * Starts a cache instance in a child process and waits until its layer is built. The
 * options travel as JSON, so security settings go in `security` (plain JSON);
 * `options.security` is not passed on.
 */
export const startCacheWorker = (
  options: RedisCacheOptions,
  { security }: { readonly security?: WorkerSecurity } = {}
): Effect.Effect<CacheWorker, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.callback<{ readonly child: ChildProcess; readonly waiting: Map<number, (reply: Reply) => void> }>(
      (resume) => {
        const { security: _instance, ...plain } = options
        const json: WorkerOptions = security === undefined ? plain : { ...plain, security }
        const child = spawn(process.execPath, ["--import", "tsx", WORKER, JSON.stringify(json)], {
          stdio: ["pipe", "pipe", "pipe"],
          env: { ...process.env, NODE_NO_WARNINGS: "1" }
        })
        const waiting = new Map<number, (reply: Reply) => void>()
        let stderr = ""
        child.stderr!.on("data", (chunk) => {
          stderr += String(chunk)
        })
        createInterface({ input: child.stdout! }).on("line", (line) => {
          if (!line.startsWith("{")) return
          const reply = JSON.parse(line) as Reply
          if (reply.id === 0) return resume(Effect.succeed({ child, waiting }))
          waiting.get(reply.id)?.(reply)
          waiting.delete(reply.id)
        })
        child.on("exit", (code) => {
          for (const answer of waiting.values()) answer({ id: -1, ok: false, error: `worker exited (${code}): ${stderr}` })
          waiting.clear()
          resume(Effect.die(new Error(`cache worker exited before it was ready (${code}): ${stderr}`)))
        })
      }
    ),
    ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
  ).pipe(Effect.map(({ child, waiting }) => {
    let next = 1
    const call = (op: string, args: Record<string, unknown> = {}) =>
      Effect.callback<unknown, string>((resume) => {
        const id = next++
        const timer = setTimeout(() => {
          waiting.delete(id)
          resume(Effect.fail(`no answer to ${op} within ${REPLY_TIMEOUT_MS} ms`))
        }, REPLY_TIMEOUT_MS)
        waiting.set(id, (reply) => {
          clearTimeout(timer)
          resume(reply.ok ? Effect.succeed(reply.result) : Effect.fail(reply.error ?? "failed"))
        })
        child.stdin!.write(`${JSON.stringify({ id, op, ...args })}\n`)
      })
    return { pid: child.pid!, call, kill: Effect.sync(() => void child.kill("SIGKILL")) }
  }))

interface Reply {
  readonly id: number
  readonly ok: boolean
  readonly result?: unknown
  readonly error?: string
}

/** What a worker's `get` answers. */
export interface Found {
  readonly found: boolean
  readonly value?: unknown
}

/** What a worker's `status` answers (the fields coherence tests read). */
export interface WorkerStatus {
  readonly mode: string
  /** Writes and deletes made while degraded that still wait for replay. */
  readonly pendingReplay: number
  readonly invalidation: {
    readonly mechanism: string
    readonly linked: boolean
    readonly flushes: number
    readonly invalidationsReceived: number
    /** Bus: changes waiting to be published. */
    readonly unsentMessages: number
  }
  readonly l1Entries: number
}

const pause = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** `cache.get(key)` on a worker. */
export const readKey = (worker: CacheWorker, key: string) => worker.call("get", { key }) as Effect.Effect<Found, string>

/** `cache.status` on a worker. */
export const workerStatus = (worker: CacheWorker) => worker.call("status") as Effect.Effect<WorkerStatus, string>

/** Polls until `check` holds; fails naming `what` after `withinMs` (a hang guard, not a timing claim). */
export const pollUntil = <E>(what: () => string, check: Effect.Effect<boolean, E>, withinMs = 10_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + withinMs
    while (Date.now() < deadline) {
      if (yield* check) return
      yield* pause(5)
    }
    return yield* Effect.die(new Error(`${what()} within ${withinMs} ms`))
  })

/** Polls until `worker` reads `expected` for `key`. */
export const eventuallyReads = (worker: CacheWorker, key: string, expected: Found, withinMs = 5_000) => {
  let last: Found = { found: false }
  return pollUntil(
    () => `worker ${worker.pid} still reads ${JSON.stringify(last)} for ${key}, expected ${JSON.stringify(expected)}`,
    Effect.map(readKey(worker, key), (found) => {
      last = found
      return JSON.stringify(found) === JSON.stringify(expected)
    }),
    withinMs
  )
}

/** Waits until `worker` is connected with its invalidation link up. */
export const awaitLinked = (worker: CacheWorker, withinMs = 10_000) =>
  pollUntil(
    () => `worker ${worker.pid} did not link`,
    Effect.map(workerStatus(worker), ({ invalidation, mode }) => mode === "Connected" && invalidation.linked),
    withinMs
  )
