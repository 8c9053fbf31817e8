/**
 * The options of every cache, and the one place where their rules live.
 *
 * `Cache.layerMemory`, `Cache.layerRedis` and the factory all validate through
 * the schemas here, so an option means the same thing, with the same range,
 * whichever entry point receives it (the original's factory and constructors
 * disagreed; see ORIGIN.md, "Quirks we fix" 4).
 *
 * @since 0.1.0
 */
import { Duration, Effect, Exit, Option, Schedule, Schema, SchemaIssue } from "effect"
import { type Compression, zstdAvailable } from "./codec/Compression.js"
import type { Serializer } from "./codec/Serializer.js"
import { SecurityConfig } from "./security/SecurityConfig.js"
import { type ValidationIssue, validationError, type ValidationError } from "./errors.js"
import { redactUrl } from "./internal/url.js"

/**
 * Limits that apply to every cache.
 *
 * @since 0.1.0
 */
export const CacheLimits = {
  /**
   * Longest key accepted, in UTF-16 code units (the `keyPrefix` not counted). Redis
   * takes keys up to 512 MB and the original had no limit; this one only stops a
   * runaway key. It is 4096 so that an AI cache key keeps the original's format at
   * the original's `textHashThreshold` (1000 characters, up to 2000 code units,
   * plus the key's parts; see `CacheKeyGenerator`).
   */
  maxKeyLength: 4096,
  /** Longest TTL accepted: 365 days, as the original factory. */
  maxTtlMillis: 365 * 24 * 60 * 60 * 1000,
  /** Largest compression threshold accepted, in bytes. */
  maxCompressionThreshold: 16 * 1024 * 1024,
  /** Most L1 entries accepted. */
  maxL1Entries: 10_000_000,
  /** Largest `maxValueBytes` accepted: 4 GiB, the largest Buffer under Node 20. */
  maxValueBytes: 2 ** 32
} as const

const durationInput = Schema.declare(
  (u: unknown): u is Duration.Input => {
    try {
      return Option.isSome(Duration.fromInput(u as Duration.Input))
    } catch {
      return false
    }
  },
  { expected: "a duration (a Duration, a string such as \"30 minutes\", or a number of milliseconds)" }
)

const toMillis = (input: Duration.Input): number => Duration.toMillis(input)

/**
 * A duration that must be positive and at most `maxMillis`. Zero or negative is an
 * error, never a silent "forever".
 *
 * @since 0.1.0
 */
export const PositiveDuration = (maxMillis: number, unitText: string) =>
  durationInput.check(
    Schema.makeFilter((input: Duration.Input) => {
      const millis = toMillis(input)
      if (!(millis > 0)) return "must be positive (zero or negative durations are rejected, not read as \"forever\")"
      if (millis > maxMillis) return `must be at most ${unitText}`
      return true
    })
  )

/**
 * A TTL: positive and at most 365 days.
 *
 * @since 0.1.0
 */
export const Ttl = PositiveDuration(CacheLimits.maxTtlMillis, "365 days")

const Timeout = PositiveDuration(10 * 60 * 1000, "10 minutes")

// A duration where 0 means "off" (a throttle, a timeout that is not wanted), at most 365 days.
const NonNegativeDuration = durationInput.check(
  Schema.makeFilter((input: Duration.Input) => {
    const millis = toMillis(input)
    return (millis >= 0 && millis <= CacheLimits.maxTtlMillis) || "must be between 0 and 365 days"
  })
)

/**
 * An integer between `minimum` and `maximum`, inclusive.
 *
 * @since 0.1.0
 */
export const intBetween = (minimum: number, maximum: number) =>
  Schema.Finite.check(
    Schema.makeFilter((n: number) => Number.isInteger(n) || "must be an integer"),
    Schema.makeFilter((n: number) => (n >= minimum && n <= maximum) || `must be between ${minimum} and ${maximum}`)
  )

const serializerObject = Schema.declare(
  (u: unknown): u is Serializer =>
    typeof u === "object" && u !== null && typeof (u as Serializer).serialize === "function" &&
    typeof (u as Serializer).deserialize === "function" && typeof (u as Serializer).id === "number",
  { expected: "a Serializer (an object with id, name, serialize and deserialize)" }
)

/**
 * Which serializer a cache uses: a built-in one by name, or your own.
 *
 * @since 0.1.0
 */
export const SerializerOption = Schema.Union([Schema.Literals(["json", "structured"]), serializerObject])

const compressionObject = Schema.declare(
  (u: unknown): u is Compression =>
    typeof u === "object" && u !== null && typeof (u as Compression).compress === "function" &&
    typeof (u as Compression).decompress === "function" && typeof (u as Compression).id === "number",
  { expected: "a Compression (an object with id, name, compress and decompress)" }
)

const builtInCompressionName = Schema.Literals(["zlib", "zstd", "none"]).check(
  Schema.makeFilter((name: "zlib" | "zstd" | "none") =>
    name !== "zstd" || zstdAvailable || `zstd needs node:zlib's zstd (Node >= 22.15); this is Node ${process.version}`
  )
)

/**
 * Which compression a cache writes with: a built-in one by name ("zlib", "zstd", "none"),
 * or your own. Every built-in one is read whichever is written.
 *
 * @since 0.1.0
 */
export const CompressionOption = Schema.Union([builtInCompressionName, compressionObject])

/**
 * A Redis URL: `redis://` or `rediss://`, with a host, optional user, password and
 * database index.
 *
 * @since 0.1.0
 */
