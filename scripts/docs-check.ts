/**
 * `npm run docs:check`: every ```ts block of README.md and docs/*.md compiles, and the
 * blocks meant to run do run.
 *
 * Each block becomes a file of a scratch project in a temporary directory, which imports
 * the package by name (`effect-redis-cache`, `effect-redis-cache/otel`) through a
 * node_modules symlink to this repository (its `exports` point at `dist/`, so build first).
 * All blocks are type-checked by one `tsc` run with the project's strict settings. Blocks
 * marked `run` are then run with tsx (or vitest, when they import `@effect/vitest`) against a
 * private redis-server started on a free loopback port: `redis://127.0.0.1:6379` in a block
 * is rewritten to it, and REDIS_URL is set to it. Errors are reported as `file:line`.
 *
 * Directives are HTML comments on the lines right above a fence (invisible on GitHub):
 *   <!-- docs-check: fragment (why it cannot compile on its own) -->   skipped, with its reason
 *   <!-- docs-check: run -->                                           type-checked, then run
 *   <!-- docs-check: gen -->          the block is the body of an Effect.gen (it uses `yield*`)
 *   <!-- docs-check: prelude
 *   declare const loadProfile: (id: number) => Effect.Effect<Profile>
 *   -->                               code put before the block (free names the prose implies)
 *   <!-- docs-check: ambient
 *   declare module "superjson" { ... }
 *   -->                               a global declaration file (a package the repo does not install)
 *
 * Usage: tsx scripts/docs-check.ts [markdown files...]   (default: README.md docs/*.md)
 * DOCS_CHECK_KEEP=1 keeps the scratch project and prints where it is.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const PACKAGE = "effect-redis-cache"
const MACHINE_REDIS = /redis:\/\/(?:127\.0\.0\.1|localhost):6379\b/g
const RUN_TIMEOUT_MS = 120_000

/** One ```ts block and what its directives ask for. */
export interface Block {
  readonly file: string
  /** 1-based line of the opening fence. */
  readonly line: number
  readonly code: ReadonlyArray<string>
  readonly fragment: string | undefined
  readonly run: boolean
  readonly gen: boolean
  readonly prelude: ReadonlyArray<string>
  readonly preludeLine: number
  readonly ambient: ReadonlyArray<string>
}

interface Directives {
  fragment: string | undefined
  run: boolean
  gen: boolean
  prelude: Array<string>
  preludeLine: number
  ambient: Array<string>
}

/** Parses one directive comment (its lines, without `<!--` and `-->`) into `into`; an error text otherwise. */
const applyDirective = (text: string, line: number, into: Directives): string | undefined => {
  const [head = "", ...body] = text.split("\n")
  const match = /^\s*docs-check:\s*([\w-]+)\s*(.*?)\s*$/.exec(head)
  while (body.length > 0 && body[body.length - 1]!.trim() === "") body.pop()
  if (match === null) return undefined
  const [, name, rest = ""] = match
  switch (name) {
    case "fragment": {
      const reason = /^\((.+)\)$/.exec(rest)?.[1]
      if (reason === undefined) return "a fragment needs a reason: <!-- docs-check: fragment (why) -->"
      into.fragment = reason
      return undefined
    }
    case "run":
    case "gen":
      into[name] = true
      return undefined
    case "prelude":
    case "ambient":
      into[name].push(...(rest === "" ? [] : [rest]), ...body)
      if (name === "prelude") into.preludeLine = line
      return undefined
    default:
      return `unknown docs-check directive '${name}' (fragment, run, gen, prelude, ambient)`
  }
}

/** Reads the directive comments stacked right above the fence at `fence` (0-based). */
const directivesAbove = (lines: ReadonlyArray<string>, fence: number, problems: Array<string>, file: string) => {
  const into: Directives = { fragment: undefined, run: false, gen: false, prelude: [], preludeLine: 0, ambient: [] }
  let end = fence - 1
  while (end >= 0 && lines[end]!.trimEnd().endsWith("-->")) {
    let start = end
    while (start >= 0 && !lines[start]!.includes("<!--")) start--
    if (start < 0) break
    const text = lines.slice(start, end + 1).join("\n").replace(/^\s*<!--/, "").replace(/-->\s*$/, "")
    const problem = applyDirective(text, start + 1, into)
    if (problem !== undefined) problems.push(`${file}:${start + 1}: ${problem}`)
    end = start - 1
  }
  return into
}

