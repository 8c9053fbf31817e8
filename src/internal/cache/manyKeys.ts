/**
 * What the multi-key operations share: the parts they are made of, the validation of a
 * call's keys, de-duplication, the first failure in key order, and their span.
 */
import { Effect, Exit, type Option, type Schema } from "effect"
import type { SetOptions } from "../../Cache.js"
import { type CacheError, validationError, type ValidationError, type ValidationIssue } from "../../errors.js"
import { keyIssue } from "./inputs.js"
import type { Leaders } from "./singleFlight.js"

/** A schema a call was given, or none. */
export type AnySchema = Schema.Codec<unknown, unknown> | undefined

/** The single-key operations the multi-key ones are made of, and the single flight's leaders. */
export interface MultiKeyParts {
  readonly get: (key: string, schema?: AnySchema) => Effect.Effect<Option.Option<unknown>, CacheError>
  readonly set: (key: string, value: unknown, options?: SetOptions) => Effect.Effect<void, CacheError>
  readonly delete: (key: string) => Effect.Effect<boolean, CacheError>
  readonly leaders: Leaders
}

/** Every key at once: the tier batches what starts in one tick. */
export const unbounded = { concurrency: "unbounded" } as const

/** Every bad key of a call, each named by its index, in one ValidationError. */
export const keysError = (keys: unknown): ValidationError | undefined => {
  if (!Array.isArray(keys)) {
    return validationError([{ field: "keys", value: String(keys), rule: "must be an array of keys" }], {
      subject: "Invalid keys"
    })
  }
  const issues: Array<ValidationIssue> = []
  let firstBad: unknown
  for (let i = 0; i < keys.length; i++) {
    const issue = keyIssue(keys[i])
    if (issue === undefined) continue
    if (issues.length === 0) firstBad = keys[i]
    issues.push({ ...issue, field: `keys[${i}]` })
  }
  if (issues.length === 0) return undefined
  return validationError(issues, {
    subject: "Invalid cache key",
    ...(typeof firstBad === "string" ? { key: firstBad.slice(0, 64) } : {})
  })
}

/** A refusal of a single-key rule, renamed to say which entry broke it. */
export const atIndex = (error: ValidationError, prefix: string): ValidationError =>
  validationError(
    error.issues.map((issue) => ({ ...issue, field: `${prefix}.${issue.field}` })),
    { subject: error.message.split(":")[0]!, ...(error.key === undefined ? {} : { key: error.key }) }
  )

/** The keys without repeats, in first-seen order. */
export const unique = (keys: ReadonlyArray<string>): Array<string> => keys.length < 2 ? [...keys] : Array.from(new Set(keys))

/**
 * The first failure in key order, once every key has its outcome: no read is interrupted
 * half-way (it would not refill L1), and the error a caller sees does not depend on timing.
 */
export const firstFailure = <A, E>(exits: ReadonlyArray<Exit.Exit<A, E>>): Exit.Failure<never, E> | undefined => {
  for (const exit of exits) if (Exit.isFailure(exit)) return exit as Exit.Failure<never, E>
  return undefined
}

/** One span per multi-key call, around the spans of its keys' round trips. */
export const traced = <A, E, R>(self: Effect.Effect<A, E, R>, operation: string, cacheName: string, keys: number) =>
  Effect.withSpan(self, `Cache.${operation}`, {
    attributes: { "cache.name": cacheName, "cache.operation": operation, "cache.keys": keys },
    captureStackTrace: false
  })
