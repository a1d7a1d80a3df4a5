/**
 * Function shipping: how a function reaches engines.
 *
 * Two ways, both typed by the function they stand for:
 *
 * - by reference into a module the engines load (`Remote.module(url, exports)`):
 *   the engine imports the module (once) and calls its export by name; the
 *   function may use anything its module imports. The `sync_imports`
 *   counterpart: this is how real kernels (typed-array loops) run on engines.
 * - by source (`Remote.fn(f)`): the function's text is sent and compiled on
 *   each engine, so it must be self-contained. One that captures outer
 *   variables is refused at once with `NotShippable` naming them; pass such
 *   values as arguments, push them into the namespace, or use a module.
 *
 * `Remote.reference(name)` passes a value from each engine's namespace as an
 * argument (IPython's `Reference`).
 */
import { Effect, Schema } from "effect"
import { Code } from "../index.ts"
import { NotShippable } from "./Errors.ts"
import { freeVariables, THIS } from "./FreeVariables.ts"

export type AnyFunction = (...args: Array<any>) => any

/** A function engines can call, standing for `F`. */
export interface RemoteFunction<F extends AnyFunction> {
  readonly _tag: "RemoteFunction"
  readonly name: string
  readonly spec: Spec
  /** Phantom: the function's type. */
  readonly __function?: F
}

export type Spec =
  | { readonly kind: "module"; readonly module: string; readonly name: string }
  | { readonly kind: "source"; readonly name: string; readonly source: string }

/** A function as it travels to an engine: shipped by the tier (see `Code`), or as source. */
export const WireSpec = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("module"), ...Code.Shipped.fields }),
  Schema.Struct({ kind: Schema.Literal("source"), name: Schema.String, source: Schema.String })
])
export type WireSpec = typeof WireSpec.Type

/** A function, or its remote form. Views accept both; plain functions are shipped by source. */
export type Callable<F extends AnyFunction> = F | RemoteFunction<F>

export const isRemoteFunction = (u: unknown): u is RemoteFunction<AnyFunction> =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "RemoteFunction"

const NATIVE = /\{\s*\[native code\]\s*\}\s*$/

const importedName = (name: string) => /^__vi(?:te_ssr)?_(?:dynamic_)?import_\d*_*$/.test(name) || /^__vite_ssr_/.test(name)

/** Compile a shipped function's source into a function (on an engine, or on the client to check it). */
export const compile = (source: string): AnyFunction => {
  const make = (body: string) => new Function("__name", `"use strict"; ${body}`)((f: unknown) => f) as unknown
  let value: unknown
  try {
    value = make(`return (${source}\n)`)
  } catch (error) {
    // Method shorthand (`f(x) { ... }`) is not an expression: read it back out of an object literal.
    try {
      value = make(`const o = {${source}\n}; return o[Object.getOwnPropertyNames(o)[0]]`)
    } catch {
      throw error
    }
  }
  if (typeof value !== "function") throw new TypeError("the source is not a function")
  return value as AnyFunction
}

