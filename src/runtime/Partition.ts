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

/** The number of items of an input whose size is known without reading it (arrays, typed arrays, sets, maps). */
export const knownLength = (items: Iterable<unknown>): number | undefined => {
  if (Array.isArray(items) || ArrayBuffer.isView(items)) return (items as ArrayLike<unknown>).length
  if (items instanceof Set || items instanceof Map) return items.size
  return undefined
}

/** Largest automatic chunk. */
export const MAX_CHUNK = 1 << 16
/** What an adaptive chunk aims at: this many milliseconds of work on a worker. */
export const TARGET_CHUNK_MS = 4

/**
 * Items per chunk when an input is cut as it is read: a fixed size if one is given; `chunkSize` for an input of
 * known length; otherwise adaptive — one item first, then sized from the measured time per item so that a chunk
 * is about `TARGET_CHUNK_MS` of work (growing at most 4x per observation, up to `MAX_CHUNK`).
 */
export class Chunker {
  private size: number
  private readonly adaptive: boolean

  constructor(fixed: number | undefined, known: number | undefined, workers: number) {
    this.size = fixed ?? (known !== undefined ? Math.min(MAX_CHUNK, chunkSize(known, workers)) : 1)
    this.adaptive = fixed === undefined && known === undefined
  }

  next(): number {
    return this.size
  }

  /** A chunk of `items` took `ms` of work: adapt the size (adaptive chunkers only). */
  observe(items: number, ms: number): void {
    if (!this.adaptive || items === 0) return
    const perItem = Math.max(ms / items, 1e-5)
    const wanted = Math.max(1, Math.min(MAX_CHUNK, Math.round(TARGET_CHUNK_MS / perItem)))
    this.size = Math.max(1, Math.min(wanted, this.size * 4))
  }
}

/**
 * `items` cut into chunks as they are read: at most one chunk is held at a time, so an endless or huge input
 * costs no more memory than its chunks in flight. `stop()` ends it early (checked before each chunk).
 */
export function* chunks<A>(items: Iterable<A>, chunker: Chunker, stop: () => boolean = () => false): Generator<Array<A>> {
  const iterator = items[Symbol.iterator]()
  try {
    for (;;) {
      if (stop()) return
      const size = chunker.next()
      const chunk: Array<A> = []
      for (let i = 0; i < size; i++) {
        const next = iterator.next()
        if (next.done === true) break
        chunk.push(next.value)
      }
      if (chunk.length === 0) return
      yield chunk
      if (chunk.length < size) return
    }
  } finally {
    iterator.return?.()
  }
}
