/**
 * How the invalidation link tells a cache that a tag was invalidated elsewhere. A tag's
 * last invalidation is an ordinary entry, `<keyPrefix>__tag:<tag>`, so tracking and the bus
 * report it like any other key; the link hands such keys to the cache's tag listener,
 * which evicts the L1 entries carrying the tag and forgets the tag's cached timestamp.
 * The link is built before the cache, so the cache registers its listener afterwards.
 */

/** Where tag timestamps live under the cache's prefix; user keys may not start with it. */
export const TAG_KEY_PREFIX = "__tag:"

/** Whether a cache key (without the prefix) is a tag timestamp. */
export const isTagKey = (key: string): boolean => key.startsWith(TAG_KEY_PREFIX)

/** What a cache does when its link reports tag changes. */
export interface TagListener {
  /** The timestamp of `tag` changed (another instance, another program, an expiry). */
  readonly changed: (tag: string) => void
  /** Changes may have been missed (the link was lost, Redis flushed): forget every timestamp. */
  readonly flushed: () => void
}

/** The link's side: report changes; the cache's side: listen. */
export interface TagSignals extends TagListener {
  /** Registers a cache's listener (each cache built on the link registers one, for the link's life). */
  readonly listen: (listener: TagListener) => void
}

/** Signals with no listener yet. */
export const makeTagSignals = (): TagSignals => {
  const listeners: Array<TagListener> = []
  return {
    listen: (next) => {
      listeners.push(next)
    },
    changed: (tag) => {
      for (const listener of listeners) listener.changed(tag)
    },
    flushed: () => {
      for (const listener of listeners) listener.flushed()
    }
  }
}
