/**
 * Typed arrays over `SharedArrayBuffer`, and the plain handles that carry them to other threads.
 *
 * A handle is a plain object (`kind`, buffer, offset, length). `postMessage` shares the buffer instead of
 * copying it, so `fromHandle` on the receiving thread gives a view over the same memory.
 */
import { Schema } from "effect"

export type Kind =
  | "Int8"
  | "Uint8"
  | "Int16"
  | "Uint16"
  | "Int32"
  | "Uint32"
  | "Float32"
  | "Float64"
  | "BigInt64"
  | "BigUint64"

/** The typed array type of each kind. */
export interface ArrayOf {
  readonly Int8: Int8Array<SharedArrayBuffer>
  readonly Uint8: Uint8Array<SharedArrayBuffer>
  readonly Int16: Int16Array<SharedArrayBuffer>
  readonly Uint16: Uint16Array<SharedArrayBuffer>
  readonly Int32: Int32Array<SharedArrayBuffer>
  readonly Uint32: Uint32Array<SharedArrayBuffer>
  readonly Float32: Float32Array<SharedArrayBuffer>
  readonly Float64: Float64Array<SharedArrayBuffer>
  readonly BigInt64: BigInt64Array<SharedArrayBuffer>
  readonly BigUint64: BigUint64Array<SharedArrayBuffer>
}

export type SharedTypedArray = ArrayOf[Kind]

/** Any typed array, whatever its buffer type says (checked at run time by `handle`). */
export type AnyTypedArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array

/** The kind of a typed array type, read from its `Symbol.toStringTag` ("Int32Array" -> "Int32"). */
export type KindOf<A extends AnyTypedArray> = A[typeof Symbol.toStringTag] extends `${infer K extends Kind}Array` ? K
  : never

export interface Handle<K extends Kind = Kind> {
  readonly _tag: "SharedArray"
  readonly kind: K
  readonly buffer: SharedArrayBuffer
  readonly byteOffset: number
  readonly length: number
}

/** A handle's Schema, for actor protocols: the buffer crosses threads shared, not copied. */
export const handleSchema = <K extends Kind>(kind: K): Schema.Codec<Handle<K>> =>
  Schema.Struct({
    _tag: Schema.Literal("SharedArray"),
    kind: Schema.Literal(kind),
    buffer: Schema.instanceOf(SharedArrayBuffer),
    byteOffset: Schema.Number,
    length: Schema.Number
  }) as unknown as Schema.Codec<Handle<K>>

type Constructor = new(buffer: SharedArrayBuffer, byteOffset: number, length: number) => SharedTypedArray

const constructors: { readonly [K in Kind]: Constructor } = {
  Int8: Int8Array,
  Uint8: Uint8Array,
  Int16: Int16Array,
  Uint16: Uint16Array,
  Int32: Int32Array,
  Uint32: Uint32Array,
  Float32: Float32Array,
  Float64: Float64Array,
  BigInt64: BigInt64Array,
  BigUint64: BigUint64Array
}

/** Bytes per element of a kind. */
export const bytesPerElement = (kind: Kind): number => (constructors[kind] as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT

/** A zero-filled array of `length` elements in a fresh `SharedArrayBuffer` of its own. */
export const make = <K extends Kind>(kind: K, length: number): ArrayOf[K] =>
  new constructors[kind](new SharedArrayBuffer(length * bytesPerElement(kind)), 0, length) as ArrayOf[K]

/** A view of `length` elements at `byteOffset` of an existing buffer (e.g. one buffer holding several arrays). */
export const view = <K extends Kind>(
  kind: K,
  buffer: SharedArrayBuffer,
  byteOffset: number,
  length: number
): ArrayOf[K] => new constructors[kind](buffer, byteOffset, length) as ArrayOf[K]

const kindOf = (array: AnyTypedArray): Kind => {
  for (const kind in constructors) {
    if (array instanceof constructors[kind as Kind]) return kind as Kind
  }
  throw new TypeError("SharedArray.handle: not a typed array")
}

/** The postable description of a typed array that lives in a `SharedArrayBuffer`. */
export const handle = <A extends AnyTypedArray>(array: A): Handle<KindOf<A>> => {
  if (!(array.buffer instanceof SharedArrayBuffer)) {
    // A plain ArrayBuffer would be copied by postMessage, so the receiver would silently write to a copy.
    throw new TypeError("SharedArray.handle: the array is not backed by a SharedArrayBuffer")
  }
  return {
    _tag: "SharedArray",
    kind: kindOf(array) as KindOf<A>,
    buffer: array.buffer,
    byteOffset: array.byteOffset,
    length: array.length
  }
}

/** Revives a handle (typically received through `postMessage`) into a view over the same memory. */
export const fromHandle = <K extends Kind>(h: Handle<K>): ArrayOf[K] => view(h.kind, h.buffer, h.byteOffset, h.length)
