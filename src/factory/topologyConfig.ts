/**
 * The Redis topology (a Cluster, or a master found through Sentinel) from the
 * environment, read through Effect `Config` like the rest of the configuration.
 *
 * | variable | meaning |
 * |---|---|
 * | `CACHE_REDIS_CLUSTER_NODES` | a Redis Cluster's startup nodes: `redis://h1:p1,redis://h2:p2` |
 * | `CACHE_REDIS_SENTINELS` | the Sentinels: `h1:p1,h2:p2` (IPv6 as `[::1]:26379`) |
 * | `CACHE_REDIS_SENTINEL_NAME` | the master's name in `sentinel monitor` (required with `CACHE_REDIS_SENTINELS`) |
 * | `CACHE_REDIS_SENTINEL_USERNAME` | the Sentinels' own ACL user |
 * | `CACHE_REDIS_SENTINEL_PASSWORD` | the Sentinels' own password (read as `Redacted`) |
 * | `CACHE_REDIS_SENTINEL_TLS` | `true`/`1`/`yes` or `false`/`0`/`no`: the Sentinels speak TLS (default false) |
 *
 * A value that cannot be used is a `ConfigurationError` naming the variable; a
 * password never appears in it.
 *
 * @since 0.1.0
 */
import { Config, Effect, Exit, Option, type Redacted, Schema } from "effect"
import { RedisUrl } from "../CacheOptions.js"
import { ConfigurationError } from "../errors.js"
import { redactUrl } from "../internal/url.js"

/**
 * The variables {@link topologyFromEnv} reads.
 *
 * @since 0.1.0
 */
export const topologyEnvVariables = {
  clusterNodes: "CACHE_REDIS_CLUSTER_NODES",
  sentinels: "CACHE_REDIS_SENTINELS",
  sentinelName: "CACHE_REDIS_SENTINEL_NAME",
  sentinelUsername: "CACHE_REDIS_SENTINEL_USERNAME",
  sentinelPassword: "CACHE_REDIS_SENTINEL_PASSWORD",
  sentinelTls: "CACHE_REDIS_SENTINEL_TLS"
} as const

/**
 * The topology options the environment gives: `cluster`, `sentinel`, or neither.
 *
 * @since 0.1.0
 */
export interface TopologyFromEnv {
  readonly cluster?: { readonly nodes: readonly [string, ...Array<string>] }
  readonly sentinel?: {
    readonly sentinels: readonly [{ readonly host: string; readonly port: number }, ...Array<{ readonly host: string; readonly port: number }>]
    readonly name: string
    readonly sentinelUsername?: string
    readonly sentinelPassword?: Redacted.Redacted<string>
    readonly tls?: boolean
  }
}

const env = topologyEnvVariables

const fail = (field: string, rule: string, value?: string) =>
  new ConfigurationError({
    message: value === undefined ? `${field} ${rule}` : `${field} ${rule}, got "${value}"`,
    field,
    rule,
    ...(value === undefined ? {} : { value })
  })

const readError = (name: string) => (error: { readonly message: string }) =>
  new ConfigurationError({ message: `${name} could not be read: ${error.message}`, field: name, rule: "must be readable" })

/** An unset or blank variable is None. */
const readText = (name: string): Effect.Effect<Option.Option<string>, ConfigurationError> =>
  Effect.map(
    Config.option(Config.String(name)),
    (text) => Option.filter(Option.map(text, (t) => t.trim()), (t) => t !== "")
  ).pipe(Effect.mapError(readError(name)))

const readSecret = (name: string): Effect.Effect<Option.Option<Redacted.Redacted<string>>, ConfigurationError> =>
  Config.option(Config.Redacted(name)).pipe(Effect.mapError(readError(name)))

/** The comma-separated items of a variable; an empty item is an error (a stray comma is a typo). */
const readList = Effect.fnUntraced(function*(name: string, show: (item: string) => string) {
  const text = yield* readText(name)
  if (Option.isNone(text)) return Option.none<readonly [string, ...Array<string>]>()
  const items = text.value.split(",").map((item) => item.trim())
  if (items.some((item) => item === "")) {
    return yield* fail(name, "must be a comma-separated list without empty items", items.map(show).join(","))
  }
  return Option.some(items as unknown as readonly [string, ...Array<string>])
})

