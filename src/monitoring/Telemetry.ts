/**
 * OpenTelemetry export of the cache's metrics and spans, through
 * `@effect/opentelemetry`'s `NodeSdk`.
 *
 * This module imports the optional peer dependencies `@effect/opentelemetry`
 * and `@opentelemetry/*`, so it is published as its own entry point,
 * `effect-redis-cache/otel`, and never re-exported from the package root:
 * users who do not export telemetry do not need the SDK installed.
 *
 * The cache's metrics are plain Effect `Metric`s and its spans plain Effect
 * spans, so any Effect exporter works too (`effect/observability`'s `Otlp`
 * and `PrometheusMetrics` need no SDK at all); this layer is for applications
 * already on the OpenTelemetry SDK.
 *
 * @packageDocumentation
 * @since 0.1.0
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type * as Resource from "@effect/opentelemetry/Resource"
import type { Attributes } from "@opentelemetry/api"
import type { MetricReader } from "@opentelemetry/sdk-metrics"
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Layer } from "effect"
import type { Duration } from "effect"
import { CacheTracingOptions } from "./Tracing.js"

/**
 * What to export and where.
 *
 * @since 0.1.0
 */
export interface CacheTelemetryOptions {
  /** `service.name` of the resource. */
  readonly serviceName: string
  readonly serviceVersion?: string
  /** More resource attributes, e.g. `deployment.environment.name`. */
  readonly attributes?: Attributes
  /** Where spans go, e.g. `new BatchSpanProcessor(new OTLPTraceExporter())`. Without one, no spans are exported. */
  readonly spanProcessor?: SpanProcessor | ReadonlyArray<SpanProcessor>
  /** Where metrics go, e.g. a `PeriodicExportingMetricReader`. Without one, no metrics are exported. */
  readonly metricReader?: MetricReader | ReadonlyArray<MetricReader>
  /** Cumulative (the default, what Prometheus expects) or delta counters. */
  readonly metricTemporality?: "cumulative" | "delta"
  /** Per-hit spans and key hashing; everything off unless set. */
  readonly tracing?: Partial<CacheTracingOptions>
  /** How long shutdown may take to flush. */
  readonly shutdownTimeout?: Duration.Input
}

/**
 * Wires the cache's metrics and spans into the OpenTelemetry Node SDK.
 *
 * Provide it around the whole program, and provide a custom
 * `Metric.MetricRegistry` (if any) outside it: the SDK reads the registry
 * that is current when this layer is built.
 *
 * @since 0.1.0
 */
export const layerNodeSdk = (options: CacheTelemetryOptions): Layer.Layer<Resource.Resource> => {
  const sdk = NodeSdk.layer(() => ({
    resource: {
      serviceName: options.serviceName,
      ...(options.serviceVersion === undefined ? {} : { serviceVersion: options.serviceVersion }),
      ...(options.attributes === undefined ? {} : { attributes: options.attributes })
    },
    spanProcessor: options.spanProcessor,
    metricReader: options.metricReader,
    metricTemporality: options.metricTemporality,
    shutdownTimeout: options.shutdownTimeout
  }))
  const tracing = options.tracing
  if (tracing === undefined) return sdk
  const defaults = CacheTracingOptions.defaultValue()
  return Layer.merge(sdk, Layer.succeed(CacheTracingOptions, { ...defaults, ...tracing }))
}
