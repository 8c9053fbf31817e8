/**
 * Spans around the cache's Redis operations, made only for a tracer that exports them.
 */
import { Effect, type Fiber, Tracer } from "effect"
import type { CacheOperation } from "../../monitoring/CacheMonitor.js"
import { type CacheTracingOptions, redisSpanOptions } from "../../monitoring/Tracing.js"

// Effect.withSpan is used in its data-first form: the pipeable form captures a stack
// trace whatever the options say (effect 4.1), which matters once per Redis round trip.
// Spans are made only for a tracer that exports them: Effect's built-in tracer keeps
// them nowhere, and a span costs about as much as a batched round trip's client work.
const exportsSpans = (fiber: Fiber.Fiber<unknown, unknown>): boolean => {
  const tracer = fiber.cache.tracer
  return tracer !== undefined && tracer !== Tracer.nativeTracer && fiber.cache.tracerEnabled
}

/** Wraps an operation in its Redis span; `attributesOf` adds what is only known from the result. */
export type RedisTracer = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  name: string,
  operation: CacheOperation,
  dbOperation: string,
  key: string | undefined,
  attributesOf?: (result: A) => Record<string, unknown>
) => Effect.Effect<A, E, R>

/** The span wrapper of one cache: options built once per operation unless keys are hashed into them. */
export const makeRedisTracer = (
  tracing: CacheTracingOptions,
  cacheName: string,
  url: string | undefined
): RedisTracer => {
  if (tracing.spanRedis === false) return (self) => self
  const server = url === undefined ? undefined : new URL(url)
  const spanOptionsFor = (operation: CacheOperation, dbOperation: string, key: string | undefined) =>
    redisSpanOptions(tracing, {
      operation,
      cacheName,
      key,
      dbOperation,
      serverAddress: server?.hostname,
      serverPort: server === undefined || server.port === "" ? 6379 : Number(server.port)
    })
  // Without key hashes the options of an operation's span never change.
  const byOperation = new Map<string, ReturnType<typeof spanOptionsFor>>()
  const spanOptions = (operation: CacheOperation, dbOperation: string, key: string | undefined) => {
    if (tracing.includeKeys && key !== undefined) return spanOptionsFor(operation, dbOperation, key)
    let options = byOperation.get(operation)
    if (options === undefined) {
      options = spanOptionsFor(operation, dbOperation, undefined)
      byOperation.set(operation, options)
    }
    return options
  }
  return (self, name, operation, dbOperation, key, attributesOf) =>
    Effect.withFiber((fiber) =>
      exportsSpans(fiber)
        ? Effect.withSpan(
          attributesOf === undefined
            ? self
            : Effect.tap(self, (result) => Effect.annotateCurrentSpan(attributesOf(result))),
          name,
          spanOptions(operation, dbOperation, key)
        )
        : self
    )
}
