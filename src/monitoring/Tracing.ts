/**
 * What the cache puts on its spans, and the switches that control it.
 *
 * Spans sit on the work that crosses the network or does real work (Redis
 * round trips, reconnects, replays, security checks, getOrSet lookups). An L1
 * hit gets no span by default, because a span costs about 35 times the hit
 * itself; `spanL1Hits` turns one on per hit for debugging. Keys never reach a
 * span unless `includeKeys` is on, and then only as a hash. Values and secrets
 * never do.
 *
 * Provide {@link CacheTracingOptions} before the cache layer is built: the
 * cache reads it once, so the hit path tests a captured boolean, not the context.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import { Context, Effect } from "effect"
import type { Tracer } from "effect"
import type { AnsweringTier, CacheOperation } from "./Analytics.js"
import { AttributeKeys } from "./CacheMetrics.js"

/**
 * Tracing switches.
 *
 * @since 0.1.0
 */
export interface CacheTracingOptions {
  /** A span for every L1 hit. Off by default: a span costs about 35 times an L1 hit. */
  readonly spanL1Hits: boolean
  /** Put `cache.key.hash` on spans. Off by default: keys can carry user data. */
  readonly includeKeys: boolean
  /** How a key becomes `cache.key.hash`; by default the first 16 hex digits of its SHA-256. */
  readonly keyHash: (key: string) => string
  /**
   * A span for every operation that reaches Redis. On unless set to `false`, and made only
   * when a tracer other than Effect's built-in one (which exports nothing) is provided: a
   * span costs about as much client CPU as a batched round trip (docs/benchmarks.md).
   */
  readonly spanRedis?: boolean | undefined
}

/**
 * The default key hash: SHA-256 of the UTF-8 key, first 16 hex digits (64 bits),
 * enough to tell keys apart in a trace without revealing them.
 *
 * @since 0.1.0
 */
export const sha256KeyHash = (key: string): string =>
  createHash("sha256").update(key, "utf8").digest("hex").slice(0, 16)

/**
 * The tracing switches in effect; all off unless provided, e.g.
 * `Layer.succeed(CacheTracingOptions, { spanL1Hits: true, includeKeys: true, keyHash: sha256KeyHash })`.
 *
 * @since 0.1.0
 */
export const CacheTracingOptions = Context.Reference<CacheTracingOptions>("effect-redis-cache/CacheTracingOptions", {
  defaultValue: () => ({ spanL1Hits: false, includeKeys: false, keyHash: sha256KeyHash })
})

/**
 * What a span describes. `serverAddress`/`serverPort` are the Redis host and
 * port (without credentials); `dbOperation` the Redis command, e.g. `GET`.
 *
 * @since 0.1.0
 */
export interface SpanDescription {
  readonly operation: CacheOperation | "reconnect" | "replay" | "securityCheck"
  readonly tier?: AnsweringTier | undefined
  readonly hit?: boolean | undefined
  readonly key?: string | undefined
  readonly cacheName?: string | undefined
  readonly serverAddress?: string | undefined
  readonly serverPort?: number | undefined
  readonly dbOperation?: string | undefined
}

/**
 * Span attributes for an operation: `cache.operation`, `cache.tier`,
 * `cache.hit`, `cache.name`, and for work that reaches Redis
 * `db.system.name = "redis"`, `db.operation.name`, `server.address` and
 * `server.port`; `cache.key.hash` only when `includeKeys` is on.
 *
 * @since 0.1.0
 */
export const spanAttributes = (options: CacheTracingOptions, span: SpanDescription): Record<string, unknown> => {
  const attributes: Record<string, unknown> = { [AttributeKeys.operation]: span.operation }
  if (span.tier !== undefined) attributes[AttributeKeys.tier] = span.tier
  if (span.hit !== undefined) attributes[AttributeKeys.hit] = span.hit
  if (span.cacheName !== undefined) attributes[AttributeKeys.cacheName] = span.cacheName
  if (span.serverAddress !== undefined || span.dbOperation !== undefined) attributes["db.system.name"] = "redis"
  if (span.dbOperation !== undefined) attributes["db.operation.name"] = span.dbOperation
  if (span.serverAddress !== undefined) attributes["server.address"] = span.serverAddress
  if (span.serverPort !== undefined) attributes["server.port"] = span.serverPort
  if (options.includeKeys && span.key !== undefined) attributes["cache.key.hash"] = options.keyHash(span.key)
  return attributes
}

/**
 * Span options for a Redis round trip: kind `client` (as the database
 * conventions ask) and the attributes of {@link spanAttributes}.
 *
 * @since 0.1.0
 */
export const redisSpanOptions = (
  options: CacheTracingOptions,
  span: SpanDescription
): {
  readonly kind: Tracer.SpanKind
  readonly attributes: Record<string, unknown>
  readonly captureStackTrace: false
} => ({
  kind: "client",
  attributes: spanAttributes(options, span),
  // A stack trace per span costs more than the rest of the span on a Redis round trip;
  // the span's name and attributes already say where it comes from.
  captureStackTrace: false
})

/**
 * Annotates the current span with the attributes of an operation, reading
 * {@link CacheTracingOptions} from the context. For slow paths: it costs a
 * context lookup.
 *
 * @since 0.1.0
 */
export const annotateCurrentSpan = Effect.fnUntraced(function*(span: SpanDescription) {
  const options = yield* CacheTracingOptions
  yield* Effect.annotateCurrentSpan(spanAttributes(options, span))
})
