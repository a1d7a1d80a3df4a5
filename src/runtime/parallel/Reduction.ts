/**
 * Reductions of a `parallelFor`: per-chunk partials combined in a fixed pairwise tree over chunk indices.
 *
 * Floating-point addition is not associative, so a sum depends on how it is bracketed. Partials are stored by
 * logical chunk index (never in arrival order) and combined level by level — (0,1), (2,3), … then pairs of
 * those — so the bracketing depends only on the number of chunks: the result is the same bits for any worker
 * count and any schedule. The serial reference (`ParallelFor.serial`) uses the same chunks and the same tree.
 */

export type Reduce = "sum" | "min" | "max"

export const REDUCTIONS: ReadonlyArray<Reduce> = ["sum", "min", "max"]

/** The value of an empty reduction (what a kernel should return for an empty range). */
export const identity = (op: Reduce): number => op === "sum" ? 0 : op === "min" ? Infinity : -Infinity

/** Combines two partials. `Math.min` / `Math.max` are commutative, including for -0 and NaN. */
export const combine = (op: Reduce, a: number, b: number): number =>
  op === "sum" ? a + b : op === "min" ? Math.min(a, b) : Math.max(a, b)

/** Combines `partials` (one per chunk, in chunk order) pairwise, level by level. Does not modify them. */
export const tree = (op: Reduce, partials: ArrayLike<number>): number => {
  let m = partials.length
  if (m === 0) return identity(op)
  const level = Float64Array.from(partials)
  while (m > 1) {
    const half = m >> 1
    for (let i = 0; i < half; i++) level[i] = combine(op, level[2 * i]!, level[2 * i + 1]!)
    if ((m & 1) === 1) level[half] = level[m - 1]!
    m = half + (m & 1)
  }
  return level[0]!
}
