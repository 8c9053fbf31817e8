/**
 * What a run was measured on, and the CPU pinning that steadies it on a small machine.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"

/** The machine, the software and the code a run measured. */
export interface Environment {
  readonly node: string
  readonly v8: string
  readonly platform: string
  readonly cpu: string
  readonly cpus: number
  readonly memoryGiB: number
  readonly loadAverage: ReadonlyArray<number>
  readonly redis: string
  readonly packages: Readonly<Record<string, string>>
  readonly commit: string
  /** Files under src/ that differ from the commit (the measured code is then not exactly it). */
  readonly uncommittedSrc: ReadonlyArray<string>
  readonly pinning: string
}

const run = (command: string, args: ReadonlyArray<string>): string | undefined => {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  } catch {
    return undefined
  }
}

const packageVersion = (name: string): string => {
  try {
    const manifest = JSON.parse(fs.readFileSync(`node_modules/${name}/package.json`, "utf8")) as { version?: string }
    return manifest.version ?? "?"
  } catch {
    return "?"
  }
}

/**
 * Pins the Redis server to the first CPU and this process (all its threads) to the
 * last, when `taskset` exists and there are at least two CPUs; says what it did.
 */
export const pinCpus = (redisPid: number | undefined): string => {
  const cpus = os.availableParallelism()
  if (run("taskset", ["-V"]) === undefined) return "not pinned (no taskset)"
  if (cpus < 2) return "not pinned (one CPU)"
  if (redisPid === undefined) return "not pinned (unknown redis-server pid)"
  const last = String(cpus - 1)
  const redis = run("taskset", ["-a", "-p", "-c", "0", String(redisPid)])
  const self = run("taskset", ["-a", "-p", "-c", last, String(process.pid)])
  return redis !== undefined && self !== undefined
    ? `redis-server on CPU 0, benchmark on CPU ${last} (taskset)`
    : "not pinned (taskset failed)"
}

/** Whether {@link pinCpus} pinned this process (it then sees fewer CPUs than the machine has). */
export const isPinned = (): boolean => os.availableParallelism() < os.cpus().length

/**
 * Pins another Redis server (a cluster node a suite started, which inherits this process's
 * pin) to the first CPU, beside the run's own server; true when it did.
 */
export const pinServer = (pid: number | undefined): boolean =>
  pid !== undefined && run("taskset", ["-a", "-p", "-c", "0", String(pid)]) !== undefined

/**
 * `command args` to run a child process on every CPU, not only on the one `pinCpus` gave
 * this process (a child inherits its parent's pin): a second process measured against this
 * one must not queue for the same core. Unchanged without `taskset` or with one CPU.
 */
export const onEveryCpu = (command: string, args: ReadonlyArray<string>): [string, Array<string>] => {
  const cpus = os.cpus().length // availableParallelism() sees the pin
  if (cpus < 2 || run("taskset", ["-V"]) === undefined) return [command, [...args]]
  return ["taskset", ["-c", `0-${cpus - 1}`, command, ...args]]
}

/** Describes the machine, Node, Redis and the measured commit. */
export const describeEnvironment = (redisVersion: string, pinning: string): Environment => ({
  node: process.version,
  v8: process.versions.v8,
  platform: `${os.type()} ${os.release()} ${os.arch()}`,
  cpu: os.cpus()[0]?.model ?? "unknown",
  cpus: os.cpus().length, // not availableParallelism(): after pinning this process sees one CPU
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  loadAverage: os.loadavg().map((load) => Math.round(load * 100) / 100),
  redis: redisVersion,
  packages: Object.fromEntries(["effect", "ioredis", "lru-cache", "tsx"].map((name) => [name, packageVersion(name)])),
  commit: run("git", ["rev-parse", "--short", "HEAD"]) ?? "unknown",
  uncommittedSrc: (run("git", ["--no-optional-locks", "status", "--porcelain", "--", "src"]) ?? "").split("\n").filter((line) => line !== ""),
  pinning
})
