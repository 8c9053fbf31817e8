/**
 * Test certificates, generated at test time with the `openssl` CLI into a temporary
 * directory that is removed when the surrounding Scope closes.
 *
 * Elliptic-curve keys keep generation fast (a few milliseconds each). Dates in the
 * past need `openssl ca -startdate/-enddate`, which every OpenSSL 3.x has, whereas
 * `openssl x509 -not_before` only exists from 3.4.
 */
import { execFile } from "node:child_process"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Scope } from "effect"

/** A certificate and its private key, as PEM file paths. */
export interface CertificatePair {
  readonly cert: string
  readonly key: string
}

/** Every certificate the security tests need; all paths live under `dir`. */
export interface TlsFiles {
  readonly dir: string
  /** The trusted test CA (clients trust `ca.cert`). */
  readonly ca: CertificatePair
  /** Server certificate for `localhost` and `127.0.0.1`, signed by `ca`, valid for a year. */
  readonly server: CertificatePair
  /** Same names, signed by `ca`, but valid from 2020-01-01 to 2021-01-01. */
  readonly expired: CertificatePair
  /** Same names, signed by `ca`, expiring in 5 days. */
  readonly nearExpiry: CertificatePair
  /** Another CA nobody trusts. */
  readonly otherCa: CertificatePair
  /** Server certificate for `localhost` and `127.0.0.1`, signed by `otherCa`. */
  readonly foreignServer: CertificatePair
  /** Server certificate signed by `ca` whose only name is `other.example.com`. */
  readonly wrongHost: CertificatePair
  /** Client certificate (extendedKeyUsage clientAuth) signed by `ca`, for mutual TLS. */
  readonly client: CertificatePair
}

const openssl = (cwd: string, ...args: ReadonlyArray<string>): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    execFile("openssl", args, { cwd }, (error, _stdout, stderr) => {
      resume(
        error === null
          ? Effect.void
          : Effect.die(new Error(`openssl ${args.join(" ")} failed: ${stderr || error.message}`))
      )
    })
  })

const newKey = (dir: string, name: string) =>
  openssl(dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", `${name}.key`)

const selfSignedCa = (dir: string, name: string, commonName: string) =>
  newKey(dir, name).pipe(
    Effect.andThen(openssl(
      dir,
      "req",
      "-x509",
      "-new",
      "-key",
      `${name}.key`,
      "-out",
      `${name}.crt`,
      "-days",
      "3650",
      "-subj",
      `/CN=${commonName}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign"
    ))
  )

// Server certificates also allow clientAuth: the RedisServer helper presents the server's own
// certificate as a client certificate when a server demands one (readiness PING, redis-cli).
const extensions = (names: string, usage: "serverAuth" | "clientAuth") =>
  [
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    `extendedKeyUsage=${usage === "serverAuth" ? "serverAuth,clientAuth" : usage}`,
    ...(names === "" ? [] : [`subjectAltName=${names}`]),
    ""
  ].join("\n")

/** A key and CSR for `name`, plus its extension file. */
const request = Effect.fnUntraced(function*(
  dir: string,
  name: string,
  commonName: string,
  names: string,
  usage: "serverAuth" | "clientAuth"
) {
  yield* newKey(dir, name)
  yield* openssl(dir, "req", "-new", "-key", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${commonName}`)
  yield* Effect.promise(() => writeFile(join(dir, `${name}.ext`), extensions(names, usage)))
})

const signWithDays = Effect.fnUntraced(function*(
  dir: string,
  ca: string,
  name: string,
  commonName: string,
  names: string,
  usage: "serverAuth" | "clientAuth",
  days: number
) {
  yield* request(dir, name, commonName, names, usage)
  yield* openssl(
    dir,
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.crt`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    String(days),
    "-sha256",
    "-extfile",
    `${name}.ext`
  )
})

// `openssl ca` wants a database and a config; this is the smallest that works.
const caConfig = `[ca]
default_ca = test_ca
[test_ca]
dir = .
database = ./index.txt
new_certs_dir = ./issued
serial = ./serial
default_md = sha256
policy = policy_any
unique_subject = no
[policy_any]
commonName = supplied
`

const signWithDates = Effect.fnUntraced(function*(
  dir: string,
  ca: string,
  name: string,
  commonName: string,
  names: string,
  startDate: string,
  endDate: string
) {
  yield* request(dir, name, commonName, names, "serverAuth")
  yield* Effect.promise(async () => {
    await writeFile(join(dir, "ca.cnf"), caConfig)
    await writeFile(join(dir, "index.txt"), "")
    await writeFile(join(dir, "serial"), "1000\n")
    await mkdir(join(dir, "issued"), { recursive: true })
  })
  yield* openssl(
    dir,
    "ca",
    "-batch",
    "-config",
    "ca.cnf",
    "-cert",
    `${ca}.crt`,
    "-keyfile",
    `${ca}.key`,
    "-in",
    `${name}.csr`,
    "-out",
    `${name}.crt`,
    "-startdate",
    startDate,
    "-enddate",
    endDate,
    "-extfile",
    `${name}.ext`,
    "-notext"
  )
})

const localNames = "DNS:localhost,IP:127.0.0.1"

/**
 * Generates every test certificate into a fresh temporary directory, removed when
 * the Scope closes.
 */
export const generateTlsFiles: Effect.Effect<TlsFiles, never, Scope.Scope> = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.promise(() => mkdtemp(join(tmpdir(), "erc-tls-"))),
    (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
  )
  const pair = (name: string): CertificatePair => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) })
  yield* selfSignedCa(dir, "ca", "effect-redis-cache test CA")
  yield* selfSignedCa(dir, "other-ca", "untrusted test CA")
  yield* signWithDays(dir, "ca", "server", "localhost", localNames, "serverAuth", 365)
  yield* signWithDays(dir, "ca", "near-expiry", "localhost", localNames, "serverAuth", 5)
  yield* signWithDays(dir, "other-ca", "foreign-server", "localhost", localNames, "serverAuth", 365)
  yield* signWithDays(dir, "ca", "wrong-host", "other.example.com", "DNS:other.example.com", "serverAuth", 365)
  yield* signWithDays(dir, "ca", "client", "cache-client", "", "clientAuth", 365)
  yield* signWithDates(dir, "ca", "expired", "localhost", localNames, "20200101000000Z", "20210101000000Z")
  return {
    dir,
    ca: pair("ca"),
    server: pair("server"),
    expired: pair("expired"),
    nearExpiry: pair("near-expiry"),
    otherCa: pair("other-ca"),
    foreignServer: pair("foreign-server"),
    wrongHost: pair("wrong-host"),
    client: pair("client")
  }
})
