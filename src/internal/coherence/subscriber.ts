/**
 * The subscriber connection of a link: a dedicated RESP2 connection (ioredis 6 drops
 * RESP3 pushes) that learns its client id (and, when asked, which server it is on),
 * subscribes to the link's channels, and reports its loss: the socket ended, or a PING
 * went unanswered.
 */
import { Deferred, type Duration, Effect, Exit, Scope } from "effect"
import type { Redis } from "ioredis"
import type { ConnectionError } from "../../errors.js"
import { serverIdOf } from "./serverId.js"

/** How to open a subscriber. */
export interface SubscriberOptions {
  /** Opens the RESP2 connection (to the server the topology says: see subscriberTarget.ts). */
  readonly connect: Effect.Effect<Redis, ConnectionError, Scope.Scope>
  /** Whether to learn the server's identity (`run_id`): where the data connection may be on another server. */
  readonly identifyServer: boolean
  readonly pingInterval: Duration.Duration
}

/** An open subscriber. */
export interface Subscriber {
  readonly id: number
  /** The server's `run_id`, when `identifyServer` asked for it. */
  readonly server: string | undefined
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
      const connection = yield* options.connect.pipe(Scope.provide(scope))
      const ended = Deferred.makeUnsafe<void>()
      connection.once("end", () => Deferred.doneUnsafe(ended, Exit.void))
      connection.on("messageBuffer", onMessage)
      const id = yield* Effect.tryPromise(() => connection.client("ID") as Promise<number>)
      // Before SUBSCRIBE: a RESP2 connection in subscribed mode runs no INFO.
      const server = options.identifyServer ? yield* serverIdOf(connection) : undefined
      const subscribe = (channel: string) => Effect.asVoid(Effect.tryPromise(() => connection.subscribe(channel)))
      for (const channel of channels) yield* subscribe(channel)
      const pings = Effect.sleep(options.pingInterval).pipe(
        Effect.andThen(Effect.tryPromise(() => connection.ping())),
        Effect.forever
      )
      const lost = Effect.raceFirst(Deferred.await(ended), Effect.ignore(pings))
      return { id, server, connection, subscribe, lost, close: Scope.close(scope, Exit.void) }
    }).pipe(Effect.onError(() => Scope.close(scope, Exit.void))))
