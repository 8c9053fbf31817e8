/**
 * Cache events: the seed's callbacks (`get_success`, `get_miss`, `set_success`,
 * `delete_success`) and the same events as an Effect `Stream`.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, PubSub, Stream } from "effect"

/**
 * An event a cache emits.
 *
 * @since 0.1.0
 */
export type CacheEvent =
  | { readonly _tag: "GetSuccess"; readonly key: string; readonly value: unknown; readonly tier: "l1" | "l2" }
  | { readonly _tag: "GetMiss"; readonly key: string }
  | { readonly _tag: "SetSuccess"; readonly key: string; readonly value: unknown; readonly ttlMillis: number }
  | { readonly _tag: "DeleteSuccess"; readonly key: string }
  /** A stored value did not fit the reader's schema and was read as a miss (`onSchemaMismatch: "miss"`). */
  | { readonly _tag: "SchemaMismatch"; readonly key: string; readonly reason: string }
  /** Keys evicted from L1 because they changed elsewhere (another instance, another program, expiry in Redis). */
  | { readonly _tag: "L1Invalidated"; readonly keys: number; readonly mechanism: "tracking" | "bus" }
  /** L1 was emptied: changes made elsewhere may have been missed (a lost link, a recovery) or Redis was flushed. */
  | { readonly _tag: "L1Flushed"; readonly cause: string }
  /** `getOrSet` answered with a value past its TTL (docs/resilience.md), and why. */
  | { readonly _tag: "StaleServed"; readonly key: string; readonly cause: StaleCause }
  /** A lookup failed and fail-safe served a stale value instead; the lookup waits `failSafeThrottle`. */
  | { readonly _tag: "FailSafeActivated"; readonly key: string; readonly error: string }
  /** A lookup ran past `softTimeout` (a stale value was served) or `hardTimeout` (the caller got a `LookupTimeoutError`). */
  | { readonly _tag: "LookupTimedOut"; readonly key: string; readonly timeout: "soft" | "hard"; readonly afterMillis: number }
  /** A lookup that runs, or ran, in the background: after a timeout, or started by `refreshAhead`. */
  | {
    readonly _tag: "BackgroundRefresh"
    readonly key: string
    readonly outcome: "started" | "succeeded" | "failed"
    readonly reason: "softTimeout" | "hardTimeout" | "refreshAhead"
  }
  /** `distributedLock`: this instance took the key's lock, waited for another holder, or stopped waiting after `lockTimeout`. */
  | { readonly _tag: "DistributedLock"; readonly key: string; readonly outcome: "acquired" | "waited" | "timedOut" }
  | {
    readonly _tag: "ModeChanged"
    readonly from: CacheModeName
    readonly to: CacheModeName
    readonly reason: string
  }

/**
 * Why `getOrSet` served a stale value: the lookup failed (or timed out), Redis failed,
 * fail-safe's throttle is on, or the soft timeout passed.
 *
 * @since 0.1.0
 */
export type StaleCause = "lookupFailed" | "redisError" | "throttled" | "softTimeout"

/**
 * The modes a cache can be in: `Connected` and `MemoryOnly`/`Connecting` for a
 * Redis-backed cache, `Memory` for a cache that is memory-only by construction.
 *
 * @since 0.1.0
 */
export type CacheModeName = "Connected" | "MemoryOnly" | "Connecting" | "Memory"

/**
 * The callback events of the original, with the arguments each callback receives.
 *
 * @since 0.1.0
 */
export interface CallbackSignatures {
  /** A read found the key (in either tier). */
  readonly get_success: (key: string, value: unknown) => void
  /** A read found the key in neither tier. */
  readonly get_miss: (key: string) => void
  /** A write was stored, with the TTL it was stored with. */
  readonly set_success: (key: string, value: unknown, ttlMillis: number) => void
  /** A delete removed the key. */
  readonly delete_success: (key: string) => void
  /** The cache changed mode (e.g. Connected to MemoryOnly), and why. */
  readonly mode_change: (from: CacheModeName, to: CacheModeName, reason: string) => void
}

/**
 * A callback event name.
 *
 * @since 0.1.0
 */
export type CallbackEvent = keyof CallbackSignatures

const callbackEventOf = {
  GetSuccess: "get_success",
  GetMiss: "get_miss",
  SetSuccess: "set_success",
  DeleteSuccess: "delete_success",
  ModeChanged: "mode_change"
} as const satisfies Partial<Record<CacheEvent["_tag"], CallbackEvent>>

