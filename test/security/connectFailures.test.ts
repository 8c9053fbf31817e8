/**
 * Connection failures that retrying cannot heal (a wrong password, a certificate either
 * side rejects) are final: with `failOnConnectionError` the layer fails after one
 * attempt, and a running cache's background reconnect spaces its attempts at the
 * schedule's cap, logging once per change of failure.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, layer } from "@effect/vitest"
import { Cause, Effect, Exit, Logger, Redacted, Schedule } from "effect"
import type { ConnectionError } from "../../src/errors.js"
import type { RedisCacheOptions } from "../../src/index.js"
import type { RedisServerHandle } from "../support/RedisServer.js"
import { freePort, startRedisServer } from "../support/RedisServer.js"
import { awaitMode, redisCache, redisCacheExit } from "../support/cache.js"
import type { CertificatePair, TlsFiles } from "../support/Tls.js"
import {
  ADMIN_PASSWORD,
  ADMIN_USER,
  CACHE_PASSWORD,
  CACHE_USER,
  cacheUserConfig,
  SecurityFixture,
  startTlsServer
} from "./fixtures.js"

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))
const admin = ["--user", ADMIN_USER, "--pass", ADMIN_PASSWORD] as const

/** Four attempts 50 ms apart, had the failure been worth retrying. */
const failFast = { failOnConnectionError: true, connectAttempts: 4, reconnectSchedule: Schedule.spaced("50 millis") }

const connectionErrorOf = (exit: Exit.Exit<unknown, unknown>): ConnectionError => {
  assert.isTrue(Exit.isFailure(exit), "the layer was built")
  const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) as ConnectionError : undefined
  assert.strictEqual(error?._tag, "ConnectionError")
  return error!
}

/** Failed logins in the server's ACL LOG (it folds repeats into one entry's `count`). */
const failedLogins = (server: RedisServerHandle) =>
  Effect.map(server.cli(...admin, "ACL", "LOG"), (text) => {
    const lines = text.split("\n")
    let total = 0
    let count = 0
    lines.forEach((line, i) => {
      if (line === "count") count = Number(lines[i + 1])
      if (line === "reason" && lines[i + 1] === "auth") total += count
    })
    return total
  })

/** TLS handshakes the server failed (it logs them at `--loglevel verbose`; INFO stats does not count them). */
const handshakesLogged = (server: RedisServerHandle) =>
  fs.readFileSync(path.join(server.dir, "redis.log"), "utf8").match(/Error accepting a client connection/g)?.length ?? 0

/**
 * The failed TLS handshakes the server logged. The client may give up before the server has
 * written its log line (a loaded machine), so this waits for the first line (a hang guard),
 * then a little for any later one.
 */
const failedHandshakes = (server: RedisServerHandle) =>
  Effect.gen(function*() {
    const deadline = Date.now() + 5_000
    while (handshakesLogged(server) === 0 && Date.now() < deadline) yield* Effect.sleep("20 millis")
    yield* Effect.sleep("200 millis")
    return handshakesLogged(server)
  })

/** A server that serves `pair` on an extra TLS port, and its handle (its plain port answers the cli). */
const serverWithCertificate = (files: TlsFiles, pair: CertificatePair) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const server = yield* startRedisServer({
      args: [
        "--tls-port", String(port),
        "--tls-cert-file", pair.cert,
        "--tls-key-file", pair.key,
        "--tls-ca-cert-file", files.ca.cert,
        "--tls-auth-clients", "no",
        "--loglevel", "verbose"
      ]
    })
    return { server, url: `rediss://127.0.0.1:${port}` }
  })

layer(SecurityFixture.layer, { excludeTestServices: true })("failures retrying cannot heal", (it) => {
  it.effect("a wrong password fails the layer after one attempt: one failed AUTH in the ACL LOG", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const exit = yield* redisCacheExit({
        ...failFast,
        redisUrl: server.url,
        security: cacheUserConfig(files, { aclPassword: Redacted.make("wrong-password-0123456789") })
      })
      const error = connectionErrorOf(exit)
      assert.strictEqual(error.reason, "authentication", error.message)
      assert.strictEqual(yield* failedLogins(server), 1)
    }))

  it.effect("certificate failures fail the layer after one attempt: another CA, expired, another host name", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      for (const [pair, text] of [
        [files.foreignServer, "not signed by a trusted CA"],
        [files.expired, "expired"],
        [files.wrongHost, "does not match host name"]
      ] as const) {
        const { server, url } = yield* serverWithCertificate(files, pair)
        const exit = yield* redisCacheExit({ ...failFast, redisUrl: url, security: cacheUserConfig(files) })
        const error = connectionErrorOf(exit)
        assert.strictEqual(error.reason, "tls", error.message)
        assert.include(error.message, text)
        assert.strictEqual(yield* failedHandshakes(server), 1, text)
      }
    }))

  it.effect("a missing client certificate fails the layer after one attempt", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const server = yield* startRedisServer({
        tls: { cert: files.server.cert, key: files.server.key, ca: files.ca.cert, authClients: "yes" },
        args: ["--loglevel", "verbose"]
      })
      const options: RedisCacheOptions = { ...failFast, redisUrl: server.url, security: cacheUserConfig(files) }
      const error = connectionErrorOf(yield* redisCacheExit(options))
      assert.strictEqual(error.reason, "tls", error.message)
      assert.include(error.message, "client certificate")
      // One attempt and its two diagnostic probes (plain, then TLS without a certificate).
      assert.isAtMost(yield* failedHandshakes(server), 3)
    }))

  it.effect("a running cache whose password stops working reconnects at the schedule's cap, logging once", () => {
    const warnings: Array<string> = []
    const logger = Logger.make<unknown, void>(({ logLevel, message }) => {
      if (logLevel === "Warn") warnings.push(String(message))
    })
    return Effect.gen(function*() {
      const { aclFile } = yield* SecurityFixture
      const server = yield* startRedisServer({ aclFile })
      const cache = yield* redisCache({
        redisUrl: `redis://${CACHE_USER}:${CACHE_PASSWORD}@127.0.0.1:${server.port}`,
        // Its cap is 100 ms: attempts that cannot succeed still wait at least a second.
        reconnectSchedule: Schedule.spaced("100 millis")
      })
      yield* server.cli(...admin, "ACL", "SETUSER", CACHE_USER, "resetpass", ">rotated-Password-0123456789")
      yield* server.cli(...admin, "CLIENT", "KILL", "USER", CACHE_USER)
      yield* awaitMode(cache, "MemoryOnly")
      yield* sleep(3_000)
      // At 100 ms apart, some 25 failed logins; at the 1 s floor, about 4.
      assert.isAtMost(yield* failedLogins(server), 6)
      const reconnectWarnings = warnings.filter((line) => line.includes("cannot reconnect"))
      assert.strictEqual(reconnectWarnings.length, 1, warnings.join("\n"))
      assert.include(reconnectWarnings[0], "invalid username-password pair")
      // Back at once the configuration is right again.
      yield* server.cli(...admin, "ACL", "SETUSER", CACHE_USER, "resetpass", `>${CACHE_PASSWORD}`)
      yield* awaitMode(cache, "Connected")
    }).pipe(Effect.provide(Logger.layer([logger])))
  })
})
