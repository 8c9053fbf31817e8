/**
 * The subscriber connection of a link: a dedicated RESP2 connection (ioredis 6 drops
 * RESP3 pushes) that learns its client id, subscribes to the link's channels, and
 * reports its loss: the socket ended, or a PING went unanswered.
 */
import { Deferred, type Duration, Effect, Exit, Scope } from "effect"
import type { Redis } from "ioredis"
import { connectRedis, type ConnectionSettings } from "../../security/connectionOptions.js"

/** How to open a subscriber. */
export interface SubscriberOptions {
  readonly redisUrl: string
  readonly settings: ConnectionSettings
  readonly connectionName: string
  readonly commandTimeoutMillis: number
  readonly pingInterval: Duration.Duration
}

/** An open subscriber. */
export interface Subscriber {
  readonly id: number
  readonly connection: Redis
  /** Subscribes to one more channel. */
  readonly subscribe: (channel: string) => Effect.Effect<void, unknown>
  /** Completes when the connection ends or stops answering PINGs. */
  readonly lost: Effect.Effect<void>
  /** Closes the connection. */
  readonly close: Effect.Effect<void>
}

/** Opens a subscriber in a child of `parent`, calling `onMessage` for every message on its channels. */
export const openSubscriber = (
  options: SubscriberOptions,
  parent: Scope.Scope,
  channels: ReadonlyArray<string>,
  onMessage: (channel: Buffer, message: Buffer | ReadonlyArray<Buffer> | null) => void
): Effect.Effect<Subscriber, unknown> =>
  Effect.flatMap(Scope.fork(parent), (scope) =>
    Effect.gen(function*() {
      const connection = yield* connectRedis(options.redisUrl, options.settings, {
        connectionName: options.connectionName,
        commandTimeout: options.commandTimeoutMillis,
        protocol: 2
      }).pipe(Scope.provide(scope))
      const ended = Deferred.makeUnsafe<void>()
      connection.once("end", () => Deferred.doneUnsafe(ended, Exit.void))
      connection.on("messageBuffer", onMessage)
      const id = yield* Effect.tryPromise(() => connection.client("ID") as Promise<number>)
      const subscribe = (channel: string) => Effect.asVoid(Effect.tryPromise(() => connection.subscribe(channel)))
      for (const channel of channels) yield* subscribe(channel)
      const pings = Effect.sleep(options.pingInterval).pipe(
        Effect.andThen(Effect.tryPromise(() => connection.ping())),
        Effect.forever
      )
      const lost = Effect.raceFirst(Deferred.await(ended), Effect.ignore(pings))
      return { id, connection, subscribe, lost, close: Scope.close(scope, Exit.void) }
    }).pipe(Effect.onError(() => Scope.close(scope, Exit.void))))
