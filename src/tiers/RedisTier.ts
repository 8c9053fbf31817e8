/**
 * The L2 tier: Redis through ioredis, in a resource-scoped connection, with
 * graceful degradation and automatic recovery.
 *
 * The tier never makes a caller wait on a dead server: the offline queue is off,
 * every command is bounded by `commandTimeout`, and while the server is away the
 * tier answers "unavailable" at once. Writes and deletes made meanwhile are queued
 * (bounded, newest wins per key) and replayed when the connection is back, under
 * the rule in `docs/redis-tier.md`: a queued operation never overwrites a value
 * that another writer stored later than it.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Data, Duration, Effect, Exit, Fiber, Layer, Option, Queue, Schedule, Scope } from "effect"
import type { Cluster, Redis } from "ioredis"
import type { CacheModeName } from "../events/CacheEvents.js"
import { CacheEvents } from "../events/CacheEvents.js"
import type { ConfigurationError, ConnectionError, ValidationError } from "../errors.js"
import type { EnvelopeParts } from "../codec/Codec.js"
import {
  EncodedEnvelope,
  FLAG_WRITTEN_AT,
  joinEnvelope,
  MAGIC_0,
  MAGIC_1,
  VERSION,
  WRITTEN_AT_OFFSET
} from "../internal/envelope.js"
import { StreamedSet } from "../internal/streamedSet.js"
import { isTracked } from "../internal/coherence/tracking.js"
import { backOffOnFinal, finalFailureDelay, isFinalConnectionFailure } from "../internal/connectionFailure.js"
import { refusalScope } from "../internal/refusals.js"
import {
  type BulkLimit,
  DEFAULT_MAX_BULK_BYTES,
  MIN_MAX_BULK_BYTES,
  readMaxBulkBytes,
  valueTooLarge
} from "../internal/serverLimits.js"
import { CacheMonitor } from "../monitoring/CacheMonitor.js"
import {
  classifyConnectionError,
  connectCluster,
  connectRedis,
  connectSentinel,
  redisConnectionOptions
} from "../security/connectionOptions.js"
import { Invalidation, localInvalidation } from "../coherence/Invalidation.js"
import type { SecurityConfig } from "../security/SecurityConfig.js"
import { makeBatcher, type Resume } from "../internal/batcher.js"
import { escapeGlob, matcher } from "../internal/pattern.js"
import { CLUSTER_PROBE_MILLIS, clusterProblem } from "../internal/clusterProbe.js"
import { sendToCluster } from "../internal/clusterBatch.js"
import { corked, corkedForTurn } from "../internal/corked.js"
import { groupBySlot } from "../internal/slots.js"
import { isTagKey, TAG_KEY_PREFIX } from "../internal/coherence/tagSignals.js"
import { MemoryTier } from "./MemoryTier.js"
import { addressOf, type RedisTopology, shownTopology, standalone } from "./RedisTopology.js"

/**
 * What the Redis tier needs to know. Durations are already validated by the cache
 * options schema.
 *
 * @since 0.1.0
 */
export interface RedisTierOptions {
  readonly redisUrl: string
  readonly keyPrefix: string
  readonly commandTimeout: Duration.Input
  readonly connectTimeout: Duration.Input
  readonly reconnectSchedule: Schedule.Schedule<unknown, unknown>
  readonly failOnConnectionError: boolean
  readonly connectAttempts: number
  readonly replayQueueLimit: number
  readonly security: Option.Option<SecurityConfig>
  readonly cacheName: string
  /** With L1 off, memory serves only while Redis is away, and is emptied when Redis is back. */
  readonly enableL1: boolean
  /** One server (default, at `redisUrl`), a Redis Cluster, or a master found through Sentinel. */
  readonly topology?: RedisTopology
}

/**
 * The connection state of the tier, as `Cache.status` reports it. `lastError`
 * never contains a password.
 *
 * @since 0.1.0
 */
export interface RedisTierStatus {
  readonly mode: Exclude<CacheModeName, "Memory">
  readonly url: string
  readonly since: number
  readonly lastError: Option.Option<string>
  readonly reconnectAttempts: number
  readonly pendingReplay: number
  readonly droppedWhileDegraded: number
}

/**
 * The answer of a read.
 *
 * @since 0.1.0
 */
export type RedisRead =
  | { readonly _tag: "Hit"; readonly bytes: Uint8Array; readonly pttlMillis: number }
  | { readonly _tag: "Miss" }
  | { readonly _tag: "Unavailable" }

/**
 * A Redis reply error on a command that reached the server (a permission error,
 * a value of another type, out of memory): not a connection problem.
 *
 * @since 0.1.0
 */
export class RedisReplyError extends Error {
  constructor(readonly command: string, readonly reply: string) {
    super(`Redis refused ${command}: ${reply}`)
    this.name = "RedisReplyError"
  }
}

type PendingOperation =
  | { readonly _tag: "Set"; readonly bytes: Buffer; readonly expiresAt: number; readonly writtenAt: number }
  | { readonly _tag: "Delete"; readonly at: number }

/**
 * The Redis tier service. `write` and `remove` never fail for lack of a server:
 * they queue for replay and report it.
 *
 * @since 0.1.0
 */
export class RedisTier extends Context.Service<RedisTier, {
  /** True while connected; the cache reads it to skip L2 at once while degraded. */
  readonly isConnected: () => boolean
  /**
   * GET, and with `withTtl` the remaining TTL too (`pttlMillis`, -1 when not asked), in one
   * round trip. `get` does not ask (the envelope records the expiry); `ttl` does.
   */
  readonly read: (key: string, withTtl: boolean) => Effect.Effect<RedisRead, RedisReplyError>
  /**
   * SET with a TTL. The envelope is its bytes, or its parts (the codec's `Encoded` is
   * one), which a large value is written as without being joined first. An envelope
   * larger than the server's `proto-max-bulk-len` fails with a `ValidationError` on
   * `value`, is not sent and is not queued.
   */
  readonly write: (
    key: string,
    envelope: Uint8Array | EnvelopeParts,
    ttlMillis: number,
    writtenAt: number
  ) => Effect.Effect<"stored" | "queued", RedisReplyError | ValidationError>
  /** Deletes; `undefined` when Redis could not be asked (the delete is queued). */
  readonly remove: (key: string, at: number) => Effect.Effect<boolean | undefined, RedisReplyError>
  /** `undefined` when Redis could not be asked. */
  readonly exists: (key: string) => Effect.Effect<boolean | undefined, RedisReplyError>
  /** Remaining milliseconds; `Option.none()` when absent; `undefined` when Redis could not be asked. */
  readonly pttl: (key: string) => Effect.Effect<Option.Option<number> | undefined, RedisReplyError>
  /** SCANs keys matching a Redis glob (already including the prefix) and UNLINKs them; `undefined` when unavailable. */
  readonly removeMatching: (pattern: string, at: number) => Effect.Effect<number | undefined, RedisReplyError>
  /**
   * SCANs keys matching a Redis glob (already including the prefix) on every master; the full keys,
   * or `undefined` when unavailable. For the Effect adapters' `keys` (src/adapters/).
   */
  readonly keysMatching: (pattern: string) => Effect.Effect<ReadonlyArray<string> | undefined, RedisReplyError>
  readonly status: Effect.Effect<RedisTierStatus>
  /** The live client, for security checks and diagnostics; none while degraded. */
  readonly client: Effect.Effect<Option.Option<Redis>>
  /**
   * The live connection as ioredis has it: a `Cluster` (which routes each command by its key's
   * slot) on a cluster, else the one `Redis`; none while degraded. For Effect's `Redis` service
   * adapter (src/adapters/RedisService.ts), which sends commands of its own on it.
   */
  readonly connection: Effect.Effect<Option.Option<Redis | Cluster>>
  readonly keyPrefix: string
  readonly url: string
}>()("effect-redis-cache/RedisTier") {
  /**
   * Connects (or, when Redis is away and `failOnConnectionError` is off, starts
   * memory-only and keeps reconnecting in the background), all in the layer's scope.
   *
   * @since 0.1.0
   */
  static readonly layer = (
    options: RedisTierOptions
  ): Layer.Layer<RedisTier, ConnectionError | ConfigurationError, MemoryTier | CacheEvents> =>
    Layer.effect(RedisTier, make(options))
}

