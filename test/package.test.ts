/**
 * The published package, as a user gets it: build, `npm pack`, install the tarball into a fresh
 * ESM project next to `effect`, and import it by name. A file missing from `files`, a broken
 * export map or a missing `.d.ts` fails here, not in a user's project.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const SLOW = 180_000

interface PackResult {
  readonly filename: string
  readonly files: ReadonlyArray<{ readonly path: string }>
}

const run = (command: string, args: ReadonlyArray<string>, cwd: string): string => {
  try {
    return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: SLOW })
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string }
    throw new Error(`${command} ${args.join(" ")} failed in ${cwd}:\n${failed.stdout ?? ""}\n${failed.stderr ?? failed.message}`)
  }
}

/** The names a module exports, as Node itself sees them. */
const exportedNames = (specifier: string, cwd: string): Array<string> =>
  JSON.parse(
    run(process.execPath, [
      "--input-type=module",
      "-e",
      `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m).sort()))`
    ], cwd)
  )

/** Every file path an `exports` map points at (all conditions, all subpaths). */
const exportTargets = (exportsField: unknown): Array<string> =>
  typeof exportsField === "string"
    ? [exportsField]
    : typeof exportsField === "object" && exportsField !== null
    ? Object.values(exportsField).flatMap(exportTargets)
    : []

describe("the npm package", () => {
  let work = ""
  let packed: PackResult = { filename: "", files: [] }
  let consumer = ""
  // A failing beforeAll only marks the tests skipped; keep its error and fail every test with it instead,
  // so the reason shows in each test's report (the build output of a broken src/ included).
  let setupError: unknown

  const ready = () => {
    if (setupError !== undefined) throw setupError
  }

  const setUp = () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "effect-redis-cache-pack-"))
    run("npm", ["run", "build", "--silent"], root)
    const [result] = JSON.parse(run("npm", ["pack", "--json", "--pack-destination", work], root)) as Array<PackResult>
    assert.isDefined(result)
    packed = result
    consumer = path.join(work, "consumer")
    fs.mkdirSync(consumer)
    fs.writeFileSync(
      path.join(consumer, "package.json"),
      JSON.stringify({ name: "consumer", version: "0.0.0", private: true, type: "module" }, null, 2)
    )
    run("npm", [
      "install",
      "--no-audit",
      "--no-fund",
      "--prefer-offline",
      "--no-package-lock",
      path.join(work, packed.filename),
      "effect@4.1.0"
    ], consumer)
  }

  beforeAll(() => {
    try {
      setUp()
    } catch (error) {
      setupError = error
    }
  }, SLOW)

  afterAll(() => {
    if (work !== "") fs.rmSync(work, { recursive: true, force: true })
  })

  it("ships declarations beside every module", () => {
    ready()
    const files = new Set(packed.files.map((file) => file.path))
    assert.isTrue(files.has("package.json"))
    assert.isTrue(files.has("dist/index.js"), "dist/index.js is missing from the tarball")
    assert.isTrue(files.has("dist/index.d.ts"), "dist/index.d.ts is missing from the tarball")
    const modules = [...files].filter((file) => file.startsWith("dist/") && file.endsWith(".js"))
    for (const module of modules) {
      assert.isTrue(files.has(module.replace(/\.js$/, ".d.ts")), `${module} has no .d.ts in the tarball`)
    }
    assert.isFalse([...files].some((file) => file.startsWith("src/") || file.startsWith("test/")), "sources leaked")
  })

  it("points every export-map entry, main and types at a shipped file", () => {
    ready()
    const manifest = JSON.parse(fs.readFileSync(path.join(consumer, "node_modules/effect-redis-cache/package.json"), "utf8"))
    const files = new Set(packed.files.map((file) => file.path))
    const targets = [...exportTargets(manifest.exports), manifest.main, manifest.types].filter(
      (target): target is string => typeof target === "string"
    )
    assert.isNotEmpty(targets)
    for (const target of targets) {
      assert.isTrue(files.has(path.posix.normalize(target)), `${target} is referenced by package.json but not shipped`)
    }
  })

  it("ships every image its shipped markdown shows", () => {
    ready()
    const files = new Set(packed.files.map((file) => file.path))
    const pages = [...files].filter((file) => file.endsWith(".md"))
    assert.isNotEmpty(pages)
    for (const page of pages) {
      const text = fs.readFileSync(path.join(root, page), "utf8")
      for (const [, target] of text.matchAll(/!\[[^\]]*\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue
        const shipped = path.posix.normalize(path.posix.join(path.posix.dirname(page), target!))
        assert.isTrue(files.has(shipped), `${page} shows ${target}, which the tarball does not hold`)
      }
    }
  })

  it("imports by name in a fresh ESM project with the same exports as the build", () => {
    ready()
    const built = exportedNames("./dist/index.js", root)
    assert.include(built, "Cache")
    const installed = exportedNames("effect-redis-cache", consumer)
    assert.deepStrictEqual(installed, built)
    run(process.execPath, [
      "-e",
      "import('effect-redis-cache').then((m) => { if (!m.Cache) throw new Error('no Cache export') })"
    ], consumer)
  })

  // CI runs the suite under two Node majors; this proves which one the workers really run on.
  it("runs on the Node version CI asked for", () => {
    console.log(`vitest worker: Node ${process.version}`)
    const expected = process.env.EXPECT_NODE_MAJOR
    if (expected !== undefined && expected !== "") {
      assert.strictEqual(process.versions.node.split(".")[0], expected)
    }
  })
})
