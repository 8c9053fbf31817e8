/**
 * `npm run demo` (examples/basic.ts) as a newcomer runs it: a child process, once
 * against a private redis-server and once against a port nobody listens on. Either
 * way it exits 0 and shows the tiers at work (or says, once, that it runs memory-only).
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { freePort, startRedisServer } from "../support/RedisServer.js"

const demo = fileURLToPath(new URL("../../examples/basic.ts", import.meta.url))

/** Runs the demo with REDIS_URL set (never the machine's default); its stdout, after checking it exited 0. */
const runDemo = (redisUrl: string) =>
  Effect.callback<{ readonly code: number; readonly stdout: string; readonly stderr: string }>((resume) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", demo],
      { timeout: 60_000, env: { ...process.env, REDIS_URL: redisUrl } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        resume(Effect.succeed({ code, stdout, stderr }))
      }
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  }).pipe(Effect.map(({ code, stderr, stdout }) => {
    assert.strictEqual(code, 0, `${stdout}\n${stderr}`)
    return stdout
  }))

const lines = (output: string) => output.trim().split("\n")
const lineWith = (output: string, start: string) => lines(output).filter((line) => line.startsWith(start))

describe("npm run demo", () => {
  it.live("with Redis: a write, an L1 hit, an L2 hit by a second cache, coherence, the TTL and typed errors", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const output = yield* runDemo(server.url)
      assert.include(output, `Two caches share Redis at ${server.url}`)
      assert.include(output, "cache A: set user:1       -> Ada, TTL 30 seconds")
      assert.deepStrictEqual(lineWith(output, "cache A: get user:1"), [
        "cache A: get user:1       -> Ada (id 1): L1 hit (its own memory)"
      ])
      assert.deepStrictEqual(lineWith(output, "cache B: get user:1"), [
        "cache B: get user:1       -> Ada (id 1): L2 hit (Redis)",
        "cache B: get user:1 again -> Ada (id 1): L1 hit (its own memory)",
        // A's change evicted B's copy: B reads the new value from Redis, not its stale L1 copy.
        "cache B: get user:1       -> Ada Lovelace (id 1): L2 hit (Redis)"
      ])
      assert.include(output, "cache A: set user:1       -> Ada Lovelace (Redis tells B to drop its copy)")
      assert.match(output, /cache A: ttl user:1 {7}-> (29|30)s/)
      assert.include(output, "set with a zero TTL       -> ValidationError: Invalid TTL: ttl=0: must be positive")
      assert.include(output, "get an empty key          -> ValidationError: Invalid cache key: key=\"\": must not be empty")
      assert.include(output, "stats: A 1 L1 / 0 L2 hits, B 1 L1 / 2 L2 hits")
      assert.strictEqual(lines(output).at(-1), "done")
      assert.notInclude(output, "memory-only")
      // The demo cleans up after itself.
      assert.strictEqual(yield* server.cli("DBSIZE"), "0")
    }))

  it.live("without Redis: the same program, memory-only, said in one line", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const output = yield* runDemo(`redis://127.0.0.1:${port}`)
      const memoryOnly = lines(output).filter((line) => line.includes("memory-only"))
      assert.strictEqual(memoryOnly.length, 1, output)
      assert.match(memoryOnly[0]!, new RegExp(`^No Redis at redis://127\\.0\\.0\\.1:${port} \\(.*connection refused.*\\): running memory-only\\.$`))
      assert.include(output, "cache A: get user:1       -> Ada (id 1): L1 hit (its own memory)")
      assert.include(output, "cache B: get user:1       -> nothing: miss (no Redis: B cannot see what A wrote)")
      assert.include(output, "get an empty key          -> ValidationError")
      assert.include(output, "stats: A 1 L1 / 0 L2 hits, B 0 L1 / 0 L2 hits")
      assert.strictEqual(lines(output).at(-1), "done")
    }))
})
