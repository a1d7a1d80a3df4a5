/**
 * Zero-copy messages: a protocol marks the typed arrays it moves rather than copies, through Effect's
 * transferable Schema support (`Transferable.schema` from `effect/workers`).
 *
 * ```ts
 * protocol: {
 *   scale: Actor.message({ payload: Transfer.Float64Array, success: Transfer.Float64Array })
 * }
 * ```
 *
 * Where a message crosses threads, the buffers of its moved fields go to the receiver as `postMessage`
 * transfers: nothing is copied, and the sender's buffer is **detached** (its `byteLength` becomes 0), so the
 * sender must not use it after sending. A buffer moves whole: a typed array that is a view onto part of a larger
 * buffer takes all of it along. Shared memory (`SharedArrayBuffer`) is never moved: it is shared already. On the
 * same thread (the Local tier, two actors on one worker) messages pass by reference, moved or not. A message that
 * fails (its payload does not fit its schema, or cannot be posted) moves nothing: its buffers stay with the
 * sender, and never travel along with another message of the same batch.
 *
 * Moving pays for large arrays (a copy costs about a memory bandwidth's worth per byte on each side); for small
 * ones a copy is as cheap, and a receiver's access to a moved buffer can be slower than to a fresh copy:
 * measure before choosing (`npm run bench -- --only foundation` measures a 10 MB round trip).
 */
import { Schema, SchemaAST } from "effect"
import { Transferable } from "effect/workers"
import { registerMoved } from "./internal/Codec.ts"

/** The distinct ArrayBuffers behind the typed arrays, DataViews and ArrayBuffers in `value` (arrays and plain objects are searched). */
export const buffersOf = (value: unknown): Array<globalThis.ArrayBuffer> => {
  // (This module exports an `ArrayBuffer` schema: the global one is spelled out.)
  const Buffer = globalThis.ArrayBuffer
  const found = new Set<globalThis.ArrayBuffer>()
  const visit = (u: unknown, depth: number): void => {
    if (typeof u !== "object" || u === null || depth > 8) return
    if (u instanceof Buffer) {
      found.add(u)
    } else if (Buffer.isView(u)) {
      if (u.buffer instanceof Buffer) found.add(u.buffer)
    } else if (Array.isArray(u)) {
      for (const item of u) visit(item, depth + 1)
    } else if (Object.getPrototypeOf(u) === Object.prototype) {
      for (const key in u) visit((u as Record<string, unknown>)[key], depth + 1)
    }
  }
  visit(value, 0)
  return [...found]
}

/** Mark a schema's values as moved to the receiver (see the module doc); its encoded value's buffers are transferred. */
export const moved = <S extends Schema.Top>(schema: S): Transferable.Transferable<S> => {
  const result = Transferable.schema(schema, (encoded: S["Encoded"]) => buffersOf(encoded))
  // Over an identity schema, the encoding only lists buffers: the codec does that without the parser.
  if (SchemaAST.toType(schema.ast) === schema.ast) registerMoved(result.ast, buffersOf)
  return result
}

/** A `Float64Array` moved to the receiver instead of copied. */
export const Float64Array = moved(Schema.instanceOf(globalThis.Float64Array))
/** A `Float32Array` moved to the receiver instead of copied. */
export const Float32Array = moved(Schema.instanceOf(globalThis.Float32Array))
/** An `Int32Array` moved to the receiver instead of copied. */
export const Int32Array = moved(Schema.instanceOf(globalThis.Int32Array))
/** A `Uint8Array` moved to the receiver instead of copied. */
export const Uint8Array = moved(Schema.instanceOf(globalThis.Uint8Array))
/** An `ArrayBuffer` moved to the receiver instead of copied. */
export const ArrayBuffer = moved(Schema.instanceOf(globalThis.ArrayBuffer))
