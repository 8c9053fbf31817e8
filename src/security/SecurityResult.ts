/**
 * What a security validation finds, how it is scored, and the shapes of the status,
 * report and test results that {@link CacheSecurity} returns. Every shape is plain,
 * JSON-ready data (absent values are `null`), and never holds a secret.
 *
 * @since 0.1.0
 */
import type { SecurityLevel } from "./SecurityConfig.js"

/**
 * How the connection authenticates: an ACL user other than `default`, the `default`
 * user's password (AUTH / `requirepass`), or not at all.
 *
 * @since 0.1.0
 */
export type AuthMethod = "ACL" | "AUTH" | "none"

/**
 * The result of checking the live server and connection.
 *
 * @since 0.1.0
 */
export interface SecurityValidationResult {
  /** When the checks ran (ISO 8601). */
  readonly timestamp: string
  /** `score >= 70` and no critical vulnerability (see `criticalVulnerabilities`). */
  readonly isSecure: boolean
  /** 0 to 100, computed from the checks' findings (see {@link computeSecurityScore}). */
  readonly score: number
  /** Whether the connection presents credentials. */
  readonly authConfigured: boolean
  readonly authMethod: AuthMethod
  /** Whether the connection is authenticated as an ACL user other than `default`. */
  readonly aclEnabled: boolean
  /** Whether TLS was negotiated on the connection's socket. */
  readonly tlsEnabled: boolean
  /** The negotiated protocol, e.g. `"TLSv1.3"`. */
  readonly tlsVersion: string | null
  /** The negotiated cipher suite. */
  readonly cipher: string | null
  /** Whether the server certificate chains to a trusted CA, matches the host name and has not expired. */
  readonly certificateValid: boolean
  /** Whole days until the server certificate expires (negative when expired). */
  readonly certificateExpiryDays: number | null
  readonly vulnerabilities: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
  readonly recommendations: ReadonlyArray<string>
  /** One line per check, e.g. `{ tls: "OK: TLSv1.3 TLS_AES_256_GCM_SHA384" }`; passing checks start with `OK`. */
  readonly detailedChecks: Readonly<Record<string, string>>
  /**
   * On a Redis Cluster or through Sentinel, every node checked (each master and replica,
   * or the master and each Sentinel). The fields above are then the weakest node's, and
   * `isSecure` holds only when every node is secure.
   */
  readonly nodes?: ReadonlyArray<NodeSecurity>
}

/**
 * The checks of one node of a cluster or a Sentinel setup, named by `host:port`.
 *
 * @since 0.1.0
 */
export interface NodeSecurity {
  /** `host:port`, never credentials. */
  readonly node: string
  readonly role: "master" | "replica" | "sentinel"
  readonly isSecure: boolean
  readonly score: number
  readonly tlsEnabled: boolean
  readonly authConfigured: boolean
  /** The `authentication_enforced` check of the node (e.g. `OK: connections without credentials are refused`). */
  readonly authenticationEnforced: string
  readonly vulnerabilities: ReadonlyArray<string>
  readonly warnings: ReadonlyArray<string>
}

/**
 * One entry of the security event log (the last 1000 are kept).
 *
 * @since 0.1.0
 */
export interface SecurityEvent {
  readonly timestamp: string
  readonly type: "validation" | "validation_failed" | "configuration_test"
  readonly score: number | null
  readonly detail: string
}

/**
 * The security status: the configuration in force and a summary of the last validation.
 *
 * @since 0.1.0
 */
export interface SecurityStatus {
  readonly timestamp: string
  /** Whether a {@link SecurityConfig} was given (a URL's own credentials or `rediss://` count as configuration too). */
  readonly securityEnabled: boolean
  readonly securityLevel: SecurityLevel | "NONE"
  /** Only without any configuration: `"No security configuration provided"`. */
  readonly message: string | null
  readonly configuration: {
    readonly hasAuthentication: boolean
    readonly tlsEnabled: boolean
    readonly aclConfigured: boolean
    readonly certificateVerification: boolean
    readonly connectionTimeoutMs: number
    readonly maxRetries: number
  } | null
  readonly lastValidation: {
    readonly timestamp: string
    readonly isSecure: boolean
    readonly score: number
    readonly vulnerabilitiesCount: number
    readonly recommendationsCount: number
  } | null
  readonly securityEventsCount: number
  /** L1 coherence of a Redis-backed cache (docs/coherence.md): the mechanism in use and whether its link is up. */
  readonly l1Invalidation: { readonly mechanism: string; readonly linked: boolean } | null
  readonly recommendationsCount: number
}

/**
 * The machine-readable security report.
 *
 * @since 0.1.0
 */
export interface SecurityReport {
  readonly generatedAt: string
  readonly configured: boolean
  readonly securityLevel: SecurityLevel | "NONE"
  /** The last validation; `null` when none ran (no configuration, or no connection). */
  readonly validation: SecurityValidationResult | null
  readonly status: SecurityStatus
  readonly recommendations: ReadonlyArray<string>
  readonly recentEvents: ReadonlyArray<SecurityEvent>
}

/**
 * The result of testing a configuration on a connection of its own.
 *
 * @since 0.1.0
 */
