import { assert, describe, it, layer } from "@effect/vitest"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import { Cache } from "../../src/index.js"
import type { Redis } from "ioredis"
import { CacheSecurity, type CacheSecurityOptions } from "../../src/security/CacheSecurity.js"
import { connectRedis, redisConnectionOptions } from "../../src/security/connectionOptions.js"
import { SecurityConfig } from "../../src/security/SecurityConfig.js"
import { Vulnerability } from "../../src/security/SecurityResult.js"
import { noValidationReport, notConfiguredReport } from "../../src/security/securityReport.js"
import { freePort, type RedisServerHandle, startRedisServer } from "../support/RedisServer.js"
import {
  ADMIN_PASSWORD,
  ADMIN_USER,
  CACHE_PASSWORD,
  cacheUserConfig,
  SecurityFixture,
  startServerWithCertificate,
  startTlsServer
} from "./fixtures.js"

const degraded = Effect.succeed(Option.none<Redis>())

const security = (url: string, config?: SecurityConfig, client: CacheSecurityOptions["client"] = degraded) =>
  CacheSecurity.make({ url, config: Option.fromNullishOr(config), client })

const validate = (url: string, config?: SecurityConfig) =>
  Effect.flatMap(security(url, config), (s) => s.validateSecurity)

/** Client connections the server has, as the admin sees them (the admin's own excluded). */
const clientCount = (server: RedisServerHandle) =>
  Effect.map(
    server.cli("--user", ADMIN_USER, "--pass", ADMIN_PASSWORD, "CLIENT", "LIST"),
    (list) => list.split("\n").filter((line) => line.includes("id=") && !line.includes("cmd=client|list")).length
  )

