import { chmodSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Option, Redacted } from "effect"
import { ConfigurationError } from "../../src/errors.js"
import {
  SecurityConfig,
  securityConfigFromEnv,
  validateSecurityConfig
} from "../../src/security/SecurityConfig.js"
import { SecurityFixture } from "./fixtures.js"

const fromEnv = (env: Record<string, string>) =>
  securityConfigFromEnv.pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env }))))

const failure = <A>(effect: Effect.Effect<A, ConfigurationError>) => Effect.flip(effect)

describe("SecurityConfig", () => {
  it("has the documented defaults", () => {
    const config = new SecurityConfig({})
    assert.isFalse(config.useTls)
    assert.isTrue(config.verifyCertificates)
    assert.strictEqual(config.minTlsVersion, "TLSv1.2")
    assert.strictEqual(Duration.toMillis(config.connectionTimeout), 5_000)
    assert.strictEqual(Duration.toMillis(config.socketTimeout), 30_000)
    assert.strictEqual(config.maxRetries, 3)
    assert.strictEqual(Duration.toMillis(config.retryDelay), 1_000)
    assert.isFalse(config.hasAuthentication)
    assert.strictEqual(config.securityLevel, "LOW")
  })

  it("computes hasAuthentication and securityLevel like the original", () => {
    const auth = new SecurityConfig({ redisAuth: Redacted.make("x") })
    assert.isTrue(auth.hasAuthentication)
    assert.strictEqual(auth.securityLevel, "MEDIUM")
    assert.isFalse(new SecurityConfig({ redisAuth: Redacted.make("") }).hasAuthentication)
    assert.isFalse(new SecurityConfig({ aclUsername: "u" }).hasAuthentication)
    const acl = new SecurityConfig({ aclUsername: "u", aclPassword: Redacted.make("p"), useTls: true })
    assert.isTrue(acl.hasAuthentication)
    assert.isTrue(acl.hasAcl)
    assert.strictEqual(acl.securityLevel, "HIGH")
    assert.strictEqual(new SecurityConfig({ useTls: true }).securityLevel, "MEDIUM")
    assert.strictEqual(
      new SecurityConfig({ useTls: true, redisAuth: Redacted.make("x"), verifyCertificates: false }).securityLevel,
      "MEDIUM"
    )
  })
})

layer(SecurityFixture.layer, { excludeTestServices: true })("validateSecurityConfig", (it) => {
  it.effect("accepts readable certificate files and PEM contents", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const config = new SecurityConfig({
        useTls: true,
        tlsCa: { path: files.ca.cert },
        tlsCert: { path: files.client.cert },
        tlsKey: { pem: Redacted.make("-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n") }
      })
      assert.strictEqual(yield* validateSecurityConfig(config), config)
    }))

  it.effect("names the file option that does not exist or cannot be read", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const missing = yield* failure(validateSecurityConfig(new SecurityConfig({ tlsCa: { path: "/nonexistent/ca.pem" } })))
      assert.strictEqual(missing.field, "tlsCa")
      assert.strictEqual(missing.rule, "file must exist and be readable")
      assert.include(missing.message, "/nonexistent/ca.pem")

      // root reads any file, so the unreadable case only means something for other users
      if (process.getuid?.() === 0) return
      const unreadable = join(files.dir, "unreadable.pem")
      writeFileSync(unreadable, "x")
      chmodSync(unreadable, 0o000)
      const denied = yield* failure(
        validateSecurityConfig(new SecurityConfig({ tlsCert: { path: files.client.cert }, tlsKey: { path: unreadable } }))
      )
      assert.strictEqual(denied.field, "tlsKey")
    }))

  it.effect("requires a key with a client certificate, and the reverse", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const noKey = yield* failure(validateSecurityConfig(new SecurityConfig({ tlsCert: { path: files.client.cert } })))
      assert.strictEqual(noKey.field, "tlsKey")
      const noCert = yield* failure(validateSecurityConfig(new SecurityConfig({ tlsKey: { path: files.client.key } })))
      assert.strictEqual(noCert.field, "tlsCert")
    }))

  it.effect("rejects PEM contents that are not PEM without echoing them", () =>
    Effect.gen(function*() {
      const error = yield* failure(
        validateSecurityConfig(
          new SecurityConfig({ tlsCert: { pem: "not pem" }, tlsKey: { pem: Redacted.make("my-private-key-text") } })
        )
      )
      assert.strictEqual(error.field, "tlsCert")
      const keyError = yield* failure(
        validateSecurityConfig(
          new SecurityConfig({
            tlsCert: { pem: "-----BEGIN CERTIFICATE-----" },
            tlsKey: { pem: Redacted.make("my-private-key-text") }
          })
        )
      )
      assert.strictEqual(keyError.field, "tlsKey")
      assert.notInclude(JSON.stringify(keyError), "my-private-key-text")
    }))

  it.effect("requires a password with an ACL user name, and a name with a password", () =>
    Effect.gen(function*() {
      const error = yield* failure(validateSecurityConfig(new SecurityConfig({ aclUsername: "cache" })))
      assert.strictEqual(error.field, "aclPassword")
      assert.strictEqual(error.message, "ACL password is required when ACL username is provided")
      const noName = yield* failure(validateSecurityConfig(new SecurityConfig({ aclPassword: Redacted.make("p") })))
      assert.strictEqual(noName.field, "aclUsername")
    }))

  it.effect("requires positive timeouts and non-negative retries", () =>
    Effect.gen(function*() {
      const cases = [
        [{ connectionTimeout: Duration.zero }, "connectionTimeout"],
        [{ socketTimeout: Duration.millis(-1) }, "socketTimeout"],
        [{ maxRetries: -1 }, "maxRetries"],
        [{ maxRetries: 1.5 }, "maxRetries"],
        [{ retryDelay: Duration.millis(-5) }, "retryDelay"]
      ] as const
      for (const [fields, field] of cases) {
        const error = yield* failure(validateSecurityConfig(new SecurityConfig(fields)))
        assert.strictEqual(error.field, field)
      }
      // zero retries and no delay are allowed
      yield* validateSecurityConfig(new SecurityConfig({ maxRetries: 0, retryDelay: Duration.zero }))
    }))
})

