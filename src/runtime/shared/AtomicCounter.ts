/**
 * A shared Int32 counter updated with `Atomics.add`: exact under any contention, and lock-free.
 *
 * The counter is one Int32 cell; it wraps around at 2^31 like any Int32. Its handle is also the cell that the
 * race demo (`RaceKernels`) increments with and without guards.
 */
import * as Postable from "./Postable.ts"

/** A counter's postable handle (see `Postable.schema`). */
export const HandleSchema = Postable.schema("AtomicCounter")
export type Handle = typeof HandleSchema.Type

/** Bytes a counter occupies (one Int32, 4-byte aligned). */
export const byteSize = 4

export class AtomicCounter {
  readonly cell: Int32Array<SharedArrayBuffer>

  constructor(readonly handle: Handle) {
    this.cell = new Int32Array(handle.buffer, handle.byteOffset, 1)
  }

  /** Adds `delta` atomically; returns the value before (fetch-and-add). */
  add(delta = 1): number {
    return Atomics.add(this.cell, 0, delta)
  }

  get(): number {
    return Atomics.load(this.cell, 0)
  }

  /** Sets the counter to `value` (default 0); returns the value before. */
  reset(value = 0): number {
    return Atomics.exchange(this.cell, 0, value)
  }
}

/** A new counter, in its own buffer or at `byteOffset` (4-aligned) of a given one. */
export const make = (options?: {
  readonly initial?: number
  readonly buffer?: SharedArrayBuffer
  readonly byteOffset?: number
}): AtomicCounter => {
  const counter = new AtomicCounter({
    _tag: "AtomicCounter",
    buffer: options?.buffer ?? new SharedArrayBuffer(byteSize),
    byteOffset: options?.byteOffset ?? 0
  })
  if (options?.initial !== undefined) counter.reset(options.initial)
  return counter
}

/** Revives a handle received from another thread. */
export const fromHandle = (handle: Handle): AtomicCounter => new AtomicCounter(handle)
