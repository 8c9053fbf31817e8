/**
 * examples/request-resolver.ts as a reader runs it: a child process, once against a private
 * redis-server and once against a port nobody listens on. Either way it exits 0, the database
 * is asked once per batch for the misses only, and a second cache finds in Redis what the
 * first looked up (when there is a Redis to share).
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { freePort, startRedisServer } from "../support/RedisServer.js"

const example = fileURLToPath(new URL("../../examples/request-resolver.ts", import.meta.url))

/** Runs the example with REDIS_URL set (never the machine's default); its stdout, after checking it exited 0. */
const runExample = (redisUrl: string) =>
  Effect.callback<{ readonly code: number; readonly stdout: string; readonly stderr: string }>((resume) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", example],
      { timeout: 60_000, env: { ...process.env, REDIS_URL: redisUrl } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        resume(Effect.succeed({ code, stdout, stderr }))
      }
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  }).pipe(Effect.map(({ code, stderr, stdout }) => {
    assert.strictEqual(code, 0, `${stdout}\n${stderr}`)
    return stdout.trim().split("\n")
  }))

describe("examples/request-resolver.ts", () => {
  it.live("with Redis: one database call per batch for the misses, the second cache reads Redis", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const lines = yield* runExample(server.url)
      assert.deepStrictEqual(lines, [
        `Two caches share Redis at ${server.url}.`,
        "A first   user 1, user 2, user 3, user 2, no user 42 -> database asked [1, 2, 3, 42]",
        "A again   user 1, user 2, user 3 -> database not asked",
        "B         user 3, user 4 -> database asked [4]",
        "B: 1 found in Redis, 1 looked up",
        "done"
      ])
      // The example cleans up after itself.
      assert.strictEqual(yield* server.cli("DBSIZE"), "0")
    }))

  it.live("without Redis: the same answers from memory, and B has nothing to share with A", () =>
    Effect.gen(function*() {
      const lines = yield* runExample(`redis://127.0.0.1:${yield* freePort}`)
      assert.include(lines[0], "running memory-only")
      assert.include(lines, "B         user 3, user 4 -> database asked [3, 4]")
      assert.strictEqual(lines.at(-1), "done")
    }))
})
