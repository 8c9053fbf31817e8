/**
 * Negative caching (`missTtl`): a lookup that returns an `Option` may find nothing, and
 * that answer is worth keeping too, for `missTtl`. `Option.some(value)` is stored as
 * `value`; `Option.none()` as the negative entry below, which every serializer keeps.
 * A `getOrSet` with `missTtl` answers `Option.some` of a stored value and `Option.none()`
 * for a negative entry.
 */
import { Option } from "effect"

/** What a negative entry holds (what a plain `get` of its key returns). */
export const NEGATIVE_ENTRY: { readonly "~effect-redis-cache": "miss" } = { "~effect-redis-cache": "miss" }

const isNegative = (value: unknown): boolean =>
  typeof value === "object" && value !== null && (value as Record<string, unknown>)["~effect-redis-cache"] === "miss"

/** What to store for a lookup's value, and whether it is a negative entry. */
export const storedFormOf = (value: unknown): { readonly stored: unknown; readonly negative: boolean } => {
  if (!Option.isOption(value)) return { stored: value, negative: false }
  return Option.isSome(value) ? { stored: value.value, negative: false } : { stored: NEGATIVE_ENTRY, negative: true }
}

/**
 * A `getOrSet` answer as an `Option`, from the stored form of the entry (a value or a
 * negative entry), which is what every caller of the key's single flight receives.
 */
export const answerOf = (value: unknown): Option.Option<unknown> => isNegative(value) ? Option.none() : Option.some(value)