export interface SecurityTestResult {
  readonly timestamp: string
  readonly securityConfigured: boolean
  readonly configurationValid: boolean
  readonly connectionSuccessful: boolean
  readonly authenticationWorking: boolean
  readonly encryptionActive: boolean
  readonly overallSecure: boolean
  readonly securityScore: number | null
  readonly testDetails: {
    readonly configuration: string
    readonly connection: string
    readonly authentication: string
    readonly encryption: string
    readonly securityValidation: {
      readonly secure: boolean
      readonly score: number
      readonly vulnerabilities: ReadonlyArray<string>
    } | null
  }
  readonly errors: ReadonlyArray<string>
  /** Only without any configuration: why nothing was tested. */
  readonly message: string | null
  readonly recommendations: ReadonlyArray<string>
}

/**
 * The vulnerabilities the checks report. Their texts are stable: tests and
 * dashboards may match on them.
 *
 * @since 0.1.0
 */
export const Vulnerability = {
  noAuthentication: "No authentication configured - Redis is accessible without credentials",
  unencrypted: "Unencrypted connection - data transmitted in plain text",
  verificationDisabled:
    "Certificate verification disabled - the server's identity is not checked (man-in-the-middle possible)",
  invalidCertificate: "Invalid or expired certificates",
  weakTls: "Weak cipher suites or outdated TLS protocol",
  weakPassword: "Weak password - use at least 12 characters (16 or more recommended)",
  /** The text for a user allowed dangerous commands, naming the user and the commands. */
  dangerousCommands: (user: string, commands: ReadonlyArray<string>) =>
    `Dangerous commands allowed for user '${user}': ${commands.join(", ")} - use a least-privilege ACL user`,
  protectedModeOff: "Protected mode is disabled while the default user needs no password"
} as const

/**
 * Vulnerabilities that make a setup insecure whatever its score.
 *
 * @since 0.1.0
 */
export const criticalVulnerabilities: ReadonlySet<string> = new Set([
  Vulnerability.noAuthentication,
  Vulnerability.unencrypted,
  Vulnerability.verificationDisabled,
  Vulnerability.invalidCertificate,
  Vulnerability.weakTls
])

/**
 * The facts the score is computed from; `undefined` means the check could not tell.
 *
 * @since 0.1.0
 */
export interface SecurityFacts {
  /** Unauthenticated connections are refused. */
  readonly authenticationEnforced: boolean | undefined
  /** The connection presents credentials. */
  readonly credentialsPresented: boolean
  /** Authenticated as an ACL user other than `default`. */
  readonly aclUser: boolean
  /** The user may run none of the dangerous commands. */
  readonly leastPrivilege: boolean | undefined
  readonly tlsNegotiated: boolean
  /** Chain, host name and validity period all check out. */
  readonly certificateValid: boolean
  readonly certificateExpiryDays: number | null
  /** TLS 1.2 or newer with a strong cipher. */
  readonly strongTls: boolean
  /** Length of the password in use, or `undefined` when none. */
  readonly passwordLength: number | undefined
  readonly vulnerabilities: ReadonlyArray<string>
}

/**
 * The score, out of 100, from the checks' findings:
 *
 * | finding | points |
 * |---|---|
 * | unauthenticated connections refused (unknown but credentials presented: 15) | 25 |
 * | authenticated as an ACL user other than `default` | 10 |
 * | the user may run no dangerous command (unknown: 5) | 15 |
 * | TLS negotiated on the connection | 20 |
 * | certificate chain, host name and dates verified | 10 |
 * | certificate expiry: > 90 days 10, > 30 days 7, > 7 days 3 | 10 |
 * | TLS >= 1.2 with a strong cipher | 5 |
 * | password of 16+ characters (12 to 15: 2) | 5 |
 *
 * minus 5 per vulnerability (at most 15), clamped to 0..100.
 *
 * @since 0.1.0
 */
export const computeSecurityScore = (facts: SecurityFacts): number => {
  let score = 0
  if (facts.authenticationEnforced === true) score += 25
  else if (facts.authenticationEnforced === undefined && facts.credentialsPresented) score += 15
  if (facts.aclUser) score += 10
  if (facts.leastPrivilege === true) score += 15
  else if (facts.leastPrivilege === undefined) score += 5
  if (facts.tlsNegotiated) {
    score += 20
    if (facts.certificateValid) score += 10
    const days = facts.certificateExpiryDays
    if (days !== null) score += days > 90 ? 10 : days > 30 ? 7 : days > 7 ? 3 : 0
    if (facts.strongTls) score += 5
  }
  if (facts.passwordLength !== undefined) score += facts.passwordLength >= 16 ? 5 : facts.passwordLength >= 12 ? 2 : 0
  score -= Math.min(15, 5 * facts.vulnerabilities.length)
  return Math.max(0, Math.min(100, score))
}

/**
 * Secure means a score of at least 70 and no critical vulnerability.
 *
 * @since 0.1.0
 */
export const isSecureScore = (score: number, vulnerabilities: ReadonlyArray<string>): boolean =>
  score >= 70 && !vulnerabilities.some((v) => criticalVulnerabilities.has(v))
