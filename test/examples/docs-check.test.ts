/**
 * scripts/docs-check.ts (`npm run docs:check`): blocks are extracted with their directives,
 * errors are reported at the markdown line they come from, and blocks marked `run` run.
 * The end-to-end cases use blocks that import only `effect`, so they do not need `dist/`.
 */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { extractBlocks, renderBlock } from "../../scripts/docs-check.js"

const script = fileURLToPath(new URL("../../scripts/docs-check.ts", import.meta.url))

const markdown = (lines: ReadonlyArray<string>) => `${lines.join("\n")}\n`

/** Runs the check on one markdown file written to a temporary directory. */
const check = (text: string) =>
  Effect.acquireUseRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "docs-check-test-"))),
    (dir) =>
      Effect.callback<{ readonly code: number; readonly output: string }>((resume) => {
        const file = path.join(dir, "guide.md")
        fs.writeFileSync(file, text)
        const child = execFile(
          process.execPath,
          ["--import", "tsx", script, file],
          { timeout: 120_000, env: { ...process.env, NO_COLOR: "1" } },
          (error, stdout, stderr) => {
            const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
            resume(Effect.succeed({ code, output: `${stdout}${stderr}` }))
          }
        )
        return Effect.sync(() => child.kill("SIGKILL"))
      }),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

describe("docs-check: extraction", () => {
  it("reads ts blocks with their directives and maps each line back to the markdown", () => {
    const problems: Array<string> = []
    const blocks = extractBlocks("guide.md", markdown([
      "# Guide", // 1
      "<!-- docs-check: run -->", // 2
      "<!-- docs-check: prelude", // 3
      "const answer = 42", // 4
      "-->", // 5
      "```ts", // 6
      "console.log(answer)", // 7
      "```", // 8
      "```sh", // 9
      "npm test", // 10
      "```", // 11
      "<!-- docs-check: fragment (shows one line of a larger program) -->", // 12
      "```typescript", // 13
      "yield* x", // 14
      "```" // 15
    ]), problems)
    assert.deepStrictEqual(problems, [])
    assert.strictEqual(blocks.length, 2)
    const [first, second] = blocks
    assert.strictEqual(first!.line, 6)
    assert.isTrue(first!.run)
    assert.deepStrictEqual(first!.prelude, ["const answer = 42"])
    assert.strictEqual(second!.fragment, "shows one line of a larger program")
    const rendered = renderBlock(first!)
    const lines = rendered.text.split("\n")
    assert.strictEqual(rendered.origin[lines.indexOf("const answer = 42")], "guide.md:4 (prelude)")
    assert.strictEqual(rendered.origin[lines.indexOf("console.log(answer)")], "guide.md:7")
  })

  it("wraps a gen block in Effect.gen, keeping its imports at the top", () => {
    const [block] = extractBlocks("g.md", markdown([
      "<!-- docs-check: gen -->",
      "```ts",
      "import { Clock } from \"effect\"",
      "const now = yield* Clock.currentTimeMillis",
      "```"
    ]), [])
    const rendered = renderBlock(block!)
    const lines = rendered.text.split("\n")
    assert.isBelow(lines.indexOf("import { Clock } from \"effect\""), lines.findIndex((l) => l.includes(".gen(function*")))
    assert.strictEqual(rendered.origin[lines.indexOf("const now = yield* Clock.currentTimeMillis")], "g.md:4")
  })

  it("refuses a fragment without a reason and an unknown directive", () => {
    const problems: Array<string> = []
    extractBlocks("g.md", markdown([
      "<!-- docs-check: fragment -->",
      "```ts",
      "x",
      "```",
      "<!-- docs-check: compile-only -->",
      "```ts",
      "y",
      "```"
    ]), problems)
    assert.strictEqual(problems.length, 2)
    assert.include(problems[0], "g.md:1: a fragment needs a reason")
    assert.include(problems[1], "g.md:5: unknown docs-check directive 'compile-only'")
  })
})

describe("docs-check: end to end", () => {
  it.live("a type error is reported at its markdown line; a fragment is skipped with its reason", () =>
    Effect.gen(function*() {
      const { code, output } = yield* check(markdown([
        "```ts", // 1
        "import { Effect } from \"effect\"", // 2
        "export const ok = Effect.succeed(1)", // 3
        "```", // 4
        "", // 5
        "```ts", // 6
        "import { Effect } from \"effect\"", // 7
        "const n: number = Effect.succeed(\"one\")", // 8
        "```", // 9
        "<!-- docs-check: fragment (not TypeScript on purpose) -->", // 10
        "```ts", // 11
        "this is not code", // 12
        "```" // 13
      ]))
      assert.strictEqual(code, 1, output)
      assert.match(output, /guide\.md:8:7: error TS2322/)
      assert.match(output, /skipped \S*guide\.md:11 \(fragment: not TypeScript on purpose\)/)
      assert.include(output, "2 blocks type-checked, 0 run, 1 fragments skipped, 1 error(s)")
    }))

  it.live("a run block that fails is reported; one that names port 6379 beyond rewriting is refused", () =>
    Effect.gen(function*() {
      const { code, output } = yield* check(markdown([
        "<!-- docs-check: run -->", // 1
        "```ts", // 2
        "console.log(\"REDIS_URL is\", process.env.REDIS_URL)", // 3
        "```", // 4
        "<!-- docs-check: run -->", // 5
        "```ts", // 6
        "throw new Error(\"the snippet broke\")", // 7
        "```", // 8
        "<!-- docs-check: run -->", // 9
        "```ts", // 10
        "const port = 6379", // 11
        "console.log(port)", // 12
        "```" // 13
      ]))
      assert.strictEqual(code, 1, output)
      assert.match(output, /ran \S*guide\.md:2\n/)
      assert.match(output, /guide\.md:6: the block failed when run \(exit 1\)[\s\S]*the snippet broke/)
      assert.match(output, /guide\.md:10: a run block names port 6379/)
      assert.include(output, "3 blocks type-checked, 3 run, 0 fragments skipped, 2 error(s)")
    }))
})
