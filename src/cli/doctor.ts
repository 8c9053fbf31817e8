/**
 * The `doctor` command: connects to Redis the way a cache would (URL plus the
 * `REDIS_*` security environment, and a cluster or Sentinels from the `CACHE_REDIS_*`
 * topology variables, every node of which is checked), validates the setup against the live server and
 * tells an operator, in text or JSON, whether it is reachable and secure. The exit
 * code says the same to a script: see {@link DoctorExitCode}.
 *
 * {@link doctor} is the logic, runnable in-process; {@link doctorCommand} and
 * {@link cli} wire it into Effect's CLI module for the `effect-redis-cache` binary.
 *
 * @since 0.1.0
 */
import { Clock, Config, ConfigProvider, Data, Duration, Effect, Layer, Option, Result, Runtime, Schema, Stdio, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import type { Redis } from "ioredis"
import { Cache } from "../Cache.js"
import { issuesOf, type RedisCacheOptions, RedisUrl } from "../CacheOptions.js"
import { ConfigurationError, type ConnectionError, type ValidationError } from "../errors.js"
import { CacheSecurity } from "../security/CacheSecurity.js"
import { securityConfigFromEnv } from "../security/SecurityConfig.js"
import type { SecurityReport, SecurityValidationResult } from "../security/SecurityResult.js"
import { topologyEnvVariables, topologyFromEnv } from "../factory/topologyConfig.js"
import { RedisTier } from "../tiers/RedisTier.js"
import { shownTopology, topologyOf } from "../tiers/RedisTopology.js"
import { DoctorExitCode, type DoctorFindings, type DoctorOutcome, formatDoctorText, verdictOf } from "./doctorReport.js"
import { shownUrl } from "./shownUrl.js"

export { DoctorExitCode, type DoctorFindings } from "./doctorReport.js"

/**
 * What {@link doctor} checks and how it answers.
 *
 * @since 0.1.0
 */
export interface DoctorOptions {
  /** The Redis URL. Default: the `REDIS_URL` variable, then `redis://127.0.0.1:6379`. */
  readonly url?: string | undefined
  /** Answer with one JSON object instead of the text report. Default false. */
  readonly json?: boolean | undefined
  /**
   * How long the connection attempt may take. Default 2 seconds. The whole run (connection,
   * security checks, INFO, PINGs) ends within this plus {@link DOCTOR_CHECKS_MARGIN}.
   */
  readonly connectTimeout?: Duration.Input | undefined
  /**
   * A Redis Cluster to check (every master and replica it lists). Default: the
   * `CACHE_REDIS_CLUSTER_NODES` variable (see `topologyFromEnv`).
   */
  readonly cluster?: RedisCacheOptions["cluster"] | undefined
  /**
   * A Sentinel setup to check (the master they name and each Sentinel); `url` then gives
   * the master's credentials. Default: the `CACHE_REDIS_SENTINEL*` variables.
   */
  readonly sentinel?: RedisCacheOptions["sentinel"] | undefined
}

/**
 * The answer of {@link doctor}: what to print on standard output, the exit code, and
 * the findings as data.
 *
 * @since 0.1.0
 */
export interface DoctorResult {
  readonly output: string
  readonly exitCode: DoctorExitCode
  readonly findings: DoctorFindings
}

/**
 * Why {@link doctor} could not run: a malformed URL or option (`ValidationError`), a bad
 * `REDIS_*` variable or unreadable certificate (`ConfigurationError`). `ConnectionError`
 * is in the type only because the Redis layer can fail fast; the doctor asks it not to.
 *
 * @since 0.1.0
 */
export type DoctorError = ValidationError | ConfigurationError | ConnectionError

/**
 * The time the checks after the connection get on top of the connect timeout: they are a
 * few round trips each. The whole run has one deadline, the connect timeout plus this.
 *
 * @since 0.1.0
 */
export const DOCTOR_CHECKS_MARGIN = Duration.seconds(1)

const DEFAULT_URL = "redis://127.0.0.1:6379"
const DEFAULT_CONNECT_TIMEOUT = Duration.seconds(2)
/** How many PINGs the latency is the median of. */
const PINGS = 5

/** The URL to check and where it came from, so that an error names the right source. */
const resolveUrl = Effect.fnUntraced(function*(given: string | undefined) {
  if (given !== undefined) return { url: given, field: "url" }
  const fromEnv = yield* Config.String("REDIS_URL").pipe(
    Config.withDefault(""),
    Effect.mapError((cause) =>
      new ConfigurationError({ message: "REDIS_URL could not be read", field: "REDIS_URL", rule: "text", cause })
    )
  )
  return fromEnv.trim() === "" ? { url: DEFAULT_URL, field: "url" } : { url: fromEnv, field: "REDIS_URL" }
})

/** Checked here, not only by the cache options, so that the message names the argument or variable. */
const checkUrl = (url: string, field: string): Effect.Effect<void, ConfigurationError> => {
  const decoded = Schema.decodeUnknownResult(RedisUrl)(url)
  if (Result.isSuccess(decoded)) return Effect.void
  const rule = issuesOf(decoded.failure, url)[0]?.rule ?? "is not a valid Redis URL"
  // What the user typed, so that they can see the mistake, with the password masked.
  const shown = shownUrl(url)
  return Effect.fail(
    new ConfigurationError({ message: `${field} ${JSON.stringify(shown)} ${rule}`, field, rule, value: shown })
  )
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const serverVersionOf = (client: Redis): Effect.Effect<string | null> =>
  Effect.tryPromise(() => client.info("server")).pipe(
    Effect.map((info) => /^redis_version:(.+)$/m.exec(info)?.[1]?.trim() ?? null),
    // A user without +info, or a proxy that hides it: the version is simply unknown.
    Effect.orElseSucceed(() => null)
  )

const pingLatencyMillis = (client: Redis): Effect.Effect<number | null> =>
  Effect.forEach(
    Array.from({ length: PINGS }),
    () => Effect.map(Effect.timed(Effect.tryPromise(() => client.ping())), ([elapsed]) => Duration.toMillis(elapsed))
  ).pipe(
    Effect.map((samples) => Math.round(median(samples) * 1000) / 1000),
    Effect.orElseSucceed(() => null)
  )

/** Runs an effect until the run's deadline; `None` when the deadline came first (the effect is interrupted). */
type Within = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<Option.Option<A>, E, R>

const withinDeadline = (deadline: number): Within => (effect) =>
  Effect.flatMap(
    Clock.currentTimeMillis,
    (now) => Effect.timeoutOption(effect, Duration.millis(Math.max(0, deadline - now)))
  )

/** What the checks found, when they finished before the deadline. */
interface Checked {
  readonly validation: SecurityValidationResult
  readonly serverVersion: string | null
  readonly latencyMs: number | null
  readonly security: SecurityReport
  /** The text report; `null` for `--json`. */
  readonly text: string | null
}

/**
 * Validates security (on the cache's connection; when there is none, on a connection of
 * its own), reads the version and times the PINGs, all before the deadline.
 */
const inspect = Effect.fnUntraced(function*(within: Within, json: boolean) {
  const cacheSecurity = yield* CacheSecurity
  const checked = yield* within(Effect.gen(function*(): Effect.fn.Return<Checked, never, RedisTier> {
    // Validate explicitly: with no live connection the report would otherwise be empty,
    // whereas validation tries a connection of its own and says why it failed.
    const validation = yield* cacheSecurity.validateSecurity
    const client = yield* RedisTier.use((tier) => tier.client)
    return {
      validation,
      serverVersion: Option.isSome(client) ? yield* serverVersionOf(client.value) : null,
      latencyMs: Option.isSome(client) ? yield* pingLatencyMillis(client.value) : null,
      security: yield* cacheSecurity.generateSecurityReportJson,
      text: json ? null : yield* cacheSecurity.generateSecurityReport
    }
  }))
  const status = yield* Cache.status()
  return { status: { mode: status.mode, lastError: Option.getOrNull(status.lastError) }, checked }
})

/** The findings and output of a run, from what was found before the deadline. */
const answer = (
  url: string,
  json: boolean,
  status: Pick<DoctorFindings, "mode" | "lastError">,
  checked: Option.Option<Checked>,
  deadlineReason: string
): DoctorResult => {
  const outcome: DoctorOutcome = Option.match(checked, {
    onNone: () => ({ _tag: "TimedOut", reason: deadlineReason }),
    onSome: ({ validation }) => ({ _tag: "Checked", validation })
  })
  const found = Option.getOrUndefined(checked)
  const findings: DoctorFindings = {
    url,
    ...status,
    serverVersion: found?.serverVersion ?? null,
    latencyMs: found?.latencyMs ?? null,
    pingSamples: PINGS,
    ...verdictOf(url, status, outcome),
    security: found?.security ?? null
  }
  const output = json ? JSON.stringify(findings, null, 2) : formatDoctorText(findings, found?.text ?? null)
  return { output, exitCode: findings.exitCode, findings }
}

/**
 * Checks a Redis setup the way a cache would use it: builds `Cache.layerRedis` with
 * the URL and the `REDIS_*` security environment (read through Effect `Config`), without
 * failing fast, so that an unreachable server gives mode `MemoryOnly` and the reason.
 * Then validates security against the live server, reads the server version
 * (`INFO server`) and measures the PING round trip (median of a few).
 *
 * The whole run has one deadline, the connect timeout plus {@link DOCTOR_CHECKS_MARGIN}:
 * a server that stops answering (paused, overloaded, a black hole) is reported as
 * unreachable when it comes, whatever was waiting (connection, AUTH, INFO, checks, PING).
 *
 * Never fails for an unreachable or insecure server: that is the answer, with the
 * matching {@link DoctorExitCode}. Fails only for bad input. The URL appears only
 * redacted; secrets from the environment are `Redacted` throughout.
 *
 * @since 0.1.0
 */
export const doctor = Effect.fn("Doctor.run")(function*(
  options: DoctorOptions = {}
): Effect.fn.Return<DoctorResult, DoctorError> {
  const { field, url } = yield* resolveUrl(options.url)
  yield* checkUrl(url, field)
  const topologyOptions = options.cluster !== undefined || options.sentinel !== undefined
    ? {
      ...(options.cluster === undefined ? {} : { cluster: options.cluster }),
      ...(options.sentinel === undefined ? {} : { sentinel: options.sentinel })
    }
    : yield* topologyFromEnv
  const topology = topologyOf(topologyOptions)
  const shown = topology._tag === "Standalone" ? shownUrl(url) : shownTopology(topology, url)
  const security = yield* securityConfigFromEnv
  const connectTimeout = Duration.fromInputUnsafe(options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT)
  const budget = Duration.sum(connectTimeout, DOCTOR_CHECKS_MARGIN)
  const within = withinDeadline((yield* Clock.currentTimeMillis) + Duration.toMillis(budget))
  const deadlineReason = `Redis did not answer within ${Duration.format(budget)} ` +
    `(connect timeout ${Duration.format(connectTimeout)} + ${Duration.format(DOCTOR_CHECKS_MARGIN)} for the checks)`
  const layer = Cache.layerRedis({
    redisUrl: url,
    cacheName: "doctor",
    failOnConnectionError: false,
    connectTimeout,
    ...topologyOptions,
    ...Option.match(security, { onNone: () => ({}), onSome: (config) => ({ security: config }) })
  })
  const json = options.json === true
  return yield* Effect.scoped(Effect.gen(function*() {
    const context = yield* within(Layer.buildWithScope(layer, yield* Effect.scope))
    if (Option.isNone(context)) {
      // The cache had not connected (nor given up) by the deadline: it would be memory-only.
      const status = { mode: "MemoryOnly", lastError: deadlineReason } as const
      return answer(shown, json, status, Option.none(), deadlineReason)
    }
    const { checked, status } = yield* inspect(within, json).pipe(Effect.provide(context.value))
    return answer(shown, json, status, checked, deadlineReason)
  }))
})

/**
 * Ends the CLI program with a given exit code. The doctor has already printed why, so
 * the runtime must not report it again.
 */
class ExitWith extends Data.TaggedError("ExitWith")<{ readonly code: number }> {
  override get [Runtime.errorExitCode](): number {
    return this.code
  }
  override readonly [Runtime.errorReported] = false
}

const write = (sink: "stdout" | "stderr", text: string) =>
  Effect.flatMap(Stdio.Stdio, (stdio) => Stream.run(Stream.make(`${text}\n`), stdio[sink]())).pipe(
    // A reader that went away (`doctor | head`) is not the doctor's failure.
    Effect.ignore
  )

// The topology flags stand for the CACHE_REDIS_* variables (and win over them), so one parser reads
// both; the Sentinels' credentials stay in the environment, never on a command line.
const flagOfVariable = {
  [topologyEnvVariables.clusterNodes]: "--cluster-nodes",
  [topologyEnvVariables.sentinels]: "--sentinels",
  [topologyEnvVariables.sentinelName]: "--sentinel-name"
} as const

const topologyFlag = (name: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withDescription(`${description} (instead of $${Object.entries(flagOfVariable).find(([, flag]) => flag === `--${name}`)![0]})`),
    Flag.optional
  )

interface TopologyFlags {
  readonly clusterNodes: Option.Option<string>
  readonly sentinels: Option.Option<string>
  readonly sentinelName: Option.Option<string>
}

const withTopologyFlags = (flags: TopologyFlags) => <A, R>(self: Effect.Effect<A, DoctorError, R>) => {
  const given: Record<string, string> = {}
  for (const [variable, value] of [
    [topologyEnvVariables.clusterNodes, flags.clusterNodes],
    [topologyEnvVariables.sentinels, flags.sentinels],
    [topologyEnvVariables.sentinelName, flags.sentinelName]
  ] as const) {
    if (Option.isSome(value)) given[variable] = value.value
  }
  if (Object.keys(given).length === 0) return self
  return self.pipe(
    // An error names what the user typed: a variable given as a flag by its flag, one that has a
    // flag but came from nowhere by both.
    Effect.mapError((error) => {
      if (error._tag !== "ConfigurationError") return error
      const shown = (variable: string) => {
        const flag = flagOfVariable[variable as keyof typeof flagOfVariable]
        return flag === undefined ? variable : variable in given ? flag : `${flag} (or ${variable})`
      }
      return new ConfigurationError({
        message: Object.keys(flagOfVariable).reduce((text, variable) => text.replaceAll(variable, shown(variable)), error.message),
        field: shown(error.field),
        rule: error.rule,
        ...(error.value === undefined ? {} : { value: error.value })
      })
    }),
    Effect.provide(ConfigProvider.layerAdd(ConfigProvider.fromUnknown(given), { asPrimary: true }))
  )
}

/**
 * `doctor [url] [--json] [--connect-timeout seconds] [--cluster-nodes urls | --sentinels addresses --sentinel-name name]`: runs {@link doctor}, prints its
 * output and ends with its exit code; a bad argument or variable is one line on
 * standard error and exit code 3.
 *
 * @since 0.1.0
 */
export const doctorCommand = Command.make(
  "doctor",
  {
    url: Argument.String("url").pipe(
      Argument.withDescription(`Redis URL (redis:// or rediss://). Default: $REDIS_URL, then ${DEFAULT_URL}`),
      Argument.optional
    ),
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("Print one machine-readable JSON object instead of the text report"),
      Flag.withDefault(false)
    ),
    connectTimeout: Flag.Finite("connect-timeout").pipe(
      Flag.withDescription(
        "Seconds the connection attempt may take (default 2); the whole run ends within this plus 1 s"
      ),
      Flag.withMetavar("seconds"),
      Flag.filter((seconds) => seconds > 0 && seconds <= 600, (seconds) => `more than 0 and at most 600 seconds, got ${seconds}`),
      Flag.withDefault(Duration.toSeconds(DEFAULT_CONNECT_TIMEOUT))
    ),
    clusterNodes: topologyFlag("cluster-nodes", "Comma-separated node URLs of a Redis Cluster to check"),
    sentinels: topologyFlag("sentinels", "Comma-separated host:port of the Sentinels to ask for the master"),
    sentinelName: topologyFlag("sentinel-name", "The master's name the Sentinels know (with --sentinels)")
  },
  Effect.fnUntraced(function*({ clusterNodes, connectTimeout, json, sentinelName, sentinels, url }) {
    const result = yield* doctor({
      url: Option.getOrUndefined(url),
      json,
      connectTimeout: Duration.seconds(connectTimeout)
    }).pipe(
      withTopologyFlags({ clusterNodes, sentinels, sentinelName }),
      Effect.catch((error) =>
        write("stderr", `effect-redis-cache doctor: ${error.message}`).pipe(
          Effect.andThen(
            Effect.fail(
              new ExitWith({
                code: error._tag === "ConnectionError" ? DoctorExitCode.Unreachable : DoctorExitCode.BadInput
              })
            )
          )
        )
      )
    )
    yield* write("stdout", result.output)
    if (result.exitCode !== DoctorExitCode.Secure) return yield* new ExitWith({ code: result.exitCode })
  })
).pipe(
  Command.withDescription(
    "Check a Redis setup: security report, server version, latency and cache mode. " +
      "Exit code 0 secure, 1 insecure, 2 unreachable, 3 bad input."
  ),
  Command.withExamples([
    { command: "effect-redis-cache doctor rediss://redis.internal:6380", description: "Check a TLS server" },
    { command: "REDIS_ACL_USERNAME=cache REDIS_ACL_PASSWORD=... effect-redis-cache doctor --json", description: "Check as an ACL user, print JSON" }
  ])
)

/**
 * The `effect-redis-cache` command line, with `doctor` as its subcommand.
 *
 * @since 0.1.0
 */
export const cli = Command.make("effect-redis-cache").pipe(
  Command.withDescription("Tools for effect-redis-cache"),
  Command.withSubcommands([doctorCommand])
)

/**
 * Runs {@link cli} on the process arguments (from `Stdio`). A usage error is shown by
 * the CLI with the help text and ends with exit code 3, like any other bad input.
 *
 * @since 0.1.0
 */
export const runCli = (version: string) =>
  Command.run(cli, { version }).pipe(
    Effect.catchTag("ShowHelp", (help) =>
      help.errors.length === 0 ? Effect.void : Effect.fail(new ExitWith({ code: DoctorExitCode.BadInput })))
  )
