import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Option, Schedule } from "effect"
import { freePort, startRedisServer } from "./support/RedisServer.js"
import { awaitMode, awaitReplayed, redisCache, redisCacheExit } from "./support/cache.js"
import { forEachTopology, freshTopology } from "./support/topologies.js"

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

const slowReconnect = Schedule.spaced("1500 millis")

describe("graceful degradation and recovery", () => {
  // Standalone only: both need an address where nothing listens yet (a server started later on its port,
  // or none at all), which a cluster or a sentinel setup, found through running nodes, does not have.
  it.live("Redis down at start: memory-only at once, then back by itself when the server starts", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const url = `redis://:s3cret-password@127.0.0.1:${port}`
      const modes: Array<string> = []
      const cache = yield* redisCache({ redisUrl: url, reconnectSchedule: Schedule.spaced("200 millis") })
      yield* cache.registerCallback("mode_change", (_from, to) => modes.push(to))
      const status = yield* cache.status
      assert.strictEqual(status.mode, "MemoryOnly")
      assert.isTrue(Option.isSome(status.lastError))
      assert.notInclude(JSON.stringify(status), "s3cret")
      yield* cache.set("written-while-down", { v: 1 })
      assert.deepStrictEqual(yield* cache.get("written-while-down"), Option.some({ v: 1 }))
      const server = yield* startRedisServer({ port, args: ["--requirepass", "s3cret-password"] })
      yield* awaitReplayed(cache)
      assert.deepStrictEqual(modes, ["Connected"])
      assert.notStrictEqual(yield* server.cli("GET", "cache:written-while-down"), "")
      assert.strictEqual((yield* cache.status).pendingReplay, 0)
    }))

  it.live("failOnConnectionError: building the layer fails with a ConnectionError without the password", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const exit = yield* redisCacheExit({
        redisUrl: `redis://user:hunter2-secret@127.0.0.1:${port}/2`,
        failOnConnectionError: true,
        connectAttempts: 2,
        reconnectSchedule: Schedule.spaced("50 millis"),
        connectTimeout: "500 millis"
      })
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.strictEqual((error as { _tag?: string })._tag, "ConnectionError")
      const connection = error as { url: string; reason: string; message: string }
      assert.strictEqual(connection.reason, "unreachable")
      assert.notInclude(connection.url + connection.message, "hunter2")
      assert.include(connection.url, `127.0.0.1:${port}`)
    }))

  forEachTopology((it, topology) => {
    it.effect("killed mid-load and restarted: no failed operation, writes kept, deletes not resurrected", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const cache = yield* redisCache({
          ...server.connect(),
          commandTimeout: "300 millis",
          reconnectSchedule: Schedule.spaced("100 millis")
        })
        for (let i = 0; i < 20; i++) yield* cache.set(`doomed:${i}`, i)
        let stop = false
        let operations = 0
        const load = Effect.gen(function*() {
          let i = 0
          while (!stop) {
            const key = `load:${i % 50}`
            yield* cache.set(key, { i })
            yield* cache.get(key)
            yield* cache.get(`absent:${i}`)
            operations += 3
            i++
            if (i % 20 === 0) yield* sleep(1)
          }
        })
        const workers = yield* Effect.all([load, load, load], { concurrency: "unbounded" }).pipe(
          Effect.forkChild({ startImmediately: true })
        )
        yield* sleep(150)
        yield* server.kill
        yield* awaitMode(cache, "MemoryOnly")
        yield* cache.set("outage:write", "kept")
        // A delete while memory-only answers from L1: one server's outage leaves it the copies; through
        // Sentinel or on a cluster they went with the connection (a failover may bring other writes).
        for (let i = 0; i < 20; i++) assert.strictEqual(yield* cache.delete(`doomed:${i}`), topology === "standalone")
        yield* sleep(150)
        yield* server.restart
        yield* awaitMode(cache, "Connected")
        yield* sleep(200)
        stop = true
        yield* awaitReplayed(cache)
        const result = yield* Fiber.await(workers)
        assert.isTrue(Exit.isSuccess(result), `a cache operation failed: ${String(result)}`)
        assert.isAbove(operations, 100)
        assert.notStrictEqual(yield* server.cli("GET", "cache:outage:write"), "")
        for (let i = 0; i < 20; i++) assert.strictEqual(yield* server.cli("EXISTS", `cache:doomed:${i}`), "0")
        assert.deepStrictEqual(yield* cache.get("outage:write"), Option.some("kept"))
        assert.isAbove((yield* cache.status).reconnectAttempts, 0)
      }))

    it.effect("Redis paused: every operation returns within commandTimeout plus a margin", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const cache = yield* redisCache({
          ...server.connect(),
          commandTimeout: "200 millis",
          connectTimeout: "200 millis",
          reconnectSchedule: Schedule.spaced("100 millis")
        })
        yield* cache.set("before", 1)
        yield* server.pause
        const bounded = <A, E>(label: string, effect: Effect.Effect<A, E>) =>
          effect.pipe(
            Effect.timeoutOrElse({
              duration: "2 seconds",
              orElse: () => Effect.die(new Error(`${label} waited on a paused server`))
            })
          )
        // The first command notices the pause (it times out); the rest answer from memory at once.
        assert.isTrue(Option.isNone(yield* bounded("get", cache.get("never-set"))))
        yield* bounded("set", cache.set("during", 2))
        assert.deepStrictEqual(yield* bounded("get", cache.get("during")), Option.some(2))
        yield* bounded("delete", cache.delete("before"))
        yield* bounded("exists", cache.exists("during"))
        yield* bounded("ttl", cache.ttl("during"))
        yield* bounded("invalidate", cache.invalidatePattern("nothing"))
        assert.strictEqual((yield* cache.status).mode, "MemoryOnly")
        yield* server.resume
        yield* awaitReplayed(cache)
        assert.strictEqual(yield* server.cli("EXISTS", "cache:before"), "0")
        assert.notStrictEqual(yield* server.cli("GET", "cache:during"), "")
      }))

    it.effect("Redis paused during a large write (sent as parts): it times out, is queued, and is replayed whole", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const options = {
          ...server.connect(),
          commandTimeout: "200 millis",
          connectTimeout: "200 millis",
          reconnectSchedule: Schedule.spaced("100 millis"),
          compressionThreshold: 16 * 1024 * 1024
        } as const
        const cache = yield* redisCache(options)
        const large = (n: number) => ({ n, text: `é✓ ${n} `.repeat(4000) })
        yield* cache.set("large:before", large(0))
        yield* server.pause
        const written = yield* Effect.forEach([1, 2, 3], (n) => cache.set(`large:${n}`, large(n)), {
          concurrency: "unbounded"
        }).pipe(Effect.timeoutOrElse({
          duration: "2 seconds",
          orElse: () => Effect.die(new Error("a large write waited on a paused server"))
        }))
        assert.strictEqual(written.length, 3)
        assert.strictEqual((yield* cache.status).mode, "MemoryOnly")
        yield* server.resume
        yield* awaitReplayed(cache)
        const reader = yield* redisCache({ ...options, enableL1: false, cacheName: "reader" })
        for (const n of [0, 1, 2, 3]) {
          assert.deepStrictEqual(yield* reader.get(n === 0 ? "large:before" : `large:${n}`), Option.some(large(n)))
        }
      }))

    // Not on a cluster: ioredis' Cluster reopens a node connection the server closed at the next command,
    // without an outage, so closing one cache's connections (killClient) cuts nothing off there.
    // Whole-cluster outages (above) and test/topologies/cluster.test.ts cover replay on a cluster.
    if (topology === "cluster") return

    it.effect("replay never overwrites a value another instance wrote later, and drops the stale L1 copy", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const a = yield* redisCache({ ...server.connect(), cacheName: "a", reconnectSchedule: slowReconnect })
        const b = yield* redisCache({ ...server.connect(), cacheName: "b" })
        yield* b.set("old", "written before the outage")
        yield* server.killClient("a")
        yield* awaitMode(a, "MemoryOnly")
        yield* a.set("contested", "from a, during its outage")
        yield* a.set("only-a", "from a")
        yield* a.delete("old")
        yield* sleep(5)
        yield* b.set("contested", "from b, later")
        yield* awaitReplayed(a)
        assert.deepStrictEqual(yield* a.get("contested"), Option.some("from b, later"))
        assert.deepStrictEqual(yield* b.get("only-a"), Option.some("from a"))
        assert.strictEqual(yield* server.cli("EXISTS", "cache:old"), "0")
        // A fresh reader sees the delete (b's L1 copy is evicted by coherence: test/coherence).
        const fresh = yield* redisCache({ ...server.connect(), cacheName: "fresh" })
        assert.isTrue(Option.isNone(yield* fresh.get("old")))
      }))

    it.effect("a delete made during the outage loses to a value written after it", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const a = yield* redisCache({ ...server.connect(), cacheName: "a", reconnectSchedule: slowReconnect })
        const b = yield* redisCache({ ...server.connect(), cacheName: "b" })
        yield* b.set("k", "v1")
        yield* server.killClient("a")
        yield* awaitMode(a, "MemoryOnly")
        yield* a.delete("k")
        yield* sleep(5)
        yield* b.set("k", "v2")
        yield* awaitReplayed(a)
        assert.deepStrictEqual(yield* a.get("k"), Option.some("v2"))
      }))

    it.effect("the replay queue is bounded: what it drops leaves L1 too, never served stale", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const a = yield* redisCache({
          ...server.connect(),
          cacheName: "a",
          reconnectSchedule: slowReconnect,
          replayQueueLimit: 2
        })
        yield* server.killClient("a")
        yield* awaitMode(a, "MemoryOnly")
        yield* a.set("first", 1)
        yield* a.set("second", 2)
        yield* a.set("third", 3)
        assert.isTrue(Option.isNone(yield* a.get("first")))
        const status = yield* a.status
        assert.strictEqual(status.pendingReplay, 2)
        assert.strictEqual(status.droppedWhileDegraded, 1)
        yield* awaitReplayed(a)
        assert.strictEqual(yield* server.cli("EXISTS", "cache:first"), "0")
        assert.strictEqual(yield* server.cli("EXISTS", "cache:third"), "1")
      }))

    it.effect("clear during an outage is replayed, and spares values written after it", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const a = yield* redisCache({ ...server.connect(), cacheName: "a", reconnectSchedule: slowReconnect })
        const b = yield* redisCache({ ...server.connect(), cacheName: "b" })
        yield* b.set("x", 1)
        yield* b.set("y", 1)
        yield* server.killClient("a")
        yield* awaitMode(a, "MemoryOnly")
        yield* a.clear
        yield* sleep(5)
        yield* b.set("y", 2)
        yield* awaitReplayed(a)
        assert.strictEqual(yield* server.cli("EXISTS", "cache:x"), "0")
        assert.deepStrictEqual(yield* a.get("y"), Option.some(2))
      }))

    it.effect("many pattern deletes during an outage collapse into one prefix delete, never fewer deletions", () =>
      Effect.gen(function*() {
        const server = yield* freshTopology
        const a = yield* redisCache({ ...server.connect(), cacheName: "a", reconnectSchedule: slowReconnect })
        const b = yield* redisCache({ ...server.connect(), cacheName: "b" })
        yield* b.set("user:1", 1)
        yield* b.set("other", 1)
        yield* server.killClient("a")
        yield* awaitMode(a, "MemoryOnly")
        for (let i = 0; i < 150; i++) yield* a.invalidatePattern(`user:${i}`)
        assert.strictEqual((yield* a.status).pendingReplay, 1)
        yield* awaitReplayed(a)
        assert.strictEqual(yield* server.cli("EXISTS", "cache:user:1"), "0")
        assert.strictEqual(yield* server.cli("EXISTS", "cache:other"), "0")
      }))
  })
})
