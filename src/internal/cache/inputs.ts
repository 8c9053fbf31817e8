/**
 * The rules for what a caller passes in: keys, patterns, TTLs and values. Each
 * refusal is a `ValidationError` that names the field and the rule.
 */
import { Duration, Exit, Option } from "effect"
import { CacheLimits } from "../../CacheOptions.js"
import { validationError, type ValidationError, type ValidationIssue } from "../../errors.js"
import { TAG_KEY_PREFIX } from "../coherence/tagSignals.js"

// A lone surrogate has no UTF-8 form: Redis would get U+FFFD in its place, so two
// different keys would become one Redis key while each L1 kept them apart.
const WELL_FORMED_RULE = "must be well-formed Unicode text (no lone surrogate such as \\uD800)"

const shown = (text: string): string =>
  text.length > 32 ? `${JSON.stringify(text.slice(0, 32))}... (${text.length} characters)` : JSON.stringify(text)

/** The shape rules of a key (string, not empty, not too long); `undefined` when it keeps them. */
export const keyShapeIssue = (key: unknown): ValidationIssue | undefined => {
  if (typeof key !== "string") return { field: "key", value: String(key), rule: "must be a string" }
  if (key.length === 0) return { field: "key", value: "\"\"", rule: "must not be empty" }
  if (key.length > CacheLimits.maxKeyLength) {
    return { field: "key", value: shown(key), rule: `must be at most ${CacheLimits.maxKeyLength} characters` }
  }
  return undefined
}

// Tag timestamps live there (tags.ts): a user entry under it would be read as an invalidation.
const TAG_KEY_RULE = `must not start with "${TAG_KEY_PREFIX}" (reserved for tag invalidation times)`

/**
 * Every rule of a key; `undefined` when it keeps them all. The reserved tag prefix is
 * checked here, not in the shape rules: no such key ever reaches L1, so an L1 hit cannot
 * be one, and the hit path keeps its one cheap check.
 */
export const keyIssue = (key: unknown): ValidationIssue | undefined =>
  keyShapeIssue(key) ??
    (!(key as string).isWellFormed()
      ? { field: "key", value: shown(key as string), rule: WELL_FORMED_RULE }
      : (key as string).startsWith(TAG_KEY_PREFIX)
      ? { field: "key", value: shown(key as string), rule: TAG_KEY_RULE }
      : undefined)

/** The failure for a key that breaks a rule. */
export const keyError = (key: unknown, issue: ValidationIssue = keyIssue(key)!) =>
  Exit.fail(validationError([issue], {
    subject: "Invalid cache key",
    ...(typeof key === "string" ? { key: key.slice(0, 64) } : {})
  }))

/** The rules of an invalidation pattern; `undefined` when it keeps them. */
export const patternIssue = (pattern: unknown): ValidationIssue | undefined => {
  if (typeof pattern !== "string") return { field: "pattern", value: String(pattern), rule: "must be a string" }
  if (!pattern.isWellFormed()) return { field: "pattern", value: shown(pattern), rule: WELL_FORMED_RULE }
  return undefined
}

/** The failure for a pattern that breaks a rule. */
export const patternError = (issue: ValidationIssue) => Exit.fail(validationError([issue], { subject: "Invalid pattern" }))

/** The failure for `undefined` as a value. */
export const undefinedValueError = (key: string) =>
  Exit.fail(validationError([{
    field: "value",
    value: "undefined",
    rule: "undefined cannot be stored (null can)"
  }], { subject: "Invalid cache value", key }))

/** A TTL in whole milliseconds, the fallback when none is given, or the refusal. */
export const ttlMillisOf = (key: string, ttl: Duration.Input | undefined, fallback: number): number | ValidationError => {
  if (ttl === undefined) return fallback
  const duration = Duration.fromInput(ttl)
  if (Option.isNone(duration)) {
    return validationError([{ field: "ttl", value: String(ttl), rule: "must be a duration" }], {
      subject: "Invalid TTL",
      key
    })
  }
  const millis = Duration.toMillis(duration.value)
  if (!(millis > 0) || millis > CacheLimits.maxTtlMillis) {
    return validationError([{
      field: "ttl",
      value: Duration.format(duration.value),
      rule: millis > 0
        ? "must be at most 365 days"
        : "must be positive (zero or negative TTLs are rejected, not read as \"forever\")"
    }], { subject: "Invalid TTL", key })
  }
  return Math.ceil(millis)
}
