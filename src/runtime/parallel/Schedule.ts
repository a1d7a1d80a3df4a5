/**
 * Schedules: which worker runs which logical chunk of a `parallelFor` — OpenMP's `static`, `dynamic` and
 * `guided`.
 *
 * The index range is cut into logical chunks of a fixed size (`chunk`), independently of the schedule and of
 * the worker count: chunk c is `[start + c·chunk, min(end, start + (c+1)·chunk))`. Schedules only decide who
 * runs which chunks, so a reduction over per-chunk partials gives the same bits whoever ran them.
 *
 * - `static`: worker w takes one contiguous block of chunks, fixed in advance (no coordination at all);
 * - `dynamic`: workers take the next chunk from a shared atomic counter until none are left;
 * - `guided`: like dynamic, but a grab takes about (chunks left) / workers chunks at once, so grabs start large
 *   and shrink to one chunk: few claims, and still a balanced end.
 *
 * A grab of consecutive chunks is one kernel call, except with a reduction, which needs one partial per chunk.
 * Claims and the cancel flag live in one small shared `Int32Array` (the *control* words).
 */

import { Partition } from "../index.ts"

export type Schedule = "static" | "dynamic" | "guided"

export const SCHEDULES: ReadonlyArray<Schedule> = ["static", "dynamic", "guided"]

/** Control words: the next unclaimed chunk (dynamic, guided), and the cancel flag. */
export const NEXT = 0
export const CANCEL = 1
export const CONTROL_WORDS = 2

/** The chunking of an index range. */
export interface Plan {
  readonly start: number
  readonly end: number
  readonly chunk: number
}

/** Default chunk size: about 64 chunks, whatever the worker count (so reductions stay worker-independent). */
export const defaultChunk = (n: number): number => Math.max(1, Math.ceil(n / 64))

export const chunkCount = (plan: Plan): number => plan.end <= plan.start ? 0 : Math.ceil((plan.end - plan.start) / plan.chunk)

export const chunkLo = (plan: Plan, c: number): number => plan.start + c * plan.chunk

export const chunkHi = (plan: Plan, c: number): number => Math.min(plan.end, plan.start + (c + 1) * plan.chunk)

/** Worker w's static block of chunks: `[first, last)`, blocks as equal as possible, in worker order. */
export const staticBlock = (chunks: number, worker: number, workers: number): readonly [number, number] =>
  Partition.bounds(chunks, workers, worker)

/** Claims the next chunk; returns its index, or a value >= `chunks` when none is left. */
export const claimDynamic = (control: Int32Array<SharedArrayBuffer>): number => Atomics.add(control, NEXT, 1)

/**
 * Claims a guided grab: `ceil(left / workers)` chunks (at least one). Returns the first chunk, and writes the
 * grab's size to `size[0]`; returns a value >= `chunks` when none is left.
 */
export const claimGuided = (
  control: Int32Array<SharedArrayBuffer>,
  chunks: number,
  workers: number,
  size: Int32Array
): number => {
  for (;;) {
    const next = Atomics.load(control, NEXT)
    if (next >= chunks) return chunks
    const take = Math.max(1, Math.ceil((chunks - next) / workers))
    if (Atomics.compareExchange(control, NEXT, next, next + take) === next) {
      size[0] = take
      return next
    }
  }
}

export const isCancelled = (control: Int32Array<SharedArrayBuffer>): boolean => Atomics.load(control, CANCEL) !== 0

export const cancel = (control: Int32Array<SharedArrayBuffer>): void => {
  Atomics.store(control, CANCEL, 1)
}