/** Every ```ts / ```typescript block of a markdown text, with its directives. */
export const extractBlocks = (file: string, text: string, problems: Array<string>): ReadonlyArray<Block> => {
  const lines = text.split("\n")
  const blocks: Array<Block> = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})\s*([\w-]*)/.exec(lines[i]!)
    if (open === null) continue
    const [, indent = "", ticks = "```", lang = ""] = open
    let close = i + 1
    while (close < lines.length && !lines[close]!.trimStart().startsWith(ticks)) close++
    if (lang === "ts" || lang === "typescript") {
      const directives = directivesAbove(lines, i, problems, file)
      const code = lines.slice(i + 1, close).map((l) => l.startsWith(indent) ? l.slice(indent.length) : l)
      blocks.push({ file, line: i + 1, code, ...directives })
    }
    i = close
  }
  return blocks
}

/** A block as a module of the scratch project, and which markdown line each of its lines came from. */
export const renderBlock = (block: Block): { readonly text: string; readonly origin: ReadonlyArray<string> } => {
  const out: Array<string> = []
  const origin: Array<string> = []
  const push = (line: string, from: string) => {
    out.push(line)
    origin.push(from)
  }
  const here = `${block.file}:${block.line}`
  push(`// generated by scripts/docs-check.ts from ${here}`, here)
  block.prelude.forEach((line, i) => push(line, `${block.file}:${block.preludeLine + 1 + i} (prelude)`))
  const numbered = block.code.map((line, i) => ({ line, from: `${block.file}:${block.line + 1 + i}` }))
  const hoisted = (l: string) => block.gen && l.startsWith("import ")
  for (const { from, line } of numbered) if (hoisted(line)) push(line, from)
  if (block.gen) push(`import { Effect as DocsCheckEffect } from "effect"`, here)
  if (block.gen) push("export const docsCheckBlock = DocsCheckEffect.gen(function*() {", here)
  for (const { from, line } of numbered) if (!hoisted(line)) push(line, from)
  if (block.gen) push("})", here)
  push("export {}", here)
  return { text: `${out.join("\n")}\n`, origin }
}

/** The scratch file name of a block: `README-L40.ts`, `docs-codec-L213.test.ts`. */
const fileNameOf = (block: Block, runsUnderVitest: boolean): string =>
  `${block.file.replace(/\.md$/, "").replace(/[^A-Za-z0-9]+/g, "-")}-L${block.line}${runsUnderVitest ? ".test" : ""}.ts`

const usesVitest = (block: Block): boolean => block.code.some((l) => l.includes(`from "@effect/vitest"`))

/** The project's compiler options, minus the unused-name checks (a snippet shows values it does not use). */
const scratchTsconfig = (): string => {
  const project = JSON.parse(fs.readFileSync(path.join(repo, "tsconfig.json"), "utf8")) as {
    compilerOptions: Record<string, unknown>
  }
  const { plugins: _plugins, noUnusedLocals: _locals, noUnusedParameters: _parameters, ...options } =
    project.compilerOptions
  return JSON.stringify({ compilerOptions: { ...options, noEmit: true }, include: ["blocks"] }, null, 2)
}

/** node_modules of the scratch project: the repo's packages, and the package itself under its name. */
const linkNodeModules = (scratch: string): void => {
  const target = path.join(scratch, "node_modules")
  fs.mkdirSync(target)
  for (const entry of fs.readdirSync(path.join(repo, "node_modules"))) {
    if (entry === ".bin" || entry === PACKAGE || entry.startsWith(".")) continue
    fs.symlinkSync(path.join(repo, "node_modules", entry), path.join(target, entry))
  }
  fs.symlinkSync(repo, path.join(target, PACKAGE))
}

// Blocks that import @effect/vitest run under vitest. Its reporter calls Map.groupBy (Node >= 21) when it
// prints a failure; on older Nodes it would crash and hide the failure (the repo's vitest.config.ts does the same).
const VITEST_CONFIG = `Map.groupBy ??= (items, keyOf) => {
  const groups = new Map()
  let index = 0
  for (const item of items) {
    const key = keyOf(item, index++)
    const group = groups.get(key)
    if (group === undefined) groups.set(key, [item])
    else group.push(item)
  }
  return groups
}
export default { test: { include: ["blocks/**/*.test.ts"], testTimeout: 60000 } }
`

interface Scratch {
  readonly dir: string
  readonly files: ReadonlyArray<{ readonly block: Block; readonly name: string; readonly origin: ReadonlyArray<string> }>
}

