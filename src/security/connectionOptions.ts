/**
 * Turning a Redis URL and a {@link SecurityConfig} into ioredis connection settings,
 * and turning what ioredis and Node report when a connection fails into a typed
 * {@link ConnectionError} whose message says what went wrong.
 *
 * @since 0.1.0
 */
import { readFile } from "node:fs/promises"
import * as net from "node:net"
import * as tls from "node:tls"
import { Duration, Effect, Option, Predicate, Redacted, type Scope } from "effect"
import { Cluster, Redis } from "ioredis"
import { ConfigurationError, ConnectionError } from "../errors.js"
import { commandWatchdog } from "../internal/commandWatchdog.js"
import { redactUrl as redactRedisUrl } from "../internal/url.js"
import type { PemSource, SecretPemSource, SecurityConfig } from "./SecurityConfig.js"

/**
 * Masks the password of a Redis URL (`***`); a URL that does not parse is reduced to
 * its scheme, so that a malformed URL never echoes a secret.
 *
 * @since 0.1.0
 */
export const redactUrl: (url: string) => string = redactRedisUrl

/**
 * The connection part of ioredis's `RedisOptions`, built by
 * {@link redisConnectionOptions}. Spread it into the options of `new Redis(...)`.
 *
 * `password` is the plain secret ioredis needs: never log these settings.
 *
 * @since 0.1.0
 */
export interface ConnectionSettings {
  readonly host: string
  readonly port: number
  readonly db?: number
  readonly username?: string
  readonly password?: string
  /** Present exactly when the connection uses TLS. */
  readonly tls?: tls.ConnectionOptions
  /** Milliseconds to wait for the TCP connection and the TLS handshake. */
  readonly connectTimeout: number
  /** Milliseconds a command may wait for the socket before it is considered dead. */
  readonly socketTimeout?: number
}

const DEFAULT_PORT = 6379
const DEFAULT_CONNECT_TIMEOUT = Duration.seconds(5)

interface ParsedUrl {
  readonly tls: boolean
  readonly host: string
  readonly port: number
  readonly db: number | undefined
  readonly username: string | undefined
  readonly password: string | undefined
}

const urlError = (url: string, rule: string, detail: string) =>
  new ConfigurationError({
    message: `Invalid Redis URL ${redactUrl(url)}: ${detail}`,
    field: "url",
    rule,
    value: redactUrl(url)
  })

/** `null` for malformed percent-encoding (which `decodeURIComponent` throws on). */
const decodeComponent = (text: string): string | null => {
  try {
    return decodeURIComponent(text)
  } catch {
    return null
  }
}

const parseRedisUrl = (url: string): Effect.Effect<ParsedUrl, ConfigurationError> =>
  Effect.suspend(() => {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      return Effect.fail(urlError(url, "must be a redis:// or rediss:// URL", "it does not parse as a URL"))
    }
    if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
      return Effect.fail(
        urlError(url, "must be a redis:// or rediss:// URL", `unsupported scheme "${parsed.protocol}"`)
      )
    }
    const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1")
    if (host === "") return Effect.fail(urlError(url, "must name a host", "no host"))
    const port = parsed.port === "" ? DEFAULT_PORT : Number(parsed.port)
    const path = parsed.pathname.replace(/^\//, "")
    if (path !== "" && !/^\d+$/.test(path)) {
      return Effect.fail(
        urlError(url, "database must be a non-negative integer", `database "${path}" is not a non-negative integer`)
      )
    }
    const username = decodeComponent(parsed.username)
    const password = decodeComponent(parsed.password)
    if (username === null || password === null) {
      return Effect.fail(urlError(url, "credentials must be percent-encoded", "the credentials are not valid percent-encoding"))
    }
    return Effect.succeed({
      tls: parsed.protocol === "rediss:",
      host,
      port,
      db: path === "" ? undefined : Number(path),
      username: username === "" ? undefined : username,
      password: password === "" ? undefined : password
    })
  })

const readPem = (field: string, source: PemSource | SecretPemSource): Effect.Effect<string, ConfigurationError> => {
  if ("pem" in source) return Effect.succeed(Redacted.isRedacted(source.pem) ? Redacted.value(source.pem) : source.pem)
  const path = source.path
  return Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (cause) =>
      new ConfigurationError({
        message: `${field}: cannot read ${path} (${errorCode(cause) ?? "unreadable"})`,
        field,
        rule: "file must exist and be readable",
        value: path
      })
  })
}

