/**
 * How the cache authenticates to Redis and protects the connection: AUTH password or
 * ACL user, TLS (certificates, verification, minimum version, ciphers), timeouts and
 * retries. Passwords and private keys are `Redacted`, so printing, logging or
 * serialising a config never shows them.
 *
 * @since 0.1.0
 */
import { constants as fsConstants } from "node:fs"
import { access } from "node:fs/promises"
import { Config, Duration, Effect, Option, Redacted, Schema } from "effect"
import { ConfigurationError } from "../errors.js"

/**
 * Where a certificate comes from: a PEM file on disk, or the PEM text itself.
 *
 * @since 0.1.0
 */
export const PemSource = Schema.Union([
  Schema.Struct({ path: Schema.String }),
  Schema.Struct({ pem: Schema.String })
])

/**
 * The type of a {@link PemSource}.
 *
 * @since 0.1.0
 */
export type PemSource = typeof PemSource.Type

/**
 * Where a private key comes from: a PEM file on disk, or the PEM text itself, kept
 * `Redacted` because a key is a secret.
 *
 * @since 0.1.0
 */
export const SecretPemSource = Schema.Union([
  Schema.Struct({ path: Schema.String }),
  Schema.Struct({ pem: Schema.Redacted(Schema.String) })
])

/**
 * The type of a {@link SecretPemSource}.
 *
 * @since 0.1.0
 */
export type SecretPemSource = typeof SecretPemSource.Type

/**
 * The lowest TLS protocol version the client accepts.
 *
 * @since 0.1.0
 */
export const TlsVersion = Schema.Literals(["TLSv1.2", "TLSv1.3"])

/**
 * The type of a {@link TlsVersion}.
 *
 * @since 0.1.0
 */
export type TlsVersion = typeof TlsVersion.Type

/**
 * How well a configuration protects the connection, before anything is checked
 * against the server: `HIGH` = TLS with verified certificates and credentials,
 * `MEDIUM` = TLS or credentials, `LOW` = neither.
 *
 * @since 0.1.0
 */
export type SecurityLevel = "HIGH" | "MEDIUM" | "LOW"

const withDefault = <S extends Schema.Top & Schema.WithoutConstructorDefault>(value: S["~type.make.in"]) =>
  (schema: S) => schema.pipe(Schema.withConstructorDefault(Effect.succeed(value)))

/**
 * The security settings of a Redis connection.
 *
 * Construct with `new SecurityConfig({...})`; every field but the credentials and
 * certificates has a default. Check the values (files readable, timeouts positive, ...)
 * with {@link validateSecurityConfig}.
 *
 * @since 0.1.0
 */
