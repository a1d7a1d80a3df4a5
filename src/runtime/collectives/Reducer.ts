/**
 * Reducers: how collectives combine values — a Schema for the values (they cross threads) and an associative
 * `combine`, made at module level and found on every worker by reference, like tasks and kernels.
 *
 * ```ts
 * export const Stats = Schema.Struct({ sum: Schema.Number, max: Schema.Number })
 * export const stats = Reducer.make("stats", {
 *   module: import.meta.url,
 *   schema: Stats,
 *   combine: (a, b) => ({ sum: a.sum + b.sum, max: Math.max(a.max, b.max) })
 * })
 * ```
 *
 * `combine` need not be commutative (values are combined in rank order) and, for floating point, need not be
 * exactly associative either: the bracketing is fixed by the group's size (see `Tree`), so the result is the
 * same bits at any worker count and placement. `serial` computes it in this thread.
 */
import { Predicate, Schema } from "effect"
import { Code } from "../index.ts"
import type { Actor } from "../index.ts"
import * as Tree from "./Tree.ts"

export interface Reducer<A> {
  readonly _tag: "Reducer"
  readonly name: string
  readonly module: string
  readonly schema: Schema.Codec<A, any, never, never>
  readonly combine: (a: A, b: A) => A
}

export type Any = Reducer<any>

/** Define a reducer. `module` must be `import.meta.url` of the module that makes it, at module level. */
export const make = <S extends Actor.Codec>(
  name: string,
  spec: { readonly module: string; readonly schema: S; readonly combine: (a: S["Type"], b: S["Type"]) => S["Type"] }
): Reducer<S["Type"]> =>
  Code.register(spec.module, name, {
    _tag: "Reducer",
    name,
    module: spec.module,
    schema: spec.schema,
    combine: spec.combine
  } satisfies Reducer<S["Type"]>)

export const isReducer = (u: unknown): u is Any =>
  Predicate.isTagged(u, "Reducer") && Predicate.hasProperty(u, "combine") && typeof u.combine === "function"

export const sum = make("sum", { module: import.meta.url, schema: Schema.Number, combine: (a, b) => a + b })
export const product = make("product", { module: import.meta.url, schema: Schema.Number, combine: (a, b) => a * b })
/** `Math.min` / `Math.max`: commutative, -0 and NaN included. */
export const min = make("min", { module: import.meta.url, schema: Schema.Number, combine: Math.min })
export const max = make("max", { module: import.meta.url, schema: Schema.Number, combine: Math.max })

/** Element-wise sum of equally long Float64Arrays (a fresh array; a length mismatch throws). */
export const sumFloat64 = make("sumFloat64", {
  module: import.meta.url,
  schema: Schema.instanceOf<new() => Float64Array>(Float64Array),
  combine: (a, b) => {
    if (a.length !== b.length) throw new RangeError(`sumFloat64: lengths ${a.length} and ${b.length} differ`)
    const out = new Float64Array(a.length)
    for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!
    return out
  }
})

/** The reduction of `values` (one per rank) as every member of a group of that size gets it. */
export const serial = <A>(reducer: Reducer<A>, values: ReadonlyArray<A>): A => Tree.reduce(reducer.combine, values)

/** The inclusive scan of `values` (one per rank) as the members get it. */
export const serialScan = <A>(reducer: Reducer<A>, values: ReadonlyArray<A>): Array<A> => Tree.scan(reducer.combine, values)
