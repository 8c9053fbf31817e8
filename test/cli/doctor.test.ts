/**
 * The `doctor` command against real servers: in-process through `doctor`, and end to
 * end through the executable (`node --import tsx src/bin.ts`) in a child process.
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { assert, describe, it, layer } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { doctor, DoctorExitCode, type DoctorFindings, type DoctorOptions } from "../../src/cli/doctor.js"
import { redactUrl } from "../../src/security/connectionOptions.js"
import { Vulnerability } from "../../src/security/SecurityResult.js"
import { freePort, startRedisServer } from "../support/RedisServer.js"
import { CACHE_PASSWORD, CACHE_USER, SecurityFixture, startTlsServer } from "../security/fixtures.js"
import { startRedisCluster } from "../support/Cluster.js"
import { startRedisSentinel } from "../support/RedisSentinel.js"

const root = fileURLToPath(new URL("../..", import.meta.url))
const PASSWORD = "Doctor-Secret-Password-0123456789"

/** Runs `doctor` with exactly these variables as its environment. */
const doctorWith = (options: DoctorOptions, env: Record<string, string> = {}) =>
  doctor(options).pipe(Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env))))

interface BinResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs the executable with `args` and exactly these `REDIS_*` variables. */
const bin = (args: ReadonlyArray<string>, redisEnv: Record<string, string> = {}): Effect.Effect<BinResult> =>
  Effect.callback<BinResult>((resume) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("REDIS_")))
    const child = execFile(
      process.execPath,
      ["--import", "tsx", "src/bin.ts", ...args],
      { cwd: root, env: { ...env, ...redisEnv, NO_COLOR: "1" }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1
        resume(Effect.succeed({ code, stdout, stderr }))
      }
    )
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const cacheUserEnv = (caPath: string) => ({
  REDIS_ACL_USERNAME: CACHE_USER,
  REDIS_ACL_PASSWORD: CACHE_PASSWORD,
  REDIS_TLS_CA_PATH: caPath
})

const assertNoStackTrace = (text: string) => assert.notMatch(text, /^\s+at .+:\d+:\d+\)?$/m)

