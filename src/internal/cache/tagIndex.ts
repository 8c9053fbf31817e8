/**
 * The L1 tag index: which L1 entries carry which tag, so that a tag invalidation (made
 * here, or reported by the link) evicts them. The L1 hit path never looks at tags (it
 * must stay a bare lookup); an L1 entry with tags is therefore only ever correct because
 * this index evicts it in time.
 *
 * Bounded by tag-key pairs. The index is not told of L1's own evictions; it is pruned
 * against L1 when it reaches its bound (pairs of keys L1 no longer holds go), and when
 * that is not enough the oldest indexed entries are evicted from L1 with their pairs: an
 * entry is never kept in L1 unindexed. A stale pair (a key L1 dropped and then refilled)
 * costs at most one needless eviction.
 */
import type { MemoryTier } from "../../tiers/MemoryTier.js"

/** Most tag-key pairs indexed. */
export const MAX_TAG_PAIRS = 100_000

/** The index of one cache's L1. */
export interface TagIndex {
  /** How many keys are indexed (0: nothing to forget on an untagged write). */
  readonly size: () => number
  /** `key` was put into L1 with `tags`. */
  readonly add: (key: string, tags: ReadonlyArray<string>) => void
  /** `key` was put into L1 without tags (or removed). */
  readonly forget: (key: string) => void
  /** Evicts from L1 every entry carrying `tag`; how many were indexed. */
  readonly evictTag: (tag: string) => number
}

/** An index over `memory`. */
export const makeTagIndex = (memory: MemoryTier["Service"], maxPairs = MAX_TAG_PAIRS): TagIndex => {
  // key -> its tags, in the order the keys were indexed (the oldest first)
  const tagsOf = new Map<string, ReadonlyArray<string>>()
  const keysOf = new Map<string, Set<string>>()
  let pairs = 0

  const forget = (key: string) => {
    const tags = tagsOf.get(key)
    if (tags === undefined) return
    tagsOf.delete(key)
    for (const tag of tags) {
      const keys = keysOf.get(tag)
      if (keys?.delete(key) === true) {
        pairs--
        if (keys.size === 0) keysOf.delete(tag)
      }
    }
  }

  // Drops the pairs of keys L1 no longer holds; then, if still above half the bound, evicts
  // the oldest indexed entries from L1, so that a full index costs one pass, not one per add.
  const makeRoom = () => {
    for (const key of Array.from(tagsOf.keys())) if (!memory.has(key)) forget(key)
    for (const key of tagsOf.keys()) {
      if (pairs <= maxPairs / 2) break
      memory.delete(key)
      forget(key)
    }
  }

  return {
    size: () => tagsOf.size,
    add: (key, tags) => {
      forget(key)
      if (pairs + tags.length > maxPairs) makeRoom()
      tagsOf.set(key, tags)
      for (const tag of tags) {
        let keys = keysOf.get(tag)
        if (keys === undefined) {
          keys = new Set()
          keysOf.set(tag, keys)
        }
        if (!keys.has(key)) {
          keys.add(key)
          pairs++
        }
      }
    },
    forget,
    evictTag: (tag) => {
      const keys = keysOf.get(tag)
      if (keys === undefined) return 0
      const evicted = Array.from(keys)
      for (const key of evicted) {
        memory.delete(key)
        forget(key)
      }
      return evicted.length
    }
  }
}