/** Credentials: an ACL user wins over the AUTH password, and either wins over the URL's. */
const credentials = (parsed: ParsedUrl, config: Option.Option<SecurityConfig>) => {
  if (Option.isSome(config)) {
    const c = config.value
    if (c.aclUsername !== undefined && c.aclUsername !== "" && c.aclPassword !== undefined) {
      return { username: c.aclUsername, password: Redacted.value(c.aclPassword) }
    }
    if (c.redisAuth !== undefined && Redacted.value(c.redisAuth) !== "") {
      return { password: Redacted.value(c.redisAuth) }
    }
  }
  return {
    ...(parsed.username === undefined ? {} : { username: parsed.username }),
    ...(parsed.password === undefined ? {} : { password: parsed.password })
  }
}

const tlsOptions = Effect.fnUntraced(function*(
  host: string,
  config: Option.Option<SecurityConfig>
): Effect.fn.Return<tls.ConnectionOptions, ConfigurationError> {
  // SNI and host name verification use the name; an IP address is checked against the certificate's IP SANs.
  const sni = net.isIP(host) === 0 ? { servername: host } : {}
  if (Option.isNone(config)) return sni
  const c = config.value
  return {
    ...sni,
    rejectUnauthorized: c.verifyCertificates,
    minVersion: c.minTlsVersion,
    ...(c.cipherSuites === undefined ? {} : { ciphers: c.cipherSuites }),
    ...(c.tlsCa === undefined ? {} : { ca: yield* readPem("tlsCa", c.tlsCa) }),
    ...(c.tlsCert === undefined ? {} : { cert: yield* readPem("tlsCert", c.tlsCert) }),
    ...(c.tlsKey === undefined ? {} : { key: yield* readPem("tlsKey", c.tlsKey) })
  }
})

/**
 * Builds the ioredis connection settings for `url` (`redis://` or `rediss://`, with
 * optional `user:password@` and `/db`) and an optional {@link SecurityConfig}.
 *
 * - Credentials: the config's ACL user (name and password) wins over its AUTH password,
 *   and both win over credentials in the URL.
 * - TLS is on when the URL says `rediss://` or the config says `useTls`: there is no
 *   silent downgrade. CA, client certificate and key are read from their files (or PEM);
 *   `rejectUnauthorized` follows `verifyCertificates`; `minVersion`, `ciphers` and the
 *   SNI `servername` (for host names) are set.
 * - `connectTimeout` and `socketTimeout` come from the config (default connect timeout 5 s).
 *
 * Fails with a {@link ConfigurationError} for a URL that does not parse (field `url`,
 * shown redacted) or a certificate file that cannot be read.
 *
 * @since 0.1.0
 */
export const redisConnectionOptions = Effect.fnUntraced(function*(
  url: string,
  config: Option.Option<SecurityConfig>
): Effect.fn.Return<ConnectionSettings, ConfigurationError> {
  const parsed = yield* parseRedisUrl(url)
  const useTls = parsed.tls || (Option.isSome(config) && config.value.useTls)
  const connectTimeout = Option.match(config, {
    onNone: () => DEFAULT_CONNECT_TIMEOUT,
    onSome: (c) => c.connectionTimeout
  })
  return {
    host: parsed.host,
    port: parsed.port,
    ...(parsed.db === undefined ? {} : { db: parsed.db }),
    ...credentials(parsed, config),
    ...(useTls ? { tls: yield* tlsOptions(parsed.host, config) } : {}),
    connectTimeout: Duration.toMillis(connectTimeout),
    ...(Option.isSome(config) ? { socketTimeout: Duration.toMillis(config.value.socketTimeout) } : {})
  }
})

// -------------------------------------------------------------------------------------------------
// Classifying failures

const errorCode = (error: unknown): string | undefined =>
  Predicate.hasProperty(error, "code") && Predicate.isString(error.code) ? error.code : undefined

const errorMessage = (error: unknown): string =>
  Predicate.hasProperty(error, "message") && Predicate.isString(error.message) ? error.message : String(error)

const untrustedCaCodes = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED"
])

type Reason = ConnectionError["reason"]

interface Diagnosis {
  readonly reason: Reason
  readonly detail: string
}

