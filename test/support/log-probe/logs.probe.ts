/**
 * Run by test/test-output.test.ts (not part of the suite): one passing and one failing test
 * that both log, and a passing test that asserts on a log line it captured itself.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Logger } from "effect"

it.live("passes and logs", () => Effect.logWarning("probe: log of a passing test"))

it.live("fails and logs", () =>
  Effect.gen(function*() {
    yield* Effect.logWarning("probe: log of a failing test")
    assert.fail("probe: the failure")
  }))

it.live("asserts on its own log line", () => {
  const lines: Array<unknown> = []
  const capture = Logger.make<unknown, void>(({ message }) => {
    lines.push(message)
  })
  return Effect.logWarning("probe: captured line").pipe(
    Effect.provide(Logger.layer([capture])),
    Effect.andThen(Effect.sync(() => assert.deepStrictEqual(lines, [["probe: captured line"]])))
  )
})
