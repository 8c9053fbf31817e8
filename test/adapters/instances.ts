/**
 * Runs one operation of test/adapters/effectWorker.ts in a Node process of its own: another
 * instance of the application, on the same Redis, for the adapters' cross-instance tests.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import type { RedisCacheOptions } from "../../src/index.js"

const WORKER = fileURLToPath(new URL("./effectWorker.ts", import.meta.url))

/** The operation's JSON outcome; a failed or hung process dies the test with its stderr. */
export const inAnotherProcess = (options: RedisCacheOptions, op: string, args: Record<string, unknown> = {}) =>
  Effect.callback<unknown>((resume) => {
    const child = execFile(
      process.execPath,
      ["--import", "tsx", WORKER, JSON.stringify(options), op, JSON.stringify(args)],
      { timeout: 60_000, env: { ...process.env, NODE_NO_WARNINGS: "1" } },
      (error, stdout, stderr) =>
        resume(
          error === null
            ? Effect.succeed(JSON.parse(stdout.trim().split("\n").pop() ?? "null"))
            : Effect.die(new Error(`${op} in another process failed: ${stderr || error.message}`))
        )
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })
