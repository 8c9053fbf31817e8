/**
 * The invalidation link of a Redis-backed cache: one subscriber connection, plus, for
 * `"tracking"`, `CLIENT TRACKING` on the data connection, or, for `"bus"`, messages
 * published after each acknowledged change. The link is up only while both the data
 * connection and the subscriber are; L1 takes copies only while it is up.
 */
import { Deferred, Effect, Exit, Semaphore } from "effect"
import type { Redis } from "ioredis"
import { randomBytes } from "node:crypto"
import type { InvalidationService, InvalidationStatus } from "../../coherence/Invalidation.js"
import { redisConnectionOptions } from "../../security/connectionOptions.js"
import { serverIdOf } from "./serverId.js"
import { subscriberTarget } from "./subscriberTarget.js"
import { BUS_VERSION } from "./busMessage.js"
import { type L1Parts, makeL1Effects } from "./l1Effects.js"
import { makePublisher } from "./publisher.js"
import { openSubscriber, type Subscriber } from "./subscriber.js"
import { makeMessageHandler } from "./messages.js"
import { enableTracking, isTrackingRefusal, TRACKING_CHANNEL } from "./tracking.js"
import type { LinkOptions } from "./options.js"

const RECONNECT_PAUSE = "100 millis"

/**
 * Opens the link in the current scope and returns the service that reports it. One
 * closure on purpose: its parts (link, unlink, the subscriber rounds, the service) share
 * the link's few mutable facts (the data connection, the subscriber, what tracks where,
 * the mechanism after a fallback); each part is a small function.
 */
