/**
 * The tracking link: Redis server-assisted client-side caching in its two-connection
 * form. ioredis 6 drops RESP3 `invalidate` pushes, so a dedicated RESP2 connection
 * subscribes to `__redis__:invalidate` and the data connection redirects its tracking
 * there with `CLIENT TRACKING ON REDIRECT <subscriber id> BCAST PREFIX <keyPrefix> NOLOOP`.
 *
 * BCAST with the cache's prefix reports every change under it (other instances, other
 * programs, expiry and eviction in Redis) without Redis remembering which keys each
 * client read. NOLOOP leaves out the changes made through this instance's own data
 * connection: its writes already update its L1, and an echo would evict the value the
 * write just stored.
 */
import { Deferred, type Duration, Effect, Exit, Option, type Schedule, Scope, Semaphore } from "effect"
import type { Redis } from "ioredis"
import type { CacheEvents } from "../../events/CacheEvents.js"
import type { InvalidationService, InvalidationStatus, PendingKeys } from "../../coherence/Invalidation.js"
import { connectRedis, redisConnectionOptions } from "../../security/connectionOptions.js"
import type { SecurityConfig } from "../../security/SecurityConfig.js"
import type { MemoryTier } from "../../tiers/MemoryTier.js"
import type { RefillGuard } from "./refillGuard.js"

/** Settings of a tracking link. */
export interface TrackingLinkOptions {
  readonly redisUrl: string
  readonly security: Option.Option<SecurityConfig>
  readonly keyPrefix: string
  readonly cacheName: string
  readonly connectTimeoutMillis: number
  readonly commandTimeoutMillis: number
  readonly reconnectSchedule: Schedule.Schedule<unknown, unknown>
  readonly pingInterval: Duration.Duration
}

interface Parts {
  readonly memory: MemoryTier["Service"]
  readonly events: CacheEvents["Service"]
  readonly guard: RefillGuard
}

const INVALIDATE_CHANNEL = "__redis__:invalidate"
const NOTHING_PENDING: PendingKeys = { size: 0, has: () => false }
const RECONNECT_PAUSE = "100 millis"