layer(SecurityFixture.layer, { excludeTestServices: true })("securityConfigFromEnv", (it) => {
  it.effect("is None unless authentication or TLS is asked for", () =>
    Effect.gen(function*() {
      assert.isTrue(Option.isNone(yield* fromEnv({})))
      assert.isTrue(Option.isNone(yield* fromEnv({ REDIS_MAX_RETRIES: "5", REDIS_TLS_CA_PATH: "/x" })))
      assert.isTrue(Option.isNone(yield* fromEnv({ REDIS_AUTH: "" })))
    }))

  it.effect("reads every variable, secrets as Redacted", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const config = yield* fromEnv({
        REDIS_AUTH: "auth-password",
        REDIS_ACL_USERNAME: "cache",
        REDIS_ACL_PASSWORD: "acl-password",
        REDIS_USE_TLS: "TRUE",
        REDIS_TLS_CERT_PATH: files.client.cert,
        REDIS_TLS_KEY_PATH: files.client.key,
        REDIS_TLS_CA_PATH: files.ca.cert,
        REDIS_VERIFY_CERTIFICATES: "false",
        REDIS_CONNECTION_TIMEOUT: "2.5",
        REDIS_MAX_RETRIES: "7",
        REDIS_RETRY_DELAY: "0.25"
      }).pipe(Effect.map(Option.getOrThrow))
      assert.strictEqual(Redacted.value(config.redisAuth!), "auth-password")
      assert.strictEqual(config.aclUsername, "cache")
      assert.strictEqual(Redacted.value(config.aclPassword!), "acl-password")
      assert.isTrue(config.useTls)
      assert.deepStrictEqual(config.tlsCert, { path: files.client.cert })
      assert.deepStrictEqual(config.tlsKey, { path: files.client.key })
      assert.deepStrictEqual(config.tlsCa, { path: files.ca.cert })
      assert.isFalse(config.verifyCertificates)
      assert.strictEqual(Duration.toMillis(config.connectionTimeout), 2_500)
      assert.strictEqual(config.maxRetries, 7)
      assert.strictEqual(Duration.toMillis(config.retryDelay), 250)
      assert.notInclude(JSON.stringify(config), "acl-password")
      assert.notInclude(JSON.stringify(config), "auth-password")
      assert.notInclude(String(config), "acl-password")
    }))

  it.effect("defaults: TLS off, verification on, 5 s, 3 retries, 1 s", () =>
    Effect.gen(function*() {
      const config = Option.getOrThrow(yield* fromEnv({ REDIS_AUTH: "pw" }))
      assert.isFalse(config.useTls)
      assert.isTrue(config.verifyCertificates)
      assert.strictEqual(Duration.toMillis(config.connectionTimeout), 5_000)
      assert.strictEqual(config.maxRetries, 3)
      assert.strictEqual(Duration.toMillis(config.retryDelay), 1_000)
    }))

  it.effect("a bad value is a ConfigurationError naming the variable", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
        [{ REDIS_USE_TLS: "maybe" }, "REDIS_USE_TLS"],
        [{ REDIS_AUTH: "pw", REDIS_VERIFY_CERTIFICATES: "sometimes" }, "REDIS_VERIFY_CERTIFICATES"],
        [{ REDIS_AUTH: "pw", REDIS_MAX_RETRIES: "many" }, "REDIS_MAX_RETRIES"],
        [{ REDIS_AUTH: "pw", REDIS_MAX_RETRIES: "-1" }, "REDIS_MAX_RETRIES"],
        [{ REDIS_AUTH: "pw", REDIS_CONNECTION_TIMEOUT: "soon" }, "REDIS_CONNECTION_TIMEOUT"],
        [{ REDIS_AUTH: "pw", REDIS_CONNECTION_TIMEOUT: "0" }, "REDIS_CONNECTION_TIMEOUT"],
        [{ REDIS_AUTH: "pw", REDIS_RETRY_DELAY: "-1" }, "REDIS_RETRY_DELAY"],
        [{ REDIS_USE_TLS: "true", REDIS_TLS_CA_PATH: "/nonexistent/ca.pem" }, "REDIS_TLS_CA_PATH"],
        [{ REDIS_ACL_USERNAME: "cache" }, "REDIS_ACL_PASSWORD"]
      ]
      for (const [env, variable] of cases) {
        const error = yield* failure(fromEnv(env))
        assert.instanceOf(error, ConfigurationError)
        assert.strictEqual(error.field, variable, JSON.stringify(env))
        assert.include(error.message, variable)
      }
    }))
})