export const RedisUrl = Schema.String.check(
  Schema.makeFilter((url: string) => {
    if (url.trim() === "") return "cannot be empty"
    if (!/^rediss?:\/\//.test(url)) return "must start with 'redis://' or 'rediss://'"
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      return "is not a valid URL"
    }
    if (parsed.hostname === "") return "must include host information"
    const db = parsed.pathname.replace(/^\//, "")
    if (db !== "" && !/^\d+$/.test(db)) return "database index must be a number"
    return true
  })
)

const NonEmptyString = Schema.String.check(Schema.makeFilter((text: string) => text.trim() !== "" || "cannot be empty"))

const NodeAddress = Schema.Struct({ host: NonEmptyString, port: intBetween(1, 65535) })

/**
 * A Redis Cluster: its startup nodes (any few of its nodes; the rest are discovered) and
 * the ioredis Cluster settings that matter to a cache. See docs/topologies.md.
 *
 * @since 0.1.0
 */
export const ClusterOption = Schema.Struct({
  /** Startup node URLs. Credentials and TLS come from the first (and the `security` config) and apply to every node. */
  nodes: Schema.NonEmptyArray(RedisUrl),
  /** Most MOVED/ASK redirections followed per command. Default 16. */
  maxRedirections: Schema.optionalKey(intBetween(1, 100)),
  /** Milliseconds before a command that met a closed node connection is retried. Default 100. */
  retryDelayOnFailover: Schema.optionalKey(intBetween(0, 60_000)),
  /** Milliseconds before a command that met CLUSTERDOWN is retried. Default 100. */
  retryDelayOnClusterDown: Schema.optionalKey(intBetween(0, 60_000)),
  /** Milliseconds a slot-map refresh may take. Default 1000. */
  slotsRefreshTimeout: Schema.optionalKey(intBetween(1, 60_000)),
  /** Milliseconds between slot-map refreshes. Default 5000. */
  slotsRefreshInterval: Schema.optionalKey(intBetween(100, 3_600_000)),
  /** Announced `host:port` of a node mapped to the address this client must use (NAT, containers). */
  natMap: Schema.optionalKey(Schema.Record(Schema.String, NodeAddress))
})

/**
 * A master found through Redis Sentinel. See docs/topologies.md.
 *
 * @since 0.1.0
 */
export const SentinelOption = Schema.Struct({
  /** The Sentinels to ask (any one that answers will do). */
  sentinels: Schema.NonEmptyArray(NodeAddress),
  /** The master's name, as in `sentinel monitor <name> ...`. */
  name: NonEmptyString,
  /** Only "master": the cache writes, and a replica refuses writes. */
  role: Schema.optionalKey(Schema.Literal("master")),
  /** The Sentinels' own ACL user (Sentinel's `requirepass`/ACL, not the master's). */
  sentinelUsername: Schema.optionalKey(Schema.String),
  /** The Sentinels' own password, as a `Redacted`. */
  sentinelPassword: Schema.optionalKey(Schema.Redacted(Schema.String)),
  /** Whether the Sentinels speak TLS (with the `security` config's CA and client certificate). Default false. */
  tls: Schema.optionalKey(Schema.Boolean)
})

const schedule = Schema.declare(
  (u: unknown): u is Schedule.Schedule<unknown, unknown> => Schedule.isSchedule(u),
  { expected: "an Effect Schedule" }
)

const KeyPrefix = Schema.String.check(
  Schema.makeFilter((p: string) => p.length > 0 || "must not be empty (clear() deletes every key under the prefix)"),
  Schema.makeFilter((p: string) => p.length <= 256 || "must be at most 256 characters")
)

const CacheName = Schema.String.check(
  Schema.makeFilter((p: string) => /^[A-Za-z0-9_.:-]{1,64}$/.test(p) || "must be 1 to 64 of A-Z a-z 0-9 _ . : -")
)

/**
 * Options shared by every cache.
 *
 * @since 0.1.0
 */
export const CommonOptionFields = {
  /** TTL of entries set without one. Default 1 hour. */
  defaultTtl: Schema.optionalKey(Ttl),
  /** The serializer: "json" (default), "structured", or your own. */
  serializer: Schema.optionalKey(SerializerOption),
  /** A label for metrics and logs. Default "default". */
  cacheName: Schema.optionalKey(CacheName),
  /** How often L1 sweeps expired entries. Default 30 seconds. */
  sweepInterval: Schema.optionalKey(PositiveDuration(24 * 60 * 60 * 1000, "24 hours")),
  /**
   * What `get(key, schema)` gives for a stored value that no longer fits the schema (a
   * deploy changed it): "miss" (default: counted, announced, and `getOrSet` overwrites
   * it) or "fail" (a `SerializationError`).
   */
  onSchemaMismatch: Schema.optionalKey(Schema.Literals(["miss", "fail"])),
  /**
   * The largest value, in serialized bytes (before compression), that `set` accepts
   * and `get` reads back. Default 64 MiB (docs/configuration.md, "maxValueBytes").
   */
  maxValueBytes: Schema.optionalKey(intBetween(1024, CacheLimits.maxValueBytes)),
  /**
   * Most time added at random to every TTL this cache writes, so that entries written
   * together do not expire together. Default: none (docs/resilience.md).
   */
  ttlJitter: Schema.optionalKey(Ttl),
  /**
   * How long past its TTL an entry is kept, in both tiers, so that `getOrSet` can serve
   * it when the lookup fails (`staleOnError`). `get` never serves it. Default: none.
   */
  staleFor: Schema.optionalKey(Ttl),
  /** `getOrSet` serves a stale value (kept by `staleFor`) when the lookup, or Redis, fails. Default false. */
  staleOnError: Schema.optionalKey(Schema.Boolean),
  /** After fail-safe served a stale value, how long it is served before the lookup is tried again. Default 30 s. */
  failSafeThrottle: Schema.optionalKey(NonNegativeDuration),
  /** With a stale value at hand, `getOrSet` answers with it after this long; the lookup finishes in the background. */
  softTimeout: Schema.optionalKey(Timeout),
  /** `getOrSet` fails with a `LookupTimeoutError` after this long. Default: none. */
  hardTimeout: Schema.optionalKey(Timeout),
  /** A lookup past `hardTimeout` keeps running in the background and stores its value. Default false (interrupted). */
  completeInBackground: Schema.optionalKey(Schema.Boolean),
  /**
   * Eager refresh: a `getOrSet` hit after this fraction of the entry's TTL (e.g. 0.8)
   * answers at once and starts one background lookup that replaces the value. Default: off.
   */
  refreshAhead: Schema.optionalKey(
    Schema.Finite.check(Schema.makeFilter((n: number) => (n > 0 && n < 1) || "must be between 0 and 1 (exclusive)"))
  ),
  /** On a miss, one instance looks up (through a Redis lock) while the others wait for its value. Default false. */
  distributedLock: Schema.optionalKey(Schema.Boolean),
  /** Longest a `distributedLock` lock lives (its holder may die). Default 10 seconds. */
  lockTtl: Schema.optionalKey(Timeout),
  /** Longest an instance waits for another's lock before it looks up itself. Default 15 seconds. */
  lockTimeout: Schema.optionalKey(Timeout)
}

/**
 * Options of `Cache.layerMemory`.
 *
 * @since 0.1.0
 */
export const MemoryCacheOptions = Schema.Struct({
  ...CommonOptionFields,
  /** Most entries held. Default 1000. */
  maxEntries: Schema.optionalKey(intBetween(1, CacheLimits.maxL1Entries)),
  /** Most bytes held (sum of the entries' serialized sizes). Default 64 MiB. */
  maxBytes: Schema.optionalKey(intBetween(1024, Number.MAX_SAFE_INTEGER))
})

/**
 * The input type of {@link MemoryCacheOptions}.
 *
 * @since 0.1.0
 */
export type MemoryCacheOptions = typeof MemoryCacheOptions.Type

/**
 * Options of `Cache.layerRedis` (and, through the factory, of every Redis-backed cache).
 *
 * @since 0.1.0
 */
export const RedisCacheOptions = Schema.Struct({
  ...CommonOptionFields,
  /**
   * Where Redis is. Default `redis://127.0.0.1:6379`. A list of URLs is a Redis Cluster's
   * startup nodes (as `cluster: { nodes }`). With `sentinel`, only its credentials,
   * database and scheme are used (the Sentinels say where the master is).
   */
  redisUrl: Schema.optionalKey(Schema.Union([RedisUrl, Schema.NonEmptyArray(RedisUrl)])),
  /** A Redis Cluster (docs/topologies.md). */
  cluster: Schema.optionalKey(ClusterOption),
  /** A master found through Redis Sentinel (docs/topologies.md). */
  sentinel: Schema.optionalKey(SentinelOption),
  /** Whether to keep an L1 copy in process memory. Default true. */
  enableL1: Schema.optionalKey(Schema.Boolean),
  /** Most L1 entries. Default 1000. */
  l1MaxEntries: Schema.optionalKey(intBetween(1, CacheLimits.maxL1Entries)),
  /** Most L1 bytes. Default 64 MiB. */
  l1MaxBytes: Schema.optionalKey(intBetween(1024, Number.MAX_SAFE_INTEGER)),
  /** Payloads whose serialized size is above this many bytes are compressed. Default 1000. */
  compressionThreshold: Schema.optionalKey(intBetween(0, CacheLimits.maxCompressionThreshold)),
  /** Compression level, 1 (fast) to 9 (small). Default 6. */
  compressionLevel: Schema.optionalKey(intBetween(1, 9)),
  /** "zlib" (default, the original's), "zstd" (Node >= 22.15), "none", or your own `Compression`. */
  compression: Schema.optionalKey(CompressionOption),
  /** Namespace of every key this cache writes in Redis. Default "cache:". */
  keyPrefix: Schema.optionalKey(KeyPrefix),
  /** Longest a Redis command may take before the cache treats Redis as unavailable. Default 1 second. */
  commandTimeout: Schema.optionalKey(Timeout),
  /** Longest a connection attempt may take. Default 2 seconds. */
  connectTimeout: Schema.optionalKey(Timeout),
  /** Delays between reconnection attempts. Default: exponential from 100 ms, jittered, capped at 10 s. */
  reconnectSchedule: Schema.optionalKey(schedule),
  /** Fail building the layer with a `ConnectionError` when Redis cannot be reached. Default false. */
  failOnConnectionError: Schema.optionalKey(Schema.Boolean),
  /** Connection attempts made at start-up before giving up (fail fast) or going memory-only. Default 3. */
  connectAttempts: Schema.optionalKey(intBetween(1, 100)),
  /** Most writes and deletes kept for replay while Redis is unreachable. Default 10000. */
  replayQueueLimit: Schema.optionalKey(intBetween(0, 1_000_000)),
  /**
   * How L1 learns of changes made by other instances and programs: "tracking" (default,
   * Redis >= 6 server-assisted client-side caching, falling back to "bus" where the server
   * refuses it), "bus" (a pub/sub message after each change) or "off" (an L1 copy lives for
   * its Redis TTL). See docs/coherence.md.
   */
  l1Invalidation: Schema.optionalKey(Schema.Literals(["tracking", "bus", "off"])),
  /**
   * How long Redis keeps a tag's invalidation time (`invalidateTags`). Default 730 days, the
   * longest an entry can live (TTL plus `staleFor`): an entry written before the invalidation
   * and still alive after this long would be served again. See docs/multi-key-and-tags.md.
   */
  tagRetention: Schema.optionalKey(PositiveDuration(2 * CacheLimits.maxTtlMillis, "730 days")),
  /** How often the invalidation connection is PINGed to find a half-open link. Default 1 second. */
  invalidationPingInterval: Schema.optionalKey(PositiveDuration(60 * 1000, "1 minute")),
  /**
   * Security settings (AUTH/ACL, TLS): passed through to the connection unchanged. Its
   * `maxRetries` and `retryDelay` become the defaults of `connectAttempts` and
   * `reconnectSchedule` when those are not given.
   */
  security: Schema.optionalKey(
    Schema.declare((u: unknown): u is SecurityConfig => u instanceof SecurityConfig, {
      expected: "a SecurityConfig"
    })
  )
})

/**
 * The input type of {@link RedisCacheOptions}.
 *
 * @since 0.1.0
 */
export type RedisCacheOptions = typeof RedisCacheOptions.Type

const secretFields = new Set(["security", "sentinel.sentinelPassword"])

// Fields that hold Redis URLs (or lists of them), whose passwords are never shown.
const isUrlField = (field: string) => /^(redisUrl|cluster\.nodes)(\.\d+)?$/.test(field)

const renderValue = (field: string, value: unknown): string => {
  if (secretFields.has(field) || field === "sentinel" || field === "cluster") return "<redacted>"
  if (isUrlField(field) && typeof value === "string") return JSON.stringify(redactUrl(value))
  if (isUrlField(field) && Array.isArray(value)) {
    return JSON.stringify(value.map((url) => typeof url === "string" ? redactUrl(url) : url))
  }
  if (value === undefined) return "undefined"
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint" || value === null) {
    return String(value)
  }
  if (Duration.isDuration(value)) return Duration.format(value)
  if (typeof value === "function") return "<function>"
  try {
    const text = JSON.stringify(value)
    return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text
  } catch {
    return Object.prototype.toString.call(value)
  }
}

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let current: unknown = input
  for (const segment of path) {
    if (typeof current !== "object" || current === null) return undefined
    current = (current as Record<PropertyKey, unknown>)[segment]
  }
  return current
}

