/**
 * Secrets stay secret: every security and cache operation runs with known passwords
 * while logs, console output, spans, errors, results and reports are captured; none
 * of them may contain a secret, however they are printed.
 */
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { inspect } from "node:util"
import { assert, layer } from "@effect/vitest"
import { Cause, ConfigProvider, Duration, Effect, Exit, Logger, Option, Redacted, References, Tracer } from "effect"
import { Redis } from "ioredis"
import { Cache } from "../../src/Cache.js"
import { cacheAclRule } from "../../src/security/aclRule.js"
import { CacheSecurity } from "../../src/security/CacheSecurity.js"
import {
  classifyConnectionError,
  connectRedis,
  redactUrl,
  redisConnectionOptions
} from "../../src/security/connectionOptions.js"
import { SecurityConfig, securityConfigFromEnv, validateSecurityConfig } from "../../src/security/SecurityConfig.js"
import { RedisTier } from "../../src/tiers/RedisTier.js"
import { startRedisServer } from "../support/RedisServer.js"
import { SecurityFixture } from "./fixtures.js"

const AUTH_SECRET = "auth-SECRET-7f3a9c1e5b"
const ACL_SECRET = "acl-SECRET-4d8e2b6f0a"
const WRONG_SECRET = "wrong-SECRET-9b1c7e3d5f"
const ENV_SECRET = "env-SECRET-2a6c4e8b0d"
const secrets = [AUTH_SECRET, ACL_SECRET, WRONG_SECRET, ENV_SECRET]

/** Every way a value may end up printed. */
const renderings = (value: unknown): ReadonlyArray<string> => {
  const out = [inspect(value, { depth: 20, showHidden: false }), String(value)]
  try {
    out.push(JSON.stringify(value) ?? "")
  } catch {
    // circular values are covered by inspect
  }
  if (value instanceof Error) out.push(value.message, value.stack ?? "")
  return out
}

/** Everything the test saw: values, log lines, console output, spans. */
class Capture {
  readonly texts: Array<string> = []
  add(label: string, value: unknown) {
    for (const text of renderings(value)) this.texts.push(`${label}: ${text}`)
  }
  readonly logger = Logger.make((options) => {
    this.add("log", Logger.formatJson.log(options))
    this.add("log-cause", Cause.pretty(options.cause))
  })
  readonly spans: Array<Tracer.Span> = []
  readonly tracer = Tracer.make({
    span: (options) => {
      const span = Tracer.nativeTracer.span(options)
      this.spans.push(span)
      return span
    }
  })
  collectSpans() {
    for (const span of this.spans) {
      this.add(`span ${span.name}`, { name: span.name, attributes: [...span.attributes], status: span.status })
      if (span instanceof Tracer.NativeSpan) this.add(`span ${span.name} events`, span.events)
    }
  }
}

/** Captures console output (ioredis warns through it) while `effect` runs. */
const withConsoleCaptured = <A, E, R>(capture: Capture, effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const original = { log: console.log, warn: console.warn, error: console.error, info: console.info }
      for (const method of ["log", "warn", "error", "info"] as const) {
        console[method] = (...args: Array<unknown>) => capture.add(`console.${method}`, args)
      }
      return original
    }),
    () => effect,
    (original) => Effect.sync(() => Object.assign(console, original))
  )

const record = <A, E, R>(capture: Capture, label: string, effect: Effect.Effect<A, E, R>) =>
  Effect.exit(effect).pipe(
    Effect.tap((exit) =>
      Effect.sync(() => {
        capture.add(label, exit)
        if (Exit.isSuccess(exit)) capture.add(`${label} value`, exit.value)
        else {
          capture.add(`${label} cause`, Cause.pretty(exit.cause))
          capture.add(`${label} error`, Cause.squash(exit.cause))
        }
      })
    )
  )