export const makeLink = Effect.fnUntraced(function*(options: LinkOptions, parts: L1Parts) {
  const now = () => Date.now()
  // While evictions wait for later turns, the subscriber's socket is not read (l1Effects.ts): what
  // Redis sends meanwhile waits in the socket's buffers, and the link's PING answers with it.
  const l1 = yield* makeL1Effects(parts, now, (waiting) => {
    const stream = subscriber?.connection.stream
    if (waiting) stream?.pause()
    else stream?.resume()
  })
  const runFork = Effect.runForkWith(yield* Effect.context<never>())
  const layerScope = yield* Effect.scope
  const topology = options.topology
  // A cluster's nodes share the credentials and TLS of its first URL, as in the tier.
  const settingsUrl = topology._tag === "Cluster" ? topology.nodes[0]! : options.redisUrl
  const settings = yield* Effect.orDie(redisConnectionOptions(settingsUrl, options.security))
  const target = subscriberTarget(topology, settingsUrl, { ...settings, connectTimeout: options.connectTimeoutMillis }, {
    connectionName: `effect-redis-cache:${options.cacheName}:invalidations`,
    commandTimeout: options.commandTimeoutMillis,
    protocol: 2
  })
  const subscriberOptions = {
    connect: Effect.suspend(() => target.connect(dataClient)),
    identifyServer: target.mayDiffer,
    pingInterval: options.pingInterval
  }
  const prefix = options.keyPrefix
  const busChannel = `${prefix}__l1:v${BUS_VERSION}`
  const instance = randomBytes(16)
  const lock = yield* Semaphore.make(1)
  const publisher = makePublisher(busChannel, instance, now, (error) =>
    Effect.logWarning(`Redis cache '${options.cacheName}' will resend an invalidation message: ${String(error)}`), runFork)

  // "tracking" falls back to "bus" (for good) when the server or the ACL refuses CLIENT TRACKING.
  let mechanism = options.mechanism
  let dataClient: Redis | undefined
  let subscriber: Subscriber | undefined
  let tracked: { readonly client: Redis; readonly redirect: number } | undefined
  let linked = false

  const onMessage = makeMessageHandler(l1, prefix, busChannel, instance)

  const switchToBus = (reason: string) =>
    Effect.suspend(() => {
      mechanism = "bus"
      return Effect.logWarning(
        `Redis cache '${options.cacheName}' cannot use CLIENT TRACKING (${reason}): L1 coherence falls back to the bus`
      )
    })

  // Whether the subscriber now listens to the bus.
  const fallBackToBus = (current: Subscriber, reason: string) =>
    Effect.andThen(
      switchToBus(reason),
      Effect.map(Effect.result(current.subscribe(busChannel)), (subscribed) => subscribed._tag === "Success")
    )

  // Makes the link whole once both connections are there; flushes L1, since changes made
  // before this moment went unseen.
  const link: Effect.Effect<boolean> = lock.withPermit(Effect.gen(function*() {
    const client = dataClient
    const current = subscriber
    if (client === undefined || current === undefined) return false
    if (linked && (mechanism === "bus" || tracked?.redirect === current.id)) return true
    if (target.mayDiffer && !(yield* onSameServer(client, current))) return false
    if (mechanism === "tracking") {
      const enabled = yield* Effect.result(enableTracking(client, current.id, prefix, tracked?.client === client))
      if (enabled._tag === "Failure") {
        if (!isTrackingRefusal(enabled.failure)) return false
        if (!(yield* fallBackToBus(current, String(enabled.failure)))) return false
      } else tracked = { client, redirect: current.id }
    }
    if (dataClient !== client || subscriber !== current) return false
    l1.flush("link_established")
    linked = true
    return true
  }))

  // Through Sentinel both connections ask for the master and, around a failover, may be told
  // different servers: tracking would redirect to a stranger's client id, and the bus would
  // publish where it does not listen. The subscriber is then dropped, and the next one asks
  // the Sentinels again (the data connection follows +switch-master by itself).
  const onSameServer = (client: Redis, current: Subscriber) =>
    Effect.map(Effect.result(serverIdOf(client)), (server) => {
      if (server._tag === "Success" && server.success === current.server) return true
      if (server._tag === "Success") runFork(current.close)
      return false
    })

  // The subscriber is gone: L1 stops taking copies at once. It is flushed when the data
  // connection still answers (others can write, and their changes would go unseen); when
  // it does not, Redis is away for this instance, the cache goes memory-only (where L1
  // serves by design on one server; through Sentinel and on a cluster `disconnected`
  // flushes it) and is flushed on recovery instead. `tracked` stays: the data
  // connection still tracks for the lost subscriber, and the next link switches that off.
  const unlink = Effect.suspend(() => {
    linked = false
    subscriber = undefined
    const client = dataClient
    if (client === undefined) return Effect.void
    return Effect.tryPromise(() => client.ping()).pipe(
      Effect.timeout(options.commandTimeoutMillis),
      Effect.match({ onFailure: () => undefined, onSuccess: () => l1.flush("link_lost") })
    )
  })

  const serve = (opened: Subscriber) =>
    Effect.gen(function*() {
      yield* link
      yield* opened.lost
      yield* unlink
    }).pipe(Effect.ensuring(opened.close))

  // The subscriber connects only while a data connection is up: while Redis is away (or
  // refuses our credentials) the data connection's own reconnects are the only attempts.
  let dataUp = Deferred.makeUnsafe<void>()
  // Completed after each subscriber attempt, so that a data connection can wait for one.
  let attempted = Deferred.makeUnsafe<void>()
  const attempt = Effect.suspend(() => Deferred.await(dataUp)).pipe(
    Effect.andThen(Effect.suspend(() =>
      openSubscriber(subscriberOptions, layerScope, mechanism === "bus" ? [busChannel] : [TRACKING_CHANNEL], onMessage)
    )),
    // A user who may not subscribe to the tracking channel will not track either: the next attempt uses the bus.
    Effect.tapError((error) =>
      mechanism === "tracking" && isTrackingRefusal(error) ? switchToBus(String(error)) : Effect.void
    ),
    // Known before `attempted` completes, so that a data connection waiting for it links at once.
    Effect.tap((opened) =>
      Effect.sync(() => {
        subscriber = opened
      })
    ),
    Effect.onExit(() =>
      Effect.sync(() => {
        Deferred.doneUnsafe(attempted, Exit.void)
        attempted = Deferred.makeUnsafe<void>()
      })
    )
  )

  // One subscriber at a time, for the life of the layer. A reconnect schedule that gave
  // up, or a link that just failed, pauses before the next round.
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
    subscriber === undefined
      ? Effect.timeoutOption(Deferred.await(attempted), options.connectTimeoutMillis + 500)
      : Effect.void
  )

  const status: Effect.Effect<InvalidationStatus> = Effect.sync(() => ({
    mechanism,
    linked,
    ...l1.counters(),
    unsentMessages: publisher.unsent()
  }))

  const service: InvalidationService = {
    mechanism: options.mechanism,
    guard: parts.guard,
    waiters: parts.waiters,
    tags: parts.tags,
    linked: () => linked,
    connected: (client, pending) =>
      Effect.suspend(() => {
        dataClient = client
        l1.setPending(pending)
        publisher.attach(client)
        Deferred.doneUnsafe(dataUp, Exit.void)
        return awaitAttempt.pipe(
          Effect.andThen(link),
          Effect.flatMap((linkedNow) => linkedNow ? Effect.void : Effect.sync(() => l1.flush("reconnected")))
        )
      }),
    disconnected: (client) =>
      Effect.sync(() => {
        if (dataClient !== client) return
        dataClient = undefined
        tracked = undefined
        linked = false
        publisher.attach(undefined)
        dataUp = Deferred.makeUnsafe<void>()
        // Through Sentinel or on a cluster a lost master is followed by a failover, and the other
        // instances go on writing to the promoted replica while this one is memory-only: its L1
        // copies would go stale unseen. They go now, not on recovery (one server that is away
        // takes every instance's writes away with it, so there L1 serves its copies meanwhile).
        if (topology._tag !== "Standalone") l1.flush("link_lost")
      }),
    announce: (change) => {
      if (mechanism === "bus") publisher.announce(change)
    },
    status
  }
  return service
})