layer(SecurityFixture.layer, { excludeTestServices: true })("CacheSecurity.validateSecurity", (it) => {
  it.effect("a fully secured setup is secure: least-privilege ACL user, strong password, verified TLS", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const result = yield* validate(server.url, cacheUserConfig(files))
      assert.isTrue(result.isSecure)
      assert.strictEqual(result.score, 100)
      assert.deepStrictEqual(result.vulnerabilities, [])
      assert.isTrue(result.authConfigured)
      assert.strictEqual(result.authMethod, "ACL")
      assert.isTrue(result.aclEnabled)
      assert.isTrue(result.tlsEnabled)
      assert.strictEqual(result.tlsVersion, "TLSv1.3")
      assert.isString(result.cipher)
      assert.isTrue(result.certificateValid)
      assert.isAbove(result.certificateExpiryDays ?? 0, 300)
      assert.strictEqual(result.detailedChecks.authentication_enforced, "OK: connections without credentials are refused")
      assert.match(result.detailedChecks.dangerous_commands ?? "", /^OK: FLUSHALL=denied, FLUSHDB=denied, CONFIG=denied, DEBUG=denied, KEYS=denied/)
      assert.match(result.detailedChecks.password_strength ?? "", /^OK/)
    }))

  it.effect("dangerous commands: reported for a user with all permissions, not for the least-privilege user", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const admin = yield* validate(
        server.url,
        cacheUserConfig(files, { aclUsername: ADMIN_USER, aclPassword: Redacted.make(ADMIN_PASSWORD) })
      )
      assert.include(
        admin.vulnerabilities,
        Vulnerability.dangerousCommands(ADMIN_USER, ["FLUSHALL", "FLUSHDB", "CONFIG", "DEBUG", "KEYS"])
      )
      assert.match(admin.detailedChecks.dangerous_commands ?? "", /^FAILED: FLUSHALL=allowed/)
      assert.strictEqual(admin.detailedChecks.protected_mode, "OK: yes")
      const cache = yield* validate(server.url, cacheUserConfig(files))
      assert.isFalse(cache.vulnerabilities.some((v) => v.startsWith("Dangerous commands")))
      assert.isBelow(admin.score, cache.score)
    }))

  it.effect("certificate verification off connects, and is a vulnerability", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const result = yield* validate(
        server.url,
        new SecurityConfig({ aclUsername: "cache", aclPassword: Redacted.make(CACHE_PASSWORD), verifyCertificates: false })
      )
      assert.isTrue(result.tlsEnabled)
      assert.include(result.vulnerabilities, Vulnerability.verificationDisabled)
      assert.isFalse(result.certificateValid)
      assert.isFalse(result.isSecure)
    }))

  it.effect("an untrusted certificate accepted without verification is an invalid certificate", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const server = yield* startServerWithCertificate(files, files.foreignServer)
      const result = yield* validate(server.url, new SecurityConfig({ verifyCertificates: false }))
      assert.include(result.vulnerabilities, Vulnerability.invalidCertificate)
      assert.match(result.detailedChecks.certificate ?? "", /^FAILED: untrusted chain/)
    }))

  it.effect("an open server: no authentication, low score", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const result = yield* validate(server.url)
      assert.include(result.vulnerabilities, Vulnerability.noAuthentication)
      assert.isFalse(result.authConfigured)
      assert.strictEqual(result.authMethod, "none")
      assert.isFalse(result.tlsEnabled)
      assert.isFalse(result.isSecure)
      assert.isBelow(result.score, 20)
      assert.strictEqual(result.detailedChecks.authentication_enforced, "FAILED: a connection without credentials can read data")
    }))

  it.effect("a requirepass server: AUTH configured and enforced; a short password is a vulnerability", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer({ args: ["--requirepass", "short-pw"] })
      const result = yield* validate(server.url, new SecurityConfig({ redisAuth: Redacted.make("short-pw") }))
      assert.isTrue(result.authConfigured)
      assert.strictEqual(result.authMethod, "AUTH")
      assert.isFalse(result.aclEnabled)
      assert.strictEqual(result.detailedChecks.authentication_enforced, "OK: connections without credentials are refused")
      assert.include(result.vulnerabilities, Vulnerability.weakPassword)
      assert.notInclude(result.vulnerabilities, Vulnerability.noAuthentication)
      // the URL's own password counts as configuration too
      const fromUrl = yield* validate(`redis://:short-pw@127.0.0.1:${server.port}`)
      assert.strictEqual(fromUrl.authMethod, "AUTH")
    }))

  it.effect("mutual TLS with the client certificate validates", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile, authClients: "yes" })
      const result = yield* validate(
        server.url,
        cacheUserConfig(files, { tlsCert: { path: files.client.cert }, tlsKey: { path: files.client.key } })
      )
      assert.isTrue(result.isSecure)
      assert.isTrue(result.certificateValid)
    }))

  it.effect("a certificate close to expiry is a warning and costs points", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile, pair: files.nearExpiry })
      const result = yield* validate(server.url, cacheUserConfig(files))
      assert.isAtMost(result.certificateExpiryDays ?? 99, 5)
      assert.isTrue(result.warnings.some((w) => w.startsWith("Server certificate expires in")))
      assert.isBelow(result.score, 100)
    }))

  it.effect("uses the cache's live connection when there is one", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const settings = yield* redisConnectionOptions(server.url, Option.some(cacheUserConfig(files)))
      const live = yield* connectRedis(server.url, settings)
      // the URL points nowhere: only the live connection can answer the checks
      const nowhere = `rediss://127.0.0.1:${yield* freePort}`
      const service = yield* security(nowhere, cacheUserConfig(files), Effect.succeed(Option.some(live)))
      const result = yield* service.validateSecurity
      assert.strictEqual(result.detailedChecks.connectivity, "OK")
      assert.isTrue(result.tlsEnabled)
      assert.match(result.detailedChecks.authentication_enforced ?? "", /^UNKNOWN/)
    }))

  it.effect("while degraded it validates on a connection of its own, and closes it", () =>
    Effect.gen(function*() {
      const { aclFile } = yield* SecurityFixture
      const server = yield* startRedisServer({ aclFile })
      const before = yield* clientCount(server)
      const result = yield* validate(
        server.url,
        new SecurityConfig({ aclUsername: "cache", aclPassword: Redacted.make(CACHE_PASSWORD) })
      )
      assert.strictEqual(result.detailedChecks.connectivity, "OK")
      assert.strictEqual(yield* clientCount(server), before)
    }))

  it.effect("an unreachable server or an unusable configuration is reported, not failed", () =>
    Effect.gen(function*() {
      const down = yield* validate(`redis://127.0.0.1:${yield* freePort}`, new SecurityConfig({ redisAuth: Redacted.make("x") }))
      assert.isFalse(down.isSecure)
      assert.strictEqual(down.score, 0)
      assert.match(down.detailedChecks.connectivity ?? "", /^FAILED: .*connection refused/)
      const badFile = yield* validate("rediss://127.0.0.1:1", new SecurityConfig({ tlsCa: { path: "/nonexistent/ca.pem" } }))
      assert.match(badFile.detailedChecks.configuration ?? "", /^FAILED: tlsCa/)
    }))
})

