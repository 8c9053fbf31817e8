/**
 * examples/http-api (docs/http-example.md) end to end: the server runs as a child process
 * on a free port against a private redis-server, and the test speaks HTTP to it. Repeated
 * requests reach the slow upstream once; with Redis killed the requests keep succeeding and
 * `/health` says the instance is degraded; with Redis back it recovers and replays what it
 * wrote meanwhile; SIGTERM stops it with exit code 0.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type HttpApp, startHttpApp, waitUntil } from "../support/httpApp.js"
import { freePort, startRedisServer } from "../support/RedisServer.js"

/** How long a test waits for a state; generous, as the machine may be loaded. Never an assertion on speed. */
const DEADLINE_MS = 30_000

interface Health {
  readonly status: "ready" | "degraded"
  readonly mode: string
  readonly memoryOnly: boolean
  readonly lastError: string | null
  readonly reconnectAttempts: number
  readonly pendingReplay: number
}

const health = (app: HttpApp) =>
  Effect.map(app.get("/health"), (answer) => ({ code: answer.status, body: answer.json as Health }))

const upstreamCalls = (app: HttpApp) => Effect.map(app.get("/upstream"), (answer) => (answer.json as { calls: number }).calls)

/** GET /products/:id, asserting a 200; the product. */
const product = (app: HttpApp, id: number) =>
  Effect.map(app.get(`/products/${id}`), (answer) => {
    assert.strictEqual(answer.status, 200, answer.text)
    return answer.json as { readonly id: number; readonly name: string; readonly fetchedAt: string }
  })

/** SIGTERM, then the process must be gone with exit code 0 and have said goodbye. */
const stopCleanly = (app: HttpApp) =>
  Effect.gen(function*() {
    const { code, exited } = yield* app.terminate(DEADLINE_MS)
    assert.isTrue(exited, `still running after SIGTERM:\n${app.output()}`)
    assert.strictEqual(code, 0, app.output())
    assert.match(app.output(), /Shutting down: cache \w+/)
    assert.include(app.output(), "Stopped: the cache's scope is closed")
  })