/** A command or connection attempt that failed: the cause is what ioredis rejected with. */
class RedisFailure extends Data.TaggedError("RedisFailure")<{ readonly cause: unknown }> {}

// Replies that say the node cannot serve us now, whatever we send: a demoted master (READONLY,
// Sentinel failover), a cluster without a quorum or a slot owner (CLUSTERDOWN), a replica that
// lost its master (MASTERDOWN). They are a lost connection, not a refusal: the tier goes
// memory-only and reconnects (through the Sentinels, or to the new slot map).
const UNSERVABLE = /^(READONLY|CLUSTERDOWN|MASTERDOWN|TRYAGAIN)\b/

// A cluster node's answer for a key whose slot is served elsewhere (resharded, or being migrated).
const REDIRECTION = /^(MOVED|ASK) /

const isTransportError = (error: unknown): boolean =>
  !(error instanceof Error && error.name === "ReplyError") || UNSERVABLE.test(error.message)

// The ACL or configuration refusal behind a failed batch command; inside MULTI it comes
// back as EXECABORT with the refusals of the queued commands attached.
const refusalOf = (error: Error): string | undefined =>
  [error, ...((error as { readonly previousErrors?: ReadonlyArray<Error> }).previousErrors ?? [])]
    .map((cause) => cause.message)
    .find((message) => /^(NOPERM|ERR unknown command)/.test(message))

const messageOf = (error: unknown): string => error instanceof Error ? error.message : String(error)

// What Redis answers, just before it closes the connection, to an argument above its proto-max-bulk-len.
const isBulkRefusal = (message: string): boolean => /Protocol error: invalid bulk length/i.test(message)

// ioredis rejects rather than throws, but an argument it cannot send may throw: either way a promise.
const attempt = <A>(run: () => Promise<A>): Promise<A> => {
  try {
    return run()
  } catch (error) {
    return Promise.reject(error)
  }
}

const REPLAY_BATCH = 256
const MISS: RedisRead = { _tag: "Miss" }
const UNAVAILABLE: RedisRead = { _tag: "Unavailable" }
const MISS_EXIT = Exit.succeed(MISS)
const UNAVAILABLE_EXIT = Exit.succeed(UNAVAILABLE)
const NOT_ASKED = Exit.succeed(undefined)
const STORED_EXIT = Exit.succeed("OK" as const)
// Reads made in the same tick leave in one command, and so do writes, up to this many
// keys. A batch that reaches it leaves at once: the server works on it while the client
// resumes the fibers still to come, instead of the two taking turns (measured with 100
// in flight: 25 to 50 keys beat 256 by a quarter to a third; see docs/benchmarks.md).
// On a cluster a batch leaves with the rest of its turn instead (one write per node, which
// measured better there: src/internal/corked.ts, corkedForTurn).
const MAX_BATCH = 32
// READ_META's answer for a key of another type.
const READ_REFUSED = -100
// Values copied through Lua cost the server about 3 us per 2.5 KB, several times a SET: above
// this mean size, batched writes use one SET per key instead of WRITE_MANY. Below it the copy
// costs less than a command per key (measured up to 4-9 KB). Batched reads use no Lua at all.
const LUA_MAX_MEAN_BYTES = 4096
// Node carves buffers below 4 KB from a shared pool; an envelope this size or larger would be
// a buffer of its own (and ioredis copies it into another), so it is written as its parts.
const STREAMED_MIN_BYTES = 4096
const MAX_PENDING_PATTERNS = 100
const MAX_LOGGED_REFUSALS = 10

/** What one replay got done, and what the server refused. */
interface ReplayTally {
  replayed: number
  skipped: number
  readonly refusals: Array<string>
}

/** What replaying one queued operation came to: 1 stored, 0 Redis holds newer, -1 expired, -2 superseded, or refused alone. */
type ReplayOutcome = number | { readonly refused: string }

const SUPERSEDED: Promise<ReplayOutcome> = Promise.resolve(-2)

function* take<A>(items: Iterator<A>, count: number): Generator<A> {
  for (let i = 0; i < count; i++) {
    const next = items.next()
    if (next.done === true) return
    yield next.value
  }
}

const ENVELOPE_MAGIC = Buffer.from([MAGIC_0, MAGIC_1, VERSION])

// A Lua expression: the write time in an envelope header (ARG 1), or nil when the
// value is not ours or carries none. ARG 2 is the magic and version.
const WRITTEN_AT_LUA = `(function(head, magic)
  if #head < ${WRITTEN_AT_OFFSET + 6} or string.sub(head, 1, 3) ~= magic then return nil end
  if bit.band(string.byte(head, 4), ${FLAG_WRITTEN_AT}) == 0 then return nil end
  local at = 0
  for i = ${WRITTEN_AT_OFFSET + 1}, ${WRITTEN_AT_OFFSET + 6} do at = at * 256 + string.byte(head, i) end
  return at
end)`

// Replays a queued write unless the stored value is ours and was written later.
// GETRANGE reads only the envelope header, so a large value is never copied into Lua.
const SET_IF_NOT_NEWER = `
local at = ${WRITTEN_AT_LUA}(redis.call('GETRANGE', KEYS[1], 0, ${WRITTEN_AT_OFFSET + 5}), ARGV[4])
if at and at > tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`

// Deletes each key unless its value is ours and was written after ARGV[1].
const DELETE_IF_NOT_NEWER = `
local removed = 0
for _, key in ipairs(KEYS) do
  local at = ${WRITTEN_AT_LUA}(redis.call('GETRANGE', key, 0, ${WRITTEN_AT_OFFSET + 5}), ARGV[2])
  if not (at and at > tonumber(ARGV[1])) then removed = removed + redis.call('UNLINK', key) end
end
return removed`

// What a batched read with TTLs (`ttl` and `exists` under staleFor) needs beside the values:
// per key, its remaining TTL, -2 when absent, ${READ_REFUSED} when it holds another type (MGET
// reads those as nil, GET would refuse them). Values are not read here: a value copied into
// Lua and back costs the server several times a plain MGET.
const READ_META = `
local out = {}
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'string' then
    out[i] = redis.call('PTTL', key)
  elseif kind == 'none' then
    out[i] = -2
  else
    out[i] = ${READ_REFUSED}
  end
end
return out`

const WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"

// SET PX for many keys in one command. ARGV holds each key's value and milliseconds in
// turn; the answer per key is 1, or the error that refused its SET.
const WRITE_MANY = `
local out = {}
for i, key in ipairs(KEYS) do
  local reply = redis.pcall('SET', key, ARGV[2 * i - 1], 'PX', ARGV[2 * i])
  if type(reply) == 'table' and reply.err then out[i] = reply.err else out[i] = 1 end
end
return out`