layer(SecurityFixture.layer, { excludeTestServices: true })("CacheSecurity status, reports and tests", (it) => {
  it.effect("status before and after a validation", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const service = yield* security(server.url, cacheUserConfig(files))
      const before = yield* service.getSecurityStatus
      assert.isTrue(before.securityEnabled)
      assert.strictEqual(before.securityLevel, "HIGH")
      assert.isNull(before.lastValidation)
      assert.deepStrictEqual(before.configuration, {
        hasAuthentication: true,
        tlsEnabled: true,
        aclConfigured: true,
        certificateVerification: true,
        connectionTimeoutMs: 5_000,
        maxRetries: 3
      })
      yield* service.validateSecurity
      const after = yield* service.getSecurityStatus
      assert.strictEqual(after.lastValidation?.score, 100)
      assert.isTrue(after.lastValidation?.isSecure)
      assert.strictEqual(after.securityEventsCount, 1)
      assert.strictEqual(after.recommendationsCount, (yield* service.getSecurityRecommendations).length)
    }))

  it.effect("recommendations follow the configuration", () =>
    Effect.gen(function*() {
      const open = yield* security("redis://127.0.0.1:6390")
      const items = yield* open.getSecurityRecommendations
      assert.isTrue(items.some((i) => i.includes("Enable Redis authentication")))
      assert.isTrue(items.some((i) => i.includes("Enable TLS encryption")))
      const auth = yield* security("rediss://127.0.0.1:6390", new SecurityConfig({ redisAuth: Redacted.make("short") }))
      const authItems = yield* auth.getSecurityRecommendations
      assert.isTrue(authItems.some((i) => i.includes("least-privilege ACL user")))
      assert.isTrue(authItems.some((i) => i.includes("at least 16 characters")))
      assert.isTrue(authItems.some((i) => i.includes("certificate expiry")))
    }))

  it.effect("the text report has the original's sections, and validates first when connected", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const settings = yield* redisConnectionOptions(
        server.url,
        Option.some(cacheUserConfig(files, { aclUsername: ADMIN_USER, aclPassword: Redacted.make(ADMIN_PASSWORD) }))
      )
      const live = yield* connectRedis(server.url, settings)
      const service = yield* security(
        server.url,
        cacheUserConfig(files, { aclUsername: ADMIN_USER, aclPassword: Redacted.make(ADMIN_PASSWORD) }),
        Effect.succeed(Option.some(live))
      )
      const report = yield* service.generateSecurityReport
      const lines = report.split("\n")
      assert.strictEqual(lines[0], "=".repeat(60))
      assert.strictEqual(lines[1], "REDIS CACHE SECURITY ASSESSMENT REPORT")
      for (
        const heading of [
          "EXECUTIVE SUMMARY",
          "SECURITY CONFIGURATION",
          "SECURITY VULNERABILITIES",
          "SECURITY RECOMMENDATIONS",
          "DETAILED SECURITY CHECKS",
          "RECENT SECURITY EVENTS"
        ]
      ) {
        assert.include(lines, heading)
      }
      assert.include(lines, "Security Status: ✅ SECURE")
      assert.include(lines, "Security Level: HIGH")
      assert.include(lines, "TLS Version: TLSv1.3")
      assert.isTrue(lines.some((l) => l.startsWith("1. ❌ Dangerous commands allowed for user 'admin'")))
      assert.include(lines, "Connectivity: ✅ OK")
      assert.include(lines, "• validation (Score: 80)")
      assert.deepStrictEqual(lines.slice(-4), [
        "=".repeat(60),
        "Report generated by Redis Cache Security Manager",
        "Configuration Security Level: HIGH",
        "=".repeat(60)
      ])
      const json = yield* service.generateSecurityReportJson
      assert.strictEqual(json.validation?.score, 80)
      assert.isTrue(json.configured)
      assert.strictEqual(json.recentEvents.length, 1)
      assert.doesNotThrow(() => JSON.stringify(json))
    }))

  it.effect("without a validation and without a connection, the report says so", () =>
    Effect.gen(function*() {
      const service = yield* security("redis://127.0.0.1:6390", new SecurityConfig({ redisAuth: Redacted.make("x") }))
      assert.strictEqual(yield* service.generateSecurityReport, noValidationReport)
      assert.isNull((yield* service.generateSecurityReportJson).validation)
    }))

  it.effect("testSecurityConfiguration uses its own connection and closes it", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const service = yield* security(server.url, cacheUserConfig(files))
      const before = yield* clientCount(server)
      const result = yield* service.testSecurityConfiguration
      assert.strictEqual(yield* clientCount(server), before)
      assert.isTrue(result.securityConfigured)
      assert.isTrue(result.configurationValid)
      assert.isTrue(result.connectionSuccessful)
      assert.isTrue(result.authenticationWorking)
      assert.isTrue(result.encryptionActive)
      assert.isTrue(result.overallSecure)
      assert.strictEqual(result.securityScore, 100)
      assert.deepStrictEqual(result.errors, [])
      assert.deepStrictEqual(result.testDetails.securityValidation, { secure: true, score: 100, vulnerabilities: [] })
    }))

  it.effect("testSecurityConfiguration reports a wrong password and a bad configuration as errors", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const wrong = yield* security(server.url, cacheUserConfig(files, { aclPassword: Redacted.make("wrong-password-000000") }))
      const failed = yield* wrong.testSecurityConfiguration
      assert.isTrue(failed.configurationValid)
      assert.isFalse(failed.connectionSuccessful)
      assert.match(failed.testDetails.authentication, /^FAILED: .*invalid username-password pair/)
      assert.strictEqual(failed.errors.length, 1)
      const bad = yield* security(server.url, new SecurityConfig({ aclUsername: "cache" }))
      const invalid = yield* bad.testSecurityConfiguration
      assert.isFalse(invalid.configurationValid)
      assert.include(invalid.errors[0] ?? "", "ACL password is required")
    }))

  it.effect("the event log keeps the last 1000 events", () =>
    Effect.gen(function*() {
      const service = yield* security("redis://127.0.0.1:6390", new SecurityConfig({ tlsCa: { path: "/nonexistent" } }))
      yield* Effect.repeat(service.validateSecurity, { times: 1004 })
      assert.strictEqual((yield* service.getSecurityStatus).securityEventsCount, 1000)
    }))
})

