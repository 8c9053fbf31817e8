/**
 * Real `redis-server` processes for tests.
 *
 * Every test that touches Redis starts its own server on a free loopback port with
 * {@link startRedisServer} and gets it back as a handle that can stop, kill, pause,
 * resume and restart it. The server lives in the caller's `Scope`: when the scope
 * closes (test passed, failed or was interrupted) the process is killed and its
 * temporary directory removed. The machine's own Redis on 6379 is never touched.
 *
 * Waits here use `setTimeout` and `Date.now()` directly rather than `Effect.sleep`,
 * so the helper also works inside `it.effect`, whose TestClock never advances by itself.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as tls from "node:tls"
import { Effect, type Scope } from "effect"

/** How to start a test server. */
export interface RedisServerOptions {
  /** Extra `redis-server` arguments, e.g. `["--requirepass", "x"]`. */
  readonly args?: ReadonlyArray<string>
  /** The port to listen on; default: a free loopback port. 6379 is refused. */
  readonly port?: number
  /**
   * Serve TLS on `port` (the plain port is disabled). PEM file paths. `authClients`
   * defaults to `"no"` (Redis' own default is `"yes"`) so a client needs only the CA.
   */
  readonly tls?: {
    readonly cert: string
    readonly key: string
    readonly ca: string
    readonly authClients?: "yes" | "no" | "optional"
  }
  /** Path of an ACL file to load (`--aclfile`). */
  readonly aclFile?: string
  /**
   * Run a Sentinel (`redis-server <conf> --sentinel`) instead of a data server: the
   * text of its config file (`sentinel monitor ...` lines), written once into its dir
   * (Sentinel rewrites it as it learns). `args` are appended as for a server.
   */
  readonly sentinelConfig?: string
}

/** A running test server and the faults a test can inflict on it. */
export interface RedisServerHandle {
  readonly port: number
  readonly host: "127.0.0.1"
  /** `redis://127.0.0.1:<port>`, or `rediss://` when the server serves TLS. */
  readonly url: string
  /** Its temporary directory (holds `redis.log`). */
  readonly dir: string
  /** The `redis-server` version, e.g. `"7.0.15"`. */
  readonly version: string
  /** Graceful stop (SIGTERM, nothing is saved); waits for the process to exit. */
  readonly stop: Effect.Effect<void>
  /** `kill -9`; waits for the process to exit. */
  readonly kill: Effect.Effect<void>
  /** SIGSTOP: connections are still accepted by the kernel but nothing answers. */
  readonly pause: Effect.Effect<void>
  /** SIGCONT after {@link RedisServerHandle.pause}. */
  readonly resume: Effect.Effect<void>
  /** Stops the server if it still runs, starts it again on the same port and options, and waits until it answers PING. */
  readonly restart: Effect.Effect<void>
  /**
   * Runs `redis-cli` against the server and returns its output without the trailing
   * newline. Error replies are returned as text (`"NOAUTH Authentication required."`).
   * The password of `--requirepass` is sent automatically; leading options pass through
   * to redis-cli, e.g. `cli("--user", "admin", "--pass", "pw", "ACL", "WHOAMI")`.
   */
  readonly cli: (...args: ReadonlyArray<string>) => Effect.Effect<string>
}

const HOST = "127.0.0.1"
const MACHINE_REDIS_PORT = 6379
const READY_TIMEOUT_MS = 10_000
const STOP_GRACE_MS = 5_000
const CLI_TIMEOUT_MS = 10_000
const START_ATTEMPTS = 5

/** A free loopback port nobody listens on (for "Redis down" tests). */
export const freePort: Effect.Effect<number> = Effect.callback<number>((resume) => {
  const probe = net.createServer()
  probe.unref()
  probe.once("error", (cause) => resume(Effect.die(cause)))
  probe.listen(0, HOST, () => {
    const address = probe.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    probe.close(() => resume(port > 0 && port !== MACHINE_REDIS_PORT ? Effect.succeed(port) : Effect.die(new Error("no free port"))))
  })
})

/** Starts a server in the current Scope; it is always stopped (and its dir removed) when the scope closes. */
export const startRedisServer = (options: RedisServerOptions = {}): Effect.Effect<RedisServerHandle, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (options.port === MACHINE_REDIS_PORT) {
      return yield* Effect.die(new Error("startRedisServer: port 6379 belongs to the machine's own Redis"))
    }
    // The release is registered before anything is spawned, so even an interrupted start cleans up.
    const server = yield* Effect.acquireRelease(
      Effect.sync(() => new ManagedServer(options)),
      (server) => server.dispose
    )
    yield* server.start(options.port)
    return server.handle()
  })

