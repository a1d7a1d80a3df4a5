/**
 * How work is cut into pieces, written once for every library: the automatic chunk size, contiguous parts of a
 * sequence, and consecutive ranges of an index space.
 */

/** Automatic chunking aims at this many chunks per worker (Python's `multiprocessing` rule). */
export const CHUNKS_PER_WORKER = 4

/** Items per chunk so that `items` make about `CHUNKS_PER_WORKER` chunks per worker (at least 1). */
export const chunkSize = (items: number, workers: number): number =>
  Math.max(1, Math.ceil(items / (Math.max(1, workers) * CHUNKS_PER_WORKER)))

/**
 * The `[lo, hi)` of part `p` when `n` items are cut into `parts` contiguous parts, in order, as even as possible
 * (sizes differ by at most one, the larger parts first).
 */
export const bounds = (n: number, parts: number, p: number): readonly [number, number] => {
  const base = Math.floor(n / parts)
  const extra = n % parts
  const lo = p * base + Math.min(p, extra)
  return [lo, lo + base + (p < extra ? 1 : 0)]
}

/** Every part's `bounds`, in order. */
export const allBounds = (n: number, parts: number): Array<readonly [number, number]> =>
  Array.from({ length: parts }, (_, p) => bounds(n, parts, p))

/** A range of indices: `count` of them from `start`. */
export interface Range {
  readonly start: number
  readonly count: number
}

/** [0, n) as consecutive ranges of `size` (the last may be shorter), produced as they are read. */
export function* ranges(n: number, size: number): Generator<Range> {
  for (let start = 0; start < n; start += size) yield { start, count: Math.min(size, n - start) }
}
