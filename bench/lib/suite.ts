/**
 * What every suite gets from the runner, and how it builds caches in its scope.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type { CacheService, RedisCacheOptions } from "../../src/index.js"
import { Cache } from "./library.js"
import { type CaseResult, type CaseSpec, measure, type Plan, type SizeName } from "./harness.js"

/** The run's settings, shared by the suites. */
export interface SuiteContext {
  readonly redisUrl: string
  readonly port: number
  readonly plan: Plan
  readonly sizes: ReadonlyArray<SizeName>
  readonly quick: boolean
  /** Called with each result as soon as it is measured (progress output). */
  readonly onResult: (result: CaseResult) => void
}

/** Measures one case and reports it. */
export const runCase = (context: SuiteContext, spec: CaseSpec): Effect.Effect<CaseResult> =>
  Effect.tap(measure(spec, context.plan), (result) => Effect.sync(() => context.onResult(result)))

/** A Redis-backed cache under the `bench:` prefix that lives as long as the current scope. */
export const redisCache = (
  context: SuiteContext,
  options: RedisCacheOptions
): Effect.Effect<CacheService, never, Scope.Scope> =>
  Effect.orDie(Effect.map(
    Layer.build(Cache.layerRedis({ redisUrl: context.redisUrl, keyPrefix: "bench:", failOnConnectionError: true, ...options })),
    (services) => Context.get(services, Cache)
  ))

/** Dies unless `actual` is `expected`: a benchmark that measures the wrong path is worse than none. */
export const expect = (what: string, actual: number, expected: number): Effect.Effect<void> =>
  actual === expected ? Effect.void : Effect.die(new Error(`${what}: expected ${expected}, got ${actual}`))
