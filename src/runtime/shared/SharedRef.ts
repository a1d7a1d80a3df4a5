/**
 * A shared numeric cell, the chapter's `multiprocessing.Value`: every update is atomic, on any thread.
 *
 * Two kinds: `"Int32"` (values truncated to Int32) and `"Float64"`. Both update lock-free with a
 * compare-and-swap loop, Float64 through the bits of the number in a `BigInt64Array` over the same 8 bytes.
 * Nothing ever blocks, so the same methods are safe on the main thread and no owner can die holding a lock.
 * The price: `update` / `modify` may call `f` more than once under contention, so `f` must be pure.
 * When an update must run exactly once or touch more than the cell, guard it with a `Mutex` instead.
 *
 * Methods are synchronous (`ref.update(f)`); module functions are the same as Effects (`SharedRef.update(ref, f)`).
 */
import { Effect, Schema } from "effect"

export type Kind = "Int32" | "Float64"

export interface Handle<K extends Kind = Kind> {
  readonly _tag: "SharedRef"
  readonly kind: K
  readonly buffer: SharedArrayBuffer
  readonly byteOffset: number
}

/** A handle's Schema, for actor protocols: the buffer crosses threads shared, not copied. */
export const handleSchema = <K extends Kind>(kind: K): Schema.Codec<Handle<K>> =>
  Schema.Struct({
    _tag: Schema.Literal("SharedRef"),
    kind: Schema.Literal(kind),
    buffer: Schema.instanceOf(SharedArrayBuffer),
    byteOffset: Schema.Number
  }) as unknown as Schema.Codec<Handle<K>>

export interface SharedRef<K extends Kind = Kind> {
  readonly handle: Handle<K>
  get(): number
  set(value: number): void
  /** Replaces the value with `f(value)` atomically; returns the new value. */
  update(f: (value: number) => number): number
  /** Replaces the value with the second element of `f(value)` atomically; returns the first. */
  modify<B>(f: (value: number) => readonly [B, number]): B
}

class Int32Ref implements SharedRef<"Int32"> {
  readonly cell: Int32Array<SharedArrayBuffer>
  constructor(readonly handle: Handle<"Int32">) {
    this.cell = new Int32Array(handle.buffer, handle.byteOffset, 1)
  }
  get(): number {
    return Atomics.load(this.cell, 0)
  }
  set(value: number): void {
    Atomics.store(this.cell, 0, value)
  }
  update(f: (value: number) => number): number {
    for (;;) {
      const old = Atomics.load(this.cell, 0)
      const next = f(old) | 0
      if (Atomics.compareExchange(this.cell, 0, old, next) === old) return next
    }
  }
  modify<B>(f: (value: number) => readonly [B, number]): B {
    for (;;) {
      const old = Atomics.load(this.cell, 0)
      const [b, next] = f(old)
      if (Atomics.compareExchange(this.cell, 0, old, next | 0) === old) return b
    }
  }
}

// Per-thread scratch to convert a float to its bits and back.
const scratchFloat = new Float64Array(1)
const scratchBits = new BigInt64Array(scratchFloat.buffer)
const toBits = (value: number): bigint => {
  scratchFloat[0] = value
  return scratchBits[0]!
}
const fromBits = (bits: bigint): number => {
  scratchBits[0] = bits
  return scratchFloat[0]!
}

class Float64Ref implements SharedRef<"Float64"> {
  // Atomics work on BigInt64 but not on Float64 arrays; a 64-bit atomic access never tears the number.
  readonly bits: BigInt64Array<SharedArrayBuffer>
  constructor(readonly handle: Handle<"Float64">) {
    this.bits = new BigInt64Array(handle.buffer, handle.byteOffset, 1)
  }
  get(): number {
    return fromBits(Atomics.load(this.bits, 0))
  }
  set(value: number): void {
    Atomics.store(this.bits, 0, toBits(value))
  }
  update(f: (value: number) => number): number {
    for (;;) {
      const old = Atomics.load(this.bits, 0)
      const next = f(fromBits(old))
      if (Atomics.compareExchange(this.bits, 0, old, toBits(next)) === old) return next
    }
  }
  modify<B>(f: (value: number) => readonly [B, number]): B {
    for (;;) {
      const old = Atomics.load(this.bits, 0)
      const [b, next] = f(fromBits(old))
      if (Atomics.compareExchange(this.bits, 0, old, toBits(next)) === old) return b
    }
  }
}

/** Bytes a cell occupies; the byte offset must be a multiple of it. */
export const byteSize = (kind: Kind): number => kind === "Int32" ? 4 : 8

/** Revives a handle received from another thread. */
export const fromHandle = <K extends Kind>(handle: Handle<K>): SharedRef<K> =>
  (handle.kind === "Int32"
    ? new Int32Ref(handle as Handle<"Int32">)
    : new Float64Ref(handle as Handle<"Float64">)) as unknown as SharedRef<K>

/** A new cell holding `initial`, in its own buffer or at `byteOffset` of a given one. */
export const make = <K extends Kind>(kind: K, initial: number, options?: {
  readonly buffer?: SharedArrayBuffer
  readonly byteOffset?: number
}): SharedRef<K> => {
  const ref = fromHandle<K>({
    _tag: "SharedRef",
    kind,
    buffer: options?.buffer ?? new SharedArrayBuffer(byteSize(kind)),
    byteOffset: options?.byteOffset ?? 0
  })
  ref.set(initial)
  return ref
}

export const get = (ref: SharedRef): Effect.Effect<number> => Effect.sync(() => ref.get())

export const set = (ref: SharedRef, value: number): Effect.Effect<void> => Effect.sync(() => ref.set(value))

export const update = (ref: SharedRef, f: (value: number) => number): Effect.Effect<number> =>
  Effect.sync(() => ref.update(f))

export const modify = <B>(ref: SharedRef, f: (value: number) => readonly [B, number]): Effect.Effect<B> =>
  Effect.sync(() => ref.modify(f))
