/**
 * The security checks run against a live Redis connection: authentication in force,
 * TLS on the socket, dangerous commands, protected mode, password strength. A server
 * that refuses a check (NOPERM, an old version) is information, never a failure.
 *
 * @since 0.1.0
 */
import * as tls from "node:tls"
import { Clock, DateTime, Duration, Effect, Predicate, Result } from "effect"
import type { Redis } from "ioredis"
import { type ConnectionSettings, connectRedis } from "./connectionOptions.js"
import {
  type AuthMethod,
  computeSecurityScore,
  isSecureScore,
  type SecurityValidationResult,
  Vulnerability
} from "./SecurityResult.js"

const COMMAND_TIMEOUT = Duration.seconds(3)
const DAY_MS = 86_400_000

/**
 * The commands whose permission the checks look for, each with arguments that make the
 * fallback probe harmless (see {@link dangerousCommandAllowed}).
 */
const dangerousCommands: ReadonlyArray<{
  readonly name: string
  readonly args: ReadonlyArray<string>
  /** Arguments that pass the arity check but are rejected by the command itself, or undefined when no such call is safe. */
  readonly probe: ReadonlyArray<string> | undefined
}> = [
  { name: "FLUSHALL", args: ["FLUSHALL"], probe: undefined },
  { name: "FLUSHDB", args: ["FLUSHDB"], probe: undefined },
  { name: "CONFIG", args: ["CONFIG", "SET", "maxmemory", "0"], probe: ["CONFIG", "SET", "effect-redis-cache-probe", "x"] },
  { name: "DEBUG", args: ["DEBUG", "HELP"], probe: ["DEBUG", "effect-redis-cache-probe"] },
  { name: "KEYS", args: ["KEYS", "*"], probe: undefined }
]

type Reply = Result.Result<unknown, string>

const replyText = (error: unknown): string =>
  Predicate.hasProperty(error, "message") && Predicate.isString(error.message) ? error.message : String(error)

/** One command; a server error or a timeout is a value, never a failure. */
const send = (client: Redis, args: ReadonlyArray<string>): Effect.Effect<Reply> => {
  const [command, ...rest] = args
  return Effect.tryPromise({
    try: () => client.call(command ?? "PING", rest),
    catch: replyText
  }).pipe(
    Effect.timeoutOrElse({ duration: COMMAND_TIMEOUT, orElse: () => Effect.fail("timed out") }),
    Effect.result
  )
}

const isNoPerm = (error: string) => error.startsWith("NOPERM")

/**
 * Whether `user` may run a dangerous command, without running it:
 * 1. `ACL DRYRUN` (Redis >= 7, needs permission for ACL);
 * 2. `redis.acl_check_cmd` in a script (Redis >= 7, needs EVAL: the cache's own ACL has it);
 * 3. calling the command with arguments it rejects after the ACL check (CONFIG SET of an
 *    unknown parameter, an unknown DEBUG subcommand). Never done for FLUSHALL, FLUSHDB or
 *    KEYS, where a mistake would cost data or block the server.
 */
const dangerousCommandAllowed = Effect.fnUntraced(function*(
  client: Redis,
  user: string,
  command: (typeof dangerousCommands)[number]
) {
  const dryRun = yield* send(client, ["ACL", "DRYRUN", user, ...command.args])
  if (Result.isSuccess(dryRun)) return { allowed: dryRun.success === "OK", method: "ACL DRYRUN" } as const
  const scripted = yield* send(client, ["EVAL", "return redis.acl_check_cmd(unpack(ARGV))", "0", ...command.args])
  if (Result.isSuccess(scripted)) return { allowed: scripted.success === 1, method: "acl_check_cmd" } as const
  if (command.probe === undefined) return undefined
  const probed = yield* send(client, command.probe)
  if (Result.isSuccess(probed)) return { allowed: true, method: "probe" } as const
  if (isNoPerm(probed.failure)) return { allowed: false, method: "probe" } as const
  if (/not allowed/i.test(probed.failure)) return { allowed: false, method: "disabled by server configuration" } as const
  return { allowed: true, method: "probe" } as const
})

/** What the checks need to know about the connection besides the client. */
export interface CheckContext {
  readonly url: string
  readonly settings: ConnectionSettings
  /** A data node (default) or a Sentinel, which has no data commands to check and answers SENTINEL instead. */
  readonly kind?: "data" | "sentinel"
  /**
   * What the connection without credentials tries on a data node. Default `EXISTS` of a
   * probe key; a cluster replica answers a key command with MOVED, so nodes of a cluster
   * use `DBSIZE`.
   */
  readonly probe?: ReadonlyArray<string>
}

const isLoopback = (host: string) => host === "localhost" || host === "::1" || host.startsWith("127.")

const weakCipher = (name: string) => /NULL|EXPORT|RC4|DES|MD5|anon|PSK/i.test(name)

interface Findings {
  readonly vulnerabilities: Array<string>
  readonly warnings: Array<string>
  readonly recommendations: Array<string>
  readonly checks: Record<string, string>
}

/** Whether a connection without credentials (same TLS settings) may read data. */
const checkAuthenticationEnforced = Effect.fnUntraced(function*(context: CheckContext, findings: Findings) {
  const { password: _password, username: _username, ...anonymous } = context.settings
  const outcome = yield* Effect.scoped(
    connectRedis(context.url, anonymous, { connectionName: "effect-redis-cache:security-probe" }).pipe(
      Effect.flatMap((probe) =>
        send(
          probe,
          context.kind === "sentinel"
            ? ["SENTINEL", "MASTERS"]
            : context.probe ?? ["EXISTS", "effect-redis-cache:security-probe"]
        )
      ),
      Effect.result
    )
  )
  if (Result.isFailure(outcome)) {
    if (outcome.failure.reason === "authentication") {
      findings.checks.authentication_enforced = "OK: connections without credentials are refused"
      return true
    }
    findings.checks.authentication_enforced = `UNKNOWN: probe without credentials failed (${outcome.failure.reason})`
    findings.warnings.push("Could not check whether Redis refuses unauthenticated connections")
    return undefined
  }
  if (Result.isSuccess(outcome.success)) {
    findings.checks.authentication_enforced = context.kind === "sentinel"
      ? "FAILED: a connection without credentials can command the Sentinel"
      : "FAILED: a connection without credentials can read data"
    findings.vulnerabilities.push(Vulnerability.noAuthentication)
    findings.recommendations.push("Enable Redis authentication: disable the default user or give it a password")
    return false
  }
  findings.checks.authentication_enforced = "WARNING: connections without credentials are accepted, but may not read data"
  findings.warnings.push("The default user is enabled without a password (it may not read data)")
  return true
})

interface TlsFacts {
  readonly negotiated: boolean
  readonly version: string | null
  readonly cipher: string | null
  readonly certificateValid: boolean
  readonly expiryDays: number | null
  readonly strong: boolean
}

const checkTls = Effect.fnUntraced(function*(client: Redis, context: CheckContext, findings: Findings) {
  const stream: unknown = client.stream
  if (!(stream instanceof tls.TLSSocket)) {
    findings.checks.tls = "FAILED: not encrypted (plain TCP)"
    if (isLoopback(context.settings.host)) {
      findings.warnings.push("Unencrypted connection (loopback only: not exposed to the network)")
    } else {
      findings.vulnerabilities.push(Vulnerability.unencrypted)
    }
    findings.recommendations.push("Enable TLS encryption for data in transit (rediss:// URL or useTls)")
    return { negotiated: false, version: null, cipher: null, certificateValid: false, expiryDays: null, strong: false }
  }
  const version = stream.getProtocol()
  const cipher = stream.getCipher()?.name ?? null
  const certificate = stream.getPeerCertificate()
  const now = yield* Clock.currentTimeMillis
  const validTo = certificate.valid_to === undefined ? Number.NaN : Date.parse(certificate.valid_to)
  const expiryDays = Number.isNaN(validTo) ? null : Math.floor((validTo - now) / DAY_MS)
  const hostName = context.settings.tls?.servername ?? context.settings.host
  const nameMatches = certificate.subject !== undefined && tls.checkServerIdentity(hostName, certificate) === undefined
  const verifying = context.settings.tls?.rejectUnauthorized !== false
  const chainTrusted = stream.authorized
  const certificateValid = chainTrusted && nameMatches && expiryDays !== null && expiryDays >= 0
  const strong = (version === "TLSv1.2" || version === "TLSv1.3") && cipher !== null && !weakCipher(cipher)
  findings.checks.tls = `OK: ${version ?? "TLS"} ${cipher ?? ""}`.trim()
  if (!verifying) {
    findings.vulnerabilities.push(Vulnerability.verificationDisabled)
    findings.recommendations.push("Enable certificate verification (verifyCertificates: true)")
  }
  findings.checks.certificate = certificateValid
    ? `Valid: trusted chain, host name matches, expires in ${expiryDays} days`
    : `FAILED: ${
      [
        chainTrusted ? undefined : `untrusted chain (${String(stream.authorizationError ?? "unverified")})`,
        nameMatches ? undefined : `does not match ${hostName}`,
        expiryDays !== null && expiryDays < 0 ? "expired" : undefined
      ].filter(Predicate.isNotUndefined).join(", ")
    }`
  if (!certificateValid) findings.vulnerabilities.push(Vulnerability.invalidCertificate)
  if (expiryDays !== null && expiryDays >= 0 && expiryDays <= 30) {
    findings.warnings.push(`Server certificate expires in ${expiryDays} days`)
    findings.recommendations.push("Renew the server certificate before it expires")
  }
  if (!strong) {
    findings.vulnerabilities.push(Vulnerability.weakTls)
    findings.recommendations.push("Require TLS 1.2 or newer with strong cipher suites (minTlsVersion, cipherSuites)")
  }
  return { negotiated: true, version, cipher, certificateValid, expiryDays, strong } satisfies TlsFacts
})

const checkDangerousCommands = Effect.fnUntraced(function*(client: Redis, user: string, findings: Findings) {
  const allowed: Array<string> = []
  const unknown: Array<string> = []
  const details: Array<string> = []
  for (const command of dangerousCommands) {
    const verdict = yield* dangerousCommandAllowed(client, user, command)
    if (verdict === undefined) unknown.push(command.name)
    else if (verdict.allowed) allowed.push(command.name)
    details.push(`${command.name}=${verdict === undefined ? "unknown" : verdict.allowed ? "allowed" : "denied"}`)
  }
  if (allowed.length > 0) {
    findings.checks.dangerous_commands = `FAILED: ${details.join(", ")}`
    findings.vulnerabilities.push(Vulnerability.dangerousCommands(user, allowed))
    findings.recommendations.push(
      "Give the cache a least-privilege ACL user without FLUSHALL, FLUSHDB, CONFIG, DEBUG and KEYS (see docs/security.md)"
    )
    return false
  }
  if (unknown.length > 0) {
    findings.checks.dangerous_commands = `UNKNOWN: ${details.join(", ")} (ACL DRYRUN and EVAL not permitted)`
    findings.warnings.push(`Could not determine whether user '${user}' may run ${unknown.join(", ")}`)
    return undefined
  }
  findings.checks.dangerous_commands = `OK: ${details.join(", ")}`
  return true
})

const checkProtectedMode = Effect.fnUntraced(function*(
  client: Redis,
  authenticationEnforced: boolean | undefined,
  findings: Findings
) {
  const reply = yield* send(client, ["CONFIG", "GET", "protected-mode"])
  if (Result.isFailure(reply)) {
    findings.checks.protected_mode = isNoPerm(reply.failure)
      ? "UNKNOWN: CONFIG GET is not permitted for this user (expected for a least-privilege user)"
      : "UNKNOWN: CONFIG GET failed"
    return
  }
  const value = Array.isArray(reply.success) ? String(reply.success[1] ?? "") : ""
  if (value === "yes") {
    findings.checks.protected_mode = "OK: yes"
  } else if (authenticationEnforced === false) {
    findings.checks.protected_mode = `FAILED: ${value || "unknown"}`
    findings.vulnerabilities.push(Vulnerability.protectedModeOff)
  } else {
    findings.checks.protected_mode = `OK: ${value || "unknown"} (authentication is enforced)`
  }
})

const checkPassword = (password: string | undefined, findings: Findings): number | undefined => {
  if (password === undefined) {
    findings.checks.password_strength = "NONE: no password in use"
    return undefined
  }
  // Only the length is ever reported, never the password or a part of it.
  const length = password.length
  if (length < 12) {
    findings.checks.password_strength = "FAILED: shorter than 12 characters"
    findings.vulnerabilities.push(Vulnerability.weakPassword)
    findings.recommendations.push("Use a randomly generated password of at least 16 characters")
  } else if (length < 16) {
    findings.checks.password_strength = "OK: 12 to 15 characters"
    findings.recommendations.push("Use a randomly generated password of at least 16 characters")
  } else {
    findings.checks.password_strength = "OK: 16 characters or more"
  }
  return length
}

// A Sentinel refuses FLUSHALL, CONFIG, KEYS and the rest as unknown commands: nothing to check.
const sentinelHasNoDataCommands = (findings: Findings): true => {
  findings.checks.dangerous_commands = "OK: a Sentinel has no data commands (not checked)"
  return true
}

const serverVersion = (info: Reply): string | undefined =>
  Result.isSuccess(info) && Predicate.isString(info.success)
    ? /redis_version:([^\r\n]+)/.exec(info.success)?.[1]
    : undefined

/**
 * Runs every check against `client` (the cache's live connection, or a connection of
 * its own) and scores the findings. Never fails: what the server refuses to answer is
 * reported as a warning or an `UNKNOWN` check.
 *
 * @since 0.1.0
 */
export const runSecurityChecks = Effect.fnUntraced(function*(
  client: Redis,
  context: CheckContext
): Effect.fn.Return<SecurityValidationResult> {
  const findings: Findings = { vulnerabilities: [], warnings: [], recommendations: [], checks: {} }
  const timestamp = DateTime.formatIso(yield* DateTime.now)
  const ping = yield* send(client, ["PING"])
  findings.checks.connectivity = Result.isSuccess(ping) ? "OK" : `FAILED: ${ping.failure}`

  const version = serverVersion(yield* send(client, ["INFO", "server"]))
  findings.checks.server_version = version === undefined ? "UNKNOWN: INFO not permitted" : `OK: Redis ${version}`

  const whoami = yield* send(client, ["ACL", "WHOAMI"])
  const user = Result.isSuccess(whoami) && Predicate.isString(whoami.success)
    ? whoami.success
    : context.settings.username ?? "default"
  const credentialsPresented = context.settings.password !== undefined
  const aclUser = user !== "default"
  const authMethod: AuthMethod = !credentialsPresented ? "none" : aclUser ? "ACL" : "AUTH"
  findings.checks.authentication = credentialsPresented
    ? `OK: ${authMethod} as user '${user}'`
    : "NONE: no credentials presented"
  if (!aclUser) {
    findings.recommendations.push(
      credentialsPresented
        ? "Consider upgrading to an ACL user with least privilege instead of the shared AUTH password"
        : "Enable Redis authentication (AUTH or ACL)"
    )
  }

  const authenticationEnforced = yield* checkAuthenticationEnforced(context, findings)
  const tlsFacts = yield* checkTls(client, context, findings)
  const leastPrivilege = context.kind === "sentinel"
    ? sentinelHasNoDataCommands(findings)
    : yield* checkDangerousCommands(client, user, findings)
  if (context.kind !== "sentinel") yield* checkProtectedMode(client, authenticationEnforced, findings)
  const passwordLength = checkPassword(context.settings.password, findings)
  if (context.settings.connectTimeout > 60_000) {
    findings.warnings.push("Connection timeout is longer than 60 seconds")
  }

  const score = computeSecurityScore({
    authenticationEnforced,
    credentialsPresented,
    aclUser,
    leastPrivilege,
    tlsNegotiated: tlsFacts.negotiated,
    certificateValid: tlsFacts.certificateValid,
    certificateExpiryDays: tlsFacts.expiryDays,
    strongTls: tlsFacts.strong,
    passwordLength,
    vulnerabilities: findings.vulnerabilities
  })
  return {
    timestamp,
    isSecure: Result.isSuccess(ping) && isSecureScore(score, findings.vulnerabilities),
    score,
    authConfigured: credentialsPresented,
    authMethod,
    aclEnabled: aclUser && credentialsPresented,
    tlsEnabled: tlsFacts.negotiated,
    tlsVersion: tlsFacts.version,
    cipher: tlsFacts.cipher,
    certificateValid: tlsFacts.certificateValid,
    certificateExpiryDays: tlsFacts.expiryDays,
    vulnerabilities: findings.vulnerabilities,
    warnings: findings.warnings,
    recommendations: [...new Set(findings.recommendations)],
    detailedChecks: findings.checks
  }
})