// UNLINK for many keys in one command: per key, how many it removed (0 or 1), or the error that refused it.
const REMOVE_MANY = `
local out = {}
for i, key in ipairs(KEYS) do
  local reply = redis.pcall('UNLINK', key)
  if type(reply) == 'table' and reply.err then out[i] = reply.err else out[i] = reply end
end
return out`

interface ScriptCommands {
  writeMany(numKeys: number, ...args: Array<string | number | Buffer>): Promise<Array<number | string>>
  removeMany(numKeys: number, ...keys: Array<string>): Promise<Array<number | string>>
}

// The part of ioredis' transaction type a batched read uses (its generated typings name
// every command twice over and do not narrow well).
interface ReadTransaction {
  mgetBuffer(keys: Array<string>): ReadTransaction
  eval(script: string, numKeys: number, ...args: Array<string>): ReadTransaction
  exec(): Promise<Array<[Error | null, unknown]> | null>
}

// EXEC's replies, or the first error among them.
const transactionReplies = (
  replies: Array<[Error | null, unknown]> | null
): [Array<Buffer | null>, Array<number>] => {
  if (replies === null) throw new Error("the transaction was discarded")
  for (const [error] of replies) if (error !== null) throw error
  return [replies[0]![1] as Array<Buffer | null>, replies[1]![1] as Array<number>]
}

/** A connection and what the tier learnt about its server when it connected. */
interface Connection {
  readonly client: Redis
  /** The same client, typed as what it is, when the topology is a cluster. */
  readonly cluster: Cluster | undefined
  readonly scope: Scope.Closeable
  readonly limit: BulkLimit
}

interface WriteRequest {
  readonly fullKey: string
  readonly envelope: Uint8Array | EnvelopeParts
  readonly storedSize: number
  readonly ttlMillis: number
}

/** The envelope as one buffer (Lua scripts and the replay queue need it whole; the codec's joins once). */
const joined = (envelope: Uint8Array | EnvelopeParts): Buffer =>
  envelope instanceof Uint8Array
    ? Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength)
    : envelope instanceof EncodedEnvelope
    ? envelope.bytes
    : joinEnvelope(envelope.header, envelope.payload, envelope.storedSize)

interface ReplayCommands {
  setIfNotNewer(key: string, bytes: Buffer, pttl: number, writtenAt: number, magic: Buffer): Promise<number>
  deleteIfNotNewer(numKeys: number, ...args: Array<string | number | Buffer>): Promise<number>
}

const resumeAll = <A, E>(resumes: Array<Resume<A, E>>, outcomes: ReadonlyArray<Exit.Exit<A, E>>) => {
  for (let i = 0; i < resumes.length; i++) resumes[i]!(outcomes[i]!)
}

