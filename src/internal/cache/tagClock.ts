/**
 * The tag clock: each tag's last invalidation time as Redis holds it (`<prefix>__tag:<tag>`),
 * cached in memory so that a read of an entry with tags costs no round trip once its tags
 * are known. Bounded (the oldest tag learnt goes first). A cached time is dropped when the
 * tag's key changes and the invalidation link reports it, and everything is dropped when
 * the link may have missed changes (a flush). With no link to report changes
 * (`l1Invalidation: "off"`) a cached time is trusted for `UNLINKED_MAX_AGE_MILLIS` only;
 * while a link exists but is down, not at all.
 *
 * A fetch in flight while the tag changes must not cache what it read: the clock keeps a
 * refill guard of its own, keyed by tag.
 */
import { makeRefillGuard } from "../coherence/refillGuard.js"

/** How long a tag's time is trusted when no invalidation link reports its changes. */
export const UNLINKED_MAX_AGE_MILLIS = 1_000
/** Most tags whose times are cached. */
export const MAX_CACHED_TAGS = 10_000

interface Known {
  readonly at: number
  readonly learntAt: number
}

/** The tag clock of one cache. */
export interface TagClock {
  /** The tag's last invalidation (0: none), or `undefined` when it must be fetched. */
  readonly known: (tag: string) => number | undefined
  /** Taken before a fetch: `fill` refuses what it read if the tag changed meanwhile. */
  readonly stamp: () => number
  /** Caches what a fetch stamped `stamp` read. */
  readonly fill: (tag: string, at: number, stamp: number) => void
  /** This instance invalidated `tag` at `at`: known at once, whatever a fetch in flight read. */
  readonly invalidated: (tag: string, at: number) => void
  /** The tag changed elsewhere. */
  readonly forget: (tag: string) => void
  /** Changes may have been missed. */
  readonly forgetAll: () => void
}

/**
 * A clock. `maxAgeMillis` says, per read, how long a cached time is trusted now
 * (Infinity while a link reports changes, 0 while it is down).
 */
export const makeTagClock = (now: () => number, maxAgeMillis: () => number): TagClock => {
  const times = new Map<string, Known>()
  const guard = makeRefillGuard()
  const remember = (tag: string, at: number) => {
    times.delete(tag)
    if (times.size >= MAX_CACHED_TAGS) times.delete(times.keys().next().value!)
    times.set(tag, { at, learntAt: now() })
  }
  return {
    known: (tag) => {
      const entry = times.get(tag)
      if (entry === undefined) return undefined
      const maxAge = maxAgeMillis()
      if (maxAge === Infinity || now() - entry.learntAt < maxAge) return entry.at
      times.delete(tag)
      return undefined
    },
    stamp: guard.stamp,
    fill: (tag, at, stamp) => {
      if (maxAgeMillis() > 0 && guard.mayRefill(tag, stamp)) remember(tag, at)
    },
    invalidated: (tag, at) => {
      guard.touch(tag)
      const previous = times.get(tag)?.at ?? 0
      remember(tag, Math.max(previous, at))
    },
    forget: (tag) => {
      guard.touch(tag)
      times.delete(tag)
    },
    forgetAll: () => {
      guard.touchAll()
      times.clear()
    }
  }
}
