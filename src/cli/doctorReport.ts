/**
 * What the `doctor` command found and how it says it: the exit codes, the findings
 * (the fields of `--json`), the one-line verdict and the text report.
 *
 * @since 0.1.0
 */
import type { CacheStatus } from "../Cache.js"
import type { SecurityReport, SecurityValidationResult } from "../security/SecurityResult.js"

/**
 * The exit codes of `effect-redis-cache doctor`.
 *
 * @since 0.1.0
 */
export const DoctorExitCode = {
  /** Reachable, and the security validation says `isSecure`. */
  Secure: 0,
  /** Reachable, but the setup is insecure. */
  Insecure: 1,
  /** No connection: unreachable, timed out, or refused (TLS, authentication). */
  Unreachable: 2,
  /** A bad argument or environment variable; nothing was checked. */
  BadInput: 3
} as const

/**
 * One of the {@link DoctorExitCode} values.
 *
 * @since 0.1.0
 */
export type DoctorExitCode = typeof DoctorExitCode[keyof typeof DoctorExitCode]

/**
 * What the doctor found: the fields of the `--json` output.
 *
 * @since 0.1.0
 */
export interface DoctorFindings {
  /** The URL checked, with its password masked. */
  readonly url: string
  readonly mode: CacheStatus["mode"]
  readonly lastError: string | null
  /** `redis_version` from `INFO server`; `null` when not connected, not permitted or not answered in time. */
  readonly serverVersion: string | null
  /** Median PING round trip in milliseconds; `null` when not connected or not answered in time. */
  readonly latencyMs: number | null
  readonly pingSamples: number
  readonly verdict: "secure" | "insecure" | "unreachable"
  /** The one-line verdict. */
  readonly message: string
  readonly exitCode: DoctorExitCode
  /** The security report; `null` when Redis did not answer before the deadline, so nothing was validated. */
  readonly security: SecurityReport | null
}

/**
 * How a run ended: the checks finished (with the validation), or the deadline came first
 * (with the reason, which names the deadline).
 *
 * @since 0.1.0
 */
export type DoctorOutcome =
  | { readonly _tag: "Checked"; readonly validation: SecurityValidationResult }
  | { readonly _tag: "TimedOut"; readonly reason: string }

/**
 * The verdict, its exit code and its line for a cache in `status` after `outcome`.
 *
 * @since 0.1.0
 */
export const verdictOf = (
  url: string,
  status: Pick<DoctorFindings, "mode" | "lastError">,
  outcome: DoctorOutcome
): Pick<DoctorFindings, "verdict" | "message" | "exitCode"> => {
  if (outcome._tag === "TimedOut" || status.mode !== "Connected") {
    const reason = outcome._tag === "TimedOut" ? outcome.reason : status.lastError ?? `the cache is ${status.mode}`
    return {
      verdict: "unreachable",
      exitCode: DoctorExitCode.Unreachable,
      message: `❌ UNREACHABLE: ${reason} (a cache using ${url} would run memory-only)`
    }
  }
  const validation = outcome.validation
  if (validation.isSecure) {
    return {
      verdict: "secure",
      exitCode: DoctorExitCode.Secure,
      message: `✅ SECURE: ${url} is reachable and secure (score ${validation.score}/100).`
    }
  }
  const why = validation.vulnerabilities.length > 0
    ? validation.vulnerabilities.join("; ")
    : "the score is below 70"
  return {
    verdict: "insecure",
    exitCode: DoctorExitCode.Insecure,
    message: `❌ INSECURE: ${url} is reachable but insecure (score ${validation.score}/100): ${why}.`
  }
}

const serverVersionText = (findings: DoctorFindings): string => {
  if (findings.serverVersion !== null) return findings.serverVersion
  // Connected and answered, yet no version: the user may not run INFO.
  return findings.mode === "Connected" && findings.security !== null ? "unknown (INFO server not permitted)" : "unknown"
}

/**
 * The text report: the findings, the security report (`null`: not validated) and the verdict.
 *
 * @since 0.1.0
 */
export const formatDoctorText = (findings: DoctorFindings, securityReport: string | null): string => {
  const line = (label: string, value: string) => `${label.padEnd(16)}${value}`
  return [
    "effect-redis-cache doctor",
    "",
    line("URL:", findings.url),
    line("Cache mode:", findings.mode),
    line("Last error:", findings.lastError ?? "none"),
    line("Server version:", serverVersionText(findings)),
    line(
      "Latency (PING):",
      findings.latencyMs === null ? "n/a" : `${findings.latencyMs.toFixed(3)} ms (median of ${findings.pingSamples})`
    ),
    "",
    securityReport ?? line("Security:", "not validated (Redis did not answer before the deadline)"),
    "",
    `Verdict: ${findings.message}`
  ].join("\n")
}