const readClusterNodes = Effect.gen(function*() {
  const name = env.clusterNodes
  const nodes = yield* readList(name, redactUrl)
  if (Option.isNone(nodes)) return Option.none<readonly [string, ...Array<string>]>()
  for (const [index, url] of nodes.value.entries()) {
    const checked = Schema.decodeUnknownExit(RedisUrl)(url)
    if (Exit.isFailure(checked)) {
      const reason = Schema.isSchemaError(checked.cause.reasons.find((r) => r._tag === "Fail")?.error)
        ? "must be a redis:// or rediss:// URL with a host"
        : "is not valid"
      return yield* fail(name, `node ${index + 1} ${reason}`, redactUrl(url))
    }
  }
  return nodes
})

// host:port, or [v6-address]:port.
const addressPattern = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/

const readSentinelAddresses = Effect.gen(function*() {
  const name = env.sentinels
  const items = yield* readList(name, (item) => item)
  if (Option.isNone(items)) return Option.none<NonNullable<TopologyFromEnv["sentinel"]>["sentinels"]>()
  const addresses = []
  for (const item of items.value) {
    const match = addressPattern.exec(item)
    const port = match === null ? Number.NaN : Number(match[3])
    if (match === null || !(port >= 1 && port <= 65535)) {
      return yield* fail(name, "must be host:port items (port 1 to 65535), e.g. 10.0.0.1:26379,[::1]:26380", item)
    }
    addresses.push({ host: (match[1] ?? match[2])!, port })
  }
  return Option.some(addresses as unknown as NonNullable<TopologyFromEnv["sentinel"]>["sentinels"])
})

const truthy = new Set(["true", "1", "yes"])
const falsy = new Set(["false", "0", "no"])

const readBoolean = Effect.fnUntraced(function*(name: string) {
  const text = yield* readText(name)
  if (Option.isNone(text)) return Option.none<boolean>()
  const normalized = text.value.toLowerCase()
  if (truthy.has(normalized)) return Option.some(true)
  if (falsy.has(normalized)) return Option.some(false)
  return yield* fail(name, "must be true, 1, yes, false, 0 or no", text.value)
})

const readSentinel = Effect.gen(function*() {
  const sentinels = yield* readSentinelAddresses
  const name = yield* readText(env.sentinelName)
  const username = yield* readText(env.sentinelUsername)
  const password = yield* readSecret(env.sentinelPassword)
  const tls = yield* readBoolean(env.sentinelTls)
  if (Option.isNone(sentinels)) {
    const stray = [
      [env.sentinelName, name],
      [env.sentinelUsername, username],
      [env.sentinelPassword, password],
      [env.sentinelTls, tls]
    ].find(([, value]) => Option.isSome(value as Option.Option<unknown>))
    if (stray !== undefined) return yield* fail(stray[0] as string, `is set without ${env.sentinels}`)
    return Option.none<NonNullable<TopologyFromEnv["sentinel"]>>()
  }
  if (Option.isNone(name)) return yield* fail(env.sentinelName, `is required with ${env.sentinels}`)
  return Option.some({
    sentinels: sentinels.value,
    name: name.value,
    ...Option.match(username, { onNone: () => ({}), onSome: (sentinelUsername) => ({ sentinelUsername }) }),
    ...Option.match(password, { onNone: () => ({}), onSome: (sentinelPassword) => ({ sentinelPassword }) }),
    ...Option.match(tls, { onNone: () => ({}), onSome: (on) => ({ tls: on }) })
  })
})

/**
 * Reads the topology variables (see the module documentation). Both a cluster and
 * Sentinels is a `ConfigurationError`: one topology at a time.
 *
 * @since 0.1.0
 */
export const topologyFromEnv: Effect.Effect<TopologyFromEnv, ConfigurationError> = Effect.gen(function*() {
  const nodes = yield* readClusterNodes
  const sentinel = yield* readSentinel
  if (Option.isSome(nodes) && Option.isSome(sentinel)) {
    return yield* fail(env.sentinels, `cannot be combined with ${env.clusterNodes}: pick one topology`)
  }
  if (Option.isSome(nodes)) return { cluster: { nodes: nodes.value } }
  if (Option.isSome(sentinel)) return { sentinel: sentinel.value }
  return {}
})
