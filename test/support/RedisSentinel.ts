/**
 * A real Sentinel setup for tests: one master, one replica and three Sentinels watching
 * them, all started with {@link startRedisServer} on free loopback ports and stopped with
 * the caller's `Scope`.
 */
import { Effect, type Scope } from "effect"
import { type RedisServerHandle, startRedisServer } from "./RedisServer.js"

/** A running Sentinel setup whose Sentinels know the master, the replica and each other. */
export interface RedisSentinelHandle {
  /** The master name the Sentinels monitor. */
  readonly name: string
  readonly master: RedisServerHandle
  readonly replica: RedisServerHandle
  readonly sentinels: ReadonlyArray<RedisServerHandle>
  /** What the cache's `sentinel.sentinels` needs. */
  readonly addresses: readonly [{ readonly host: "127.0.0.1"; readonly port: number }, ...Array<{ readonly host: "127.0.0.1"; readonly port: number }>]
  /** The port of the master the Sentinels currently name. */
  readonly currentMasterPort: Effect.Effect<number>
}

const READY_TIMEOUT_MS = 30_000
const NAME = "cache-master"

const realSleep = (ms: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), ms)
    return Effect.sync(() => clearTimeout(timer))
  })

// `SENTINEL MASTER <name>` is a flat list of field, value lines.
const masterField = (sentinel: RedisServerHandle, field: string): Effect.Effect<string | undefined> =>
  Effect.map(sentinel.cli("SENTINEL", "MASTER", NAME), (text) => {
    const lines = text.split("\n")
    const index = lines.indexOf(field)
    return index >= 0 ? lines[index + 1] : undefined
  })

const waitUntil = (what: string, check: Effect.Effect<boolean>): Effect.Effect<void> =>
  Effect.gen(function*() {
    const deadline = Date.now() + READY_TIMEOUT_MS
    while (!(yield* check)) {
      if (Date.now() > deadline) return yield* Effect.die(new Error(`startRedisSentinel: ${what}`))
      yield* realSleep(100)
    }
  })

/**
 * Starts the setup in the current Scope. Sentinels declare the master down after 1 s
 * without an answer (quorum 2), so a failover takes a few seconds.
 */
export const startRedisSentinel = (
  options: {
    readonly args?: ReadonlyArray<string>
    /** `requirepass` of the master and the replica (and `masterauth`, `sentinel auth-pass`). */
    readonly masterPassword?: string
    /** `requirepass` of the Sentinels. */
    readonly sentinelPassword?: string
    /** Serve TLS only, on the master, the replica (and replication) and the Sentinels (PEM paths; no client certificates). */
    readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string }
    /** An ACL file for the master and the replica (`--aclfile`). */
    readonly aclFile?: string
    /** The ACL user the replica (`masteruser`) and the Sentinels (`sentinel auth-user`) log in to the master as. */
    readonly masterUser?: { readonly name: string; readonly password: string }
    /** How long the master must not answer before the Sentinels fail over (`down-after-milliseconds`). Default 1000. */
    readonly downAfterMs?: number
  } = {}
): Effect.Effect<RedisSentinelHandle, never, Scope.Scope> =>
  Effect.gen(function*() {
    const auth = options.masterPassword === undefined
      ? []
      : ["--requirepass", options.masterPassword, "--masterauth", options.masterPassword]
    const tls = options.tls === undefined ? {} : { tls: { ...options.tls, authClients: "no" as const } }
    const tlsArgs = options.tls === undefined ? [] : ["--tls-replication", "yes"]
    const aclFile = options.aclFile === undefined ? {} : { aclFile: options.aclFile }
    const masterUser = options.masterUser === undefined
      ? []
      : ["--masteruser", options.masterUser.name, "--masterauth", options.masterUser.password]
    const master = yield* startRedisServer({
      ...tls,
      ...aclFile,
      args: [...auth, ...masterUser, ...tlsArgs, ...(options.args ?? [])]
    })
    const replica = yield* startRedisServer({
      ...tls,
      ...aclFile,
      args: ["--replicaof", master.host, String(master.port), ...auth, ...masterUser, ...tlsArgs, ...(options.args ?? [])]
    })
    const config = [
      `sentinel monitor ${NAME} ${master.host} ${master.port} 2`,
      `sentinel down-after-milliseconds ${NAME} ${options.downAfterMs ?? 1000}`,
      `sentinel failover-timeout ${NAME} 5000`,
      `sentinel parallel-syncs ${NAME} 1`,
      ...(options.masterPassword === undefined ? [] : [`sentinel auth-pass ${NAME} ${options.masterPassword}`]),
      ...(options.masterUser === undefined
        ? []
        : [`sentinel auth-user ${NAME} ${options.masterUser.name}`, `sentinel auth-pass ${NAME} ${options.masterUser.password}`]),
      // Sentinels authenticate to each other with the same password they require.
      ...(options.sentinelPassword === undefined ? [] : [`sentinel sentinel-pass ${options.sentinelPassword}`]),
      ""
    ].join("\n")
    const sentinels: Array<RedisServerHandle> = []
    const sentinelAuth = options.sentinelPassword === undefined ? [] : ["--requirepass", options.sentinelPassword]
    for (let i = 0; i < 3; i++) sentinels.push(yield* startRedisServer({ ...tls, sentinelConfig: config, args: sentinelAuth }))
    yield* waitUntil(
      "the replica did not sync",
      Effect.map(replica.cli("INFO", "replication"), (info) => /master_link_status:up/.test(info))
    )
    for (const sentinel of sentinels) {
      yield* waitUntil(
        `sentinel ${sentinel.port} did not learn of the replica and the other sentinels`,
        Effect.map(
          Effect.all([masterField(sentinel, "num-slaves"), masterField(sentinel, "num-other-sentinels")]),
          ([replicas, others]) => replicas === "1" && others === "2"
        )
      )
    }
    const currentMasterPort = Effect.map(
      sentinels[0]!.cli("SENTINEL", "GET-MASTER-ADDR-BY-NAME", NAME),
      (text) => Number(text.split("\n")[1])
    )
    return {
      name: NAME,
      master,
      replica,
      sentinels,
      addresses: sentinels.map((sentinel) => ({ host: sentinel.host, port: sentinel.port })) as unknown as RedisSentinelHandle["addresses"],
      currentMasterPort
    }
  })