// ---------------------------------------------------------------------------------------------
// Safety net: a vitest worker that exits without closing its scopes must not leave servers behind.

const live = new Set<ManagedServer>()
let safetyNetInstalled = false

const isAlive = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null

const killAllLive = () => {
  for (const server of live) server.killNow()
  live.clear()
}

const installSafetyNet = () => {
  if (safetyNetInstalled) return
  safetyNetInstalled = true
  process.on("exit", killAllLive)
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      killAllLive()
      // Keep the default behaviour (terminate) unless someone else handles the signal.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
    })
  }
}

// ---------------------------------------------------------------------------------------------

let cachedVersion: string | undefined
const redisVersion = (): string => {
  if (cachedVersion === undefined) {
    const out = execFileSync("redis-server", ["--version"], { encoding: "utf8" })
    cachedVersion = /v=(\d+\.\d+\.\d+)/.exec(out)?.[1] ?? out.trim()
  }
  return cachedVersion
}

const realSleep = (ms: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), ms)
    return Effect.sync(() => clearTimeout(timer))
  })

const waitForExit = (child: ChildProcess): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (!isAlive(child)) return resume(Effect.void)
    const onExit = () => resume(Effect.void)
    child.once("exit", onExit)
    return Effect.sync(() => child.off("exit", onExit))
  })

/** Resolves `true` once the process has exited, `false` if it is still alive after `ms`. */
const exitedWithin = (child: ChildProcess, ms: number): Effect.Effect<boolean> =>
  Effect.raceFirst(waitForExit(child).pipe(Effect.as(true)), realSleep(ms).pipe(Effect.as(false)))

const tailOf = (text: string, lines = 25) => text.split("\n").slice(-lines).join("\n")

/**
 * One PING over a raw (or TLS) socket. Written by hand rather than with ioredis because
 * readiness means "the server answers at all": a `-NOAUTH` reply from a server with
 * `--requirepass` or an ACL file counts, which a client library would report as a failure.
 *
 * Over TLS the probe does not verify the server's certificate: tests deliberately start servers
 * with expired, foreign-CA or wrong-host certificates, and those servers are up all the same. For the
 * same reason a TLS alert from the server (say, it rejected our client certificate) also proves it is up.
 */
const pingOnce = (port: number, tlsFiles: RedisServerOptions["tls"]): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    let settled = false
    const socket: net.Socket = tlsFiles
      ? tls.connect({
        host: HOST,
        port,
        rejectUnauthorized: false,
        // Presented only where the server demands a client certificate.
        ...(tlsFiles.authClients === "yes"
          ? { cert: fs.readFileSync(tlsFiles.cert), key: fs.readFileSync(tlsFiles.key) }
          : {})
      })
      : net.connect({ host: HOST, port })
    const finish = (answered: boolean) => {
      if (settled) return
      settled = true
      socket.destroy()
      resume(Effect.succeed(answered))
    }
    let received = ""
    socket.setTimeout(1_000, () => finish(false))
    socket.once(tlsFiles ? "secureConnect" : "connect", () => socket.write("PING\r\n"))
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1")
      if (/^[+-].*\r\n/.test(received)) finish(true)
    })
    socket.once("error", (error: NodeJS.ErrnoException) => finish(tlsFiles !== undefined && isTlsAlert(error)))
    socket.once("close", () => finish(false))
    return Effect.sync(() => finish(false))
  })

/** An error the peer's TLS stack sent (an alert), as opposed to a refused or reset connection. */
const isTlsAlert = (error: NodeJS.ErrnoException): boolean =>
  /alert/i.test(error.message) || (error.code ?? "").startsWith("ERR_SSL_SSLV3_ALERT") || (error.code ?? "").startsWith("ERR_SSL_TLSV1_ALERT")

/** Reads `--requirepass` from the extra args, so `cli` can authenticate. */
const requirePassOf = (args: ReadonlyArray<string>): string | undefined => {
  const index = args.lastIndexOf("--requirepass")
  return index >= 0 ? args[index + 1] : undefined
}

class ManagedServer {
  readonly dir: string
  readonly logFile: string
  port = 0
  private child: ChildProcess | undefined
  private output = ""
  private paused = false

