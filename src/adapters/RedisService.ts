/**
 * Effect's `Redis` service (`effect/persistence/Redis`) on the cache's own ioredis connection,
 * so that `RateLimiter.layerStoreRedis`, `CircuitBreaker.layerStoreRedis`,
 * `Persistence.layerRedis` and the like share it instead of opening a node-redis client.
 *
 * ```ts
 * const limiter = RateLimiter.layer.pipe(
 *   Layer.provide(RateLimiter.layerStoreRedis()),
 *   Layer.provide(CacheRedis.layer),
 *   Layer.provide(Cache.layerRedis({ redisUrl }))
 * )
 * ```
 *
 * See docs/effect-integration.md.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Layer, Option } from "effect"
import * as Redis from "effect/persistence/Redis"
import type { Cluster, ClusterOptions, Redis as IORedis } from "ioredis"
import { RedisTier } from "../tiers/RedisTier.js"

/** What a command is sent on: the tier's connection, a standalone server or a cluster. */
type Target = IORedis | Cluster

const isCluster = (target: Target): target is Cluster => (target as Cluster).isCluster === true

const unavailable = () =>
  new Redis.RedisError({ cause: new Error("Redis is unavailable: the cache is memory-only until it reconnects") })

const sendOn = <A>(target: Target, command: string, args: ReadonlyArray<string>): Effect.Effect<A, Redis.RedisError> =>
  Effect.tryPromise({
    try: (): Promise<A> => {
      // A cluster sends a keyless command to one node; a script must be known to every master,
      // where EVALSHA will be routed by its first key.
      if (isCluster(target) && command.toUpperCase() === "SCRIPT" && args[0]?.toUpperCase() === "LOAD") {
        return Promise.all(target.nodes("master").map((node) => node.call(command, ...args))).then(
          (shas) => shas[0] as A
        )
      }
      return target.call(command, ...args) as Promise<A>
    },
    catch: (cause) => new Redis.RedisError({ cause })
  })

// The cluster's node options without the command timeout (a duplicate takes its options whole).
const duplicateCluster = (cluster: Cluster): Cluster => {
  const redisOptions: NonNullable<ClusterOptions["redisOptions"]> = { ...cluster.options.redisOptions }
  delete redisOptions.commandTimeout
  // (ioredis' own option types disagree on `replyMapping` under exactOptionalPropertyTypes.)
  return cluster.duplicate(undefined, { redisOptions } as Parameters<Cluster["duplicate"]>[1])
}

/** A connection of its own (subscriptions, reserved connections), from the tier's settings; no command timeout. */
const duplicateOf = (target: Target): Effect.Effect<Target, Redis.RedisError> =>
  Effect.tryPromise({
    try: async () => {
      const copy: Target = isCluster(target) ? duplicateCluster(target) : target.duplicate({ commandTimeout: undefined })
      // Like the tier's own, it reports failures by rejecting commands; the listener keeps
      // ioredis from printing "Unhandled error event".
      copy.on("error", () => {})
      try {
        await copy.connect()
        return copy
      } catch (cause) {
        copy.disconnect()
        throw cause
      }
    },
    catch: (cause) => new Redis.RedisError({ cause })
  })

/**
 * Builds Effect's `Redis` service on the `RedisTier` in context.
 *
 * - `send` and `eval` run on the tier's live connection (a `Cluster` routes each command by
 *   its first key's slot; `SCRIPT LOAD` is sent to every master). While the cache is
 *   memory-only they fail at once with a `RedisError`: they never wait for a reconnection.
 * - `subscribe` and `reserve` open connections of their own with the tier's settings (TLS,
 *   credentials), without its command timeout, so that blocking commands can block. A
 *   subscription's queue fails with a `RedisError` when its connection is lost.
 *
 * @since 0.1.0
 */
const make = Effect.fn("CacheRedis.make")(function*() {
  const tier = yield* RedisTier
  const current = Effect.flatMap(tier.connection, Option.match({ onNone: () => Effect.fail(unavailable()), onSome: Effect.succeed }))

  return yield* Redis.make({
    send: <A = unknown>(command: string, ...args: ReadonlyArray<string>) =>
      Effect.flatMap(current, (target) => sendOn<A>(target, command, args)),
    subscribe: Effect.fnUntraced(function*(channel, onMessage) {
      const terminal = yield* Deferred.make<void, Redis.RedisError>()
      const subscriber = yield* Effect.acquireRelease(
        Effect.flatMap(current, duplicateOf),
        (connection) => Effect.sync(() => connection.disconnect())
      )
      subscriber.on("message", (from: string, message: string) => onMessage({ channel: from, message }))
      subscriber.once("end", () =>
        Deferred.doneUnsafe(terminal, Effect.fail(new Redis.RedisError({ cause: new Error("the subscription's connection was lost") }))))
      yield* Effect.tryPromise({
        try: () => subscriber.subscribe(channel),
        catch: (cause) => new Redis.RedisError({ cause })
      })
      // Redis.make wants the effect itself (it forks it to learn when the subscription ends), not its result.
      return Deferred.await(terminal)
    }),
    connect: Effect.map(Effect.flatMap(current, duplicateOf), (connection) => ({
      send: <A = unknown>(command: string, ...args: ReadonlyArray<string>) => sendOn<A>(connection, command, args),
      close: Effect.sync(() => connection.disconnect())
    }))
  })
})

/**
 * Effect's `Redis` service on the cache's connection (`RedisTier`, which `Cache.layerRedis`
 * provides). Commands are sent as they are: they are not under the cache's `keyPrefix`, so
 * give Effect's stores prefixes of their own (their defaults, e.g. `ratelimiter:`, already are).
 * On a cluster every command must name keys of one slot: give multi-key stores a hash tag
 * (e.g. a `RateLimiter` key `{user-1}`).
 *
 * @since 0.1.0
 */
export const CacheRedis = {
  /** The service as a value. */
  make,
  /** The service as a layer. */
  layer: Layer.effect(Redis.Redis, make()) as Layer.Layer<Redis.Redis, never, RedisTier>
} as const
