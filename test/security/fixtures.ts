/**
 * Shared fixtures of the security tests: certificates, an ACL file with a
 * least-privilege cache user and an all-permissions admin, and TLS servers whose
 * certificate the RedisServer readiness check does not need to trust.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Context, Effect, Layer, Option, Redacted, type Scope } from "effect"
import { cacheAclRule } from "../../src/security/aclRule.js"
import { SecurityConfig } from "../../src/security/SecurityConfig.js"
import { freePort, type RedisServerHandle, startRedisServer } from "../support/RedisServer.js"
import { type CertificatePair, generateTlsFiles, type TlsFiles } from "../support/Tls.js"

export const CACHE_PREFIX = "cache:"
export const CACHE_USER = "cache"
export const CACHE_PASSWORD = "cache-Password-0123456789"
export const ADMIN_USER = "admin"
export const ADMIN_PASSWORD = "admin-Password-0123456789"

/** Certificates plus an ACL file (`default` off, `cache` least privilege, `admin` everything). */
export class SecurityFixture extends Context.Service<SecurityFixture, {
  readonly files: TlsFiles
  readonly aclFile: string
}>()("test/SecurityFixture") {
  static readonly layer = Layer.effect(
    SecurityFixture,
    Effect.map(generateTlsFiles, (files) => {
      const aclFile = join(files.dir, "users.acl")
      writeFileSync(
        aclFile,
        [
          "user default off",
          `user ${CACHE_USER} on >${CACHE_PASSWORD} ${cacheAclRule({ prefix: CACHE_PREFIX })}`,
          `user ${ADMIN_USER} on >${ADMIN_PASSWORD} ~* &* +@all`,
          ""
        ].join("\n")
      )
      return { files, aclFile }
    })
  )
}

/** The config of the least-privilege user over verified TLS. */
export const cacheUserConfig = (files: TlsFiles, overrides: Partial<ConstructorParameters<typeof SecurityConfig>[0]> = {}) =>
  new SecurityConfig({
    aclUsername: CACHE_USER,
    aclPassword: Redacted.make(CACHE_PASSWORD),
    tlsCa: { path: files.ca.cert },
    ...overrides
  })

export const some = Option.some

/** A TLS-only server with a certificate the test CA trusts. */
export const startTlsServer = (
  files: TlsFiles,
  options: { readonly aclFile?: string; readonly authClients?: "yes" | "no"; readonly pair?: CertificatePair } = {}
): Effect.Effect<RedisServerHandle, never, Scope.Scope> =>
  startRedisServer({
    tls: { cert: (options.pair ?? files.server).cert, key: (options.pair ?? files.server).key, ca: files.ca.cert, authClients: options.authClients ?? "no" },
    ...(options.aclFile === undefined ? {} : { aclFile: options.aclFile })
  })

/**
 * A server that serves `pair` on an extra TLS port; its plain port only serves the
 * helper's readiness check, which cannot pass with an expired or foreign certificate.
 */
export const startServerWithCertificate = (
  files: TlsFiles,
  pair: CertificatePair
): Effect.Effect<{ readonly url: string; readonly port: number }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    yield* startRedisServer({
      args: [
        "--tls-port", String(port),
        "--tls-cert-file", pair.cert,
        "--tls-key-file", pair.key,
        "--tls-ca-cert-file", files.ca.cert,
        "--tls-auth-clients", "no"
      ]
    })
    return { url: `rediss://127.0.0.1:${port}`, port }
  })