  constructor(readonly options: RedisServerOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-redis-cache-redis-"))
    this.logFile = path.join(this.dir, "redis.log")
    installSafetyNet()
    live.add(this)
  }

  /** Synchronous last resort for the exit safety net: no waiting, no Effect runtime. */
  killNow() {
    const child = this.child
    if (child !== undefined && isAlive(child)) {
      try {
        child.kill("SIGKILL")
      } catch {
        // already gone
      }
    }
    fs.rmSync(this.dir, { recursive: true, force: true })
  }

  private sentinelArgs(port: number, config: string): Array<string> {
    const file = path.join(this.dir, "sentinel.conf")
    if (!fs.existsSync(file)) fs.writeFileSync(file, config)
    const { tls: tlsFiles } = this.options
    // A TLS Sentinel serves TLS only and speaks TLS to the master, the replicas and the other Sentinels.
    const listen = tlsFiles === undefined ? ["--port", String(port)] : [
      "--port", "0", "--tls-port", String(port),
      "--tls-cert-file", tlsFiles.cert, "--tls-key-file", tlsFiles.key, "--tls-ca-cert-file", tlsFiles.ca,
      "--tls-auth-clients", tlsFiles.authClients ?? "no", "--tls-replication", "yes"
    ]
    return [
      file, "--sentinel",
      "--bind", HOST,
      ...listen,
      "--dir", this.dir,
      "--daemonize", "no",
      "--logfile", this.logFile,
      ...(this.options.args ?? [])
    ]
  }

  private serverArgs(port: number): Array<string> {
    const { options } = this
    if (options.sentinelConfig !== undefined) return this.sentinelArgs(port, options.sentinelConfig)
    const args = [
      "--bind", HOST,
      "--save", "",
      "--appendonly", "no",
      "--dir", this.dir,
      "--daemonize", "no",
      "--logfile", this.logFile
    ]
    if (options.tls) {
      args.push(
        "--port", "0",
        "--tls-port", String(port),
        "--tls-cert-file", options.tls.cert,
        "--tls-key-file", options.tls.key,
        "--tls-ca-cert-file", options.tls.ca,
        "--tls-auth-clients", options.tls.authClients ?? "no"
      )
    } else {
      args.push("--port", String(port))
    }
    if (options.aclFile !== undefined) args.push("--aclfile", options.aclFile)
    args.push(...(options.args ?? []))
    return args
  }