/** The most specific reading of one error, or undefined when it says nothing useful. */
const diagnose = (error: unknown): Diagnosis | undefined => {
  if (error instanceof AggregateError && error.errors.length > 0) {
    // Node's happy-eyeballs connect (localhost -> ::1 and 127.0.0.1) reports every attempt.
    return error.errors.map(diagnose).find((d) => d !== undefined)
  }
  if (Predicate.isTagged(error, "TimeoutError")) return { reason: "timeout", detail: "the connection timed out" }
  if (error instanceof ConnectionError) {
    return { reason: error.reason, detail: error.message }
  }
  const code = errorCode(error)
  const message = errorMessage(error)
  const upper = message.toUpperCase()
  switch (code) {
    case "ECONNREFUSED":
      return { reason: "unreachable", detail: "connection refused (is Redis running and listening on this port?)" }
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return { reason: "unreachable", detail: "host unreachable (no route to the host)" }
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return { reason: "unreachable", detail: "the host name could not be resolved" }
    case "ETIMEDOUT":
      return { reason: "timeout", detail: "the connection timed out" }
    case "CERT_HAS_EXPIRED":
      return { reason: "tls", detail: "the server certificate expired (CERT_HAS_EXPIRED)" }
    case "CERT_NOT_YET_VALID":
      return { reason: "tls", detail: "the server certificate is not valid yet (CERT_NOT_YET_VALID)" }
    case "ERR_TLS_CERT_ALTNAME_INVALID": {
      const reason = Predicate.hasProperty(error, "reason") && Predicate.isString(error.reason)
        ? error.reason.trim().replace(/:$/, "")
        : "no matching subjectAltName"
      return { reason: "tls", detail: `the server certificate does not match host name (${reason})` }
    }
  }
  if (code !== undefined && untrustedCaCodes.has(code)) {
    return { reason: "tls", detail: `the server certificate is not signed by a trusted CA (${code})` }
  }
  // Server replies first: their text can mention TLS words ("select the RESP protocol version").
  if (upper.startsWith("WRONGPASS") || upper.includes("INVALID PASSWORD") || upper.includes("INVALID USERNAME-PASSWORD")) {
    return {
      reason: "authentication",
      detail: "authentication failed: invalid username-password pair or user is disabled"
    }
  }
  if (upper.startsWith("NOAUTH")) {
    return { reason: "authentication", detail: "the server requires authentication and no credentials were accepted" }
  }
  if (upper.startsWith("NOPERM")) {
    // The server's text names the command (never an argument): "this user has no permissions to run the 'x' command".
    const command = /'([^']+)'/.exec(message)?.[1]
    return {
      reason: "authentication",
      detail: command === undefined
        ? "the user lacks a permission the connection needs (NOPERM)"
        : `the user has no permission to run '${command}' (NOPERM)`
    }
  }
  if (/ALERT CERTIFICATE REQUIRED|CERTIFICATE_REQUIRED/.test(upper)) {
    return {
      reason: "tls",
      detail: "the server requires a client certificate (mutual TLS): set tlsCert and tlsKey"
    }
  }
  if (/ALERT (BAD CERTIFICATE|UNKNOWN CA|CERTIFICATE UNKNOWN)|ALERT_BAD_CERTIFICATE|ALERT_UNKNOWN_CA/.test(upper)) {
    return { reason: "tls", detail: "the server rejected the client certificate (not signed by a CA it trusts?)" }
  }
  if (/ALERT HANDSHAKE FAILURE|ALERT_HANDSHAKE_FAILURE/.test(upper)) {
    return {
      reason: "tls",
      detail: "TLS handshake failed (the server may require a client certificate, or no cipher is shared)"
    }
  }
  if (/WRONG VERSION NUMBER|WRONG_VERSION_NUMBER|PACKET LENGTH TOO LONG|HTTP REQUEST/.test(upper)) {
    return { reason: "tls", detail: "the server does not speak TLS on this port (plain Redis?)" }
  }
  if (/PROTOCOL VERSION|UNSUPPORTED_PROTOCOL|UNSUPPORTED PROTOCOL/.test(upper)) {
    return { reason: "tls", detail: "client and server share no TLS version (see minTlsVersion)" }
  }
  if (/NO CIPHER|NO_CIPHERS|NO SHARED CIPHER/.test(upper)) {
    return { reason: "tls", detail: "client and server share no cipher suite (see cipherSuites)" }
  }
  if (upper.includes("TIMED OUT") || upper.includes("TIMEOUT")) return { reason: "timeout", detail: "the connection timed out" }
  if (upper.includes("UNKNOWN RESP TYPE") || upper.includes("PROTOCOL ERROR")) {
    return { reason: "protocol", detail: "the server did not answer in the Redis protocol (is it Redis?)" }
  }
  if (code === "ECONNRESET" || code === "EPIPE") {
    return { reason: "closed", detail: "the server reset the connection (does it require TLS, or a client certificate?)" }
  }
  return undefined
}

