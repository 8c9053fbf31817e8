/**
 * An honest install: what package.json declares matches what the package needs and ships.
 * `engines` is the lowest Node every locked dependency accepts, the committed lock is what
 * npm writes for this package.json (so `npm install` leaves a fresh clone clean), and the
 * tarball carries the docs and the changelog.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const readJson = (file: string) => JSON.parse(fs.readFileSync(path.join(root, file), "utf8"))
const manifest = readJson("package.json")
const lock = readJson("package-lock.json")

type Version = readonly [number, number, number]

const parseVersion = (text: string): Version => {
  const [major = 0, minor = 0, patch = 0] = text.replace(/^v/, "").split(".").map(Number)
  return [major, minor, patch]
}

const compare = (a: Version, b: Version): number => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]

/** One comparator of a semver range, in the forms the locked packages use (`>=x`, `^x`, `x`). */
const satisfiesComparator = (version: Version, comparator: string): boolean => {
  const [, op = "", text = ""] = /^(>=|<=|>|<|=|\^)?\s*(\S+)$/.exec(comparator) ?? []
  const bound = parseVersion(text)
  const c = compare(version, bound)
  if (op === ">=") return c >= 0
  if (op === ">") return c > 0
  if (op === "<=") return c <= 0
  if (op === "<") return c < 0
  const parts = text.split(".").length
  if (op === "^" || parts < 3) return c >= 0 && version[0] === bound[0]
  return c === 0
}

/** `a || b`, each alternative a list of comparators (`>= 1.2` counts as one). */
const satisfies = (version: Version, range: string): boolean =>
  range.split("||").some((alternative) =>
    (alternative.trim().match(/(>=|<=|>|<|=|\^)?\s*[\dx.]+/g) ?? []).every((comparator) =>
      satisfiesComparator(version, comparator.trim())
    )
  )

const lockedEngines = (): Array<{ readonly name: string; readonly range: string }> =>
  Object.entries(lock.packages as Record<string, { engines?: { node?: string } }>)
    .filter(([name, entry]) => name !== "" && entry.engines?.node !== undefined)
    .map(([name, entry]) => ({ name: name.replace(/^.*node_modules\//, ""), range: entry.engines!.node! }))

describe("package metadata", () => {
  it("engines.node is the lowest Node every locked dependency accepts", () => {
    const declared = manifest.engines.node as string
    const minimum = parseVersion(/^>=\s*(\S+)$/.exec(declared)?.[1] ?? "")
    assert.strictEqual(declared, ">=22.19")
    const refusing = lockedEngines().filter(({ range }) => !satisfies(minimum, range))
    assert.deepStrictEqual(refusing, [], `${declared} is below what these need`)
    // And no lower bound is claimed that nothing needs: one minor lower, something refuses.
    const lower: Version = [minimum[0], minimum[1] - 1, 0]
    assert.isNotEmpty(lockedEngines().filter(({ range }) => !satisfies(lower, range)))
    // The two majors CI runs.
    for (const major of [22, 24]) {
      const refused = lockedEngines().filter(({ range }) => !satisfies([major, 99, 0], range))
      assert.deepStrictEqual(refused, [], `Node ${major} is refused`)
    }
  })

  it("the committed lock is what npm writes for package.json (bin, engines, dependencies)", () => {
    const entry = lock.packages[""]
    assert.strictEqual(lock.name, manifest.name)
    assert.strictEqual(lock.version, manifest.version)
    for (
      const field of [
        "name",
        "version",
        "license",
        "dependencies",
        "devDependencies",
        "peerDependencies",
        "peerDependenciesMeta",
        "engines"
      ]
    ) {
      assert.deepStrictEqual(entry[field], manifest[field], `package-lock.json's "${field}" differs from package.json`)
    }
    // npm records bin paths without a leading "./".
    const bin = Object.fromEntries(
      Object.entries(manifest.bin as Record<string, string>).map(([name, file]) => [name, file.replace(/^\.\//, "")])
    )
    assert.deepStrictEqual(entry.bin, bin)
  })

  it("names its repository, home page, issue tracker and keywords", () => {
    assert.match(manifest.repository.url, /^git\+https:\/\/github\.com\/[\w-]+\/[\w-]+\.git$/)
    assert.match(manifest.homepage, /^https:\/\/github\.com\//)
    assert.match(manifest.bugs.url, /^https:\/\/github\.com\/.+\/issues$/)
    assert.includeMembers(manifest.keywords, ["effect", "redis", "cache"])
  })

  it("ships README, CHANGELOG and every doc; the changelog starts at the package's version", () => {
    const [packed] = JSON.parse(
      execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root, encoding: "utf8" })
    ) as Array<{ readonly files: ReadonlyArray<{ readonly path: string }> }>
    const files = new Set(packed!.files.map((file) => file.path))
    const docs = fs.readdirSync(path.join(root, "docs")).filter((file) => file.endsWith(".md"))
    assert.isNotEmpty(docs)
    for (const file of ["README.md", "CHANGELOG.md", ...docs.map((doc) => `docs/${doc}`)]) {
      assert.isTrue(files.has(file), `${file} is not in the tarball`)
    }
    const changelog = fs.readFileSync(path.join(root, "CHANGELOG.md"), "utf8")
    const versions = [...changelog.matchAll(/^## (\d+\.\d+\.\d+)/gm)].map((match) => match[1])
    assert.strictEqual(versions[0], manifest.version)
    assert.strictEqual(versions.at(-1), "0.1.0")
  })
})