// The events that have a callback of the original; the others reach the stream only.
const callbackNameOf = (tag: CacheEvent["_tag"]): CallbackEvent | undefined =>
  (callbackEventOf as Partial<Record<CacheEvent["_tag"], CallbackEvent>>)[tag]

/**
 * The events service. `emit` costs nothing but a flag test while nobody listens,
 * which keeps the L1 hit path free of event work by default.
 *
 * @since 0.1.0
 */
export class CacheEvents extends Context.Service<CacheEvents, {
  /** Registers a callback; callbacks run synchronously, in registration order. */
  readonly registerCallback: <E extends CallbackEvent>(event: E, callback: CallbackSignatures[E]) => Effect.Effect<void>
  /** Every event, for Effect-native consumers. A slow subscriber loses the oldest events, never blocks the cache. */
  readonly events: Stream.Stream<CacheEvent>
  /** True when a callback or a stream subscriber is present: emitters skip building events otherwise. */
  readonly isActive: () => boolean
  /** Runs the callbacks and publishes to subscribers. A throwing callback is logged and does not stop the others. */
  readonly emit: (event: CacheEvent) => Effect.Effect<void>
}>()("effect-redis-cache/CacheEvents") {
  /**
   * Builds the events service. `bufferSize` bounds what a slow stream subscriber can lag behind.
   *
   * @since 0.1.0
   */
  static readonly make = Effect.fnUntraced(function*(options: { readonly bufferSize?: number } = {}) {
    const pubsub = yield* PubSub.sliding<CacheEvent>(options.bufferSize ?? 1024)
    yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))
    const callbacks: { [E in CallbackEvent]: Array<CallbackSignatures[E]> } = {
      get_success: [],
      get_miss: [],
      set_success: [],
      delete_success: [],
      mode_change: []
    }
    let callbackCount = 0
    let subscriberCount = 0

    const runCallbacks = (event: CacheEvent): Array<{ readonly name: string; readonly error: unknown }> => {
      const name = callbackNameOf(event._tag)
      if (name === undefined) return []
      const list = callbacks[name] as ReadonlyArray<(...args: ReadonlyArray<unknown>) => void>
      const failures: Array<{ readonly name: string; readonly error: unknown }> = []
      for (const callback of list) {
        try {
          switch (event._tag) {
            case "GetSuccess":
              callback(event.key, event.value)
              break
            case "SetSuccess":
              callback(event.key, event.value, event.ttlMillis)
              break
            case "GetMiss":
            case "DeleteSuccess":
              callback(event.key)
              break
            case "ModeChanged":
              callback(event.from, event.to, event.reason)
              break
            case "SchemaMismatch":
            case "L1Invalidated":
            case "L1Flushed":
              break
          }
        } catch (error) {
          failures.push({ name, error })
        }
      }
      return failures
    }

    const emit = (event: CacheEvent): Effect.Effect<void> =>
      Effect.suspend(() => {
        const failures = callbackCount === 0 ? [] : runCallbacks(event)
        const publish = subscriberCount === 0 ? Effect.void : Effect.asVoid(PubSub.publish(pubsub, event))
        if (failures.length === 0) return publish
        return Effect.forEach(
          failures,
          ({ error, name }) =>
            Effect.logWarning(`Callback for event '${name}' failed: ${errorText(error)}`).pipe(
              Effect.annotateLogs({ event: name })
            ),
          { discard: true }
        ).pipe(Effect.andThen(publish))
      })

    return CacheEvents.of({
      registerCallback: (event, callback) =>
        Effect.sync(() => {
          ;(callbacks[event] as Array<typeof callback>).push(callback)
          callbackCount++
        }),
      events: Stream.unwrap(Effect.gen(function*() {
        const subscription = yield* PubSub.subscribe(pubsub)
        subscriberCount++
        yield* Effect.addFinalizer(() => Effect.sync(() => subscriberCount--))
        return Stream.fromSubscription(subscription)
      })),
      isActive: () => callbackCount > 0 || subscriberCount > 0,
      emit
    })
  })

  /**
   * The events service as a layer.
   *
   * @since 0.1.0
   */
  static readonly layer = (options: { readonly bufferSize?: number } = {}): Layer.Layer<CacheEvents> =>
    Layer.effect(CacheEvents, CacheEvents.make(options))
}

const errorText = (error: unknown): string => error instanceof Error ? error.message : String(error)
