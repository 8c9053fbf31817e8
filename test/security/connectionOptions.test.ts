import { readFileSync } from "node:fs"
import { assert, describe, it, layer } from "@effect/vitest"
import { Duration, Effect, Option, Redacted } from "effect"
import type { ConnectionError } from "../../src/errors.js"
import {
  classifyConnectionError,
  connectRedis,
  type ConnectionSettings,
  redactUrl,
  redisConnectionOptions
} from "../../src/security/connectionOptions.js"
import { SecurityConfig } from "../../src/security/SecurityConfig.js"
import { freePort, startRedisServer } from "../support/RedisServer.js"
import {
  ADMIN_PASSWORD,
  ADMIN_USER,
  cacheUserConfig,
  SecurityFixture,
  startServerWithCertificate,
  startTlsServer
} from "./fixtures.js"

const none = Option.none<SecurityConfig>()

describe("redisConnectionOptions", () => {
  it.effect("parses host, port, database and credentials from the URL", () =>
    Effect.gen(function*() {
      const settings = yield* redisConnectionOptions("redis://alice:s%40cret@cache.internal:6380/3", none)
      assert.deepStrictEqual(settings, {
        host: "cache.internal",
        port: 6380,
        db: 3,
        username: "alice",
        password: "s@cret",
        connectTimeout: 5_000
      })
      const plain = yield* redisConnectionOptions("redis://127.0.0.1", none)
      assert.deepStrictEqual(plain, { host: "127.0.0.1", port: 6379, connectTimeout: 5_000 })
      const ipv6 = yield* redisConnectionOptions("redis://:pw@[::1]:7000/0", none)
      assert.strictEqual(ipv6.host, "::1")
      assert.strictEqual(ipv6.db, 0)
      assert.strictEqual(ipv6.password, "pw")
      assert.isUndefined(ipv6.username)
    }))

  it.effect("rediss:// turns TLS on, with SNI for host names only", () =>
    Effect.gen(function*() {
      const byName = yield* redisConnectionOptions("rediss://cache.internal:6380", none)
      assert.deepStrictEqual(byName.tls, { servername: "cache.internal" })
      const byIp = yield* redisConnectionOptions("rediss://10.0.0.1", none)
      assert.deepStrictEqual(byIp.tls, {})
    }))

  it.effect("useTls turns TLS on for a redis:// URL: no silent downgrade", () =>
    Effect.gen(function*() {
      const settings = yield* redisConnectionOptions(
        "redis://cache.internal",
        Option.some(new SecurityConfig({ useTls: true, minTlsVersion: "TLSv1.3", cipherSuites: "TLS_AES_256_GCM_SHA384" }))
      )
      assert.deepStrictEqual(settings.tls, {
        servername: "cache.internal",
        rejectUnauthorized: true,
        minVersion: "TLSv1.3",
        ciphers: "TLS_AES_256_GCM_SHA384"
      })
      const off = yield* redisConnectionOptions("rediss://10.0.0.1", Option.some(new SecurityConfig({ verifyCertificates: false })))
      assert.strictEqual(off.tls?.rejectUnauthorized, false)
    }))

  it.effect("ACL credentials win over AUTH, and both over the URL's", () =>
    Effect.gen(function*() {
      const url = "redis://urluser:urlpass@h"
      const acl = yield* redisConnectionOptions(
        url,
        Option.some(
          new SecurityConfig({ redisAuth: Redacted.make("auth"), aclUsername: "cache", aclPassword: Redacted.make("acl") })
        )
      )
      assert.strictEqual(acl.username, "cache")
      assert.strictEqual(acl.password, "acl")
      const auth = yield* redisConnectionOptions(url, Option.some(new SecurityConfig({ redisAuth: Redacted.make("auth") })))
      assert.isUndefined(auth.username)
      assert.strictEqual(auth.password, "auth")
      const urlOnly = yield* redisConnectionOptions(url, Option.some(new SecurityConfig({})))
      assert.strictEqual(urlOnly.username, "urluser")
      assert.strictEqual(urlOnly.password, "urlpass")
    }))

  it.effect("timeouts come from the config", () =>
    Effect.gen(function*() {
      const settings = yield* redisConnectionOptions(
        "redis://h",
        Option.some(new SecurityConfig({ connectionTimeout: Duration.seconds(2), socketTimeout: Duration.seconds(9) }))
      )
      assert.strictEqual(settings.connectTimeout, 2_000)
      assert.strictEqual(settings.socketTimeout, 9_000)
    }))

  it.effect("a bad URL is a ConfigurationError on `url` that never shows the password", () =>
    Effect.gen(function*() {
      const urls = ["http://user:hunter2@h", "not a url hunter2", "redis://:hunter2@h/abc", "redis://:hunter2@:6379", "redis://:hunter2%E0%A4%A@h"]
      for (const url of urls) {
        const error = yield* Effect.flip(redisConnectionOptions(url, none))
        assert.strictEqual(error._tag, "ConfigurationError")
        assert.strictEqual(error.field, "url")
        assert.notInclude(JSON.stringify(error), "hunter2")
      }
    }))
})