layer(SecurityFixture.layer, { excludeTestServices: true })("doctor (in-process)", (it) => {
  it.effect("an open server is reachable but insecure: exit code 1, 'No authentication'", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const result = yield* doctorWith({ url: server.url })
      assert.strictEqual(result.exitCode, DoctorExitCode.Insecure)
      assert.strictEqual(result.findings.verdict, "insecure")
      assert.strictEqual(result.findings.mode, "Connected")
      assert.strictEqual(result.findings.serverVersion, server.version)
      assert.isNumber(result.findings.latencyMs)
      assert.include(result.output, "No authentication")
      assert.include(result.output, "REDIS CACHE SECURITY ASSESSMENT REPORT")
      assert.include(result.output, `Server version: ${server.version}`)
      assert.match(result.output, /Latency \(PING\): +\d+\.\d{3} ms \(median of 5\)/)
      assert.match(result.output, /Verdict: ❌ INSECURE: .*No authentication/)
    }))

  it.effect("a least-privilege ACL user over verified TLS is secure: exit code 0", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const result = yield* doctorWith({ url: server.url }, cacheUserEnv(files.ca.cert))
      assert.strictEqual(result.exitCode, DoctorExitCode.Secure, result.output)
      assert.strictEqual(result.findings.verdict, "secure")
      assert.strictEqual(result.findings.security?.validation?.score, 100)
      // The least-privilege rule allows INFO: the version is known.
      assert.strictEqual(result.findings.serverVersion, server.version)
      assert.include(result.output, "Security Status: ✅ SECURE")
      assert.include(result.output.split("\n"), "Certificate Validation: ✅ Valid")
      assert.include(result.output.split("\n"), "Authentication: ✅ Enabled")
      assert.match(result.output, /Verdict: ✅ SECURE: rediss:\/\/127\.0\.0\.1:\d+ is reachable and secure \(score 100\/100\)/)
    }))

  it.effect("an unreachable port: exit code 2, mode MemoryOnly and the reason", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const result = yield* doctorWith({ url: `redis://127.0.0.1:${port}` })
      assert.strictEqual(result.exitCode, DoctorExitCode.Unreachable)
      assert.strictEqual(result.findings.mode, "MemoryOnly")
      assert.match(result.findings.lastError ?? "", /connection refused/)
      assert.isNull(result.findings.serverVersion)
      assert.isNull(result.findings.latencyMs)
      assert.include(result.output, "Cache mode:     MemoryOnly")
      assert.match(result.output, /Verdict: ❌ UNREACHABLE: .*connection refused/)
    }))

  it.effect("--json: one JSON object with the report, version, latency, mode, last error and verdict", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const result = yield* doctorWith({ url: server.url, json: true })
      const parsed = JSON.parse(result.output) as DoctorFindings
      assert.deepStrictEqual(
        Object.keys(parsed).sort(),
        ["exitCode", "lastError", "latencyMs", "message", "mode", "pingSamples", "security", "serverVersion", "url", "verdict"]
      )
      assert.strictEqual(parsed.exitCode, DoctorExitCode.Insecure)
      assert.strictEqual(parsed.verdict, "insecure")
      assert.strictEqual(parsed.mode, "Connected")
      assert.isNull(parsed.lastError)
      assert.strictEqual(parsed.serverVersion, server.version)
      assert.isNumber(parsed.latencyMs)
      assert.isFalse(parsed.security?.validation?.isSecure)
      assert.include(parsed.security?.validation?.vulnerabilities ?? [], Vulnerability.noAuthentication)
    }))

  it.effect("the URL comes from REDIS_URL when not given", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const result = yield* doctorWith({}, { REDIS_URL: server.url })
      assert.strictEqual(result.findings.url, redactUrl(server.url))
      assert.strictEqual(result.findings.mode, "Connected")
    }))

  it.effect("bad input is a ConfigurationError naming the argument or variable, the password masked", () =>
    Effect.gen(function*() {
      const malformed = yield* Effect.flip(doctorWith({ url: `redis://:${PASSWORD}@[bad` }))
      assert.strictEqual(malformed._tag, "ConfigurationError")
      assert.strictEqual(malformed._tag === "ConfigurationError" ? malformed.field : "", "url")
      assert.notInclude(malformed.message, PASSWORD)
      const wrongScheme = yield* Effect.flip(doctorWith({}, { REDIS_URL: "http://127.0.0.1:6379" }))
      assert.strictEqual(wrongScheme._tag === "ConfigurationError" ? wrongScheme.field : "", "REDIS_URL")
      assert.include(wrongScheme.message, "must start with 'redis://' or 'rediss://'")
      const badVariable = yield* Effect.flip(doctorWith({ url: "redis://127.0.0.1:1" }, { REDIS_AUTH: PASSWORD, REDIS_MAX_RETRIES: "many" }))
      assert.strictEqual(badVariable._tag === "ConfigurationError" ? badVariable.field : "", "REDIS_MAX_RETRIES")
      assert.notInclude(badVariable.message, PASSWORD)
    }))

  it.effect("a password, in the URL or in REDIS_AUTH, appears in no output", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer({ args: ["--requirepass", PASSWORD] })
      const withUrl = `redis://:${PASSWORD}@127.0.0.1:${server.port}`
      const outputs = [
        yield* doctorWith({ url: withUrl }),
        yield* doctorWith({ url: withUrl, json: true }),
        yield* doctorWith({ url: server.url }, { REDIS_AUTH: PASSWORD }),
        yield* doctorWith({ url: server.url, json: true }, { REDIS_AUTH: PASSWORD }),
        // Wrong password: the failure is reported, the password still is not.
        yield* doctorWith({ url: `redis://:${PASSWORD}-wrong@127.0.0.1:${server.port}` })
      ]
      assert.deepStrictEqual(outputs.map((o) => o.findings.mode), ["Connected", "Connected", "Connected", "Connected", "MemoryOnly"])
      for (const { findings, output } of outputs) {
        assert.notInclude(output, PASSWORD)
        assert.notInclude(JSON.stringify(findings), PASSWORD)
      }
      assert.include(outputs[0]!.output, `redis://:***@127.0.0.1:${server.port}`)
    }))
})

