/**
 * How `scatter` splits a sequence over engines and `gather` joins the parts:
 * contiguous parts in order, sizes as even as possible (they differ by at most
 * one, the larger ones first), so 11 items on 4 engines are
 * `[[0,1,2],[3,4,5],[6,7,8],[9,10]]`. Typed arrays stay typed arrays.
 */

export type TypedArray =
  | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array
  | Float32Array | Float64Array | BigInt64Array | BigUint64Array

/** The element types of several sequences, position by position (the arguments `mapMany` gives its function). */
export type Items<S extends ReadonlyArray<Iterable<unknown>>> = { readonly [K in keyof S]: S[K] extends Iterable<infer A> ? A : never }

/** A sequence `scatter` and `map` accept. */
export type Sequence<A> = ReadonlyArray<A> | (TypedArray & ArrayLike<A>)

export const isTypedArray = (u: unknown): u is TypedArray => ArrayBuffer.isView(u) && !(u instanceof DataView)

/** The [lo, hi) bounds of each of `parts` parts of `n` items. */
export const bounds = (n: number, parts: number): Array<readonly [number, number]> => {
  const base = Math.floor(n / parts)
  const extra = n % parts
  const out: Array<readonly [number, number]> = []
  let lo = 0
  for (let p = 0; p < parts; p++) {
    const hi = lo + base + (p < extra ? 1 : 0)
    out.push([lo, hi])
    lo = hi
  }
  return out
}

/** Split into `parts` contiguous parts (copies: typed arrays are sliced, not viewed). */
export const split = <S extends Sequence<unknown>>(sequence: S, parts: number): Array<S> =>
  bounds(sequence.length, parts).map(([lo, hi]) => sequence.slice(lo, hi) as S)

/** Join parts back: arrays are concatenated, typed arrays of one kind into one typed array, anything else listed. */
export const join = (parts: ReadonlyArray<unknown>): unknown => {
  if (parts.every(Array.isArray)) return (parts as ReadonlyArray<ReadonlyArray<unknown>>).flat()
  const first = parts[0]
  if (isTypedArray(first) && parts.every((part) => isTypedArray(part) && part.constructor === first.constructor)) {
    const typed = parts as ReadonlyArray<TypedArray>
    const out = new (first.constructor as new(n: number) => TypedArray)(typed.reduce((n, part) => n + part.length, 0))
    let at = 0
    for (const part of typed) {
      out.set(part as never, at)
      at += part.length
    }
    return out
  }
  return [...parts]
}