const specificity: Record<Reason, number> = {
  authentication: 5,
  tls: 5,
  timeout: 3,
  unreachable: 3,
  protocol: 2,
  closed: 1
}

/** Keeps what an error may safely carry: its name, code and message (ioredis errors also carry the AUTH arguments). */
const sanitize = (error: unknown): Error => {
  const message = errorMessage(error)
  const safe = new Error(message)
  safe.name = Predicate.hasProperty(error, "name") && Predicate.isString(error.name) ? error.name : "Error"
  const code = errorCode(error)
  if (code !== undefined) Object.assign(safe, { code })
  return safe
}

const hostOf = (url: string): string => {
  try {
    const parsed = new URL(url)
    return parsed.host
  } catch {
    return redactUrl(url)
  }
}

/**
 * Turns what ioredis or Node report when connecting fails into a {@link ConnectionError}
 * whose `reason` and message say which: unreachable (refused, no route, unknown host),
 * timeout, authentication (`WRONGPASS`, `NOAUTH`, `NOPERM`), tls (untrusted CA, expired
 * certificate, host name mismatch, client certificate required, plain server on a TLS
 * connection), protocol, or closed. Given several errors (ioredis emits the real cause
 * on its `error` event and rejects `connect()` with "Connection is closed."), the most
 * specific one wins. The URL is redacted and the `cause` keeps only name, code and
 * message, since ioredis attaches the AUTH arguments (the password) to its errors.
 *
 * @since 0.1.0
 */
export const classifyConnectionError = (error: unknown, url: string): ConnectionError => {
  const candidates = Array.isArray(error) ? error : [error]
  let best: { readonly error: unknown; readonly diagnosis: Diagnosis } | undefined
  for (const candidate of candidates) {
    const diagnosis = diagnose(candidate)
    if (diagnosis !== undefined && (best === undefined || specificity[diagnosis.reason] > specificity[best.diagnosis.reason])) {
      best = { error: candidate, diagnosis }
    }
  }
  const safeUrl = redactUrl(url)
  const first = candidates[0]
  if (best === undefined) {
    const message = errorMessage(first)
    const closed = /connection is closed|connection closed|stream isn't writeable|ECONNRESET/i.test(message)
    return new ConnectionError({
      message: `Cannot connect to Redis at ${hostOf(url)}: ${closed ? "the connection was closed" : message}`,
      url: safeUrl,
      reason: closed ? "closed" : "unreachable",
      cause: sanitize(first)
    })
  }
  if (best.error instanceof ConnectionError) return best.error
  return new ConnectionError({
    message: `Cannot connect to Redis at ${hostOf(url)}: ${best.diagnosis.detail}`,
    url: safeUrl,
    reason: best.diagnosis.reason,
    cause: sanitize(best.error)
  })
}

// -------------------------------------------------------------------------------------------------
// Probing an ambiguous failure

const PROBE_TIMEOUT_MS = 1_000

type ProbeOutcome = "resp" | "closed-after-handshake" | "no-answer" | "tls-handshake" | "error"

/**
 * Opens a raw socket (or a TLS one with `tlsOptions`), sends PING and reports how the
 * server reacted. Written on plain sockets because the question is below what a Redis
 * client can answer: does the server speak TLS, and does it drop us after the handshake?
 */
const probe = (host: string, port: number, tlsOptions: tls.ConnectionOptions | undefined): Effect.Effect<ProbeOutcome> =>
  Effect.callback<ProbeOutcome>((resume) => {
    let settled = false
    let handshake = false
    const socket: net.Socket = tlsOptions === undefined
      ? net.connect({ host, port })
      : tls.connect({
        ...tlsOptions,
        host,
        port,
        // The probe only asks how the server reacts; trust is checked by the real connection.
        rejectUnauthorized: false
      })
    const finish = (outcome: ProbeOutcome) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resume(Effect.succeed(outcome))
    }
    const timer = setTimeout(() => finish("no-answer"), PROBE_TIMEOUT_MS)
    socket.once(tlsOptions === undefined ? "connect" : "secureConnect", () => {
      handshake = true
      socket.write("PING\r\n")
    })
    socket.once("data", (chunk: Buffer) => {
      const first = chunk.toString("latin1", 0, 1)
      finish(first === "+" || first === "-" ? "resp" : tlsOptions === undefined ? "error" : "tls-handshake")
    })
    socket.once("error", (error) => {
      // TLS 1.2 fails the handshake itself when the server wants a certificate; TLS 1.3 fails after it.
      const alert = /ALERT/i.test(errorMessage(error) + (errorCode(error) ?? ""))
      finish(tlsOptions !== undefined && (handshake || alert) ? "closed-after-handshake" : "error")
    })
    socket.once("close", () => finish(handshake && tlsOptions !== undefined ? "closed-after-handshake" : "error"))
    return Effect.sync(() => finish("error"))
  })

