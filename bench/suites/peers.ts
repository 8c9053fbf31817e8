/**
 * This cache beside bentocache and cacheable, each with its Redis tier on the run's
 * redis-server, each in a process of its own (peers-child.ts) running the same loops on
 * the same values. The peers are installed on demand into bench/peers/node_modules from
 * bench/peers/package-lock.json (see docs/benchmarks.md for why they are not root
 * dependencies).
 */
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import type { CaseResult, SizeName } from "../lib/harness.js"
import { peerLibraries, type PeerLibrary } from "../lib/peers.js"
import type { SuiteContext } from "../lib/suite.js"

const child = fileURLToPath(new URL("./peers-child.ts", import.meta.url))
const peersDir = fileURLToPath(new URL("../peers/", import.meta.url))

/**
 * Installs the peers with `npm ci` when bench/peers/node_modules is missing or older than
 * its lockfile (npm ci records the lockfile it installed as node_modules/.package-lock.json).
 */
export const installPeers = (): Effect.Effect<void> =>
  Effect.sync(() => {
    const installed = `${peersDir}node_modules/.package-lock.json`
    const lock = `${peersDir}package-lock.json`
    if (fs.existsSync(installed) && fs.statSync(installed).mtimeMs >= fs.statSync(lock).mtimeMs) return
    process.stderr.write("  installing the peers (npm ci in bench/peers)\n")
    execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: peersDir, stdio: ["ignore", "inherit", "inherit"] })
  })

/** Runs one library's child to its end; its results, reported as they arrive. */
const runChild = (context: SuiteContext, library: PeerLibrary, size: SizeName): Effect.Effect<ReadonlyArray<CaseResult>> =>
  Effect.callback<ReadonlyArray<CaseResult>>((resume) => {
    // The same Node and loader as this process (tsx's --import), and the same CPU pin.
    const args = [...process.execArgv, child, library, String(context.port), size, JSON.stringify(context.plan)]
    const process_ = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] })
    const results: Array<CaseResult> = []
    let pending = ""
    process_.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      pending += chunk
      const lines = pending.split("\n")
      pending = lines.pop() ?? ""
      for (const line of lines) {
        if (!line.startsWith("result ")) continue
        const result = JSON.parse(line.slice("result ".length)) as CaseResult
        context.onResult(result)
        results.push(result)
      }
    })
    process_.on("exit", (code) =>
      resume(
        code === 0 ? Effect.succeed(results) : Effect.die(new Error(`peers-child.ts ${library} exited with ${code}`))
      ))
    return Effect.sync(() => process_.kill())
  })

/** Of two measurements of the same row, the faster: load on a shared machine only ever slows a row down. */
const faster = (results: ReadonlyArray<CaseResult>): ReadonlyArray<CaseResult> => {
  const kept = new Map<string, CaseResult>()
  for (const result of results) {
    const key = `${result.id} ${result.size}`
    const other = kept.get(key)
    if (other === undefined || result.opsPerSec > other.opsPerSec) kept.set(key, result)
  }
  return [...kept.values()]
}

/**
 * Runs every library at each size, each in a process of its own. The libraries take turns
 * size by size (about 20 s each), not one library at every size, so that the rows compared
 * are measured close together while the machine's load moves; the one that goes first
 * rotates, so that no library always takes the same place. A full run makes two passes and
 * keeps each row's faster one (a load spike during one library's turn would otherwise decide
 * its ratios); `--quick` makes one.
 */
export const peersSuite = (context: SuiteContext): Effect.Effect<ReadonlyArray<CaseResult>> =>
  Effect.gen(function*() {
    yield* installPeers()
    const results: Array<CaseResult> = []
    const passes = context.quick ? 1 : 2
    for (let pass = 0; pass < passes; pass++) {
      for (const [turn, size] of context.sizes.entries()) {
        for (const [i] of peerLibraries.entries()) {
          const library = peerLibraries[(pass + turn + i) % peerLibraries.length]!
          results.push(...yield* runChild(context, library, size))
        }
      }
    }
    return faster(results)
  })