export class SecurityConfig extends Schema.Class<SecurityConfig>("effect-redis-cache/SecurityConfig")({
  /** The `requirepass` password (AUTH with the `default` user). */
  redisAuth: Schema.optionalKey(Schema.Redacted(Schema.String)),
  /** The ACL user name; needs {@link SecurityConfig.aclPassword}. */
  aclUsername: Schema.optionalKey(Schema.String),
  /** The ACL user's password. */
  aclPassword: Schema.optionalKey(Schema.Redacted(Schema.String)),
  /** Speak TLS even when the URL says `redis://`. A `rediss://` URL turns TLS on by itself. */
  useTls: Schema.Boolean.pipe(withDefault(false)),
  /** Client certificate for mutual TLS; needs {@link SecurityConfig.tlsKey}. */
  tlsCert: Schema.optionalKey(PemSource),
  /** Private key of the client certificate. */
  tlsKey: Schema.optionalKey(SecretPemSource),
  /** CA certificate(s) to trust instead of the system store. */
  tlsCa: Schema.optionalKey(PemSource),
  /** Verify the server certificate's chain and host name. Turning this off is reported as a vulnerability. */
  verifyCertificates: Schema.Boolean.pipe(withDefault(true)),
  /** The lowest TLS version accepted. */
  minTlsVersion: TlsVersion.pipe(withDefault("TLSv1.2")),
  /** OpenSSL cipher list (TLS 1.2 and below), e.g. `"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"`. */
  cipherSuites: Schema.optionalKey(Schema.String),
  /** How long to wait for the connection (TCP and TLS handshake). */
  connectionTimeout: Schema.Duration.pipe(withDefault(Duration.seconds(5))),
  /** How long a command may wait for a reply before the socket is considered dead. */
  socketTimeout: Schema.Duration.pipe(withDefault(Duration.seconds(30))),
  /** How many times a failed connection is retried. */
  maxRetries: Schema.Finite.pipe(withDefault(3)),
  /** The first delay between connection retries. */
  retryDelay: Schema.Duration.pipe(withDefault(Duration.seconds(1)))
}) {
  /** Whether credentials are configured: an AUTH password, or an ACL user with a password. Empty strings do not count. */
  get hasAuthentication(): boolean {
    return nonEmpty(this.redisAuth) || (this.aclUsername !== undefined && this.aclUsername !== "" && nonEmpty(this.aclPassword))
  }

  /** Whether an ACL user (name and password) is configured. */
  get hasAcl(): boolean {
    return this.aclUsername !== undefined && this.aclUsername !== "" && nonEmpty(this.aclPassword)
  }

  /** `HIGH` with TLS, credentials and certificate verification; `MEDIUM` with TLS or credentials; else `LOW`. */
  get securityLevel(): SecurityLevel {
    if (this.useTls && this.hasAuthentication && this.verifyCertificates) return "HIGH"
    if (this.useTls || this.hasAuthentication) return "MEDIUM"
    return "LOW"
  }
}

const nonEmpty = (secret: Redacted.Redacted<string> | undefined): boolean =>
  secret !== undefined && Redacted.value(secret) !== ""

const fail = (field: string, rule: string, message: string, value?: string) =>
  Effect.fail(
    new ConfigurationError(value === undefined ? { message, field, rule } : { message, field, rule, value })
  )

const checkPem = Effect.fnUntraced(function*(field: string, source: PemSource | SecretPemSource) {
  if ("path" in source) {
    const path = source.path
    yield* Effect.tryPromise({
      try: () => access(path, fsConstants.R_OK),
      catch: (cause) =>
        new ConfigurationError({
          message: `${field}: file ${path} does not exist or is not readable (${errorCode(cause)})`,
          field,
          rule: "file must exist and be readable",
          value: path
        })
    })
    return
  }
  const text = Redacted.isRedacted(source.pem) ? Redacted.value(source.pem) : source.pem
  if (!text.includes("-----BEGIN ")) {
    // The text is never echoed: for a key it is a secret.
    return yield* fail(field, "must be PEM text (-----BEGIN ...)", `${field}: the given PEM contents are not PEM text`)
  }
})

const errorCode = (cause: unknown): string =>
  typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : "unreadable"

const checkPositive = (field: string, value: Duration.Duration) =>
  Duration.isGreaterThan(value, Duration.zero)
    ? Effect.void
    : fail(field, "must be positive", `${field} must be positive, got ${Duration.format(value)}`, Duration.format(value))

/**
 * Checks a {@link SecurityConfig}: certificate and key files exist and are readable
 * (PEM contents look like PEM), a client certificate comes with its key, an ACL user
 * has a password, timeouts are positive, retries a non-negative integer and the retry
 * delay not negative. Fails with a {@link ConfigurationError} naming the first
 * offending field; secrets never appear in it.
 *
 * @since 0.1.0
 */