/**
 * Like {@link classifyConnectionError}, but when the errors are ambiguous (the server
 * reset or closed the connection, or did not answer) it probes the server to say why: a
 * plain Redis on a TLS connection, a TLS-only server on a plain connection, or a TLS
 * server that demands a client certificate or rejects ours. Each probe is one socket
 * and takes at most 1 s.
 *
 * @since 0.1.0
 */
export const diagnoseConnectionFailure = Effect.fnUntraced(function*(
  errors: unknown,
  url: string,
  settings: ConnectionSettings
): Effect.fn.Return<ConnectionError> {
  const classified = classifyConnectionError(errors, url)
  if (classified.reason !== "closed" && classified.reason !== "timeout") return classified
  const where = `${settings.host}:${settings.port}`
  const withDetail = (reason: ConnectionError["reason"], detail: string) =>
    new ConnectionError({
      message: `Cannot connect to Redis at ${where}: ${detail}`,
      url: classified.url,
      reason,
      ...(classified.cause === undefined ? {} : { cause: classified.cause })
    })
  const timedOut = classified.reason === "timeout"
    ? withDetail("timeout", `no answer within ${settings.connectTimeout} ms (connectTimeout)`)
    : classified
  if (settings.tls !== undefined) {
    // Plain first: a plain Redis answers at once, and then the TLS probe is not needed.
    if ((yield* probe(settings.host, settings.port, undefined)) === "resp") {
      return withDetail("tls", "the server speaks plain Redis, not TLS, on this port (TLS was asked for: no downgrade)")
    }
    const secure = yield* probe(settings.host, settings.port, settings.tls)
    if (secure === "closed-after-handshake") {
      return withDetail(
        "tls",
        settings.tls.cert === undefined
          ? "the server requires a client certificate (mutual TLS): set tlsCert and tlsKey"
          : "the server rejected the client certificate (not signed by a CA it trusts, or expired?)"
      )
    }
    return timedOut
  }
  const secure = yield* probe(settings.host, settings.port, {
    ...(net.isIP(settings.host) === 0 ? { servername: settings.host } : {})
  })
  if (secure === "tls-handshake" || secure === "closed-after-handshake" || secure === "resp") {
    return withDetail("tls", "the server requires TLS on this port: use a rediss:// URL or useTls")
  }
  return timedOut
})

/**
 * Options for a short-lived connection made by {@link connectRedis}.
 *
 * @since 0.1.0
 */
export interface ConnectRedisOptions {
  /** The name shown by `CLIENT LIST`. */
  readonly connectionName?: string
  /** Milliseconds a command may take before it fails with "Command timed out". */
  readonly commandTimeout?: number
  /**
   * Enforce `commandTimeout` with one timer for the connection (src/internal/commandWatchdog.ts)
   * instead of ioredis' timer per command: the same error, a tick later at most, no cost per command.
   */
  readonly commandWatchdog?: boolean
  /** The RESP version; a connection that must receive pub/sub or tracking frames uses 2 (ioredis 6 drops RESP3 pushes). */
  readonly protocol?: 2 | 3
}

// ioredis' own commandTimeout, unless the watchdog enforces it.
const ioredisCommandTimeout = (options: ConnectRedisOptions) =>
  options.commandTimeout === undefined || options.commandWatchdog === true ? {} : { commandTimeout: options.commandTimeout }

// Armed before connect(), so that the handshake's commands are bounded as ioredis' timer bounded them.
const watchCommands = (client: Redis | Cluster, options: ConnectRedisOptions): Effect.Effect<void, never, Scope.Scope> =>
  options.commandTimeout === undefined || options.commandWatchdog !== true
    ? Effect.void
    : commandWatchdog(client, options.commandTimeout)