layer(SecurityFixture.layer, { excludeTestServices: true })("doctor keeps its word (in-process)", (it) => {
  it.effect("REDIS_AUTH against a server without a password: the report does not call authentication enabled", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const result = yield* doctorWith({ url: server.url }, { REDIS_AUTH: PASSWORD })
      const lines = result.output.split("\n")
      assert.strictEqual(result.exitCode, DoctorExitCode.Insecure)
      assert.include(lines, "1. ❌ No authentication configured - Redis is accessible without credentials")
      assert.include(
        lines,
        "Authentication: ❌ Not enforced (credentials are sent, but Redis accepts connections without them)"
      )
      assert.notInclude(lines, "Authentication: ✅ Enabled")
    }))

  it.effect("the score is printed once, and a certificate is 'not used' without TLS", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const lines = (yield* doctorWith({ url: server.url })).output.split("\n")
      assert.deepStrictEqual(lines.filter((line) => /Score: \d+\/100$/.test(line)), ["Security Score: 0/100"])
      assert.include(lines, "Certificate Validation: ➖ Not used (no TLS)")
      assert.notInclude(lines, "Certificate Validation: ❌ Invalid")
    }))

  it.effect("an unreachable server's report says the certificate was not checked", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const result = yield* doctorWith({ url: `rediss://127.0.0.1:${port}` })
      assert.strictEqual(result.exitCode, DoctorExitCode.Unreachable)
      assert.include(result.output.split("\n"), "Certificate Validation: ➖ Not checked (no connection)")
    }))

  it.effect("a bad REDIS_* value alone is bad input, with no other security variable set", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      for (
        const [name, value] of [
          ["REDIS_MAX_RETRIES", "many"],
          ["REDIS_CONNECTION_TIMEOUT", "soon"],
          ["REDIS_RETRY_DELAY", "later"],
          ["REDIS_VERIFY_CERTIFICATES", "sometimes"]
        ] as const
      ) {
        const error = yield* Effect.flip(doctorWith({ url: server.url }, { [name]: value }))
        assert.strictEqual(error._tag, "ConfigurationError")
        assert.strictEqual(error._tag === "ConfigurationError" ? error.field : "", name)
      }
    }))

  it.effect("a paused server: one deadline for the whole run, even with a long REDIS_CONNECTION_TIMEOUT", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      yield* server.pause
      // The security validation's own connection would wait REDIS_CONNECTION_TIMEOUT (here far
      // longer than the test's timeout): the doctor's deadline must end it.
      const result = yield* doctorWith(
        { url: server.url, connectTimeout: "1 second", json: true },
        { REDIS_AUTH: PASSWORD, REDIS_CONNECTION_TIMEOUT: "600" }
      )
      assert.strictEqual(result.exitCode, DoctorExitCode.Unreachable)
      assert.strictEqual(result.findings.verdict, "unreachable")
      assert.strictEqual(result.findings.mode, "MemoryOnly")
      assert.match(result.findings.lastError ?? "", /did not answer within 2s/)
      assert.isNull(result.findings.security)
      assert.isNull(result.findings.latencyMs)
      assert.strictEqual((JSON.parse(result.output) as DoctorFindings).verdict, "unreachable")
    }), { timeout: 120_000 })
})