export const validateSecurityConfig = Effect.fnUntraced(function*(
  config: SecurityConfig
): Effect.fn.Return<SecurityConfig, ConfigurationError> {
  if (config.tlsCert !== undefined) yield* checkPem("tlsCert", config.tlsCert)
  if (config.tlsKey !== undefined) yield* checkPem("tlsKey", config.tlsKey)
  if (config.tlsCa !== undefined) yield* checkPem("tlsCa", config.tlsCa)
  if (config.tlsCert !== undefined && config.tlsKey === undefined) {
    return yield* fail("tlsKey", "required with tlsCert", "tlsKey is required when tlsCert (a client certificate) is given")
  }
  if (config.tlsKey !== undefined && config.tlsCert === undefined) {
    return yield* fail("tlsCert", "required with tlsKey", "tlsCert is required when tlsKey is given")
  }
  if (config.aclUsername !== undefined && !nonEmpty(config.aclPassword)) {
    return yield* fail("aclPassword", "required with aclUsername", "ACL password is required when ACL username is provided")
  }
  if (config.aclPassword !== undefined && (config.aclUsername === undefined || config.aclUsername === "")) {
    return yield* fail("aclUsername", "required with aclPassword", "ACL username is required when ACL password is provided")
  }
  yield* checkPositive("connectionTimeout", config.connectionTimeout)
  yield* checkPositive("socketTimeout", config.socketTimeout)
  if (!Number.isInteger(config.maxRetries) || config.maxRetries < 0) {
    return yield* fail(
      "maxRetries",
      "must be a non-negative integer",
      `maxRetries must be a non-negative integer, got ${config.maxRetries}`,
      String(config.maxRetries)
    )
  }
  if (Duration.isLessThan(config.retryDelay, Duration.zero)) {
    const text = Duration.format(config.retryDelay)
    return yield* fail("retryDelay", "cannot be negative", `retryDelay cannot be negative, got ${text}`, text)
  }
  return config
})

/**
 * The environment variable each {@link SecurityConfig} field is read from by
 * {@link securityConfigFromEnv}.
 *
 * @since 0.1.0
 */
export const securityEnvVariables = {
  redisAuth: "REDIS_AUTH",
  aclUsername: "REDIS_ACL_USERNAME",
  aclPassword: "REDIS_ACL_PASSWORD",
  useTls: "REDIS_USE_TLS",
  tlsCert: "REDIS_TLS_CERT_PATH",
  tlsKey: "REDIS_TLS_KEY_PATH",
  tlsCa: "REDIS_TLS_CA_PATH",
  verifyCertificates: "REDIS_VERIFY_CERTIFICATES",
  connectionTimeout: "REDIS_CONNECTION_TIMEOUT",
  maxRetries: "REDIS_MAX_RETRIES",
  retryDelay: "REDIS_RETRY_DELAY"
} as const

const envVariableOf = (field: string): string =>
  field in securityEnvVariables ? securityEnvVariables[field as keyof typeof securityEnvVariables] : field

/**
 * Reads one variable; a value that does not parse becomes a ConfigurationError naming
 * it and showing the raw text (never for a secret).
 */
const variable = <A>(name: string, config: Config.Config<A>, rule: string, secret = false) =>
  Effect.catch(config, () =>
    secret
      ? fail(name, rule, `${name} could not be read`)
      : Effect.flatMap(
        Effect.orElseSucceed(Config.String(name), () => ""),
        (raw) => fail(name, rule, `${name} ${rule}, got "${raw}"`, raw)
      ))

const truthy = new Set(["true", "yes", "on", "1", "y"])
const falsy = new Set(["false", "no", "off", "0", "n"])

/** Case-insensitive, like the original's `.lower() == "true"`; also accepts yes/no/on/off/1/0. */
const flag = Effect.fnUntraced(function*(name: string, defaultValue: boolean) {
  const text = yield* optionalText(name)
  if (Option.isNone(text)) return defaultValue
  const normalized = text.value.trim().toLowerCase()
  if (truthy.has(normalized)) return true
  if (falsy.has(normalized)) return false
  return yield* fail(name, "must be true or false", `${name} must be true or false, got "${text.value}"`, text.value)
})