describe("examples/http-api", () => {
  // One story in one test: each step starts from the state the previous one left behind (the app's L1,
  // the contents of Redis, the upstream's count), so splitting it would only repeat the steps.
  it.live("caches the upstream, survives Redis going away, recovers, and stops on SIGTERM", () =>
    Effect.gen(function*() {
      const redis = yield* startRedisServer()
      const app = yield* startHttpApp({ REDIS_URL: redis.url, UPSTREAM_DELAY: "200 millis" })

      // Connected: ready.
      assert.isTrue(yield* waitUntil(Effect.map(health(app), (h) => h.code === 200), DEADLINE_MS), app.output())
      const ready = yield* health(app)
      assert.deepInclude(ready.body, { status: "ready", mode: "Connected", memoryOnly: false })

      // Five requests for one product, three of them at once: one upstream call, one answer.
      const first = yield* Effect.all([product(app, 1), product(app, 1), product(app, 1)], { concurrency: "unbounded" })
      const again = yield* Effect.all([product(app, 1), product(app, 1)])
      const answers = [...first, ...again]
      assert.deepStrictEqual(new Set(answers.map((p) => p.fetchedAt)).size, 1)
      assert.deepInclude(answers[0]!, { id: 1, name: "Product 1" })
      assert.strictEqual(yield* upstreamCalls(app), 1)
      assert.strictEqual(yield* redis.cli("EXISTS", "http-api:product:1"), "1")

      // Bad input is a 400, not a crash and not an upstream call.
      const bad = yield* app.get("/products/not-a-number")
      assert.strictEqual(bad.status, 400)
      assert.strictEqual(yield* upstreamCalls(app), 1)

      // Redis dies: requests keep succeeding (L1 answers product 1, the upstream product 2), /health is 503.
      yield* redis.kill
      const degraded = yield* waitUntil(
        Effect.gen(function*() {
          assert.strictEqual((yield* product(app, 1)).fetchedAt, answers[0]!.fetchedAt)
          return (yield* health(app)).code === 503
        }),
        DEADLINE_MS
      )
      assert.isTrue(degraded, app.output())
      const down = yield* health(app)
      assert.deepInclude(down.body, { status: "degraded", mode: "MemoryOnly", memoryOnly: false })
      assert.strictEqual((yield* app.get("/live")).status, 200) // degraded, not dead: no restart wanted
      assert.isString(down.body.lastError)
      const second = yield* product(app, 2)
      assert.deepInclude(second, { id: 2, name: "Product 2" })
      assert.strictEqual((yield* product(app, 2)).fetchedAt, second.fetchedAt)
      assert.strictEqual(yield* upstreamCalls(app), 2)
      assert.strictEqual((yield* health(app)).body.pendingReplay, 1)

      // Redis is back (empty: it was killed): the cache reconnects, /health is ready, the write is replayed.
      yield* redis.restart
      // Ready once connected; the replay of the queued write may still be under way at that moment.
      const recovered = Effect.map(health(app), (h) => h.code === 200 && h.body.pendingReplay === 0)
      assert.isTrue(yield* waitUntil(recovered, DEADLINE_MS), app.output())
      assert.deepInclude((yield* health(app)).body, { status: "ready", mode: "Connected", pendingReplay: 0 })
      assert.isTrue(
        yield* waitUntil(Effect.map(redis.cli("EXISTS", "http-api:product:2"), (n) => n === "1"), DEADLINE_MS)
      )
      // On recovery L1 is flushed (the outage may have hidden other instances' writes), except what this
      // instance wrote while degraded: product 2 is still its own answer; product 1, gone from L1 and
      // from the restarted Redis, is fetched once more, and cached again.
      assert.strictEqual((yield* product(app, 2)).fetchedAt, second.fetchedAt)
      assert.strictEqual(yield* upstreamCalls(app), 2)
      const refetched = yield* product(app, 1)
      assert.strictEqual((yield* product(app, 1)).fetchedAt, refetched.fetchedAt)
      assert.strictEqual(yield* upstreamCalls(app), 3)

      // What the monitor saw, as JSON and as Prometheus text.
      const stats = (yield* app.get("/cache/stats")).json as {
        readonly performance: {
          readonly l1Hits: number
          readonly connection: { readonly currentMode: string; readonly modeChanges: number; readonly replayedWrites: number }
        }
        readonly cache: { readonly l1Hits: number }
      }
      assert.isAbove(stats.performance.l1Hits, 0)
      assert.strictEqual(stats.performance.connection.currentMode, "Connected")
      assert.isAtLeast(stats.performance.connection.modeChanges, 3) // connecting→connected→memory_only→connected
      assert.isAtLeast(stats.performance.connection.replayedWrites, 1)
      const metrics = yield* app.get("/metrics")
      assert.strictEqual(metrics.status, 200)
      assert.include(metrics.text, `cache_mode{cache_name="products",cache_mode_state="connected"} 1`)
      assert.match(metrics.text, /^cache_replay_writes_total\{[^}]*cache_replay_result="replayed"[^}]*\} [1-9]/m)

      yield* stopCleanly(app)
      assert.include(app.output(), "Shutting down: cache Connected, no writes waiting for Redis")
    }), { timeout: 180_000 })

  it.live("memory-only on purpose is ready; an unreachable Redis without the flag is degraded but serves", () =>
    Effect.gen(function*() {
      const nobody = `redis://127.0.0.1:${yield* freePort}`
      const [memory, unreachable] = yield* Effect.all([
        startHttpApp({ REDIS_URL: nobody, CACHE_MEMORY_ONLY: "true", UPSTREAM_DELAY: "50 millis" }),
        startHttpApp({ REDIS_URL: nobody, UPSTREAM_DELAY: "50 millis" })
      ], { concurrency: "unbounded" })

      const memoryHealth = yield* health(memory)
      assert.strictEqual(memoryHealth.code, 200)
      assert.deepInclude(memoryHealth.body, { status: "ready", mode: "Memory", memoryOnly: true })
      const unreachableHealth = yield* health(unreachable)
      assert.strictEqual(unreachableHealth.code, 503)
      assert.deepInclude(unreachableHealth.body, { status: "degraded", mode: "MemoryOnly", memoryOnly: false })

      for (const app of [memory, unreachable]) {
        yield* product(app, 3)
        yield* product(app, 3)
        assert.strictEqual(yield* upstreamCalls(app), 1)
      }
      yield* stopCleanly(memory)
      assert.include(memory.output(), "Shutting down: cache Memory, no writes waiting for Redis")
      // The write that never reached Redis is reported, not silently lost.
      yield* stopCleanly(unreachable)
      assert.include(unreachable.output(), "1 still queued")
    }), { timeout: 180_000 })
})