layer(SecurityFixture.layer, { excludeTestServices: true })("doctor (the executable)", (it) => {
  it.effect("an open server: exit code 1, the report names 'No authentication'", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const result = yield* bin(["doctor", server.url])
      assert.strictEqual(result.code, 1, result.stderr)
      assert.include(result.stdout, "No authentication")
      assert.include(result.stdout, "Verdict: ❌ INSECURE")
      assert.strictEqual(result.stderr, "")
    }))

  it.effect("a least-privilege ACL user over verified TLS, from the REDIS_* environment: exit code 0", () =>
    Effect.gen(function*() {
      const { aclFile, files } = yield* SecurityFixture
      const server = yield* startTlsServer(files, { aclFile })
      const result = yield* bin(["doctor", server.url], cacheUserEnv(files.ca.cert))
      assert.strictEqual(result.code, 0, result.stdout + result.stderr)
      assert.include(result.stdout, "Verdict: ✅ SECURE")
      assert.notInclude(result.stdout + result.stderr, CACHE_PASSWORD)
    }))

  it.effect("an unreachable port: exit code 2, MemoryOnly and the reason", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const result = yield* bin(["doctor", `redis://127.0.0.1:${port}`, "--connect-timeout", "1"])
      assert.strictEqual(result.code, 2, result.stderr)
      assert.include(result.stdout, "MemoryOnly")
      assert.include(result.stdout, "connection refused")
      assertNoStackTrace(result.stdout + result.stderr)
    }))

  it.effect("--json prints one parseable object and nothing else", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const result = yield* bin(["doctor", "--json"], { REDIS_URL: server.url })
      assert.strictEqual(result.code, 1, result.stderr)
      const parsed = JSON.parse(result.stdout) as DoctorFindings
      assert.strictEqual(parsed.verdict, "insecure")
      assert.strictEqual(parsed.exitCode, 1)
      assert.strictEqual(parsed.mode, "Connected")
      assert.strictEqual(parsed.serverVersion, server.version)
      assert.isNumber(parsed.latencyMs)
      assert.isObject(parsed.security?.validation)
    }))

  it.effect("a password in the URL never appears on stdout or stderr", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer({ args: ["--requirepass", PASSWORD] })
      const runs = [
        yield* bin(["doctor", `redis://:${PASSWORD}@127.0.0.1:${server.port}`]),
        yield* bin(["doctor", "--json", `redis://:${PASSWORD}@127.0.0.1:${server.port}`]),
        yield* bin(["doctor", `redis://:${PASSWORD}x@127.0.0.1:${server.port}`]),
        yield* bin(["doctor", `redis://:${PASSWORD}@[malformed`]),
        yield* bin(["doctor", server.url], { REDIS_AUTH: PASSWORD, REDIS_MAX_RETRIES: "many" })
      ]
      assert.deepStrictEqual(runs.map((r) => r.code), [1, 1, 2, 3, 3])
      for (const run of runs) {
        assert.notInclude(run.stdout, PASSWORD)
        assert.notInclude(run.stderr, PASSWORD)
      }
      assert.include(runs[0]!.stdout, `redis://:***@127.0.0.1:${server.port}`)
    }))

  it.effect("bad input: a clear message on stderr, exit code 3, no stack trace", () =>
    Effect.gen(function*() {
      const malformed = yield* bin(["doctor", "http://127.0.0.1:6379"])
      assert.strictEqual(malformed.code, 3)
      assert.strictEqual(
        malformed.stderr.trim(),
        "effect-redis-cache doctor: url \"http://127.0.0.1:6379\" must start with 'redis://' or 'rediss://'"
      )
      assert.strictEqual(malformed.stdout, "")
      const badVariable = yield* bin(["doctor", "redis://127.0.0.1:1"], { REDIS_USE_TLS: "maybe" })
      assert.strictEqual(badVariable.code, 3)
      assert.include(badVariable.stderr, "REDIS_USE_TLS must be true or false, got \"maybe\"")
      const badFlag = yield* bin(["doctor", "--connect-timeout", "0"])
      assert.strictEqual(badFlag.code, 3)
      assert.include(badFlag.stderr, "--connect-timeout")
      const unknownFlag = yield* bin(["doctor", "--bogus"])
      assert.strictEqual(unknownFlag.code, 3)
      assert.include(unknownFlag.stderr, "Unrecognized flag: --bogus")
      for (const run of [malformed, badVariable, badFlag, unknownFlag]) assertNoStackTrace(run.stdout + run.stderr)
    }))

  it.effect("a paused server with --connect-timeout 1: exits with code 2, naming the deadline", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      yield* server.pause
      const result = yield* bin(
        ["doctor", server.url, "--connect-timeout", "1"],
        { REDIS_AUTH: PASSWORD, REDIS_CONNECTION_TIMEOUT: "600" }
      )
      assert.strictEqual(result.code, 2, result.stdout + result.stderr)
      const lines = result.stdout.split("\n")
      assert.include(lines, "Cache mode:     MemoryOnly")
      assert.include(lines, "Security:       not validated (Redis did not answer before the deadline)")
      assert.match(result.stdout, /^Verdict: ❌ UNREACHABLE: Redis did not answer within 2s \(connect timeout 1s/m)
      assert.notInclude(result.stdout + result.stderr, PASSWORD)
      assertNoStackTrace(result.stdout + result.stderr)
    }), { timeout: 120_000 })

  it.effect("an unparseable URL is echoed as typed, its password masked", () =>
    Effect.gen(function*() {
      const withPassword = yield* bin(["doctor", `redis://cache:${PASSWORD}@[malformed:6379`])
      assert.strictEqual(withPassword.code, 3)
      assert.strictEqual(
        withPassword.stderr.trim(),
        "effect-redis-cache doctor: url \"redis://cache:***@[malformed:6379\" is not a valid URL"
      )
      const noPassword = yield* bin(["doctor", "redis://[::1"])
      assert.strictEqual(noPassword.code, 3)
      assert.include(noPassword.stderr, "url \"redis://[::1\"")
      assert.notInclude(noPassword.stderr, "unparseable")
    }))

  it.effect("REDIS_MAX_RETRIES=many alone is bad input: exit code 3", () =>
    Effect.gen(function*() {
      const server = yield* startRedisServer()
      const result = yield* bin(["doctor", server.url], { REDIS_MAX_RETRIES: "many" })
      assert.strictEqual(result.code, 3, result.stdout)
      assert.strictEqual(
        result.stderr.trim(),
        "effect-redis-cache doctor: REDIS_MAX_RETRIES must be an integer, got \"many\""
      )
      assert.strictEqual(result.stdout, "")
    }))
})

