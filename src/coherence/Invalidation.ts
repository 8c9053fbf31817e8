/**
 * Cross-instance L1 coherence: the `Invalidation` service tells a cache's L1 when
 * another instance (or any other program) changed a key under its prefix, so that no
 * instance serves a value longer than the invalidation lag after its change anywhere.
 *
 * - `"tracking"` (default): Redis server-assisted client-side caching. The data
 *   connection runs `CLIENT TRACKING ON REDIRECT <id> BCAST PREFIX <keyPrefix> NOLOOP`
 *   and a dedicated RESP2 connection subscribes to `__redis__:invalidate`: every write,
 *   delete, expiry, eviction and flush under the prefix reaches L1, whoever made it.
 * - `"bus"`: after each change Redis acknowledged, the instance publishes a small binary
 *   message on the cache's channel (`<keyPrefix>__l1:v1`); the others evict what it names.
 *   For servers without tracking (Redis < 6) or users without `CLIENT`; `"tracking"` falls
 *   back to it, with a log line, when the server refuses `CLIENT TRACKING`.
 * - `"off"`: an L1 copy lives for its Redis TTL (the behaviour before this service).
 *
 * When the link that reports changes is down, L1 holds and serves nothing while Redis
 * is connected, and it is flushed whenever the link (or Redis itself) comes back,
 * because changes may have been missed meanwhile.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer, Option, type Schedule } from "effect"
import type { Redis } from "ioredis"
import { CacheEvents } from "../events/CacheEvents.js"
import { makeRefillGuard, type RefillGuard } from "../internal/coherence/refillGuard.js"
import { type KeyWaiters, makeKeyWaiters } from "../internal/coherence/keyWaiters.js"
import type { BusChange } from "../internal/coherence/busMessage.js"
import { makeLink } from "../internal/coherence/link.js"
import { makeTagSignals, type TagSignals } from "../internal/coherence/tagSignals.js"
import type { SecurityConfig } from "../security/SecurityConfig.js"
import { CacheMonitor } from "../monitoring/CacheMonitor.js"
import { MemoryTier } from "../tiers/MemoryTier.js"
import { type RedisTopology, standalone } from "../tiers/RedisTopology.js"

/**
 * How a cache learns of changes made elsewhere.
 *
 * @since 0.1.0
 */
export type InvalidationMechanism = "tracking" | "bus" | "off"

/**
 * Where coherence stands, as `Cache.status` reports it.
 *
 * @since 0.1.0
 */
export interface InvalidationStatus {
  /** The mechanism in use. */
  readonly mechanism: InvalidationMechanism
  /** True while changes made elsewhere reach L1; while false and connected, L1 serves nothing. */
  readonly linked: boolean
  /** Keys invalidated by changes made elsewhere. */
  readonly invalidationsReceived: number
  /** Times L1 was emptied because changes may have been missed (or Redis was flushed). */
  readonly flushes: number
  /** Why L1 was last emptied. */
  readonly lastFlushCause: Option.Option<string>
  /** Bus: time from the writer's write to the last eviction here (the two clocks' skew included). */
  readonly lastLagMillis: Option.Option<number>
  /** Bus: changes waiting to be announced because the data connection was lost. */
  readonly unsentMessages: number
}

/**
 * What `set`, `delete` and the pending replay queue tell the service about the data
 * connection. `pending` holds the keys this instance wrote while degraded, which a
 * flush must keep (they are its own newer values, still to be replayed).
 *
 * @since 0.1.0
 */
export interface PendingKeys {
  /** How many keys are pending. */
  readonly size: number
  /** Whether `key` (without the cache's prefix) is pending. */
  readonly has: (key: string) => boolean
}

/**
 * The invalidation service interface.
 *
 * @since 0.1.0
 */
export interface InvalidationService {
  /** The mechanism configured. */
  readonly mechanism: InvalidationMechanism
  /** Stamps that keep a Redis read from refilling L1 with what a change made stale. */
  readonly guard: RefillGuard
  /** Distributed-lock waiters, woken when their key changes elsewhere (never, for `"off"`). */
  readonly waiters: KeyWaiters
  /** Tag timestamps changed elsewhere (the `__tag:` keys), for the cache's tag invalidation. */
  readonly tags: TagSignals
  /** Whether L1 may hold copies now (always true for `"off"`). Read on writes and refills, never on L1 hits. */
  readonly linked: () => boolean
  /** The Redis tier's data connection is ready: link it, and empty L1 of what an outage may have hidden. */
  readonly connected: (client: Redis, pending: PendingKeys) => Effect.Effect<void>
  /** The Redis tier's data connection is gone. */
  readonly disconnected: (client: Redis) => Effect.Effect<void>
  /** A change Redis acknowledged (or replayed): the bus announces it to the other instances. */
  readonly announce: (change: BusChange) => void
  /** The current state. */
  readonly status: Effect.Effect<InvalidationStatus>
}