// QUIT when the connection is healthy (bounded), then disconnect. A connection that never
// opened is already "end"; disconnecting it again would arm ioredis' reconnect timer, which
// keeps the process alive for ~2 s.
const closeConnection = (client: { readonly status: string; quit(): Promise<unknown>; disconnect(): void }) =>
  Effect.promise(() => client.status === "ready" ? client.quit().catch(() => "") : Promise.resolve("")).pipe(
    Effect.timeoutOption(Duration.seconds(1)),
    Effect.ensuring(Effect.sync(() => {
      if (client.status !== "end") client.disconnect()
    }))
  )

/**
 * Opens one ioredis connection with `settings`, failing fast (no retries, no offline
 * queue) with a {@link ConnectionError} from {@link diagnoseConnectionFailure}. The
 * connection lives in the Scope and is closed (QUIT, then disconnect) when it closes.
 *
 * @since 0.1.0
 */
export const connectRedis = (
  url: string,
  settings: ConnectionSettings,
  options: ConnectRedisOptions = {}
): Effect.Effect<Redis, ConnectionError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const emitted: Array<unknown> = []
      const client = new Redis({
        ...settings,
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        reconnectOnError: null,
        ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
        ...ioredisCommandTimeout(options),
        ...(options.protocol === undefined ? {} : { protocol: options.protocol })
      })
      // ioredis reports the real cause here; connect() only rejects with "Connection is closed.".
      client.on("error", (error: unknown) => {
        if (emitted.length < 10) emitted.push(error)
      })
      return { client, emitted }
    }),
    ({ client }) => closeConnection(client)
  ).pipe(
    Effect.tap(({ client }) => watchCommands(client, options)),
    Effect.flatMap(({ client, emitted }) =>
      Effect.tryPromise({
        try: () => client.connect(),
        // ioredis reports the cause on its `error` event and rejects with "Connection is closed.": keep both.
        catch: (rejection): ReadonlyArray<unknown> => [...emitted, rejection]
      }).pipe(
        Effect.timeoutOrElse({
          // The handshake (HELLO/AUTH) is not covered by ioredis's connectTimeout; a stalled server must not hang us.
          duration: Duration.millis(settings.connectTimeout + 500),
          orElse: () =>
            Effect.fail(
              new ConnectionError({
                message: `Cannot connect to Redis at ${settings.host}:${settings.port}: no answer within ${settings.connectTimeout} ms`,
                url: redactUrl(url),
                reason: "timeout"
              })
            )
        }),
        Effect.catch((errors) =>
          Effect.flatMap(
            diagnoseConnectionFailure(Array.isArray(errors) ? errors : [...emitted, errors], url, settings),
            (error) => Effect.fail(error)
          )
        ),
        Effect.as(client)
      )
    )
  )

// -------------------------------------------------------------------------------------------------
// Cluster and Sentinel

/**
 * A `host:port` pair: a cluster's startup node or a sentinel.
 *
 * @since 0.1.0
 */
export interface NodeAddress {
  readonly host: string
  readonly port: number
}

/**
 * The ioredis Cluster settings that matter to the cache, as validated by the cache options.
 *
 * @since 0.1.0
 */
export interface ClusterTuning {
  /** Most MOVED/ASK redirections followed per command (ioredis default 16). */
  readonly maxRedirections?: number
  /** Milliseconds before a command that met a closed node connection is retried (ioredis default 100). */
  readonly retryDelayOnFailover?: number
  /** Milliseconds before a command that met CLUSTERDOWN is retried (ioredis default 100). */
  readonly retryDelayOnClusterDown?: number
  /** Milliseconds a slot-map refresh may take (ioredis default 1000). */
  readonly slotsRefreshTimeout?: number
  /** Milliseconds between slot-map refreshes (ioredis default 5000). */
  readonly slotsRefreshInterval?: number
  /** Addresses the nodes announce mapped to the addresses this client must use (NAT, containers). */
  readonly natMap?: Readonly<Record<string, NodeAddress>>
}

/**
 * Where the Sentinels are and which master they watch.
 *
 * @since 0.1.0
 */
export interface SentinelSettings {
  readonly sentinels: ReadonlyArray<NodeAddress>
  /** The master's name, as in `sentinel monitor <name> ...`. */
  readonly name: string
  readonly sentinelUsername?: string
  readonly sentinelPassword?: Redacted.Redacted<string>
  /** Whether the sentinels themselves speak TLS (with the same CA and client certificate as the data nodes). */
  readonly tls: boolean
}