const writeScratch = (blocks: ReadonlyArray<Block>): Scratch => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${PACKAGE}-docs-check-`))
  fs.mkdirSync(path.join(dir, "blocks"))
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "docs-check", private: true, type: "module" }))
  fs.writeFileSync(path.join(dir, "tsconfig.json"), scratchTsconfig())
  fs.writeFileSync(path.join(dir, "vitest.config.mjs"), VITEST_CONFIG)
  linkNodeModules(dir)
  const files = blocks.map((block) => {
    const name = fileNameOf(block, usesVitest(block))
    const { origin, text } = renderBlock(block)
    fs.writeFileSync(path.join(dir, "blocks", name), text)
    if (block.ambient.length > 0) {
      fs.writeFileSync(path.join(dir, "blocks", name.replace(/\.ts$/, ".ambient.d.ts")), `${block.ambient.join("\n")}\n`)
    }
    return { block, name, origin }
  })
  return { dir, files }
}

const execNode = (args: ReadonlyArray<string>, options: { cwd: string; env?: NodeJS.ProcessEnv; timeout: number }) =>
  new Promise<{ readonly code: number; readonly output: string }>((resolve) => {
    execFile(process.execPath, args, { ...options, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resolve({ code, output: `${stdout}${stderr}${error?.killed === true ? "\n(killed: timed out)" : ""}` })
    })
  })

/** Type-checks every block in one tsc run; returns the errors as `file:line: message`. */
const typeCheck = async (scratch: Scratch): Promise<ReadonlyArray<string>> => {
  const tsc = path.join(repo, "node_modules", "typescript", "bin", "tsc")
  const { code, output } = await execNode([tsc, "-p", "tsconfig.json", "--pretty", "false"], {
    cwd: scratch.dir,
    timeout: RUN_TIMEOUT_MS
  })
  if (code === 0) return []
  const byName = new Map(scratch.files.map((f) => [`blocks/${f.name}`, f.origin]))
  const errors: Array<string> = []
  for (const line of output.split("\n")) {
    const match = /^(blocks\/[^(]+)\((\d+),(\d+)\): (.*)$/.exec(line)
    if (match !== null) {
      const [, name = "", row = "0", column = "0", message = ""] = match
      const where = byName.get(name)?.[Number(row) - 1] ?? `${name}:${row}`
      errors.push(`${where}:${column}: ${message}`)
    } else if (line.trim() !== "" && !/^\s/.test(line)) {
      errors.push(line)
    } else if (line.trim() !== "") {
      errors[errors.length - 1] += `\n${line}`
    }
  }
  return errors.length > 0 ? errors : [`tsc failed (exit ${code}):\n${output}`]
}

// ---------------------------------------------------------------------------------------------
// A private redis-server for the blocks that run.

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = net.createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      probe.close(() => (port > 0 && port !== 6379 ? resolve(port) : reject(new Error("no free port"))))
    })
  })

/** Sends one inline command to the check's server and returns the raw reply ("" when there is none). */
const redisCommand = (port: number, command: string) =>
  new Promise<string>((resolve) => {
    const socket = net.connect(port, "127.0.0.1")
    let reply = ""
    socket.setTimeout(1000)
    socket.once("connect", () => socket.write(`${command}\r\n`))
    socket.on("data", (data) => {
      reply += data.toString()
      // A bulk reply ($<length>) is complete once its body and final CRLF are in.
      const bulk = /^\$(\d+)\r\n/.exec(reply)
      if (bulk === null || reply.length >= bulk[0].length + Number(bulk[1]) + 2) socket.end()
    })
    socket.once("close", () => resolve(reply))
    socket.once("error", () => resolve(""))
    socket.once("timeout", () => socket.destroy())
  })

const connectionsReceived = async (port: number): Promise<number> =>
  Number(/total_connections_received:(\d+)/.exec(await redisCommand(port, "INFO stats"))?.[1] ?? Number.NaN)

interface Server {
  readonly url: string
  readonly port: number
  readonly stop: () => Promise<void>
}

const startRedis = async (): Promise<Server> => {
  const port = await freePort()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${PACKAGE}-docs-redis-`))
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir]
  const child: ChildProcess = spawn("redis-server", args, { stdio: "ignore" })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  child.once("error", () => undefined)
  const killNow = () => child.kill("SIGKILL")
  process.once("exit", killNow)
  const stop = async () => {
    process.removeListener("exit", killNow)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
    await exited
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break
    if ((await redisCommand(port, "PING")).startsWith("+PONG")) return { url: `redis://127.0.0.1:${port}`, port, stop }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  await stop()
  throw new Error(`redis-server did not start on port ${port} (is Debian's redis-server package installed?)`)
}