describe("redactUrl", () => {
  it("masks the password, also in malformed URLs", () => {
    assert.strictEqual(redactUrl("redis://user:hunter2@h:6379/1"), "redis://user:***@h:6379/1")
    assert.strictEqual(redactUrl("rediss://:hunter2@h"), "rediss://:***@h")
    assert.strictEqual(redactUrl("redis://h:6379"), "redis://h:6379")
    for (const malformed of ["redis://user:hunter2@h:notaport", "hunter2", "redis://:hun ter2@[h"]) {
      assert.notInclude(redactUrl(malformed), "hunter2")
      assert.notInclude(redactUrl(malformed), "hun ter2")
    }
  })
})

describe("classifyConnectionError", () => {
  // Errors shaped exactly as Node and ioredis emit them (observed against real servers below).
  const nodeError = (message: string, code: string) => Object.assign(new Error(message), { code })
  const url = "redis://:hunter2@127.0.0.1:6390"

  it("says which: unreachable, timeout, authentication, tls", () => {
    const cases: ReadonlyArray<readonly [unknown, ConnectionError["reason"], string]> = [
      [nodeError("connect ECONNREFUSED 127.0.0.1:6390", "ECONNREFUSED"), "unreachable", "connection refused"],
      [nodeError("connect EHOSTUNREACH", "EHOSTUNREACH"), "unreachable", "unreachable"],
      [nodeError("getaddrinfo ENOTFOUND nohost", "ENOTFOUND"), "unreachable", "could not be resolved"],
      [nodeError("connect ETIMEDOUT", "ETIMEDOUT"), "timeout", "timed out"],
      [new Error("WRONGPASS invalid username-password pair or user is disabled."), "authentication", "invalid username-password pair or user is disabled"],
      [new Error("NOAUTH Authentication required."), "authentication", "requires authentication"],
      [new Error("NOPERM this user has no permissions to run the 'hello' command"), "authentication", "'hello'"],
      [nodeError("self-signed certificate in certificate chain", "SELF_SIGNED_CERT_IN_CHAIN"), "tls", "not signed by a trusted CA"],
      [nodeError("unable to verify the first certificate", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"), "tls", "not signed by a trusted CA"],
      [nodeError("self-signed certificate", "DEPTH_ZERO_SELF_SIGNED_CERT"), "tls", "not signed by a trusted CA"],
      [nodeError("certificate has expired", "CERT_HAS_EXPIRED"), "tls", "expired"],
      [
        Object.assign(nodeError("Hostname/IP does not match certificate's altnames", "ERR_TLS_CERT_ALTNAME_INVALID"), {
          reason: "Host: localhost. is not in the cert's altnames: DNS:other.example.com"
        }),
        "tls",
        "does not match host name"
      ],
      [nodeError("ssl3_get_record:wrong version number", "ERR_SSL_WRONG_VERSION_NUMBER"), "tls", "does not speak TLS"],
      [nodeError("tlsv13 alert certificate required", "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"), "tls", "client certificate"]
    ]
    for (const [error, reason, text] of cases) {
      const classified = classifyConnectionError(error, url)
      assert.strictEqual(classified.reason, reason, String(error))
      assert.include(classified.message, text)
      assert.strictEqual(classified.url, "redis://:***@127.0.0.1:6390")
      assert.notInclude(JSON.stringify(classified), "hunter2")
    }
  })

  it("prefers the specific cause over ioredis's 'Connection is closed.'", () => {
    const classified = classifyConnectionError(
      [nodeError("certificate has expired", "CERT_HAS_EXPIRED"), new Error("Connection is closed.")],
      url
    )
    assert.strictEqual(classified.reason, "tls")
    assert.strictEqual(classifyConnectionError(new Error("Connection is closed."), url).reason, "closed")
  })

  it("keeps only name, code and message of the cause (ioredis attaches the AUTH arguments)", () => {
    const error = Object.assign(new Error("WRONGPASS invalid username-password pair or user is disabled."), {
      command: { name: "hello", args: ["3", "AUTH", "cache", "hunter2"] }
    })
    const classified = classifyConnectionError(error, url)
    assert.notInclude(JSON.stringify(classified), "hunter2")
    assert.notInclude(String(classified.cause), "hunter2")
    assert.isUndefined((classified.cause as { command?: unknown }).command)
  })
})

/** Connects once with `settings` and returns the failure, or "connected". */
const attempt = (url: string, settings: ConnectionSettings) =>
  Effect.scoped(connectRedis(url, settings)).pipe(
    Effect.as("connected" as const),
    Effect.catch((error) => Effect.succeed(error))
  )

const expectFailure = (outcome: "connected" | ConnectionError, reason: ConnectionError["reason"], text: string) => {
  assert.notStrictEqual(outcome, "connected", `expected a ${reason} failure`)
  if (outcome === "connected") return
  assert.strictEqual(outcome.reason, reason, outcome.message)
  assert.include(outcome.message, text)
}

layer(SecurityFixture.layer, { excludeTestServices: true })("connecting to real servers", (it) => {
  it.effect("verified TLS with the least-privilege user works, by IP and by host name", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      for (const url of [server.url, `rediss://localhost:${server.port}`]) {
        const settings = yield* redisConnectionOptions(url, Option.some(cacheUserConfig(files)))
        const client = yield* connectRedis(url, settings)
        assert.strictEqual(yield* Effect.promise(() => client.ping()), "PONG")
        assert.strictEqual(yield* Effect.promise(() => client.set("cache:k", "v")), "OK")
      }
    }))

  it.effect("PEM contents work like files", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { authClients: "yes" })
      const config = new SecurityConfig({
        tlsCa: { pem: readFileSync(files.ca.cert, "utf8") },
        tlsCert: { pem: readFileSync(files.client.cert, "utf8") },
        tlsKey: { pem: Redacted.make(readFileSync(files.client.key, "utf8")) }
      })
      const settings = yield* redisConnectionOptions(server.url, Option.some(config))
      const client = yield* connectRedis(server.url, settings)
      assert.strictEqual(yield* Effect.promise(() => client.ping()), "PONG")
    }))

  it.effect("a certificate from another CA: tls, not signed by a trusted CA", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const server = yield* startServerWithCertificate(files, files.foreignServer)
      const settings = yield* redisConnectionOptions(server.url, Option.some(cacheUserConfig(files)))
      expectFailure(yield* attempt(server.url, settings), "tls", "not signed by a trusted CA")
      // without our CA, the system store does not trust the test CA either
      const system = yield* redisConnectionOptions(server.url, none)
      expectFailure(yield* attempt(server.url, system), "tls", "not signed by a trusted CA")
    }))

  it.effect("an expired certificate: tls, expired", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const server = yield* startServerWithCertificate(files, files.expired)
      const settings = yield* redisConnectionOptions(server.url, Option.some(cacheUserConfig(files)))
      expectFailure(yield* attempt(server.url, settings), "tls", "expired")
    }))

  it.effect("a certificate for another host name: tls, does not match", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const server = yield* startServerWithCertificate(files, files.wrongHost)
      for (const url of [server.url, `rediss://localhost:${server.port}`]) {
        const settings = yield* redisConnectionOptions(url, Option.some(cacheUserConfig(files)))
        expectFailure(yield* attempt(url, settings), "tls", "does not match host name")
      }
    }))

  it.effect("verification off connects despite an untrusted certificate", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const server = yield* startServerWithCertificate(files, files.foreignServer)
      const settings = yield* redisConnectionOptions(server.url, Option.some(new SecurityConfig({ verifyCertificates: false })))
      assert.strictEqual(yield* attempt(server.url, settings), "connected")
    }))

  it.effect("a wrong password: authentication, at once and without retries", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const settings = yield* redisConnectionOptions(
        server.url,
        Option.some(cacheUserConfig(files, { aclPassword: Redacted.make("wrong-password-0123456789") }))
      )
      expectFailure(yield* attempt(server.url, settings), "authentication", "invalid username-password pair")
      // exactly one failed AUTH reached the server: no retry storm (ACL LOG counts repeats in "count")
      const log = (yield* server.cli("--user", ADMIN_USER, "--pass", ADMIN_PASSWORD, "ACL", "LOG")).split("\n")
      assert.strictEqual(log.filter((line) => line === "auth").length, 1, log.join(" "))
      assert.strictEqual(log[log.indexOf("count") + 1], "1", log.join(" "))
    }))

  it.effect("a requirepass server: wrong password and no password are authentication failures", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer({ args: ["--requirepass", "the-right-password"] })
      const wrong = yield* redisConnectionOptions(server.url, Option.some(new SecurityConfig({ redisAuth: Redacted.make("nope") })))
      expectFailure(yield* attempt(server.url, wrong), "authentication", "invalid username-password pair")
      expectFailure(yield* attempt(server.url, yield* redisConnectionOptions(server.url, none)), "authentication", "requires authentication")
      const right = yield* redisConnectionOptions(
        server.url,
        Option.some(new SecurityConfig({ redisAuth: Redacted.make("the-right-password") }))
      )
      assert.strictEqual(yield* attempt(server.url, right), "connected")
    }))

  it.effect("mutual TLS: without a client certificate, with one, and with a foreign one", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { authClients: "yes" })
      const without = yield* redisConnectionOptions(server.url, Option.some(new SecurityConfig({ tlsCa: { path: files.ca.cert } })))
      expectFailure(yield* attempt(server.url, without), "tls", "requires a client certificate")
      const withCert = yield* redisConnectionOptions(
        server.url,
        Option.some(
          new SecurityConfig({ tlsCa: { path: files.ca.cert }, tlsCert: { path: files.client.cert }, tlsKey: { path: files.client.key } })
        )
      )
      assert.strictEqual(yield* attempt(server.url, withCert), "connected")
      const foreign = yield* redisConnectionOptions(
        server.url,
        Option.some(
          new SecurityConfig({
            tlsCa: { path: files.ca.cert },
            tlsCert: { path: files.foreignServer.cert },
            tlsKey: { path: files.foreignServer.key }
          })
        )
      )
      expectFailure(yield* attempt(server.url, foreign), "tls", "rejected the client certificate")
    }))

  it.effect("TLS asked of a plain server fails: no silent downgrade", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const settings = yield* redisConnectionOptions(
        server.url,
        Option.some(new SecurityConfig({ useTls: true, connectionTimeout: Duration.seconds(1) }))
      )
      expectFailure(yield* attempt(server.url, settings), "tls", "speaks plain Redis, not TLS")
    }))

  it.effect("plain TCP to a TLS-only server: tls, requires TLS", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const server = yield* startTlsServer(files)
      const url = `redis://127.0.0.1:${server.port}`
      expectFailure(yield* attempt(url, yield* redisConnectionOptions(url, none)), "tls", "requires TLS")
    }))

  it.effect("nothing listening: unreachable", () =>
    Effect.gen(function*() {
      const url = `redis://127.0.0.1:${yield* freePort}`
      expectFailure(yield* attempt(url, yield* redisConnectionOptions(url, none)), "unreachable", "connection refused")
    }))

  it.effect("a server that does not answer: timeout", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const server = yield* startTlsServer(files)
      yield* server.pause
      const settings = yield* redisConnectionOptions(
        server.url,
        Option.some(new SecurityConfig({ tlsCa: { path: files.ca.cert }, connectionTimeout: Duration.millis(300) }))
      )
      const outcome = yield* attempt(server.url, settings)
      yield* server.resume
      expectFailure(outcome, "timeout", "no answer within 300 ms")
    }))

  it.effect("the least-privilege user can run what the cache needs, and nothing dangerous", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const settings = yield* redisConnectionOptions(server.url, Option.some(cacheUserConfig(files)))
      const client = yield* connectRedis(server.url, settings)
      const run = (...args: Array<string>) =>
        Effect.tryPromise({
          try: () => client.call(args[0]!, args.slice(1)),
          catch: (error) => (error instanceof Error ? error.message : String(error))
        }).pipe(
          Effect.map(() => "ok"),
          Effect.catch((message) => Effect.succeed(message.startsWith("NOPERM") ? "noperm" : `error: ${message}`))
        )
      assert.strictEqual(yield* run("SET", "cache:a", "1", "PX", "60000"), "ok")
      assert.strictEqual(yield* run("GET", "cache:a"), "ok")
      assert.strictEqual(yield* run("EXISTS", "cache:a"), "ok")
      assert.strictEqual(yield* run("PTTL", "cache:a"), "ok")
      assert.strictEqual(yield* run("SCAN", "0", "MATCH", "cache:*"), "ok")
      assert.strictEqual(yield* run("EVAL", "return redis.call('GET', KEYS[1])", "1", "cache:a"), "ok")
      assert.strictEqual(yield* run("UNLINK", "cache:a"), "ok")
      assert.strictEqual(yield* run("CLIENT", "ID"), "ok")
      // the cache never sends these, so the rule no longer grants them
      assert.strictEqual(yield* run("PEXPIRE", "cache:a", "1000"), "noperm")
      assert.strictEqual(yield* run("DEL", "cache:a"), "noperm")
      assert.strictEqual(yield* run("PUBLISH", "cache:invalidate", "x"), "noperm")
      assert.strictEqual(yield* run("GET", "other:a"), "noperm")
      assert.strictEqual(yield* run("PUBLISH", "other", "x"), "noperm")
      // (DEBUG is refused before the ACL check by enable-debug-command; the validation tests cover it)
      for (const dangerous of [["FLUSHALL"], ["FLUSHDB"], ["KEYS", "*"], ["CONFIG", "GET", "*"], ["CONFIG", "SET", "maxmemory", "0"]]) {
        assert.strictEqual(yield* run(...dangerous), "noperm", dangerous.join(" "))
      }
    }))
})