/** What ioredis' clients have in common that a managed connection needs. */
interface ManagedClient {
  readonly status: string
  connect(): Promise<void>
  quit(): Promise<unknown>
  disconnect(): void
  on(event: string, listener: (error: unknown) => void): unknown
}

// ioredis wraps a cluster's last node failure; the node error says more than the wrapper.
const withCauses = (error: unknown): ReadonlyArray<unknown> =>
  Predicate.hasProperty(error, "lastNodeError") && error.lastNodeError != null ? [error.lastNodeError, error] : [error]

/**
 * Opens a client made by `create` (lazy, never retrying by itself), failing with a
 * classified {@link ConnectionError} or a timeout after `timeoutMs`; it lives in the Scope.
 */
const connectManaged = <C extends ManagedClient & (Redis | Cluster)>(
  create: () => C,
  url: string,
  where: string,
  timeoutMs: number,
  options: ConnectRedisOptions
): Effect.Effect<C, ConnectionError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const emitted: Array<unknown> = []
      const client = create()
      const keep = (error: unknown) => {
        if (emitted.length < 10) emitted.push(...withCauses(error))
      }
      client.on("error", keep)
      // A cluster reports each node's failure here too; without a listener nothing is lost, but keep the cause.
      client.on("node error", keep)
      return { client, emitted }
    }),
    ({ client }) => closeConnection(client)
  ).pipe(
    Effect.tap(({ client }) => watchCommands(client, options)),
    Effect.flatMap(({ client, emitted }) =>
      Effect.tryPromise({
        try: () => client.connect(),
        catch: (rejection): ReadonlyArray<unknown> => [...emitted, ...withCauses(rejection)]
      }).pipe(
        Effect.timeoutOrElse({
          duration: Duration.millis(timeoutMs),
          orElse: () =>
            Effect.fail(
              new ConnectionError({
                message: `Cannot connect to Redis at ${where}: no answer within ${timeoutMs} ms`,
                url: redactUrl(url),
                reason: "timeout"
              })
            )
        }),
        Effect.mapError((errors) => Array.isArray(errors) ? classifyConnectionError(errors, url) : errors as ConnectionError),
        Effect.as(client)
      )
    )
  )

// SNI and host name checks follow each node's own host (Node's default): one servername cannot fit every node.
const withoutServername = (options: tls.ConnectionOptions): tls.ConnectionOptions => {
  const { servername: _servername, ...rest } = options
  return rest
}

// What every node connection of a cluster or a sentinel setup shares with a standalone one.
const nodeOptions = (settings: ConnectionSettings, options: ConnectRedisOptions) => ({
  ...(settings.username === undefined ? {} : { username: settings.username }),
  ...(settings.password === undefined ? {} : { password: settings.password }),
  ...(settings.tls === undefined ? {} : { tls: withoutServername(settings.tls) }),
  connectTimeout: settings.connectTimeout,
  ...(settings.socketTimeout === undefined ? {} : { socketTimeout: settings.socketTimeout }),
  maxRetriesPerRequest: 0,
  reconnectOnError: null,
  ...(options.connectionName === undefined ? {} : { connectionName: options.connectionName }),
  ...ioredisCommandTimeout(options),
  ...(options.protocol === undefined ? {} : { protocol: options.protocol })
})

/**
 * Opens an ioredis `Cluster` on `nodes` (its startup nodes), every node with the
 * credentials, TLS and timeouts of `settings`. Like {@link connectRedis} it fails fast:
 * no offline queue, no reconnection of its own (`clusterRetryStrategy` returns null),
 * so the caller's schedule drives reconnection. MOVED and ASK are followed by ioredis.
 * `url` is what messages show (redacted).
 *
 * @since 0.1.0
 */
export const connectCluster = (
  url: string,
  nodes: ReadonlyArray<NodeAddress>,
  settings: ConnectionSettings,
  tuning: ClusterTuning,
  options: ConnectRedisOptions = {}
): Effect.Effect<Cluster, ConnectionError, Scope.Scope> =>
  Effect.catch(connectClusterOnce(url, nodes, settings, tuning, options), (error) =>
    error.reason === "closed" || error.reason === "timeout"
      ? Effect.flatMap(diagnoseNode(nodes[0]!, settings, options), (diagnosed) => Effect.fail(diagnosed ?? error))
      : Effect.fail(error))

