/**
 * Namespaces: a view of a cache whose keys, `clear` and pattern invalidation stay under
 * `<name>:`. The view is the same cache (one L1, bounded once; one connection; one set
 * of counters and events), so a namespace costs one string concatenation per call.
 */
import { Effect, Exit } from "effect"
import type { CacheService } from "../../Cache.js"
import { makeResolver } from "./resolver.js"
import { validationError, type ValidationError } from "../../errors.js"
import { escapeGlob } from "../pattern.js"
import { patternError, patternIssue } from "./inputs.js"

const SEPARATOR = ":"
const MAX_NAME_LENGTH = 256

/** The refusal of a namespace name, or `undefined` when it is a good one. */
const nameIssue = (name: unknown) => {
  if (typeof name !== "string") return { field: "namespace", value: String(name), rule: "must be a string" }
  if (name.length === 0) return { field: "namespace", value: "\"\"", rule: "must not be empty" }
  if (name.length > MAX_NAME_LENGTH) {
    return { field: "namespace", value: `${name.length} characters`, rule: `must be at most ${MAX_NAME_LENGTH} characters` }
  }
  if (!name.isWellFormed()) {
    return { field: "namespace", value: JSON.stringify(name), rule: "must be well-formed Unicode text (no lone surrogate)" }
  }
  return undefined
}

/**
 * The view of `parent` under `name`: key `k` is the parent's `<name>:k`, tag `t` its `<name>:t`. `clear` removes
 * `<name>:*` only; a literal pattern matches keys under the namespace whose rest contains it,
 * a glob is matched against the rest. Status, counters, callbacks and events are the
 * parent's (events name the full key).
 */
export const namespaced = (parent: CacheService, name: string): Effect.Effect<CacheService, ValidationError> => {
  const issue = nameIssue(name)
  if (issue !== undefined) return Exit.fail(validationError([issue], { subject: "Invalid namespace" }))
  const prefix = name + SEPARATOR
  const globPrefix = escapeGlob(prefix)
  // Tags are the namespace's own too: tag `t` here is the parent's `<name>:t`. A tag that is
  // not a string is passed on unchanged, for the parent to refuse.
  const scoped = (tag: unknown) => typeof tag === "string" ? prefix + tag : tag as string
  const scopedTags = <O extends { readonly tags?: ReadonlyArray<string> }>(options: O | undefined): O | undefined =>
    options?.tags === undefined || !Array.isArray(options.tags) ? options : { ...options, tags: options.tags.map(scoped) }
  // What is not a key (or not an array of them) is passed as it is, for the parent to refuse.
  const prefixedAll = (keys: ReadonlyArray<string>) => Array.isArray(keys) ? keys.map((key) => typeof key === "string" ? prefix + key : key) : keys
  const view: CacheService = {
    get: ((key: string, schema?: never) =>
      schema === undefined ? parent.get(prefix + key) : parent.get(prefix + key, schema)) as CacheService["get"],
    set: (key, value, options) => parent.set(prefix + key, value, scopedTags(options)),
    getOrSet: (key, lookup, options) => parent.getOrSet(prefix + key, lookup, scopedTags(options)),
    invalidateTags: (tags) => parent.invalidateTags(Array.isArray(tags) ? tags.map(scoped) : tags),
    delete: (key) => parent.delete(prefix + key),
    getMany: ((keys: ReadonlyArray<string>, schema?: never) =>
      parent.getMany(prefixedAll(keys), schema as never)) as CacheService["getMany"],
    setMany: (entries, options) =>
      parent.setMany(
        Array.isArray(entries)
          ? entries.map((entry) =>
            typeof entry?.key === "string"
              ? { ...entry, key: prefix + entry.key, ...(entry.options === undefined ? {} : { options: scopedTags(entry.options) }) }
              : entry
          )
          : entries,
        scopedTags(options)
      ),
    deleteMany: (keys) => parent.deleteMany(prefixedAll(keys)),
    // lookupMany sees the keys as the caller gave them, and answers them so.
    getOrSetMany: (keys, lookupMany, options) =>
      parent.getOrSetMany(
        prefixedAll(keys),
        (missing) =>
          Effect.map(
            lookupMany(missing.map((key) => key.slice(prefix.length)) as unknown as typeof missing),
            (answer) => Array.from(answer, ([key, value]) => [prefix + key, value] as const)
          ),
        options
      ),
    resolver: (options) => makeResolver(view)(options),
    exists: (key) => parent.exists(prefix + key),
    ttl: (key) => parent.ttl(prefix + key),
    clear: Effect.asVoid(parent.invalidatePattern(`${globPrefix}*`, { glob: true })),
    invalidatePattern: (pattern, options) => {
      // Checked before it is joined to the prefix, so a refusal shows the caller's pattern.
      const issue = patternIssue(pattern)
      if (issue !== undefined) return patternError(issue)
      const glob = options?.glob === true ? globPrefix + pattern : `${globPrefix}*${escapeGlob(pattern)}*`
      return parent.invalidatePattern(glob, { glob: true })
    },
    namespace: (child) => namespaced(view, child),
    status: parent.status,
    stats: parent.stats,
    resetStats: parent.resetStats,
    registerCallback: parent.registerCallback,
    events: parent.events
  }
  return Effect.succeed(view)
}