layer(SecurityFixture.layer, { excludeTestServices: true })("secrets", (it) => {
  it.effect("no secret appears in logs, console output, spans, errors, results or reports", () =>
    Effect.gen(function*() {
      const { files } = yield* SecurityFixture
      const capture = new Capture()
      const aclFile = join(files.dir, "secrets.acl")
      writeFileSync(
        aclFile,
        [
          `user default on >${AUTH_SECRET} ~* &* +@all`,
          `user cache on >${ACL_SECRET} ${cacheAclRule({ prefix: "cache:" })}`,
          ""
        ].join("\n")
      )
      const server = yield* startRedisServer({
        tls: { cert: files.server.cert, key: files.server.key, ca: files.ca.cert },
        aclFile
      })
      const urlWithSecret = `rediss://:${AUTH_SECRET}@127.0.0.1:${server.port}`
      const config = new SecurityConfig({
        redisAuth: Redacted.make(AUTH_SECRET),
        aclUsername: "cache",
        aclPassword: Redacted.make(ACL_SECRET),
        tlsCa: { path: files.ca.cert },
        tlsCert: { path: files.client.cert },
        tlsKey: { pem: Redacted.make(readFileSync(files.client.key, "utf8")) }
      })
      const wrongConfig = new SecurityConfig({
        aclUsername: "cache",
        aclPassword: Redacted.make(WRONG_SECRET),
        tlsCa: { path: files.ca.cert }
      })
      const keyBody = readFileSync(files.client.key, "utf8").split("\n")[1] ?? ""
      assert.isAbove(keyBody.length, 20)

      const program = Effect.gen(function*() {
        // configuration
        capture.add("config", config)
        yield* record(capture, "validateSecurityConfig ok", validateSecurityConfig(config))
        yield* record(
          capture,
          "validateSecurityConfig missing file",
          validateSecurityConfig(new SecurityConfig({ ...config, tlsCa: { path: "/nonexistent/ca.pem" } }))
        )
        yield* record(
          capture,
          "validateSecurityConfig bad key pem",
          validateSecurityConfig(new SecurityConfig({ ...config, tlsKey: { pem: Redacted.make(ENV_SECRET) } }))
        )
        const env = (vars: Record<string, string>) =>
          securityConfigFromEnv.pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: vars }))))
        yield* record(capture, "fromEnv ok", env({ REDIS_AUTH: ENV_SECRET, REDIS_ACL_USERNAME: "u", REDIS_ACL_PASSWORD: ENV_SECRET }))
        yield* record(capture, "fromEnv bad", env({ REDIS_AUTH: ENV_SECRET, REDIS_MAX_RETRIES: "x" }))
        yield* record(capture, "fromEnv bad file", env({ REDIS_ACL_PASSWORD: ENV_SECRET, REDIS_ACL_USERNAME: "u", REDIS_TLS_CA_PATH: "/x" }))

        // connection settings and failures
        capture.add("redactUrl", redactUrl(urlWithSecret))
        capture.add("redactUrl malformed", redactUrl(`redis://:${AUTH_SECRET}@host:port`))
        yield* record(capture, "options bad url", redisConnectionOptions(`http://:${AUTH_SECRET}@h`, Option.none()))
        const wrongSettings = yield* redisConnectionOptions(server.url, Option.some(wrongConfig))
        yield* record(capture, "connect wrong password", Effect.scoped(connectRedis(server.url, wrongSettings)))
        yield* record(
          capture,
          "connect wrong url password",
          Effect.scoped(
            Effect.flatMap(
              redisConnectionOptions(`rediss://:${WRONG_SECRET}@127.0.0.1:${server.port}`, Option.some(new SecurityConfig({ tlsCa: { path: files.ca.cert } }))),
              (settings) => connectRedis(`rediss://:${WRONG_SECRET}@127.0.0.1:${server.port}`, settings)
            )
          )
        )
        // the raw ioredis error carries the AUTH arguments; the classified one must not
        const raw = yield* Effect.promise(() =>
          new Promise<unknown>((resolve) => {
            const client = new Redis({ ...wrongSettings, lazyConnect: true, retryStrategy: () => null })
            client.on("error", (error) => {
              resolve(error)
              client.disconnect()
            })
            client.connect().catch(() => undefined)
          })
        )
        assert.include(inspect(raw, { depth: 5 }), WRONG_SECRET, "ioredis attaches the password to its error")
        capture.add("classified raw error", classifyConnectionError(raw, urlWithSecret))
        capture.add("classified raw error cause", classifyConnectionError(raw, urlWithSecret).cause)

        // the security service, every operation, configured and wrongly configured
        for (const [label, serviceConfig] of [["good", config], ["wrong", wrongConfig]] as const) {
          const service = yield* CacheSecurity.make({
            url: urlWithSecret,
            config: Option.some(serviceConfig),
            client: Effect.succeed(Option.none())
          })
          yield* record(capture, `${label} report before`, service.generateSecurityReport)
          yield* record(capture, `${label} validate`, service.validateSecurity)
          yield* record(capture, `${label} status`, service.getSecurityStatus)
          yield* record(capture, `${label} recommendations`, service.getSecurityRecommendations)
          yield* record(capture, `${label} report`, service.generateSecurityReport)
          yield* record(capture, `${label} report json`, service.generateSecurityReportJson)
          yield* record(capture, `${label} test`, service.testSecurityConfiguration)
        }

        // the cache itself, every operation
        const cacheOptions = {
          redisUrl: urlWithSecret,
          security: config,
          keyPrefix: "cache:",
          connectTimeout: Duration.seconds(2)
        }
        yield* record(
          capture,
          "cache operations",
          Effect.gen(function*() {
            yield* Cache.set("k", { v: 1 }, { ttl: "1 minute" })
            yield* Cache.get("k")
            yield* Cache.exists("k")
            yield* Cache.ttl("k")
            yield* Cache.delete("k")
            yield* Cache.invalidatePattern("k*", { glob: true })
            yield* Cache.clear()
            capture.add("cache status", yield* Cache.status())
            capture.add("cache stats", yield* Cache.stats())
            const tier = yield* RedisTier
            const service = yield* CacheSecurity.make({ url: urlWithSecret, config: Option.some(config), client: tier.client })
            capture.add("live validate", yield* service.validateSecurity)
            capture.add("live report", yield* service.generateSecurityReport)
          }).pipe(Effect.provide(Cache.layerRedis(cacheOptions)))
        )
        yield* record(
          capture,
          "cache with a wrong password, failing fast",
          Effect.provide(
            Cache.status(),
            Cache.layerRedis({ ...cacheOptions, security: wrongConfig, failOnConnectionError: true, connectAttempts: 1 })
          )
        )
        yield* record(
          capture,
          "cache with a wrong password, degraded",
          Effect.gen(function*() {
            yield* Cache.set("k", 1)
            capture.add("degraded status", yield* Cache.status())
          }).pipe(Effect.provide(Cache.layerRedis({ ...cacheOptions, security: wrongConfig, connectAttempts: 1 })))
        )
      })

      yield* withConsoleCaptured(
        capture,
        program.pipe(
          Effect.withTracer(capture.tracer),
          // debug and trace logs too: a secret must not leak at any level
          Effect.provideService(References.MinimumLogLevel, "All"),
          Effect.provide(Logger.layer([capture.logger]))
        )
      )
      capture.collectSpans()

      // the capture saw real work: spans, logs and the secrets' carriers
      assert.isTrue(capture.spans.some((span) => span.name === "CacheSecurity.validateSecurity"))
      assert.isTrue(capture.texts.some((text) => text.startsWith("log:")))
      assert.isTrue(capture.texts.some((text) => text.includes("WRONGPASS") || text.includes("invalid username-password")))
      for (const text of capture.texts) {
        for (const secret of [...secrets, keyBody]) {
          if (text.includes(secret)) assert.fail(`a secret leaked into ${text.slice(0, 400)}`)
        }
      }
    }))
})