/** Opens the link in the current scope and returns the service that reports it. */
export const makeTrackingLink = Effect.fnUntraced(function*(options: TrackingLinkOptions, parts: Parts) {
  const { events, guard, memory } = parts
  const runFork = Effect.runForkWith(yield* Effect.context<never>())
  const settings = yield* Effect.orDie(redisConnectionOptions(options.redisUrl, options.security))
  const connectionSettings = { ...settings, connectTimeout: options.connectTimeoutMillis }
  const prefix = options.keyPrefix
  const lock = yield* Semaphore.make(1)
  // Each subscriber connection lives in a child of the layer's scope: closing the layer closes it.
  const layerScope = yield* Effect.scope

  let dataClient: Redis | undefined
  let pending: PendingKeys = NOTHING_PENDING
  let subscriberId: number | undefined
  let tracked: { readonly client: Redis; readonly redirect: number } | undefined
  let linked = false
  let invalidationsReceived = 0
  let flushes = 0
  let lastFlushCause: Option.Option<string> = Option.none()

  const emit = (event: Parameters<typeof events.emit>[0]) => {
    if (events.isActive()) runFork(events.emit(event))
  }

  // Empties L1 but for this instance's own writes still to be replayed, and forbids the
  // refills of every read in flight: what they read may be what was missed.
  const flush = (cause: string) => {
    guard.touchAll()
    const entries = memory.stats().entries
    if (pending.size === 0) memory.clear()
    else memory.removeWhere((key) => !pending.has(key))
    if (entries === 0) return
    flushes++
    lastFlushCause = Option.some(cause)
    emit({ _tag: "L1Flushed", cause })
  }

  const invalidate = (fullKeys: ReadonlyArray<Buffer>) => {
    let count = 0
    for (const fullKey of fullKeys) {
      const key = fullKey.toString("utf8")
      if (!key.startsWith(prefix)) continue
      const local = key.slice(prefix.length)
      guard.touch(local)
      memory.delete(local)
      count++
    }
    invalidationsReceived += count
    if (count > 0) emit({ _tag: "L1Invalidated", keys: count, mechanism: "tracking" })
  }

  // A null payload is FLUSHALL/FLUSHDB (or a tracking table overflow): everything goes.
  const onMessage = (channel: Buffer, message: ReadonlyArray<Buffer> | null) => {
    if (channel.toString() !== INVALIDATE_CHANNEL) return
    if (message === null) flush("Redis was flushed")
    else invalidate(message)
  }

  const trackingArgs = (redirect: number) =>
    ["TRACKING", "ON", "REDIRECT", String(redirect), "BCAST", "PREFIX", prefix, "NOLOOP"]

  // Points the data connection's tracking at the current subscriber; a connection that
  // already tracks for an older subscriber is switched off first (prefixes may not overlap).
  const link: Effect.Effect<boolean> = lock.withPermit(Effect.suspend(() => {
    const client = dataClient
    const redirect = subscriberId
    if (client === undefined || redirect === undefined) return Effect.succeed(false)
    if (tracked?.client === client && tracked.redirect === redirect) return Effect.succeed(true)
    const switchOff = tracked?.client === client
    return Effect.tryPromise(async () => {
      if (switchOff) await client.call("CLIENT", "TRACKING", "OFF")
      await client.call("CLIENT", ...trackingArgs(redirect))
    }).pipe(
      Effect.map(() => {
        if (dataClient !== client || subscriberId !== redirect) return false
        tracked = { client, redirect }
        flush("invalidation link established")
        linked = true
        return true
      }),
      Effect.catch((error) =>
        Effect.as(
          Effect.logWarning(
            `Redis cache '${options.cacheName}' could not enable CLIENT TRACKING: ${String(error.cause ?? error)}; ` +
              "L1 serves nothing while Redis is connected"
          ),
          false
        )
      )
    )
  }))

  // The subscriber is gone: L1 stops taking copies at once. It is flushed when the data
  // connection still answers (others can write, and their changes would go unseen); when
  // it does not, Redis is away for this instance, the cache goes memory-only (where L1
  // serves by design) and is flushed on recovery instead.
  const unlink = (cause: string) =>
    Effect.suspend(() => {
      // `tracked` stays: the data connection still tracks, redirecting to the lost subscriber,
      // and the next link must switch that off before it points tracking at the new one.
      linked = false
      const client = dataClient
      if (client === undefined) return Effect.void
      return Effect.tryPromise(() => client.ping()).pipe(
        Effect.timeout(options.commandTimeoutMillis),
        Effect.match({ onFailure: () => undefined, onSuccess: () => flush(cause) })
      )
    })

  // Connects, learns the connection's id and subscribes.
  const openSubscriber = Effect.gen(function*() {
    const scope = yield* Scope.fork(layerScope)
    return yield* Effect.gen(function*() {
      const subscriber = yield* connectRedis(options.redisUrl, connectionSettings, {
        connectionName: `effect-redis-cache:${options.cacheName}:invalidations`,
        commandTimeout: options.commandTimeoutMillis,
        protocol: 2
      }).pipe(Scope.provide(scope))
      const lost = Deferred.makeUnsafe<void>()
      subscriber.once("end", () => Deferred.doneUnsafe(lost, Exit.void))
      subscriber.on("messageBuffer", onMessage)
      const id = yield* Effect.tryPromise(() => subscriber.client("ID") as Promise<number>)
      yield* Effect.tryPromise(() => subscriber.subscribe(INVALIDATE_CHANNEL))
      return { subscriber, scope, id, lost }
    }).pipe(Effect.onError(() => Scope.close(scope, Exit.void)))
  })
  type Subscriber = Effect.Success<typeof openSubscriber>

  // Links, then PINGs until the connection fails; unlinks (flushing L1) and closes it.
  const serve = ({ id, lost, scope, subscriber }: Subscriber) =>
    Effect.gen(function*() {
      subscriberId = id
      yield* link
      const pings = Effect.sleep(options.pingInterval).pipe(
        Effect.andThen(Effect.tryPromise(() => subscriber.ping())),
        Effect.forever
      )
      yield* Effect.raceFirst(Deferred.await(lost), Effect.ignore(pings))
      if (subscriberId === id) subscriberId = undefined
      yield* unlink("invalidation link lost")
    }).pipe(Effect.ensuring(Scope.close(scope, Exit.void)))

  // The subscriber connects only while a data connection is up: while Redis is away (or
  // refuses our credentials) the data connection's own reconnects are the only attempts.
  let dataUp = Deferred.makeUnsafe<void>()
  // Completed after each subscriber attempt, so that the data connection can wait for it.
  let attempted = Deferred.makeUnsafe<void>()
  const attempt = Effect.suspend(() => Deferred.await(dataUp)).pipe(
    Effect.andThen(openSubscriber),
    Effect.onExit(() =>
      Effect.sync(() => {
        Deferred.doneUnsafe(attempted, Exit.void)
        attempted = Deferred.makeUnsafe<void>()
      })
    )
  )

  // One subscriber connection at a time, for the life of the layer. A reconnect schedule
  // that gave up, or a link that just failed, pauses before the next round.
  yield* Effect.forkScoped(Effect.forever(
    attempt.pipe(
      Effect.retry(options.reconnectSchedule),
      Effect.flatMap(serve),
      Effect.catch(() => Effect.void),
      Effect.andThen(Effect.sleep(RECONNECT_PAUSE))
    )
  ))

  // A data connection that finds no subscriber waits for one attempt (bounded), so that a
  // cache that starts, or recovers, with Redis reachable links before it serves.
  const awaitAttempt = Effect.suspend(() =>
    subscriberId === undefined
      ? Effect.timeoutOption(Deferred.await(attempted), options.connectTimeoutMillis + 500)
      : Effect.void
  )

  const status: Effect.Effect<InvalidationStatus> = Effect.sync(() => ({
    mechanism: "tracking",
    linked,
    invalidationsReceived,
    flushes,
    lastFlushCause
  }))

  const service: InvalidationService = {
    mechanism: "tracking",
    guard,
    linked: () => linked,
    connected: (client, keys) =>
      Effect.suspend(() => {
        dataClient = client
        pending = keys
        Deferred.doneUnsafe(dataUp, Exit.void)
        return awaitAttempt.pipe(
          Effect.andThen(link),
          Effect.flatMap((linkedNow) => linkedNow ? Effect.void : Effect.sync(() => flush("reconnected")))
        )
      }),
    disconnected: (client) =>
      Effect.sync(() => {
        if (dataClient !== client) return
        dataClient = undefined
        tracked = undefined
        linked = false
        dataUp = Deferred.makeUnsafe<void>()
      }),
    status
  }
  return service
})