// ioredis' Cluster reports a node it cannot reach as "Connection is closed." and drops the cause (a
// TLS or AUTH failure): one plain connection to the first startup node says what it was.
const diagnoseNode = (node: NodeAddress, settings: ConnectionSettings, options: ConnectRedisOptions) =>
  Effect.scoped(
    connectRedis(`${settings.tls === undefined ? "redis" : "rediss"}://${node.host}:${node.port}`, {
      ...settings,
      host: node.host,
      port: node.port
    }, options).pipe(
      Effect.as(undefined),
      Effect.catch((diagnosed) => Effect.succeed(diagnosed.reason === "closed" ? undefined : diagnosed))
    )
  )

const connectClusterOnce = (
  url: string,
  nodes: ReadonlyArray<NodeAddress>,
  settings: ConnectionSettings,
  tuning: ClusterTuning,
  options: ConnectRedisOptions
): Effect.Effect<Cluster, ConnectionError, Scope.Scope> =>
  connectManaged(
    () =>
      new Cluster(nodes.map(({ host, port }) => ({ host, port })), {
        lazyConnect: true,
        enableOfflineQueue: false,
        enableReadyCheck: true,
        clusterRetryStrategy: () => null,
        ...(tuning.maxRedirections === undefined ? {} : { maxRedirections: tuning.maxRedirections }),
        ...(tuning.retryDelayOnFailover === undefined ? {} : { retryDelayOnFailover: tuning.retryDelayOnFailover }),
        ...(tuning.retryDelayOnClusterDown === undefined ? {} : { retryDelayOnClusterDown: tuning.retryDelayOnClusterDown }),
        ...(tuning.slotsRefreshTimeout === undefined ? {} : { slotsRefreshTimeout: tuning.slotsRefreshTimeout }),
        ...(tuning.slotsRefreshInterval === undefined ? {} : { slotsRefreshInterval: tuning.slotsRefreshInterval }),
        ...(tuning.natMap === undefined ? {} : { natMap: { ...tuning.natMap } }),
        redisOptions: nodeOptions(settings, options)
      }),
    url,
    nodes.map(({ host, port }) => `${host}:${port}`).join(","),
    // Slot discovery is a few round trips on top of the handshake.
    2 * settings.connectTimeout + 500,
    options
  )

/**
 * Opens a connection to the master that the Sentinels in `sentinel` name, with
 * `failoverDetector` on: when the Sentinels announce `+switch-master` the connection is
 * closed at once (and the caller reconnects through the Sentinels to the new master),
 * rather than writing to a demoted master until a timeout notices. Credentials and TLS of
 * `settings` apply to the master; `sentinelUsername`/`sentinelPassword` and, with
 * `sentinel.tls`, the same TLS files to the Sentinels.
 *
 * @since 0.1.0
 */
export const connectSentinel = (
  url: string,
  sentinel: SentinelSettings,
  settings: ConnectionSettings,
  options: ConnectRedisOptions = {}
): Effect.Effect<Redis, ConnectionError, Scope.Scope> =>
  connectManaged(
    () =>
      new Redis({
        ...nodeOptions(settings, options),
        ...(settings.db === undefined ? {} : { db: settings.db }),
        sentinels: sentinel.sentinels.map(({ host, port }) => ({ host, port })),
        name: sentinel.name,
        role: "master",
        ...(sentinel.sentinelUsername === undefined ? {} : { sentinelUsername: sentinel.sentinelUsername }),
        ...(sentinel.sentinelPassword === undefined ? {} : { sentinelPassword: Redacted.value(sentinel.sentinelPassword) }),
        ...(settings.tls === undefined ? {} : { enableTLSForSentinelMode: true }),
        ...(sentinel.tls && settings.tls !== undefined ? { sentinelTLS: withoutServername(settings.tls) } : {}),
        ...(options.commandTimeout === undefined ? {} : { sentinelCommandTimeout: options.commandTimeout }),
        failoverDetector: true,
        updateSentinels: true,
        lazyConnect: true,
        enableOfflineQueue: false,
        retryStrategy: () => null,
        sentinelRetryStrategy: () => null
      }),
    url,
    `the master "${sentinel.name}" (through ${sentinel.sentinels.map(({ host, port }) => `${host}:${port}`).join(",")})`,
    // Asking a sentinel, then connecting to the master it names.
    2 * settings.connectTimeout + 500,
    options
  )