/**
 * Options of {@link Invalidation.layer}.
 *
 * @since 0.1.0
 */
export interface InvalidationOptions {
  readonly mechanism: InvalidationMechanism
  readonly redisUrl: string
  /** The deployment the data connection talks to (default: one server at `redisUrl`); the subscriber follows it. */
  readonly topology?: RedisTopology
  readonly security: Option.Option<SecurityConfig>
  readonly keyPrefix: string
  readonly cacheName: string
  readonly connectTimeout: Duration.Input
  readonly commandTimeout: Duration.Input
  readonly reconnectSchedule: Schedule.Schedule<unknown, unknown>
  /** How often the subscriber connection is PINGed; no answer within `commandTimeout` counts as a lost link. */
  readonly pingInterval: Duration.Input
}

/**
 * A change a cache announces on the bus: keys, a pattern, or a clear.
 *
 * @since 0.1.0
 */
export type { BusChange }

const offStatus: InvalidationStatus = {
  mechanism: "off",
  linked: true,
  invalidationsReceived: 0,
  flushes: 0,
  lastFlushCause: Option.none(),
  lastLagMillis: Option.none(),
  unsentMessages: 0
}

/** L1 coherence within one process only: writes guard their own refills, nothing else. */
const local = (l1Capacity?: number): InvalidationService => ({
  mechanism: "off",
  guard: makeRefillGuard(l1Capacity),
  waiters: makeKeyWaiters(),
  tags: makeTagSignals(),
  linked: () => true,
  connected: () => Effect.void,
  disconnected: () => Effect.void,
  announce: () => undefined,
  status: Effect.succeed(offStatus)
})

/**
 * The invalidation service.
 *
 * @since 0.1.0
 */
export class Invalidation extends Context.Service<Invalidation, InvalidationService>()(
  "effect-redis-cache/Invalidation"
) {
  /**
   * No cross-instance coherence: L1 copies live for their Redis TTL. The memory layer's
   * service, and `l1Invalidation: "off"`.
   *
   * @since 0.1.0
   */
  static readonly layerOff: Layer.Layer<Invalidation> = Layer.effect(
    Invalidation,
    Effect.map(Effect.serviceOption(MemoryTier), (memory) => local(Option.getOrUndefined(memory)?.stats().maxEntries))
  )

  /**
   * The service for a Redis-backed cache, with its own subscriber connection (opened in
   * the layer's scope while the data connection is up, reconnected on `reconnectSchedule`).
   *
   * @since 0.1.0
   */
  static readonly layer = (options: InvalidationOptions): Layer.Layer<Invalidation, never, MemoryTier | CacheEvents> =>
    options.mechanism === "off"
      ? Invalidation.layerOff
      : Layer.effect(Invalidation, make({ ...options, mechanism: options.mechanism }))
}

/** A local service, for a cache built without the service (tests, the memory layer), sized to its L1. */
export const localInvalidation: (l1Capacity?: number) => InvalidationService = local

const make = (options: InvalidationOptions & { readonly mechanism: "tracking" | "bus" }) =>
  Effect.gen(function*() {
    const memory = yield* MemoryTier
    const events = yield* CacheEvents
    const monitor = yield* Effect.serviceOption(CacheMonitor)
    return yield* makeLink({
      ...options,
      topology: options.topology ?? standalone,
      commandTimeoutMillis: Duration.toMillis(Duration.fromInputUnsafe(options.commandTimeout)),
      connectTimeoutMillis: Duration.toMillis(Duration.fromInputUnsafe(options.connectTimeout)),
      pingInterval: Duration.fromInputUnsafe(options.pingInterval)
    }, { memory, events, monitor, guard: makeRefillGuard(memory.stats().maxEntries), waiters: makeKeyWaiters(), tags: makeTagSignals() })
  })