  private spawnOn(port: number): ChildProcess {
    this.output = ""
    const child = spawn("redis-server", this.serverArgs(port), { stdio: ["ignore", "pipe", "pipe"] })
    // Config errors are printed before the log file is opened; keep them for error messages.
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString("utf8")).slice(-8_000)
    }
    child.stdout?.on("data", keep)
    child.stderr?.on("data", keep)
    child.once("error", (cause) => keep(Buffer.from(String(cause))))
    this.child = child
    this.paused = false
    this.port = port
    return child
  }

  private logTail(): string {
    let log = ""
    try {
      log = fs.readFileSync(this.logFile, "utf8")
    } catch {
      // not written yet
    }
    return tailOf(`${log}\n${this.output}`.trim())
  }

  /** Waits until the child answers PING; `"in-use"` when it exited because the port was taken. */
  private waitReady(child: ChildProcess, port: number): Effect.Effect<"ready" | "in-use"> {
    return Effect.gen({ self: this }, function*() {
      const deadline = Date.now() + READY_TIMEOUT_MS
      while (true) {
        if (!isAlive(child)) {
          const tail = this.logTail()
          if (/Address already in use/i.test(tail)) return "in-use" as const
          return yield* Effect.die(
            new Error(`redis-server on port ${port} exited during start-up (code ${child.exitCode}).\n${tail}`)
          )
        }
        if (yield* pingOnce(port, this.options.tls)) return "ready" as const
        if (Date.now() > deadline) {
          return yield* Effect.die(
            new Error(`redis-server on port ${port} did not answer PING within ${READY_TIMEOUT_MS} ms.\n${this.logTail()}`)
          )
        }
        yield* realSleep(50)
      }
    })
  }

  /** Starts on `fixedPort`, or on a fresh free port (retrying when another process wins the race for it). */
  start(fixedPort: number | undefined): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
        const port = fixedPort ?? (yield* freePort)
        const child = this.spawnOn(port)
        if ((yield* this.waitReady(child, port)) === "ready") return
        yield* waitForExit(child)
        // A fixed port (restart) may still be held briefly by the old process' sockets.
        if (fixedPort !== undefined) yield* realSleep(200 * attempt)
      }
      return yield* Effect.die(new Error(`redis-server: port still in use after ${START_ATTEMPTS} attempts.\n${this.logTail()}`))
    })
  }

  private runningChild(operation: string): Effect.Effect<ChildProcess> {
    return Effect.suspend(() => {
      const child = this.child
      return child !== undefined && isAlive(child)
        ? Effect.succeed(child)
        : Effect.die(new Error(`RedisServer.${operation}: the server on port ${this.port} is not running`))
    })
  }

  private signal(child: ChildProcess, signal: NodeJS.Signals) {
    if (isAlive(child)) child.kill(signal)
  }

  readonly stop: Effect.Effect<void> = Effect.suspend(() => {
    const child = this.child
    if (child === undefined || !isAlive(child)) return Effect.void
    return Effect.gen({ self: this }, function*() {
      if (this.paused) this.signal(child, "SIGCONT")
      this.paused = false
      this.signal(child, "SIGTERM")
      if (!(yield* exitedWithin(child, STOP_GRACE_MS))) {
        this.signal(child, "SIGKILL")
        yield* waitForExit(child)
      }
    })
  })

  readonly kill: Effect.Effect<void> = Effect.suspend(() => {
    const child = this.child
    if (child === undefined || !isAlive(child)) return Effect.void
    this.paused = false
    this.signal(child, "SIGKILL")
    return waitForExit(child)
  })

  readonly pause: Effect.Effect<void> = this.runningChild("pause").pipe(
    Effect.map((child) => {
      this.signal(child, "SIGSTOP")
      this.paused = true
    })
  )

  readonly resume: Effect.Effect<void> = this.runningChild("resume").pipe(
    Effect.map((child) => {
      this.signal(child, "SIGCONT")
      this.paused = false
    })
  )

  readonly restart: Effect.Effect<void> = Effect.suspend(() => this.stop.pipe(Effect.andThen(this.start(this.port))))

  /** Scope finalizer: resume (a stopped process cannot exit cleanly), kill, remove the directory. */
  readonly dispose: Effect.Effect<void> = Effect.suspend(() => {
    const child = this.child
    const killed = child !== undefined && isAlive(child)
      ? Effect.sync(() => {
        if (this.paused) this.signal(child, "SIGCONT")
        this.signal(child, "SIGKILL")
      }).pipe(Effect.andThen(waitForExit(child)))
      : Effect.void
    return killed.pipe(Effect.ensuring(Effect.sync(() => {
      live.delete(this)
      fs.rmSync(this.dir, { recursive: true, force: true })
    })))
  })

  readonly cli = (...args: ReadonlyArray<string>): Effect.Effect<string> =>
    Effect.callback<string>((resume) => {
      const { tls: tlsFiles } = this.options
      const connection = ["-h", HOST, "-p", String(this.port), "--no-auth-warning"]
      // --insecure: like the readiness probe, cli must also reach servers started with bad certificates.
      if (tlsFiles) connection.push("--tls", "--insecure")
      if (tlsFiles?.authClients === "yes") connection.push("--cert", tlsFiles.cert, "--key", tlsFiles.key)
      const password = requirePassOf(this.options.args ?? [])
      const env = password === undefined ? process.env : { ...process.env, REDISCLI_AUTH: password }
      const child = execFile(
        "redis-cli",
        [...connection, ...args],
        { env, timeout: CLI_TIMEOUT_MS, encoding: "utf8" },
        (error, stdout, stderr) => {
          // redis-cli exits 0 on error replies; a non-zero exit means it could not talk to the server.
          if (error !== null) {
            resume(Effect.die(new Error(`redis-cli ${args.join(" ")} failed on port ${this.port}: ${stderr || error.message}`)))
          } else {
            resume(Effect.succeed(stdout.replace(/\n+$/, "")))
          }
        }
      )
      return Effect.sync(() => child.kill("SIGKILL"))
    })

  handle(): RedisServerHandle {
    return {
      port: this.port,
      host: HOST,
      url: `${this.options.tls ? "rediss" : "redis"}://${HOST}:${this.port}`,
      dir: this.dir,
      version: redisVersion(),
      stop: this.stop,
      kill: this.kill,
      pause: this.pause,
      resume: this.resume,
      restart: this.restart,
      cli: this.cli
    }
  }
}