/** An unset or empty variable is None, as in the original (`if os.getenv(...)`). */
const optionalText = (name: string) =>
  variable(name, Config.option(Config.String(name)), "text").pipe(
    Effect.map(Option.filter((text) => text !== ""))
  )

const optionalSecret = (name: string) =>
  variable(name, Config.option(Config.Redacted(name)), "text", true).pipe(
    Effect.map(Option.filter((secret) => Redacted.value(secret) !== ""))
  )

const seconds = (name: string, defaultSeconds: number) =>
  variable(
    name,
    Config.Finite(name).pipe(Config.withDefault(defaultSeconds), Config.map((s) => Duration.millis(s * 1000))),
    "must be a number of seconds"
  )

/**
 * Reads a {@link SecurityConfig} from the original's `REDIS_*` environment variables
 * (through Effect `Config`, so any `ConfigProvider` works). `None` unless one of
 * `REDIS_AUTH`, `REDIS_USE_TLS`, `REDIS_ACL_USERNAME` or `REDIS_ACL_PASSWORD` is set.
 * Timeouts and delays are in seconds. The result is validated; a value that does not
 * parse, or breaks a rule, is a {@link ConfigurationError} whose `field` is the variable,
 * whether or not one of those four is set.
 *
 * @since 0.1.0
 */
export const securityConfigFromEnv: Effect.Effect<Option.Option<SecurityConfig>, ConfigurationError> = Effect.gen(
  function*() {
    const env = securityEnvVariables
    const redisAuth = yield* optionalSecret(env.redisAuth)
    const aclUsername = yield* optionalText(env.aclUsername)
    const aclPassword = yield* optionalSecret(env.aclPassword)
    const useTlsSet = yield* optionalText(env.useTls)
    const certPath = yield* optionalText(env.tlsCert)
    const keyPath = yield* optionalText(env.tlsKey)
    const caPath = yield* optionalText(env.tlsCa)
    // Every variable is parsed before deciding that there is no configuration: a bad value is
    // an error even when it is the only REDIS_* variable set.
    const maxRetries = yield* variable(
      env.maxRetries,
      Config.Int(env.maxRetries).pipe(Config.withDefault(3)),
      "must be an integer"
    )
    const useTls = yield* flag(env.useTls, false)
    const verifyCertificates = yield* flag(env.verifyCertificates, true)
    const connectionTimeout = yield* seconds(env.connectionTimeout, 5)
    const retryDelay = yield* seconds(env.retryDelay, 1)
    if (Option.isNone(redisAuth) && Option.isNone(aclUsername) && Option.isNone(aclPassword) && Option.isNone(useTlsSet)) {
      return Option.none()
    }
    const config = new SecurityConfig({
      ...Option.match(redisAuth, { onNone: () => ({}), onSome: (value) => ({ redisAuth: value }) }),
      ...Option.match(aclUsername, { onNone: () => ({}), onSome: (value) => ({ aclUsername: value }) }),
      ...Option.match(aclPassword, { onNone: () => ({}), onSome: (value) => ({ aclPassword: value }) }),
      ...Option.match(certPath, { onNone: () => ({}), onSome: (value) => ({ tlsCert: { path: value } }) }),
      ...Option.match(keyPath, { onNone: () => ({}), onSome: (value) => ({ tlsKey: { path: value } }) }),
      ...Option.match(caPath, { onNone: () => ({}), onSome: (value) => ({ tlsCa: { path: value } }) }),
      useTls,
      verifyCertificates,
      connectionTimeout,
      maxRetries,
      retryDelay
    })
    return Option.some(
      yield* validateSecurityConfig(config).pipe(
        Effect.mapError((error) => {
          const name = envVariableOf(error.field)
          return new ConfigurationError({
            message: error.message.includes(error.field)
              ? error.message.replace(error.field, name)
              : `${name}: ${error.message}`,
            field: name,
            rule: error.rule,
            ...(error.value === undefined ? {} : { value: error.value })
          })
        })
      )
    )
  }
)
