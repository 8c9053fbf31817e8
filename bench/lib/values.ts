/**
 * Cache values of about 100 B, 2 KB and 50 KB as JSON: records with repeated field
 * names and similar strings, so they compress the way real cached JSON does.
 */
import type { SizeName } from "./harness.js"

/** The sizes measured, smallest first. */
export const sizes: ReadonlyArray<SizeName> = ["100B", "2KB", "50KB"]

/** A small record: about 100 bytes of JSON. */
const user = (seed: number) => ({
  id: seed,
  name: `user-${seed}`,
  email: `user${seed}@example.com`,
  active: seed % 2 === 0,
  score: seed % 1000,
  role: "member"
})

/** One line of an order: about 100 bytes of JSON. */
const line = (seed: number, n: number) => ({
  sku: `SKU-${(seed * 31 + n) % 100_000}`,
  title: `Widget number ${n}`,
  qty: (n % 5) + 1,
  price: 9.5 + (n % 7),
  tags: ["blue", "large"]
})

const linesFor: Record<Exclude<SizeName, "100B">, number> = { "2KB": 20, "50KB": 550 }

/** A fresh value of about `size` bytes of JSON, distinct for each `seed`. */
export const makeValue = (size: SizeName, seed: number): object =>
  size === "100B"
    ? user(seed)
    : { id: seed, customer: user(seed), lines: Array.from({ length: linesFor[size] }, (_, n) => line(seed, n)) }

/** The JSON size of one value of each size (for the report). */
export const jsonBytes = (size: SizeName): number => Buffer.byteLength(JSON.stringify(makeValue(size, 12345)))
