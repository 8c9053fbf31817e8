/**
 * Redis Cluster hash slots: which keys may share one command.
 *
 * The server refuses a multi-key command (a script with several KEYS, MGET, UNLINK of
 * several keys, a MULTI) whose keys are in different slots (CROSSSLOT), and ioredis
 * refuses to send one; so every batch is split by slot, and each part is sent on its own.
 * The slot function is `cluster-key-slot`, the package ioredis itself depends on (and
 * computes its own routing with), so the two can never disagree.
 *
 * @internal
 */
import { createRequire } from "node:module"

// A CommonJS package without typings: `createRequire` keeps this module ESM and typed here.
const calculateSlot = createRequire(import.meta.url)("cluster-key-slot") as (key: string) => number

/** The hash slot (0 to 16383) of a key, honouring `{hash tags}`. */
export const slotOf = (key: string): number => calculateSlot(key)

/**
 * The indexes of `items`, grouped by the slot of their key, in first-seen order; each
 * group keeps the items' order.
 */
export const groupBySlot = <I>(items: ReadonlyArray<I>, keyOf: (item: I) => string): Array<Array<number>> => {
  const groups = new Map<number, Array<number>>()
  for (let i = 0; i < items.length; i++) {
    const slot = slotOf(keyOf(items[i]!))
    const group = groups.get(slot)
    if (group === undefined) groups.set(slot, [i])
    else group.push(i)
  }
  return Array.from(groups.values())
}
