/**
 * What every suite gets from the runner, and how it builds caches in its scope.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import type { CacheService, RedisCacheOptions } from "../../src/index.js"
import { Cache } from "./library.js"
import { type CaseResult, type CaseSpec, measure, type Paired, type Plan, type SizeName } from "./harness.js"

/** The run's settings, shared by the suites. */
export interface SuiteContext {
  readonly redisUrl: string
  readonly port: number
  readonly plan: Plan
  readonly sizes: ReadonlyArray<SizeName>
  readonly quick: boolean
  /** Called with each result as soon as it is measured (progress output). */
  readonly onResult: (result: CaseResult) => void
  /**
   * The cases measured so far, by id and size, to be run again beside the cases that compare
   * themselves with them (a baseline is measured before the cases that name it, in their scope).
   */
  readonly measured: Map<string, Paired>
}

const caseKey = (id: string, size: SizeName) => `${id}@${size}`

/** Measures one case, beside its baseline's rounds when that was measured, and reports it. */
export const runCase = (context: SuiteContext, spec: CaseSpec): Effect.Effect<CaseResult> =>
  Effect.tap(
    measure(spec, context.plan, spec.baseline === undefined ? undefined : context.measured.get(caseKey(spec.baseline, spec.size))),
    (result) =>
      Effect.sync(() => {
        context.measured.set(caseKey(spec.id, spec.size), { round: spec.round, opsPerRound: result.opsPerRound })
        context.onResult(result)
      })
  )

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