describe("doctor (the executable) on a cluster and through Sentinels, from its flags", () => {
  it.live("--cluster-nodes: every master is checked and the URL shows the cluster", () =>
    Effect.gen(function*() {
      const cluster = yield* startRedisCluster()
      const result = yield* bin(["doctor", cluster.urls[0], "--json", "--cluster-nodes", cluster.urls.join(",")])
      assert.strictEqual(result.code, 1, result.stderr)
      const findings = JSON.parse(result.stdout) as DoctorFindings
      assert.include(findings.url, "#cluster=")
      assert.deepStrictEqual(
        findings.security?.validation?.nodes?.map((node) => node.role),
        ["master", "master", "master"]
      )
    }), 120_000)

  it.live("--sentinels with --sentinel-name: the master and each Sentinel are checked", () =>
    Effect.gen(function*() {
      const setup = yield* startRedisSentinel()
      const sentinels = setup.addresses.map(({ host, port }) => `${host}:${port}`).join(",")
      const result = yield* bin([
        "doctor",
        `redis://127.0.0.1:${setup.master.port}`,
        "--json",
        "--sentinels",
        sentinels,
        "--sentinel-name",
        setup.name
      ])
      assert.strictEqual(result.code, 1, result.stderr)
      const nodes = (JSON.parse(result.stdout) as DoctorFindings).security?.validation?.nodes ?? []
      assert.deepStrictEqual(nodes.map((node) => [node.node, node.role]), [
        [`127.0.0.1:${setup.master.port}`, "master"],
        ...setup.sentinels.map((sentinel) => [`127.0.0.1:${sentinel.port}`, "sentinel"])
      ])
    }), 120_000)

  it.live("a bad --sentinels value is bad input (exit 3) named by its flag; --sentinels without a name too", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const bad = yield* bin(["doctor", `redis://127.0.0.1:${port}`, "--sentinels", "not-an-address"])
      assert.strictEqual(bad.code, DoctorExitCode.BadInput, bad.stdout + bad.stderr)
      assert.include(bad.stderr, "--sentinels must be host:port items")
      assert.include(bad.stderr, "not-an-address")
      const nameless = yield* bin(["doctor", `redis://127.0.0.1:${port}`, "--sentinels", `127.0.0.1:${port}`])
      assert.strictEqual(nameless.code, DoctorExitCode.BadInput, nameless.stdout + nameless.stderr)
      assert.include(nameless.stderr, "--sentinel-name (or CACHE_REDIS_SENTINEL_NAME) is required with --sentinels")
    }), 60_000)
})
