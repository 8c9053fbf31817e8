/**
 * A cache's synchronous L1 read, for the Promise facade (src/CacheClient.ts): it answers
 * an L1 hit without starting a fiber. Kept beside the service rather than on it, so the
 * public `CacheService` type does not grow an Effect-less back door.
 */

/** The value L1 would answer `get(key)` with right now, or `undefined` when the Effect path must answer. */
export type L1Peek = (key: string) => unknown

const peeks = new WeakMap<object, L1Peek>()

/** Records `service`'s L1 read. */
export const registerL1Peek = (service: object, peek: L1Peek): void => {
  peeks.set(service, peek)
}

/** The L1 read of `service`, if it has one (a namespace view, for one, has none). */
export const l1PeekOf = (service: object): L1Peek | undefined => peeks.get(service)
