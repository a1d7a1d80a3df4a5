/**
 * Code that runs remotely — actor definitions, tasks, kernels, engine functions — and how a worker finds it.
 *
 * Only data crosses threads and processes, never a closure: code is named by the module that defines it
 * (`import.meta.url`) and its name there. Every factory (`Actor.make`, `Task.make`, `Kernel.make`) registers
 * what it makes here under that pair, and engine functions are found by export name, so a worker needs only
 * to load the module to find the code again. This is the one registry and the one resolver for all of them.
 *
 * How a module reaches a worker is the tier's business, answered by `ActorSystem.Service.ship`: it turns a
 * `Locator` into a `Shipped` whose `via` says what the worker imports to load the module (a bundle on
 * Threads, the module itself on Local). Libraries only ever ship and resolve; they never ask which tier
 * they run on.
 */
import { Effect, Predicate, Schema } from "effect"
import * as Path from "node:path"
import { pathToFileURL } from "node:url"
import { describe } from "./ActorError.ts"
import * as Layout from "./internal/Layout.ts"
import * as ScriptBoot from "./internal/threads/ScriptBoot.ts"

/** Names a piece of code: the module that defines it (`import.meta.url`) and its name there. */
export interface Locator {
  readonly module: string
  readonly name: string
}

/**
 * A locator ready for a worker: `via` is what it imports to load the module: "" for the module URL itself, else
 * the file name of a bundle in the bundle cache of the process the worker belongs to (`Layout.cacheDir`), so that a
 * runner on another machine loads its own copy.
 */
export const Shipped = Schema.Struct({ module: Schema.String, name: Schema.String, via: Schema.String })
export type Shipped = typeof Shipped.Type

/**
 * The code cannot be had: its module could not be shipped (`ship`) or loaded (`load`), or does not define it
 * (`find`).
 */
export class CodeUnavailable extends Schema.TaggedError<CodeUnavailable>()("CodeUnavailable", {
  module: Schema.String,
  name: Schema.String,
  stage: Schema.Literals(["ship", "load", "find"]),
  detail: Schema.String
}) {}

export const isCodeUnavailable = (u: unknown): u is CodeUnavailable => Predicate.isTagged(u, "CodeUnavailable")

const registry = new Map<string, unknown>()
const key = (module: string, name: string) => `${module}#${name}`

/**
 * Record `value` as the code named `name` in `module`; returns it. A module that is evaluated again replaces its
 * entries; two different kinds of code under one name in one module are refused, since workers could not tell
 * which one is meant.
 */
export const register = <A>(module: string, name: string, value: A): A => {
  const previous = registry.get(key(module, name))
  const tagOf = (u: unknown) => (Predicate.hasProperty(u, "_tag") ? u._tag : typeof u)
  if (previous !== undefined && tagOf(previous) !== tagOf(value)) {
    throw new TypeError(`${module} defines two things named "${name}" (${String(tagOf(previous))} and ${String(tagOf(value))})`)
  }
  registry.set(key(module, name), value)
  return value
}

/** The code registered under (`module`, `name`) in this thread, if its module was loaded here. */
export const lookup = (module: string, name: string): unknown => registry.get(key(module, name))

/** A module's exports, as loaded in this thread. */
export type Namespace = Readonly<Record<string, unknown>>

const loading = new Map<string, Promise<Namespace>>()
const loaded = new Map<string, Namespace>()

/**
 * Make a module known in this thread without importing it (a worker's own runtime modules, which its base
 * bundle already holds, and which it could not import from their `.ts` sources).
 */
export const provide = (module: string, namespace: Namespace): void => {
  loaded.set(module, namespace)
  loading.set(module, Promise.resolve(namespace))
}

/** Load the module of `shipped` in this thread, once (concurrent loads share one import). */
export const load = (shipped: Omit<Shipped, "name"> & { readonly name?: string }): Effect.Effect<Namespace, CodeUnavailable> => {
  // Shipped across processes, a module of the project is named relative to its root (see `Layout.portableModule`).
  const module = Layout.localModule(shipped.module)
  const ready = loaded.get(module)
  if (ready !== undefined) return Effect.succeed(ready)
  return Effect.tryPromise({
    try: () => {
      let pending = loading.get(module)
      if (pending === undefined) {
        pending = ScriptBoot.importModule(shipped.via === "" ? module : pathToFileURL(Path.join(Layout.cacheDir(), shipped.via)).href) as Promise<Namespace>
        loading.set(module, pending)
        pending.then((namespace) => loaded.set(module, namespace), () => loading.delete(module))
      }
      return pending
    },
    catch: (error) =>
      new CodeUnavailable({ module: shipped.module, name: shipped.name ?? "*", stage: "load", detail: `cannot load ${module}: ${describe(error)}` })
  })
}

/**
 * The code `shipped` names, loading its module here first if needed; `is` checks that it is the kind of code the
 * caller expects (`what` names that kind in the error). Synchronous once the module is loaded.
 */
export const resolve = <A>(
  shipped: Shipped,
  is: (u: unknown) => u is A,
  what: string
): Effect.Effect<A, CodeUnavailable> => {
  const module = Layout.localModule(shipped.module)
  const here = module === shipped.module ? shipped : { ...shipped, module }
  const found = find(here)
  if (found !== undefined) return check(here, found, is, what)
  return Effect.flatMap(load(here), () => check(here, find(here), is, what))
}

const find = (shipped: Shipped): unknown => lookup(shipped.module, shipped.name) ?? loaded.get(shipped.module)?.[shipped.name]

const check = <A>(shipped: Shipped, found: unknown, is: (u: unknown) => u is A, what: string): Effect.Effect<A, CodeUnavailable> => {
  if (is(found)) return Effect.succeed(found)
  const detail = found === undefined ? missing(shipped, is, what) : `"${shipped.name}" in ${shipped.module} is not ${what}`
  return Effect.fail(new CodeUnavailable({ module: shipped.module, name: shipped.name, stage: "find", detail }))
}

/** Why `shipped` is not in its module, and what the module has instead: the usual slips get named. */
const missing = (shipped: Shipped, is: (u: unknown) => boolean, what: string): string => {
  const head = `${shipped.module} has no ${what} ${shipped.name}`
  const exports = loaded.get(shipped.module)
  if (exports === undefined) return `${head} (make it at module level there, and export it)`
  if (is(exports.default)) {
    return `${head}: it is the module's default export; export it by name (export const ${shipped.name} = ...)`
  }
  const names = Object.keys(exports).filter((name) => name !== "default")
  const shown = names.length === 0 ? "nothing" : names.slice(0, 8).join(", ") + (names.length > 8 ? ", ..." : "")
  return `${head} (it exports ${shown}; make ${shipped.name} at module level there, and export it)`
}
