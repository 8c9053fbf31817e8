/**
 * Order statistics for benchmark samples.
 */

/** The `q` quantile (0..1) of ascending `sorted`, interpolating between neighbours; NaN when empty. */
export const quantile = (sorted: ArrayLike<number>, q: number): number => {
  if (sorted.length === 0) return Number.NaN
  const position = (sorted.length - 1) * q
  const below = Math.floor(position)
  const above = Math.ceil(position)
  const low = sorted[below]!
  return low + (sorted[above]! - low) * (position - below)
}

/** The median of `values` (any order). */
export const median = (values: ReadonlyArray<number>): number => quantile(Float64Array.from(values).sort(), 0.5)

/** All samples of several rounds in one ascending array. */
export const pooledSorted = (rounds: ReadonlyArray<Float64Array>): Float64Array => {
  const total = rounds.reduce((sum, round) => sum + round.length, 0)
  const pooled = new Float64Array(total)
  let offset = 0
  for (const round of rounds) {
    pooled.set(round, offset)
    offset += round.length
  }
  return pooled.sort()
}
