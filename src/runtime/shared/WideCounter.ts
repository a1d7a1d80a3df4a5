/**
 * A shared 64-bit integer counter updated with `Atomics.add` on a `BigInt64Array`: exact up to 2^63 under any
 * contention, lock-free, on any thread (nothing blocks).
 *
 * For totals that outgrow `AtomicCounter`'s Int32, which wraps at 2^31: π's hit count at 1e9+ samples, say.
 * `add` takes and `get` returns plain numbers (exact below 2^53); `addBig` / `getBig` work in bigints.
 */
import * as Postable from "./Postable.ts"

/** A counter's postable handle (see `Postable.schema`). */
export const HandleSchema = Postable.schema("WideCounter")
export type Handle = typeof HandleSchema.Type

/** Bytes a counter occupies (one BigInt64, 8-byte aligned). */
export const byteSize = 8

export class WideCounter {
  readonly cell: BigInt64Array<SharedArrayBuffer>

  constructor(readonly handle: Handle) {
    this.cell = new BigInt64Array(handle.buffer, handle.byteOffset, 1)
  }

  /** Adds an integer `delta` atomically. */
  add(delta: number): void {
    Atomics.add(this.cell, 0, BigInt(delta))
  }

  /** Adds `delta` atomically; returns the value before (fetch-and-add). */
  addBig(delta: bigint): bigint {
    return Atomics.add(this.cell, 0, delta)
  }

  /** The value as a number (exact below 2^53). */
  get(): number {
    return Number(Atomics.load(this.cell, 0))
  }

  getBig(): bigint {
    return Atomics.load(this.cell, 0)
  }

  /** Sets the counter to `value` (default 0). */
  reset(value: bigint = 0n): void {
    Atomics.store(this.cell, 0, value)
  }
}

/** A new counter at zero, in its own buffer or at `byteOffset` (8-aligned, zeroed) of a given one. */
export const make = (options?: { readonly buffer?: SharedArrayBuffer; readonly byteOffset?: number }): WideCounter =>
  new WideCounter({
    _tag: "WideCounter",
    buffer: options?.buffer ?? new SharedArrayBuffer(byteSize),
    byteOffset: options?.byteOffset ?? 0
  })

/** Revives a handle received from another thread. */
export const fromHandle = (handle: Handle): WideCounter => new WideCounter(handle)

/** Revives an optional handle (a progress counter a message may carry): undefined stays undefined. */
export const fromOptionalHandle = (handle: Handle | undefined): WideCounter | undefined =>
  handle === undefined ? undefined : new WideCounter(handle)
