/**
 * The HTTP example (examples/http-api/main.ts) as its user runs it: a child Node process
 * listening on a free loopback port, driven with real HTTP requests (fetch). It lives in
 * the test's Scope and is killed with it if the test has not stopped it.
 *
 * Waits poll with `setTimeout` against a deadline: they bound how long a test waits for
 * something to happen, they never assert how long it took.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect, type Scope } from "effect"
import { freePort } from "./RedisServer.js"

const MAIN = fileURLToPath(new URL("../../examples/http-api/main.ts", import.meta.url))
const START_DEADLINE_MS = 60_000
const POLL_MS = 100

/** An HTTP answer: the status and the body, parsed as JSON when it is JSON. */
export interface HttpAnswer {
  readonly status: number
  readonly text: string
  readonly json: unknown
}

/** A running HTTP example. */
export interface HttpApp {
  readonly pid: number
  readonly url: string
  /** GET `path`; a connection failure is a defect (the app is expected to be up). */
  readonly get: (path: string) => Effect.Effect<HttpAnswer>
  /** Everything the app printed so far (stdout and stderr). */
  readonly output: () => string
  /** Sends SIGTERM and waits (up to `deadlineMs`) for the exit; `code` is null if killed by a signal. */
  readonly terminate: (deadlineMs: number) => Effect.Effect<{ readonly code: number | null; readonly exited: boolean }>
}

const sleep = (millis: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/**
 * Polls `probe` until it returns `true`, for up to `deadlineMs`; whether it did. The last
 * probe's error, if any, is ignored: the caller asserts on the state it waited for.
 */
export const waitUntil = <E, R>(
  probe: Effect.Effect<boolean, E, R>,
  deadlineMs: number
): Effect.Effect<boolean, never, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + deadlineMs
    while (Date.now() < deadline) {
      if (yield* probe.pipe(Effect.orElseSucceed(() => false))) return true
      yield* sleep(POLL_MS)
    }
    return false
  })

const fetchAnswer = (url: string) =>
  Effect.tryPromise(async () => {
    const response = await fetch(url)
    const text = await response.text()
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      json = undefined
    }
    return { status: response.status, text, json } satisfies HttpAnswer
  })

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

/**
 * Starts the example with `env` added to this process' environment (set REDIS_URL: the
 * default is the machine's own Redis) and waits until it answers `/health`.
 */
export const startHttpApp = (env: Record<string, string>): Effect.Effect<HttpApp, never, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    const chunks: Array<string> = []
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(process.execPath, ["--import", "tsx", MAIN], {
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, NO_COLOR: "1", PORT: String(port), HOST: "127.0.0.1", ...env }
        })
        child.stdout?.on("data", (chunk: Buffer) => chunks.push(chunk.toString()))
        child.stderr?.on("data", (chunk: Buffer) => chunks.push(chunk.toString()))
        return child
      }),
      (child) => Effect.sync(() => exited(child) || child.kill("SIGKILL"))
    )
    const url = `http://127.0.0.1:${port}`
    const output = () => chunks.join("")
    const up = yield* waitUntil(Effect.as(fetchAnswer(`${url}/health`), true), START_DEADLINE_MS)
    if (!up) return yield* Effect.die(new Error(`the HTTP example did not start:\n${output()}`))

    const waitExit = Effect.callback<void>((resume) => {
      if (exited(child)) return resume(Effect.void)
      child.once("exit", () => resume(Effect.void))
    })
    return {
      pid: child.pid!,
      url,
      output,
      get: (path) => Effect.orDie(fetchAnswer(`${url}${path}`)),
      terminate: (deadlineMs) =>
        Effect.gen(function*() {
          child.kill("SIGTERM")
          const done = yield* waitExit.pipe(Effect.timeoutOption(deadlineMs))
          return { code: child.exitCode, exited: done._tag === "Some" }
        })
    } satisfies HttpApp
  })
