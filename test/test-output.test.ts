/**
 * A test run a person can read: the suite's vitest configuration prints the logs of failing
 * tests only, so that the warnings of passing tests (insecure test servers on purpose) do not
 * bury a failure, while a test still sees the log lines it asserts on.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, it } from "@effect/vitest"
import { Effect } from "effect"

const root = fileURLToPath(new URL("..", import.meta.url))

/** Runs the probe with the suite's configuration, as `npm test` would; its exit code is 1 (one test fails). */
const runProbe = Effect.callback<{ readonly code: number; readonly output: string }>((resume) => {
  const child = execFile(
    process.execPath,
    [
      "node_modules/vitest/vitest.mjs",
      "run",
      "--config",
      "test/support/log-probe/vitest.config.ts",
      "--maxWorkers",
      "1"
    ],
    { cwd: root, env: { ...process.env, NO_COLOR: "1", CI: "true" }, timeout: 120_000 },
    (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
      resume(Effect.succeed({ code, output: stdout + stderr }))
    }
  )
  return Effect.sync(() => child.kill("SIGKILL"))
})

it.live("a failing test's logs are printed, a passing test's are not, and a test still sees its own", () =>
  Effect.gen(function*() {
    const { code, output } = yield* runProbe
    assert.strictEqual(code, 1, output)
    assert.include(output, "probe: log of a failing test")
    assert.include(output, "probe: the failure")
    assert.notInclude(output, "probe: log of a passing test")
    assert.match(output, /Tests +1 failed \| 2 passed \(3\)/)
  }), { timeout: 180_000 })