/** Check a function for shipping by source and describe it; fails with `NotShippable` naming what it captures. */
export const fromFunction = <F extends AnyFunction>(f: F, options: { readonly name?: string } = {}): Effect.Effect<RemoteFunction<F>, NotShippable> =>
  Effect.suspend(() => {
    const name = options.name ?? (f.name || "anonymous")
    const source = Function.prototype.toString.call(f)
    const refuse = (message: string, captured: ReadonlyArray<string> = []) =>
      Effect.fail(new NotShippable({ function: name, captured: [...captured], message }))
    if (NATIVE.test(source)) {
      return refuse(`function ${name} is native or bound: it has no source to ship; call it through a module (Remote.module)`)
    }
    if (/^class[\s{]/.test(source)) return refuse(`${name} is a class, not a function`)
    try {
      compile(source)
    } catch (error) {
      return refuse(`function ${name} cannot be compiled on its own: ${error instanceof Error ? error.message : String(error)}`)
    }
    let captured: ReadonlyArray<string>
    try {
      captured = freeVariables(source)
    } catch {
      // Syntax the parser does not know yet (V8 compiled it above): not refused here; a capture still fails on the engine.
      captured = []
    }
    if (captured.length > 0) {
      const what = captured.map((v) => (importedName(v) ? `${v} (an import)` : v === THIS ? `this (the caller's)` : v)).join(", ")
      return refuse(
        `function ${name} captures outer variables (${what}), which do not exist on the engines; ` +
          `shipped functions must be self-contained: pass the values as arguments, push them into the namespace, ` +
          `or define the function in a module and call it by reference (Remote.module)`,
        captured
      )
    }
    return Effect.succeed({ _tag: "RemoteFunction", name, spec: { kind: "source", name, source } } as RemoteFunction<F>)
  })

/** `fromFunction`, throwing `NotShippable` (for module-level definitions). */
export const fn = <F extends AnyFunction>(f: F, options: { readonly name?: string } = {}): RemoteFunction<F> =>
  Effect.runSync(fromFunction(f, options))

/** Turn a `Callable` into its remote form (plain functions are shipped by source). */
export const toRemote = <F extends AnyFunction>(f: Callable<F>): Effect.Effect<RemoteFunction<F>, NotShippable> =>
  isRemoteFunction(f) ? Effect.succeed(f as RemoteFunction<F>) : fromFunction(f as F)

/** A reference to the export `name` of the module at `url` (which engines load on first use). */
export const ref = <F extends AnyFunction>(url: string, name: string): RemoteFunction<F> => ({
  _tag: "RemoteFunction",
  name,
  spec: { kind: "module", module: url, name }
})

export const ModuleTypeId: unique symbol = Symbol.for("actorflow/engines/RemoteModule")

/** The names of a module's exported functions. */
export type FunctionKeys<M> = { [K in keyof M]: M[K] extends AnyFunction ? K : never }[keyof M] & string

/** A module engines can import: its URL, and a remote reference for each exported function. */
export type RemoteModule<M> = { readonly [K in FunctionKeys<M>]: M[K] extends AnyFunction ? RemoteFunction<M[K]> : never } & {
  readonly [ModuleTypeId]: string
}

/**
 * Describe a module for engines: `Remote.module(url, exports)` where `exports` is the module imported here
 * (`import * as kernels from "./kernels.ts"`) and `url` its URL (`new URL("./kernels.ts", import.meta.url).href`).
 */
export const module = <M extends object>(url: string, exports: M): RemoteModule<M> => {
  const out: Record<string | symbol, unknown> = { [ModuleTypeId]: url }
  for (const [name, value] of Object.entries(exports)) {
    if (typeof value === "function") out[name] = ref(url, name)
  }
  return out as RemoteModule<M>
}

export const isRemoteModule = (u: unknown): u is RemoteModule<object> =>
  typeof u === "object" && u !== null && typeof (u as Record<symbol, unknown>)[ModuleTypeId] === "string"

export const moduleUrl = (m: RemoteModule<object>): string => m[ModuleTypeId]

/** A value read from each engine's namespace where it is used as an argument. */
export interface Reference<A> {
  readonly _tag: "Reference"
  readonly name: string
  readonly __type?: A
}

export const reference = <A = unknown>(name: string): Reference<A> => ({ _tag: "Reference", name })

/** The key a reference travels under (a plain object survives structured cloning; a class or symbol would not). */
export const REFERENCE_KEY = "__actorflow_reference__"

export const isReference = (u: unknown): u is Reference<unknown> =>
  typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "Reference" && typeof (u as { name?: unknown }).name === "string"

/** Arguments where any position may instead be a reference to a namespace value. */
export type Args<A extends ReadonlyArray<unknown>> = { readonly [K in keyof A]: A[K] | Reference<A[K]> }

/** Encode top-level references for the wire. */
export const encodeArgs = (args: ReadonlyArray<unknown>): Array<unknown> =>
  args.map((arg) => (isReference(arg) ? { [REFERENCE_KEY]: arg.name } : arg))

/** What a call's value becomes once the engine has awaited it: promises and Effects are run there. */
export type Result<R> = R extends Effect.Effect<infer A, any, any> ? A : Awaited<R>

/** The key a function travels under inside pushed values and arguments (a plain object, like a reference). */
export const FUNCTION_KEY = "__actorflow_function__"

const isPlainObject = (u: unknown): u is Record<string, unknown> => {
  if (typeof u !== "object" || u === null) return false
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

/** Whether `value` holds something `test` picks anywhere (in arrays, plain objects and Map values). */
const holds = (value: unknown, test: (u: unknown) => boolean): boolean => {
  if (test(value)) return true
  if (Array.isArray(value)) return value.some((item) => holds(item, test))
  if (value instanceof Map) {
    for (const item of value.values()) if (holds(item, test)) return true
    return false
  }
  if (isPlainObject(value)) return Object.values(value).some((item) => holds(item, test))
  return false
}

/** Whether `value` holds a reference or a remote function anywhere (in arrays, plain objects and Map values). */
export const hasMarks = (value: unknown): boolean => holds(value, (u) => isReference(u) || isRemoteFunction(u))

/** The engine's side of `hasMarks`: whether an encoded value holds reference or function markers. */
export const hasMarkers = (value: unknown): boolean =>
  holds(value, (u) => isPlainObject(u) && (REFERENCE_KEY in u || FUNCTION_KEY in u))

/**
 * `value` for the wire: references (`Remote.reference`) and remote functions (`Remote.module`, `Remote.fn`)
 * anywhere in arrays, plain objects and Map values become plain marker objects, which the engine turns back into
 * the namespace's value and the function (`decodeValue`). `ship` gives a function's wire form.
 */
export const encodeValue = <E>(value: unknown, ship: (f: RemoteFunction<AnyFunction>) => Effect.Effect<WireSpec, E>): Effect.Effect<unknown, E> => {
  if (isReference(value)) return Effect.succeed({ [REFERENCE_KEY]: value.name })
  if (isRemoteFunction(value)) return Effect.map(ship(value), (spec) => ({ [FUNCTION_KEY]: spec }))
  if (!hasMarks(value)) return Effect.succeed(value)
  if (Array.isArray(value)) return Effect.forEach(value, (item) => encodeValue(item, ship))
  if (value instanceof Map) {
    return Effect.map(
      Effect.forEach([...value], ([key, item]) => Effect.map(encodeValue(item, ship), (encoded) => [key, encoded] as const)),
      (entries) => new Map(entries)
    )
  }
  return Effect.map(
    Effect.forEach(Object.entries(value as Record<string, unknown>), ([key, item]) => Effect.map(encodeValue(item, ship), (encoded) => [key, encoded] as const)),
    Object.fromEntries
  )
}

/** The engine's side of `encodeValue`: markers back into namespace values (`lookup`) and functions (`load`). */
export const decodeValue = <E>(
  value: unknown,
  lookup: (name: string) => Effect.Effect<unknown, E>,
  load: (spec: WireSpec) => Effect.Effect<AnyFunction, E>
): Effect.Effect<unknown, E> => {
  if (Array.isArray(value)) return Effect.forEach(value, (item) => decodeValue(item, lookup, load))
  if (value instanceof Map) {
    return Effect.map(
      Effect.forEach([...value], ([key, item]) => Effect.map(decodeValue(item, lookup, load), (decoded) => [key, decoded] as const)),
      (entries) => new Map(entries)
    )
  }
  if (!isPlainObject(value)) return Effect.succeed(value)
  if (REFERENCE_KEY in value) return lookup(value[REFERENCE_KEY] as string)
  if (FUNCTION_KEY in value) return load(value[FUNCTION_KEY] as WireSpec)
  return Effect.map(
    Effect.forEach(Object.entries(value), ([key, item]) => Effect.map(decodeValue(item, lookup, load), (decoded) => [key, decoded] as const)),
    Object.fromEntries
  )
}

/** The key a failure travels under in a `returnExceptions` map's results (the engine's side of `RemoteError`). */
export const FAILURE_KEY = "__actorflow_failure__"