/**
 * Turns Schema issues into our validation issues: field path, offending value, rule.
 *
 * @since 0.1.0
 */
export const issuesOf = (error: Schema.SchemaError, input: unknown): ReadonlyArray<ValidationIssue> => {
  const seen = new Set<string>()
  const out: Array<ValidationIssue> = []
  for (const issue of formatter(error.issue).issues) {
    const path = (issue.path ?? []).map((segment) =>
      typeof segment === "object" && segment !== null && "key" in segment ? segment.key : segment
    ) as ReadonlyArray<PropertyKey>
    const field = path.length === 0 ? "options" : path.map(String).join(".")
    const rule = issue.message === "Expected no excess property" ? "is not a known option" : issue.message
    const id = `${field}\u0000${rule}`
    if (seen.has(id)) continue
    seen.add(id)
    out.push({ field, value: renderValue(field, valueAt(input, path)), rule })
  }
  return out
}

/**
 * Validates options against a schema, reporting every problem at once in one
 * `ValidationError`.
 *
 * @since 0.1.0
 */
export const validateOptions = <S extends Schema.Codec<unknown, unknown>>(
  schema: S,
  input: unknown,
  subject: string
): Effect.Effect<S["Type"], ValidationError> =>
  Effect.suspend(() => {
    const exit = Schema.decodeUnknownExit(schema)(input ?? {}, { errors: "all", onExcessProperty: "error" })
    if (Exit.isSuccess(exit)) return Effect.succeed(exit.value as S["Type"])
    const error = exit.cause.reasons.find((r) => r._tag === "Fail")
    if (error === undefined || !Schema.isSchemaError(error.error)) return Effect.die(exit.cause)
    return Effect.fail(validationError(issuesOf(error.error, input), { subject }))
  })

