/**
 * Tasks: plain module-level functions that pools run on workers by reference,
 * the counterpart of the functions Python's `multiprocessing` pickles by name.
 *
 * A task records its module (`import.meta.url`) and name, and Schemas for its
 * input, output and typed error, so items are checked where they cross threads.
 *
 * ```ts
 * export const square = Task.make("square", {
 *   module: import.meta.url,
 *   input: Schema.Number,
 *   output: Schema.Number,
 *   run: (x) => x * x
 * })
 * // a task of several arguments, for `pool.starmap(add, [[1, 2], [3, 4]])`
 * export const add = Task.star("add", {
 *   module: import.meta.url,
 *   inputs: [Schema.Number, Schema.Number],
 *   output: Schema.Number,
 *   run: (a, b) => a + b
 * })
 * ```
 */
import { Effect, Predicate, Schema } from "effect"
import { Code } from "../index.ts"
import type { Actor } from "../index.ts"

export interface Task<I, O, E = never> {
  readonly _tag: "Task"
  readonly name: string
  readonly module: string
  readonly input: Schema.Codec<I, any, never, never>
  readonly output: Schema.Codec<O, any, never, never>
  readonly error: Schema.Codec<E, any, never, never>
  /** Runs one item; a plain return value or an Effect for tasks that fail in a typed way. */
  readonly run: (input: I) => O | Effect.Effect<O, E>
}

export type Any = Task<any, any, any>

export const make = <I extends Actor.Codec, O extends Actor.Codec, E extends Actor.Codec = Schema.Never>(
  name: string,
  spec: {
    readonly module: string
    readonly input: I
    readonly output: O
    readonly error?: E
    readonly run: (input: I["Type"]) => O["Type"] | Effect.Effect<O["Type"], E["Type"]>
  }
): Task<I["Type"], O["Type"], E["Type"]> => {
  const task: Task<I["Type"], O["Type"], E["Type"]> = {
    _tag: "Task",
    name,
    module: spec.module,
    input: spec.input,
    output: spec.output,
    error: (spec.error ?? Schema.Never) as E,
    run: spec.run
  }
  return Code.register(spec.module, name, task)
}

/** The types of a list of Schemas, as a tuple. */
export type TypesOf<S extends ReadonlyArray<Actor.Codec>> = { readonly [K in keyof S]: S[K]["Type"] }

/**
 * A task of several arguments (Python's `f(a, b)` for `starmap`): its input is the tuple of its arguments, each
 * checked by its Schema, and `run` receives them spread.
 */
export const star = <const S extends ReadonlyArray<Actor.Codec>, O extends Actor.Codec, E extends Actor.Codec = Schema.Never>(
  name: string,
  spec: {
    readonly module: string
    readonly inputs: S
    readonly output: O
    readonly error?: E
    readonly run: (...args: TypesOf<S>) => O["Type"] | Effect.Effect<O["Type"], E["Type"]>
  }
): Task<TypesOf<S>, O["Type"], E["Type"]> =>
  make(name, {
    module: spec.module,
    input: Schema.Tuple(spec.inputs as unknown as ReadonlyArray<Schema.Top>) as unknown as Schema.Codec<TypesOf<S>, any, never, never>,
    output: spec.output,
    error: (spec.error ?? Schema.Never) as E,
    run: (args) => spec.run(...(args as TypesOf<S>))
  })

export const isTask = (u: unknown): u is Any => Predicate.isTagged(u, "Task")

/** Run one item as an Effect, whether the task returns a value or an Effect. */
export const runOne = <I, O, E>(task: Task<I, O, E>, input: I): Effect.Effect<O, E> =>
  Effect.suspend(() => {
    const out = task.run(input)
    return Effect.isEffect(out) ? out : Effect.succeed(out)
  })