/** Runs one block; an error text when it fails or would reach a Redis the check did not start. */
const runBlock = async (scratch: Scratch, file: Scratch["files"][number], server: Server) => {
  const redisUrl = server.url
  const where = `${file.block.file}:${file.block.line}`
  const full = path.join(scratch.dir, "blocks", file.name)
  const code = fs.readFileSync(full, "utf8").replace(MACHINE_REDIS, redisUrl)
  if (code.includes("6379")) return `${where}: a run block names port 6379 in a way the check cannot rewrite`
  const namesRedis = code.includes(redisUrl) || code.includes("process.env.REDIS_URL")
  const usesRedis = /layerRedis|CacheFactory|layerFromEnv/.test(code)
  if (usesRedis && !namesRedis) {
    return `${where}: a run block must give its Redis URL (redis://127.0.0.1:6379 is rewritten to the check's server)`
  }
  fs.writeFileSync(full, code)
  const vitest = path.join(repo, "node_modules", "vitest", "vitest.mjs")
  const args = usesVitest(file.block)
    ? [vitest, "run", `blocks/${file.name}`, "--root", scratch.dir]
    : ["--import", "tsx", `blocks/${file.name}`]
  const env = { ...process.env, REDIS_URL: redisUrl, NO_COLOR: "1" }
  const connectionsBefore = await connectionsReceived(server.port)
  const result = await execNode(args, { cwd: scratch.dir, env, timeout: RUN_TIMEOUT_MS })
  if (result.code !== 0) return `${where}: the block failed when run (exit ${result.code}):\n${result.output}`
  // A cache that cannot reach Redis runs memory-only and succeeds: make sure it did talk to the server.
  if (usesRedis && !(await connectionsReceived(server.port) > connectionsBefore)) {
    return `${where}: the block ran but never connected to the check's redis-server (${redisUrl}):\n${result.output}`
  }
  return undefined
}

const runBlocks = async (scratch: Scratch): Promise<ReadonlyArray<string>> => {
  const toRun = scratch.files.filter((f) => f.block.run)
  if (toRun.length === 0) return []
  const server = await startRedis()
  const errors: Array<string> = []
  try {
    for (const file of toRun) {
      const error = await runBlock(scratch, file, server)
      console.log(`${error === undefined ? "ran" : "FAILED"} ${file.block.file}:${file.block.line}`)
      if (error !== undefined) errors.push(error)
    }
  } finally {
    await server.stop()
  }
  return errors
}

// ---------------------------------------------------------------------------------------------

const defaultFiles = (): ReadonlyArray<string> => [
  "README.md",
  ...fs.readdirSync(path.join(repo, "docs")).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`)
]

/** Checks the given markdown files (relative to the repository); returns the process exit code. */
export const main = async (files: ReadonlyArray<string>): Promise<number> => {
  const problems: Array<string> = []
  const blocks = files.flatMap((file) =>
    extractBlocks(path.relative(repo, path.resolve(repo, file)), fs.readFileSync(path.resolve(repo, file), "utf8"), problems)
  )
  const skipped = blocks.filter((b) => b.fragment !== undefined)
  const checked = blocks.filter((b) => b.fragment === undefined)
  if (checked.some((b) => b.code.some((l) => l.includes(`"${PACKAGE}`))) && !fs.existsSync(path.join(repo, "dist"))) {
    problems.push(`dist/ is missing: run \`npm run build\` first (the blocks import ${PACKAGE} by name)`)
  }
  const scratch = writeScratch(checked)
  try {
    if (problems.length === 0) problems.push(...await typeCheck(scratch))
    if (problems.length === 0) problems.push(...await runBlocks(scratch))
  } finally {
    if (process.env.DOCS_CHECK_KEEP === "1") console.log(`scratch project kept in ${scratch.dir}`)
    else fs.rmSync(scratch.dir, { recursive: true, force: true })
  }
  for (const block of skipped) console.log(`skipped ${block.file}:${block.line} (fragment: ${block.fragment})`)
  for (const problem of problems) console.error(`docs-check: ${problem}`)
  const ran = checked.filter((b) => b.run).length
  console.log(
    `docs-check: ${checked.length} blocks type-checked, ${ran} run, ${skipped.length} fragments skipped, ` +
      `${problems.length === 0 ? "no errors" : `${problems.length} error(s)`}`
  )
  return problems.length === 0 ? 0 : 1
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const files = process.argv.slice(2)
  main(files.length > 0 ? files : defaultFiles()).then((code) => {
    process.exitCode = code
  })
}