const make = Effect.fnUntraced(function*(options: RedisTierOptions) {
  const memory = yield* MemoryTier
  const events = yield* CacheEvents
  const monitor = yield* Effect.serviceOption(CacheMonitor)
  // Told of every data connection that comes and goes, so that L1 stays coherent with Redis.
  const invalidation = Option.getOrElse(
    yield* Effect.serviceOption(Invalidation),
    () => localInvalidation(memory.stats().maxEntries)
  )
  const clock = yield* Clock.Clock
  const runFork = Effect.runForkWith(yield* Effect.context<never>())
  const topology = options.topology ?? standalone
  const url = shownTopology(topology, options.redisUrl)
  const commandTimeout = Duration.toMillis(options.commandTimeout)
  const connectTimeout = Duration.fromInputUnsafe(options.connectTimeout)
  // A cluster's nodes share the credentials and TLS of its first URL (the options schema checks they agree).
  const settingsUrl = topology._tag === "Cluster" ? topology.nodes[0]! : options.redisUrl
  const baseSettings = yield* redisConnectionOptions(settingsUrl, options.security)
  const connectionSettings = { ...baseSettings, connectTimeout: Duration.toMillis(connectTimeout) }
  const connectionName = `effect-redis-cache:${options.cacheName}`
  const magic = ENVELOPE_MAGIC

  let client: Redis | undefined
  // The same client as `client` when the topology is a cluster: it knows the masters.
  let cluster: Cluster | undefined
  // Each connection lives in a scope of its own: closing it sends QUIT (when the
  // connection is still healthy) and disconnects.
  let clientScope: Scope.Closeable | undefined
  let mode: RedisTierStatus["mode"] = "Connecting"
  let since = clock.currentTimeMillisUnsafe()
  let lastError: Option.Option<string> = Option.none()
  let reconnectAttempts = 0
  let droppedWhileDegraded = 0
  // The server's proto-max-bulk-len, read on each connection: a value above it is never sent.
  let maxBulkBytes = DEFAULT_MAX_BULK_BYTES
  // When the server does not say (a user without CONFIG), the default, lowered by what a
  // replay learns (below), stands in for it; and values above 1 MB are at risk.
  let assumedMaxBulkBytes = DEFAULT_MAX_BULK_BYTES
  let limitKnown = false
  let configRefused = false
  // Whether the last connection attempt failed in a way no retry heals (see connectionFailure.ts).
  let lastFailureFinal = false
  // The last connection failure logged, so that a reconnect loop logs once per change.
  let reportedFailure: string | undefined
  // Pattern deletes (clear, invalidatePattern) made while degraded, by Redis glob: replayed before single keys.
  const pendingPatterns = new Map<string, number>()
  const pending = new Map<string, PendingOperation>()
  const lost = yield* Queue.sliding<void>(1)

  const changeMode = (to: RedisTierStatus["mode"], reason: string) =>
    Effect.suspend(() => {
      const from = mode
      if (from === to) return Effect.void
      mode = to
      since = clock.currentTimeMillisUnsafe()
      const log = to === "Connected"
        ? Effect.logInfo(`Redis cache '${options.cacheName}' connected to ${url} (${reason})`)
        : Effect.logWarning(`Redis cache '${options.cacheName}' is memory-only: ${reason}`)
      return Effect.all([
        log.pipe(Effect.annotateLogs({ cache: options.cacheName, from, to })),
        events.emit({ _tag: "ModeChanged", from, to, reason }),
        Option.match(monitor, { onNone: () => Effect.void, onSome: (m) => m.recordModeChange(from, to, reason) })
      ], { discard: true })
    })

  const dropClient = (target: Redis) => {
    const scope = client === target ? clientScope : undefined
    if (client === target) {
      client = undefined
      cluster = undefined
      clientScope = undefined
    }
    target.removeAllListeners("end")
    // A lost connection is not worth a QUIT: cut it now, then let its scope finish.
    target.disconnect()
    if (scope !== undefined) runFork(Scope.close(scope, Exit.void))
  }

  const markLost = (target: Redis, error: unknown) =>
    Effect.suspend(() => {
      if (client !== target) return Effect.void
      // A cluster or a sentinel setup is named by what the status shows (its first node), not the unused redisUrl.
      const reason = classifyConnectionError(error, topology._tag === "Standalone" ? options.redisUrl : url).message
      lastError = Option.some(reason)
      dropClient(target)
      return invalidation.disconnected(target).pipe(
        Effect.andThen(changeMode("MemoryOnly", reason)),
        Effect.andThen(Queue.offer(lost, undefined)),
        Effect.asVoid
      )
    })

  // No retries, no offline queue, no reconnection of its own: ours is driven by the schedule.
  // No auto-pipelining either: the tier batches by itself, and a full batch must reach the
  // socket when it is sent, not at the next tick together with everything after it (on one
  // server; a cluster's batches do wait for the end of the turn, corked per node).
  // commandTimeout is one watchdog per connection, not ioredis' timer per command (a few µs
  // of every command: src/internal/commandWatchdog.ts).
  const connectTopology: Effect.Effect<[Redis, Cluster | undefined], ConnectionError, Scope.Scope> = (() => {
    const connection = { connectionName, commandTimeout, commandWatchdog: true }
    switch (topology._tag) {
      case "Standalone":
        return Effect.map(connectRedis(options.redisUrl, connectionSettings, connection), (redis) => [redis, undefined])
      case "Sentinel":
        return Effect.map(
          connectSentinel(url, topology, connectionSettings, connection),
          (redis) => [redis, undefined]
        )
      case "Cluster":
        // ioredis' Cluster answers every command the tier sends a Redis (routed by slot); the tier
        // keeps it typed as a cluster too, for what only a cluster has (its masters).
        return Effect.map(
          connectCluster(url, topology.nodes.map(addressOf), connectionSettings, topology.tuning, connection),
          (connected) => [connected as unknown as Redis, connected]
        )
    }
  })()

  const connectOnce: Effect.Effect<Connection, ConnectionError> = Effect.flatMap(Scope.make(), (scope) =>
    connectTopology.pipe(
      Scope.provide(scope),
      Effect.flatMap(([connected, asCluster]) =>
        Effect.map(bulkLimitOf(connected), (limit) => ({ client: connected, cluster: asCluster, scope, limit }))
      ),
      Effect.onExit((exit) => {
        lastFailureFinal = Exit.isFailure(exit) && isFinalConnectionFailure(Cause.squash(exit.cause))
        return Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, exit)
      })
    ))

  const bulkLimitOf = (connected: Redis): Effect.Effect<BulkLimit> =>
    configRefused ? Effect.succeed({ maxBulkBytes: assumedMaxBulkBytes, known: false }) : Effect.map(
      Effect.promise(() => readMaxBulkBytes(connected)),
      (limit) => {
        configRefused = limit.refused
        return limit.known ? limit : { maxBulkBytes: assumedMaxBulkBytes, known: false }
      }
    )

  const adopt = ({ client: fresh, cluster: freshCluster, scope, limit }: Connection) =>
    Effect.sync(() => {
      client = fresh
      cluster = freshCluster
      clientScope = scope
      maxBulkBytes = limit.maxBulkBytes
      limitKnown = limit.known
      lastError = Option.none()
      reportedFailure = undefined
      fresh.once("end", () => {
        // The socket closed without a command noticing: go memory-only at once.
        runFork(markLost(fresh, new Error("connection closed")))
      })
      // A node dropped (a lost master, or a resharding): ask at once whether the cluster still serves.
      freshCluster?.on("-node", () => {
        if (client === fresh) runFork(probeCluster(fresh, freshCluster))
      })
    }).pipe(
      Effect.andThen(freshCluster === undefined ? Effect.void : Effect.forkIn(watchCluster(fresh, freshCluster), scope)),
      Effect.andThen(invalidation.connected(fresh, pending))
    )

  // ioredis never ends a Cluster whose masters die (src/internal/clusterProbe.ts): the tier asks.
  // The switch runs in a fiber of its own: it closes the connection's scope, which ends the watch.
  // Each master's CLUSTER INFO has commandTimeout; the bound here is for one stuck in a connect.
  const probeCluster = (target: Redis, asCluster: Cluster) =>
    Effect.promise(() => clusterProblem(asCluster)).pipe(
      Effect.timeoutOption(commandTimeout + Duration.toMillis(connectTimeout)),
      Effect.map((answer) => {
        const problem = Option.getOrElse(answer, () => "the masters did not answer CLUSTER INFO in time")
        if (problem !== undefined) runFork(markLost(target, new Error(problem)))
        return problem !== undefined
      })
    )

  // Every CLUSTER_PROBE_MILLIS while this connection lives (its scope ends the loop).
  const watchCluster = (target: Redis, asCluster: Cluster) =>
    Effect.sleep(CLUSTER_PROBE_MILLIS).pipe(
      Effect.andThen(probeCluster(target, asCluster)),
      Effect.repeat({ until: (lost) => lost })
    )

  // ioredis sends EVALSHA, and EVAL once when the server does not know the script yet.
  const scripts = (target: Redis): Redis & ReplayCommands & ScriptCommands => {
    const candidate = target as Redis & Partial<ReplayCommands & ScriptCommands>
    if (candidate.setIfNotNewer === undefined) {
      target.defineCommand("setIfNotNewer", { numberOfKeys: 1, lua: SET_IF_NOT_NEWER })
      target.defineCommand("deleteIfNotNewer", { lua: DELETE_IF_NOT_NEWER })
      target.defineCommand("writeMany", { lua: WRITE_MANY })
      target.defineCommand("removeMany", { lua: REMOVE_MANY })
    }
    return target as Redis & ReplayCommands & ScriptCommands
  }

  // The masters to SCAN: every master of a cluster (each holds only its slots' keys), else the one server.
  const scanned = (target: Redis): ReadonlyArray<Redis> =>
    cluster !== undefined && (target as unknown) === cluster ? cluster.nodes("master") : [target]

  // SCANs every master in turn; `each` gets the keys of one SCAN page, all from one node.
  const scanEverywhere = (target: Redis, pattern: string, each: (keys: Array<string>) => Promise<void>) =>
    scanned(target).reduce<Promise<void>>(
      (previous, node) => previous.then(() => scanKeys(node, pattern, each)),
      Promise.resolve()
    )

  // Commands sent together to a cluster leave in one socket write per node (src/internal/corked.ts).
  const together = <A>(target: unknown, send: () => A): A =>
    cluster !== undefined && target === cluster ? corked(cluster, send) : send()

  // A multi-key command per slot on a cluster (the server refuses CROSSSLOT), else one command.
  const slotted = <A>(target: Redis, keys: Array<string>, run: (keys: Array<string>) => Promise<A>): Promise<Array<A>> =>
    cluster !== undefined && (target as unknown) === cluster
      ? together(target, () => Promise.all(groupBySlot(keys, (key) => key).map((group) => run(group.map((i) => keys[i]!)))))
      : run(keys).then((answer) => [answer])

  const sum = (counts: Array<number>) => counts.reduce((total, n) => total + n, 0)

  // Tag invalidation times are never removed by a pattern or a clear (the Cache's tags.ts):
  // removing one would bring back every entry it invalidated. They expire by their TTL.
  const tagKeyPrefix = options.keyPrefix + TAG_KEY_PREFIX
  const scanKeys = (target: Redis, pattern: string, each: (keys: Array<string>) => Promise<void>) =>
    new Promise<void>((resolve, reject) => {
      const stream = target.scanStream({ match: pattern, count: 500 })
      stream.on("data", (scannedKeys: Array<string>) => {
        const keys = scannedKeys.filter((key) => !key.startsWith(tagKeyPrefix))
        if (keys.length === 0) return
        stream.pause()
        each(keys).then(() => stream.resume(), (error) => {
          stream.destroy()
          reject(error)
        })
      })
      stream.on("end", resolve)
      stream.on("error", reject)
    })

  // A refusal of this operation alone is its outcome; one that no operation can get past,
  // and a lost connection, fail the batch.
  const refusedAlone = (error: unknown): ReplayOutcome => {
    if (isTransportError(error) || refusalScope(messageOf(error)) !== "operation") throw error
    return { refused: messageOf(error) }
  }

  const replayOne = (
    commands: ReplayCommands,
    key: string,
    operation: PendingOperation,
    now: number
  ): Promise<ReplayOutcome> => {
    const fullKey = options.keyPrefix + key
    if (operation._tag === "Delete") {
      return attempt(() => commands.deleteIfNotNewer(1, fullKey, operation.at, magic)).then(() => 1, refusedAlone)
    }
    if (operation.expiresAt <= now) return Promise.resolve(-1)
    if (operation.bytes.byteLength > maxBulkBytes) {
      return Promise.resolve({
        refused: `a value of ${operation.bytes.byteLength} bytes is above the server's proto-max-bulk-len (${maxBulkBytes})`
      })
    }
    return attempt(() =>
      commands.setIfNotNewer(fullKey, operation.bytes, operation.expiresAt - now, operation.writtenAt, magic)
    ).catch(refusedAlone)
  }

  const replayPattern = (target: Redis, commands: ReplayCommands, pattern: string, at: number) =>
    scanEverywhere(target, pattern, (keys) =>
      slotted(target, keys, (group) => commands.deleteIfNotNewer(group.length, ...group, at, magic)).then(() => undefined))
      .then((): ReplayOutcome => 1, refusedAlone)

  // The server proved it cannot take `size` bytes (it answered "invalid bulk length", or closed
  // the connection on that value alone): the limit in force drops below it, never below
  // Redis' 1 MB floor, and later writes of that size fail at once. An assumed limit keeps
  // what it learnt across reconnections; a limit the server tells is read again on each.
  const learnTooLarge = (size: number) => {
    const below = Math.max(MIN_MAX_BULK_BYTES, size - 1)
    maxBulkBytes = Math.min(maxBulkBytes, below)
    if (!limitKnown) assumedMaxBulkBytes = Math.min(assumedMaxBulkBytes, below)
  }

  // A value above 1 MB may be above a limit the server did not tell: sent beside others, it
  // would take them down with the connection; so the replay sends it last, and alone.
  const atRisk = (operation: PendingOperation) =>
    !limitKnown && operation._tag === "Set" && operation.bytes.byteLength > MIN_MAX_BULK_BYTES

  function* safeEntries(): Generator<[string, PendingOperation]> {
    for (const entry of pending) if (!atRisk(entry[1])) yield entry
  }

  // One batch of queued operations, all sent before the first reply is awaited; each
  // leaves the queue once Redis has answered for it.
  const replayBatch = (commands: ReplayCommands, batch: Array<[string, PendingOperation]>, tally: ReplayTally) =>
    Effect.tryPromise({
      try: () => {
        const now = clock.currentTimeMillisUnsafe()
        // Decided as each is sent: an operation superseded since the batch was taken (a delete, a
        // pattern delete, a newer write) is not replayed. One already sent is ahead of whatever
        // supersedes it on the connection, so Redis applies the two in order.
        return together(commands, () =>
          Promise.all(batch.map(([key, operation]) =>
            pending.get(key) === operation ? replayOne(commands, key, operation, now) : SUPERSEDED
          )))
      },
      catch: (cause) => new RedisFailure({ cause })
    }).pipe(Effect.map((results) =>
      batch.forEach(([key, operation], i) => {
        // A newer operation on the key may have been queued, or written through, meanwhile.
        if (pending.get(key) === operation) pending.delete(key)
        const result = results[i]!
        if (result === -2) return
        if (typeof result !== "number") {
          if (operation._tag === "Set" && isBulkRefusal(result.refused)) learnTooLarge(operation.bytes.byteLength)
          droppedWhileDegraded++
          tally.refusals.push(`the ${operation._tag === "Set" ? "write" : "delete"} of "${key}": ${result.refused}`)
          // Redis never got it: an L1 copy of a refused write must not be served as if it had.
          if (!pending.has(key)) memory.delete(key)
        } else if (result === 1) {
          tally.replayed++
        } else {
          tally.skipped++
          // Redis holds a newer value than ours: our L1 copy must not shadow it.
          if (result === 0 && !pending.has(key)) memory.delete(key)
        }
      })
    ))

  // A value at risk that loses the connection while it is the only command in flight is
  // taken to be above the server's limit (a timeout says the server is slow or away, not
  // that), so that the next replay refuses it instead of the cache flapping between
  // Connected and MemoryOnly.
  const replayAlone = (commands: ReplayCommands, entry: [string, PendingOperation], tally: ReplayTally) =>
    replayBatch(commands, [entry], tally).pipe(Effect.tapError((failure) =>
      Effect.sync(() => {
        const operation = entry[1]
        const cause = failure.cause
        if (operation._tag === "Set" && isTransportError(cause) && !/timed out/i.test(messageOf(cause))) {
          learnTooLarge(operation.bytes.byteLength)
        }
      })
    ))

  // Replays what was queued while degraded. The cache is already Connected: writes made
  // meanwhile go straight to Redis, carry a later write time, and so win over any queued
  // operation they race with; deletes and pattern deletes made meanwhile take the queued
  // writes they cover out of the queue as they are made (remove, removeMatching), and a
  // batch sends only what is still queued. One the server refuses alone is dropped,
  // counted and logged, and the rest goes on.
  const replay = (target: Redis) =>
    Effect.gen(function*() {
      const started = clock.currentTimeMillisUnsafe()
      const tally: ReplayTally = { replayed: 0, skipped: 0, refusals: [] }
      const commands = scripts(target)
      for (const [pattern, at] of Array.from(pendingPatterns)) {
        const outcome = yield* Effect.tryPromise({
          try: () => replayPattern(target, commands, pattern, at),
          catch: (cause) => new RedisFailure({ cause })
        })
        if (pendingPatterns.get(pattern) === at) pendingPatterns.delete(pattern)
        if (typeof outcome !== "number") {
          droppedWhileDegraded++
          tally.refusals.push(`the pattern delete ${pattern}: ${outcome.refused}`)
        }
      }
      for (;;) {
        const batch = Array.from(take(safeEntries(), REPLAY_BATCH))
        if (batch.length === 0) break
        yield* replayBatch(commands, batch, tally)
      }
      for (const entry of Array.from(pending)) yield* replayAlone(commands, entry, tally)
      if (tally.replayed + tally.skipped > 0) {
        yield* Effect.logInfo(
          `Replayed ${tally.replayed} queued operations to ${url}, skipped ${tally.skipped} older than Redis`
        )
      }
      if (tally.refusals.length > 0) yield* logRefusals(tally.refusals)
      if (monitor._tag === "Some") {
        yield* monitor.value.recordReplay({
          replayed: tally.replayed,
          skipped: tally.skipped,
          dropped: droppedWhileDegraded,
          durationMillis: clock.currentTimeMillisUnsafe() - started
        })
      }
    })

  // One line per replay, naming the first few refusals: a server that refuses a thousand
  // operations must not write a thousand log lines.
  const logRefusals = (refusals: ReadonlyArray<string>) => {
    const shown = refusals.slice(0, MAX_LOGGED_REFUSALS).join("; ")
    const more = refusals.length > MAX_LOGGED_REFUSALS ? `; and ${refusals.length - MAX_LOGGED_REFUSALS} more` : ""
    return Effect.logError(
      `Redis cache '${options.cacheName}' dropped ${refusals.length} queued operations that ${url} refused ` +
        `(the others were replayed): ${shown}${more}`
    )
  }

  const recordAttempt = (success: boolean) =>
    Effect.sync(() => {
      reconnectAttempts++
    }).pipe(
      Effect.andThen(
        Option.match(monitor, { onNone: () => Effect.void, onSome: (m) => m.recordReconnectAttempt(success) })
      )
    )

  // After a failure no retry heals (a wrong password, a rejected certificate) the next attempt
  // waits for the schedule's cap: a server is never flooded with failed logins.
  const reconnectSchedule = backOffOnFinal(
    options.reconnectSchedule,
    yield* finalFailureDelay(options.reconnectSchedule),
    () => lastFailureFinal
  )

  // Once per change of failure, not once per attempt.
  const reportFailure = (error: ConnectionError) =>
    Effect.suspend(() => {
      if (reportedFailure === error.message) return Effect.void
      reportedFailure = error.message
      const advice = isFinalConnectionFailure(error)
        ? "retrying cannot heal this, so attempts are spaced at the reconnect schedule's cap"
        : "retrying"
      return Effect.logWarning(`Redis cache '${options.cacheName}' cannot reconnect to ${url}: ${error.message} (${advice})`)
    })

  // The first attempt after a loss waits for the schedule's first delay like the
  // others do: a server that just dropped us is not hammered at once.
  const reconnect = Effect.gen(function*() {
    let waited = false
    const fresh = yield* Effect.suspend(() => {
      if (waited) return connectOnce
      waited = true
      return Effect.fail(undefined)
    }).pipe(
      Effect.tapError((error) =>
        error === undefined ? Effect.void : Effect.sync(() => {
          lastError = Option.some(error.message)
        }).pipe(Effect.andThen(recordAttempt(false)), Effect.andThen(reportFailure(error)))
      ),
      Effect.retry(reconnectSchedule)
    )
    yield* recordAttempt(true)
    yield* adopt(fresh)
    if (!options.enableL1) memory.clear()
    yield* changeMode("Connected", "reconnected")
    // What the replay writes is announced once it is in Redis (the bus; tracking sees it by itself).
    // Pattern deletes are kept as Redis globs, so they are announced as a clear.
    const replaying = Array.from(pending.keys())
    const clearing = pendingPatterns.size > 0
    const replayed = yield* Effect.exit(Effect.withSpan(replay(fresh.client), "RedisTier.replay", {
      kind: "client",
      attributes: { "cache.name": options.cacheName, "db.system.name": "redis" }
    }))
    if (replaying.length > 0) invalidation.announce({ _tag: "Keys", keys: replaying })
    if (clearing) invalidation.announce({ _tag: "Clear" })
    if (Exit.isFailure(replayed)) {
      const failure = Cause.squash(replayed.cause)
      const cause = failure instanceof RedisFailure ? failure.cause : failure
      // The server went away again mid-replay, or is not ready (loading, busy): what is left
      // stays queued for the next recovery.
      if (isTransportError(cause) || refusalScope(messageOf(cause)) === "later") {
        return yield* markLost(fresh.client, cause)
      }
      // The server answered and refused what every operation needs (an ACL without GETRANGE or
      // EVALSHA): retrying would only loop, so what is left is dropped, with its L1 copies, and
      // said loudly.
      yield* dropUnreplayable(messageOf(cause))
    }
  })

  const dropUnreplayable = (reason: string) =>
    Effect.suspend(() => {
      const dropped = pending.size + pendingPatterns.size
      for (const key of pending.keys()) memory.delete(key)
      droppedWhileDegraded += dropped
      pending.clear()
      pendingPatterns.clear()
      return Effect.logError(
        `Redis cache '${options.cacheName}' dropped ${dropped} queued operations that ${url} refused to replay: ${reason}`
      )
    })

  // One fiber, for the life of the layer, waits for "lost" and reconnects.
  yield* Queue.take(lost).pipe(
    Effect.andThen(Effect.withSpan(reconnect, "RedisTier.reconnect", {
      attributes: { "cache.name": options.cacheName, "db.system.name": "redis" }
    })),
    Effect.forever,
    Effect.forkScoped
  )

  yield* Effect.addFinalizer(() =>
    Effect.suspend(() => {
      const scope = clientScope
      client?.removeAllListeners("end")
      client = undefined
      cluster = undefined
      clientScope = undefined
      return scope === undefined ? Effect.void : Scope.close(scope, Exit.void)
    })
  )

  // Start-up: fail fast, or go memory-only and keep trying in the background.
  // A failure no retry heals is final at once: one attempt, one failed login in the ACL LOG.
  const first = yield* connectOnce.pipe(
    Effect.retry({
      schedule: Schedule.max([
        options.reconnectSchedule,
        Schedule.recurs(options.failOnConnectionError ? options.connectAttempts - 1 : 0)
      ]),
      while: (error) => !isFinalConnectionFailure(error)
    }),
    Effect.result
  )
  if (first._tag === "Success") {
    yield* adopt(first.success)
    yield* changeMode("Connected", "connected")
  } else if (options.failOnConnectionError) {
    return yield* first.failure
  } else {
    lastError = Option.some(first.failure.message)
    reportedFailure = first.failure.message
    yield* changeMode("MemoryOnly", first.failure.message)
    yield* Queue.offer(lost, undefined)
  }

  const enqueue = (key: string, operation: PendingOperation) => {
    if (!pending.has(key) && pending.size >= options.replayQueueLimit) {
      // The queue is full: the oldest entry gives way, and its L1 copy with it,
      // so a value Redis never received is not served for ever.
      const oldest = pending.keys().next()
      if (oldest.done !== true) {
        pending.delete(oldest.value)
        memory.delete(oldest.value)
        droppedWhileDegraded++
      }
      if (options.replayQueueLimit === 0) {
        memory.delete(key)
        droppedWhileDegraded++
        return
      }
    }
    pending.delete(key)
    pending.set(key, operation)
  }

  // One command, resumed straight from its promise; `undefined` when Redis cannot be asked.
  const command = <A>(name: string, run: (target: Redis) => Promise<A>): Effect.Effect<A | undefined, RedisReplyError> =>
    Effect.callback((resume) => {
      const target = client
      if (target === undefined || mode !== "Connected") return resume(NOT_ASKED)
      attempt(() => run(target)).then(
        (reply) => resume(Exit.succeed(reply)),
        (error) => resume(commandFailed(target, name, error, NOT_ASKED))
      )
    })

  const prefixed = (key: string) => options.keyPrefix + key

  // What a failed read or write resumes its caller with: a lost connection switches the
  // tier to memory-only (once, whoever gets there first) and reads as unavailable. The
  // switch runs in a fiber of the tier's own, started here: a caller that timed out or was
  // interrupted meanwhile never runs what it is resumed with, and the next caller must not
  // wait another commandTimeout on the same dead connection. A caller still waiting sees
  // the switch done before its answer.
  const commandFailed = <A>(target: Redis, name: string, error: unknown, unavailable: Exit.Exit<A>) => {
    if (!isTransportError(error)) return Exit.fail(new RedisReplyError(name, messageOf(error)))
    const switched = runFork(markLost(target, error))
    return Effect.andThen(Fiber.await(switched), unavailable)
  }

  // A reply error fails its own request; a transport error goes on to fail the batch.
  const refusedBy = (name: string) => (error: unknown) => {
    if (isTransportError(error)) throw error
    return Exit.fail(new RedisReplyError(name, messageOf(error)))
  }

  const hitExit = (bytes: Buffer, pttlMillis: number) => Exit.succeed<RedisRead>({ _tag: "Hit", bytes, pttlMillis })
  const readAnswer = (bytes: Buffer | null) => bytes === null ? MISS_EXIT : hitExit(bytes, -1)
  const getRefused = refusedBy("GET")
  const setRefused = refusedBy("SET")
  const stored = () => STORED_EXIT

  // A hit is a GET alone: the envelope bounds the L1 copy. `ttl` and `exists` under staleFor
  // ask for the TTL too: GET and PTTL back to back, not in a script (a script makes a lone
  // read about a fifth slower). A write by another client landing between them pairs the
  // value with the newer TTL.
  // The handlers are made once: a lone read is the path of every caller that awaits each answer.
  const readOne = (target: Redis, fullKey: string, withTtl: boolean): Promise<Exit.Exit<RedisRead, RedisReplyError>> =>
    withTtl
      ? Promise.all([target.getBuffer(fullKey), target.pttl(fullKey)]).then(([bytes, pttl]) =>
        bytes === null || pttl === -2 ? MISS_EXIT : hitExit(bytes, pttl), getRefused)
      : target.getBuffer(fullKey).then(readAnswer, getRefused)

  // A server that refuses scripts or transactions (an ACL without EVALSHA or MULTI,
  // commands renamed away) gets one command per key from then on: slower, but the same
  // answers. A batch refused because one of its keys is outside the user's ACL key
  // patterns is retried one command per key, that batch only, so that only that key fails.
  let batchCommandsRefused = false
  const batchOrEach = <A>(
    batch: () => Promise<Array<A>>,
    each: () => Promise<Array<A>>
  ): Promise<Array<A>> => {
    if (batchCommandsRefused) return each()
    return attempt(batch).catch((error) => {
      if (isTransportError(error) || !(error instanceof Error)) throw error
      const refusal = refusalOf(error)
      if (refusal === undefined) throw error
      if (/^NOPERM .*access one of the keys/.test(refusal)) return each()
      if (!batchCommandsRefused) {
        batchCommandsRefused = true
        runFork(Effect.logWarning(
          `Redis cache '${options.cacheName}' cannot batch with scripts (${refusal}): one command per key from now on`
        ))
      }
      return each()
    })
  }

  // A request a cluster node answered with MOVED or ASK (as a refusal): resent through the cluster.
  const redirected = (outcome: Exit.Exit<unknown, RedisReplyError>) =>
    Exit.isFailure(outcome) && Option.exists(Exit.findErrorOption(outcome), (error) => REDIRECTION.test(error.reply))

  // One command per request, all sent before the first reply.
  const oneByOne = <I, A>(
    target: Redis,
    inputs: Array<I>,
    one: (target: Redis, input: I) => Promise<Exit.Exit<A, RedisReplyError>>
  ) => Promise.all(inputs.map((input) => attempt(() => one(target, input))))

  // Requests made in the same tick share one round trip and one command: the plain
  // command for a lone request, a script or a transaction for several (one command per
  // request when the server refuses those).
  // On a cluster a batch is split by slot (a script's or a transaction's keys must share one), and the
  // parts are sent together: a slot's lone request on its master's connection, keys that share a
  // {hash tag} still in one command (src/internal/clusterBatch.ts).
  const batched = <I, A>(
    name: string,
    unavailable: Exit.Exit<A>,
    keyOf: (input: I) => string,
    one: (target: Redis, input: I) => Promise<Exit.Exit<A, RedisReplyError>>,
    many: (target: Redis, inputs: Array<I>) => Promise<Array<Exit.Exit<A, RedisReplyError>>>
  ) =>
    makeBatcher<I, A, RedisReplyError>(MAX_BATCH, (inputs, resumes) => {
      const target = client
      const targetCluster = cluster
      if (target === undefined || mode !== "Connected") {
        for (const resume of resumes) resume(unavailable)
        return
      }
      const failed = (error: unknown) => {
        const outcome = commandFailed(target, name, error, unavailable)
        for (const resume of resumes) resume(outcome)
      }
      // A lone request (every request of a caller that waits for each answer) is its plain
      // command, resumed from its own promise: no Promise.all, no array of outcomes.
      if (inputs.length === 1) {
        attempt(() => one(target, inputs[0]!)).then(resumes[0]!, failed)
        return
      }
      const several = (on: Redis, part: Array<I>) => batchOrEach(() => many(on, part), () => oneByOne(on, part, one))
      // (inputs.length > 1 here: a lone request left above)
      const outcomes = targetCluster === undefined
        ? several(target, inputs)
        : corkedForTurn(targetCluster, () => sendToCluster(targetCluster, inputs, { keyOf, one, several, redirected }))
      outcomes.then((settled) => resumeAll(resumes, settled), failed)
    })

  // MGET of the batch's keys: one command, no Lua. MGET reads a key of another type as nil,
  // where GET would refuse it, so a batch with nils asks EXISTS of those keys: 0 (the usual
  // case) confirms them absent; otherwise each is read again alone with GET, which answers
  // with its value (written meanwhile), a miss or the type's refusal. Every answer is then
  // what one command per key would have said at some instant of the call; a batch of hits
  // is one command, a batch with misses two.
  const readManyThroughMget = (target: Redis, fullKeys: Array<string>) =>
    target.mgetBuffer(fullKeys).then((values) => {
      const nils = fullKeys.filter((_, i) => values[i] === null || values[i] === undefined)
      const answers = (): Array<Exit.Exit<RedisRead, RedisReplyError>> =>
        values.map((value) => value === null || value === undefined ? MISS_EXIT : hitExit(value, -1))
      if (nils.length === 0) return answers()
      return target.exists(...nils).then((present) => {
        if (present === 0) return answers()
        return Promise.all(fullKeys.map((fullKey, i) => {
          const value = values[i]
          return value === null || value === undefined ? readOne(target, fullKey, false) : hitExit(value, -1)
        }))
      })
    })

  // With TTLs: MGET and READ_META in one MULTI, so the values and their TTLs come from the same instant.
  // EVAL, not EVALSHA: inside MULTI a NOSCRIPT could not be retried, and the server hashes
  // a few hundred bytes once per batch.
  const readManyWithTtls = (target: Redis, fullKeys: Array<string>) =>
    (target.multi() as unknown as ReadTransaction)
      .mgetBuffer(fullKeys)
      .eval(READ_META, fullKeys.length, ...fullKeys)
      .exec()
      .then((replies) => {
        const [values, metas] = transactionReplies(replies)
        return fullKeys.map((_, i): Exit.Exit<RedisRead, RedisReplyError> => {
          const meta = metas[i]!
          if (meta === READ_REFUSED) return Exit.fail(new RedisReplyError("GET", WRONGTYPE))
          const value = values[i]
          return value === null || value === undefined || meta === -2 ? MISS_EXIT : hitExit(value, meta)
        })
      })

  const readMany = (withTtl: boolean) => (target: Redis, fullKeys: Array<string>) =>
    withTtl ? readManyWithTtls(target, fullKeys) : readManyThroughMget(target, fullKeys)

  const readBatch = (withTtl: boolean) =>
    batched<string, RedisRead>(
      "GET",
      UNAVAILABLE_EXIT,
      (fullKey) => fullKey,
      (target, fullKey) => readOne(target, fullKey, withTtl),
      readMany(withTtl)
    )
  const readsWithTtl = readBatch(true)
  const readsWithoutTtl = readBatch(false)

  // A large envelope in parts goes out as its parts (src/internal/streamedSet.ts); a small
  // one is joined: one buffer from Node's pool costs less than three socket writes.
  const writeOne = (target: Redis, request: WriteRequest): Promise<Exit.Exit<"OK" | undefined, RedisReplyError>> => {
    const { envelope, fullKey, ttlMillis } = request
    if (envelope instanceof Uint8Array || request.storedSize < STREAMED_MIN_BYTES) {
      return target.set(fullKey, joined(envelope), "PX", ttlMillis).then(stored, setRefused)
    }
    const command = new StreamedSet(fullKey, envelope, ttlMillis)
    target.sendCommand(command)
    return command.promise.then(stored, (error) => {
      // Only a large value can be above the limit; a small one is joined and sent above.
      if (isBulkRefusal(messageOf(error))) learnTooLarge(request.storedSize)
      return setRefused(error)
    })
  }

  const writeManyThroughLua = (target: Redis, requests: Array<WriteRequest>) => {
    const args: Array<string | number | Buffer> = requests.map((request) => request.fullKey)
    for (const request of requests) args.push(joined(request.envelope), request.ttlMillis)
    return scripts(target).writeMany(requests.length, ...args).then((replies) =>
      replies.map((reply): Exit.Exit<"OK" | undefined, RedisReplyError> =>
        reply === 1 ? STORED_EXIT : Exit.fail(new RedisReplyError("SET", String(reply)))
      )
    )
  }

  // Large values skip Lua: the server copies every script argument into a Lua string, which
  // cost 1.3 ms per script of 25 values of 50 KB against 2 us per plain SET, six times the
  // server CPU of raw ioredis, and a script blocks every other client while it runs. They go
  // as one SET per key, all sent before the first reply: not an ioredis pipeline, which
  // copies a batch of Buffer arguments into one more buffer (1.6 MB for 32 values of 50 KB);
  // at 50 KB, one command per key ran 1.15x (Node 24) to 1.5x (Node 20) faster than the pipeline.
  // A tracked connection (L1 coherence) gets plain SETs too: Redis reports a script's writes to
  // the client that ran it despite NOLOOP, which would evict the fresh L1 copies of its own writes.
  const writeMany = (target: Redis, requests: Array<WriteRequest>) => {
    let bytes = 0
    for (const request of requests) bytes += request.storedSize
    if (bytes / requests.length > LUA_MAX_MEAN_BYTES) return oneByOne(target, requests, writeOne)
    // A tracked connection's small SETs leave in one socket write (src/internal/corked.ts). (Tracking is
    // never on a cluster's connections: there coherence is the bus, and batches are corked by node.)
    return isTracked(target)
      ? corked(target, () => oneByOne(target, requests, writeOne))
      : writeManyThroughLua(target, requests)
  }
  // `undefined`: Redis could not be asked.
  const writes = batched<WriteRequest, "OK" | undefined>("SET", NOT_ASKED, (request) => request.fullKey, writeOne, writeMany)

  // Deletes of one tick share a command too (deleteMany, or many concurrent deletes).
  const removeOne = (target: Redis, fullKey: string): Promise<Exit.Exit<number | undefined, RedisReplyError>> =>
    target.unlink(fullKey).then((removed) => Exit.succeed(removed), refusedBy("UNLINK"))
  const removeManyThroughLua = (target: Redis, fullKeys: Array<string>) =>
    scripts(target).removeMany(fullKeys.length, ...fullKeys).then((replies) =>
      replies.map((reply): Exit.Exit<number | undefined, RedisReplyError> =>
        typeof reply === "number" ? Exit.succeed(reply) : Exit.fail(new RedisReplyError("UNLINK", String(reply)))
      )
    )
  // A tracked connection gets one UNLINK per key (all sent before the first reply), as writeMany
  // gives it plain SETs: Redis reports a script's deletes to the client that ran it despite NOLOOP,
  // and that echo would evict the L1 copies of the sets this instance makes right after.
  const removeMany = (target: Redis, fullKeys: Array<string>) =>
    isTracked(target) ? corked(target, () => oneByOne(target, fullKeys, removeOne)) : removeManyThroughLua(target, fullKeys)
  const removes = batched<string, number | undefined>("UNLINK", NOT_ASKED, (fullKey) => fullKey, removeOne, removeMany)

  return RedisTier.of({
    isConnected: () => mode === "Connected",
    read: (key, withTtl) => (withTtl ? readsWithTtl : readsWithoutTtl).request(prefixed(key)),
    write: (key, envelope, ttlMillis, writtenAt) => {
      const storedSize = envelope instanceof Uint8Array ? envelope.byteLength : envelope.storedSize
      // Sent, it would cost the connection and every command beside it; queued, every replay.
      // While degraded the limit of the last server seen applies.
      if (storedSize > maxBulkBytes) return Exit.fail(valueTooLarge(key, storedSize, maxBulkBytes, limitKnown))
      return writes.request({ fullKey: prefixed(key), envelope, storedSize, ttlMillis }).pipe(
        Effect.map((reply) => {
          if (reply !== undefined) {
            pending.delete(key)
            return "stored" as const
          }
          enqueue(key, { _tag: "Set", bytes: joined(envelope), expiresAt: writtenAt + ttlMillis, writtenAt })
          return "queued" as const
        })
      )
    },
    remove: (key, at) =>
      Effect.suspend(() => {
        // Superseded now, not on the reply: a replay batch taken before the reply would
        // otherwise send the queued write after the UNLINK, and bring the key back.
        pending.delete(key)
        return removes.request(prefixed(key)).pipe(
          Effect.map((removed) => {
            if (removed !== undefined) return removed > 0
            enqueue(key, { _tag: "Delete", at })
            return undefined
          })
        )
      }),
    exists: (key) => command("EXISTS", (target) => target.exists(prefixed(key))).pipe(
      Effect.map((n) => n === undefined ? undefined : n > 0)
    ),
    pttl: (key) => command("PTTL", (target) => target.pttl(prefixed(key))).pipe(
      Effect.map((ms) => ms === undefined ? undefined : ms < 0 ? Option.none() : Option.some(ms))
    ),
    removeMatching: (pattern, at) =>
      Effect.suspend(() => {
        let removed = 0
        // Queued writes the pattern covers are superseded by it, now: a replay running while
        // the SCAN walks would otherwise write them back behind it.
        const matches = matcher(pattern, { glob: true })
        for (const key of Array.from(pending.keys())) {
          if (matches(options.keyPrefix + key) && !isTagKey(key)) pending.delete(key)
        }
        return command("SCAN", (target) =>
          scanEverywhere(target, pattern, (keys) =>
            slotted(target, keys, (group) => target.unlink(...group)).then((counts) => {
              removed += sum(counts)
            })).then(() => removed)).pipe(
            Effect.map((done) => {
              if (done !== undefined) return removed
              // Too many distinct patterns to keep: one delete of the whole prefix, as of the latest,
              // covers them all. Invalidating more than asked only costs misses; less would serve stale values.
              const everything = `${escapeGlob(options.keyPrefix)}*`
              if (pendingPatterns.has(everything) || pendingPatterns.size >= MAX_PENDING_PATTERNS) {
                pendingPatterns.clear()
                pendingPatterns.set(everything, at)
              } else {
                pendingPatterns.set(pattern, at)
              }
              return undefined
            })
          )
      }),
    keysMatching: (pattern) =>
      Effect.suspend(() => {
        // SCAN may return a key twice (a rehash during the walk): a set keeps each once.
        const found = new Set<string>()
        return command("SCAN", (target) =>
          scanEverywhere(target, pattern, (keys) => {
            for (const key of keys) found.add(key)
            return Promise.resolve()
          }).then(() => Array.from(found)))
      }),
    status: Effect.sync(() => ({
      mode,
      url,
      since,
      lastError,
      reconnectAttempts,
      pendingReplay: pending.size + pendingPatterns.size,
      droppedWhileDegraded
    })),
    // A cluster's first master stands for it in security checks and diagnostics.
    client: Effect.sync(() => Option.fromNullishOr(cluster === undefined ? client : cluster.nodes("master")[0])),
    connection: Effect.sync(() => Option.fromNullishOr(mode === "Connected" ? cluster ?? client : undefined)),
    keyPrefix: options.keyPrefix,
    url
  })
})