describe("CacheSecurity.notConfigured", () => {
  it.effect("answers like the original without a security configuration", () =>
    Effect.gen(function*() {
      const service = yield* CacheSecurity
      const status = yield* service.getSecurityStatus
      assert.isFalse(status.securityEnabled)
      assert.strictEqual(status.securityLevel, "NONE")
      assert.strictEqual(status.message, "No security configuration provided")
      assert.deepStrictEqual(yield* service.getSecurityRecommendations, [
        "🔐 Configure Redis security with SecurityConfig",
        "🔒 Enable TLS encryption for production environments",
        "🚨 Set up authentication (AUTH or ACL)"
      ])
      const report = yield* service.generateSecurityReport
      assert.strictEqual(report, notConfiguredReport)
      assert.isTrue(
        report.startsWith(
          "REDIS CACHE SECURITY REPORT\n============================\n\n❌ Security Status: NOT CONFIGURED\nSecurity Level: NONE\n\nRECOMMENDATIONS:\n1. 🔐 Configure SecurityConfig with authentication\n2. 🔒 Enable TLS encryption\n3. 🚨 Set up Redis ACL or AUTH password\n"
        )
      )
      const test = yield* service.testSecurityConfiguration
      assert.isFalse(test.securityConfigured)
      assert.isFalse(test.overallSecure)
      assert.strictEqual(test.message, "No security configuration provided")
      const result = yield* service.validateSecurity
      assert.isFalse(result.isSecure)
      assert.strictEqual(result.score, 0)
      assert.isFalse((yield* service.generateSecurityReportJson).configured)
    }).pipe(Effect.provide(CacheSecurity.layerNotConfigured)))
})

describe("the security status reports L1 coherence", () => {
  for (const mechanism of ["tracking", "bus", "off"] as const) {
    it.live(`l1Invalidation "${mechanism}": the status names the mechanism and its link`, () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* startRedisServer()
        const context = yield* Layer.build(Cache.layerRedis({ redisUrl: server.url, l1Invalidation: mechanism }))
        const status = yield* Context.get(context, CacheSecurity).getSecurityStatus
        assert.deepStrictEqual(status.l1Invalidation, { mechanism, linked: true })
      })))
  }

  it.live("a memory cache has none", () =>
    Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(Cache.layerMemory())
      assert.isNull((yield* Context.get(context, CacheSecurity).getSecurityStatus).l1Invalidation)
    })))
})