const credentialsOf = (url: string): string => {
  const parsed = new URL(url)
  return `${parsed.username}:${parsed.password}`
}

const clusterNodeIssues = (field: string, nodes: ReadonlyArray<string>): Array<ValidationIssue> => {
  const issues: Array<ValidationIssue> = []
  const first = nodes[0]!
  nodes.forEach((url, i) => {
    const at = `${field}.${i}`
    const shown = JSON.stringify(redactUrl(url))
    const db = new URL(url).pathname.replace(/^\//, "")
    if (db !== "" && db !== "0") issues.push({ field: at, value: shown, rule: "Redis Cluster has only database 0" })
    if (/^rediss:/.test(url) !== /^rediss:/.test(first)) {
      issues.push({ field: at, value: shown, rule: "every node must use the scheme of the first (all redis:// or all rediss://)" })
    }
    const credentials = credentialsOf(url)
    if (i > 0 && credentials !== ":" && credentials !== credentialsOf(first)) {
      issues.push({ field: at, value: shown, rule: "credentials are those of the first node: the others must repeat them or carry none" })
    }
  })
  return issues
}

/**
 * The rules between the topology options, which one field's schema cannot see: one
 * topology at a time, and a cluster's nodes agree on database 0, scheme and credentials.
 * Each issue names its field (`cluster.nodes.1`, `sentinel`, `redisUrl`).
 *
 * @since 0.1.0
 */
export const validateTopology = (valid: RedisCacheOptions): Effect.Effect<RedisCacheOptions, ValidationError> =>
  Effect.suspend(() => {
    const issues: Array<ValidationIssue> = []
    const urlList = Array.isArray(valid.redisUrl) ? valid.redisUrl : undefined
    if (valid.cluster !== undefined && valid.sentinel !== undefined) {
      issues.push({ field: "sentinel", value: "<redacted>", rule: "cannot be combined with cluster: pick one topology" })
    }
    if (urlList !== undefined && (valid.cluster !== undefined || valid.sentinel !== undefined)) {
      issues.push({
        field: "redisUrl",
        value: JSON.stringify(urlList.map(redactUrl)),
        rule: "a list of URLs is a cluster's nodes: give it as redisUrl or as cluster.nodes, and not with sentinel"
      })
    }
    if (valid.cluster !== undefined) issues.push(...clusterNodeIssues("cluster.nodes", valid.cluster.nodes))
    else if (urlList !== undefined) issues.push(...clusterNodeIssues("redisUrl", urlList))
    return issues.length === 0
      ? Effect.succeed(valid)
      : Effect.fail(validationError(issues, { subject: "Invalid Redis cache options" }))
  })
