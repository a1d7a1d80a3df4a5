/**
 * The engine: a long-lived actor that keeps a namespace of named values between
 * calls, loads user modules on request, and calls functions against its
 * namespace — IPython parallel's engine, as an actor, so it lives wherever
 * the actor system puts it (a worker thread here, another machine later).
 *
 * Functions arrive by reference (module URL and export name; the module is
 * imported once per thread) or by source (compiled once per thread). What
 * they return may be a value, a promise or an Effect; every reply carries the
 * engine-side start and end times of the work, and is checked for
 * cloneability before it leaves, so a bad result is a typed `RemoteError`,
 * never a crashed engine. Long `map` chunks yield between items now and then,
 * so an interrupt reaches them.
 */
import { Effect, Exit, Schema } from "effect"
import { threadId } from "node:worker_threads"
import { Actor, ActorError, Code } from "../index.ts"
import { findUncloneable } from "./Cloneable.ts"
import { RemoteError } from "./Errors.ts"
import * as Remote from "./Remote.ts"

/** Wall-clock milliseconds (fractional) comparable across threads. */
export const now = (): number => performance.timeOrigin + performance.now()

/** Every engine reply: the value and when the engine started and ended the work. */
export const Reply = Schema.Struct({ value: Schema.Unknown, started: Schema.Number, completed: Schema.Number })
export type Reply = typeof Reply.Type

/** A module to bind under `alias` in the namespace, shipped by the tier. */
export const ModuleSpec = Schema.Struct({ alias: Schema.String, ...Code.Shipped.fields })

export const Info = Schema.Struct({ engine: Schema.Number, worker: Schema.Number, threadId: Schema.Number, pid: Schema.Number })
export type Info = typeof Info.Type

/** The namespace a function sees: a plain object of the engine's named values (and imported modules). */
export type Namespace = Record<string, any>

/** What `execute` functions get besides the namespace. */
export interface ExecuteContext {
  readonly engine: number
}

// Compiled sources are per thread: every engine on a thread shares them, as they share the module cache.
const compiled = new Map<string, Remote.AnyFunction>()

const isFunction = (u: unknown): u is Remote.AnyFunction => typeof u === "function"

export const Engine = Actor.make("Engine", {
  module: import.meta.url,
  init: Schema.Struct({ id: Schema.Number }),
  mailbox: 4096,
  // Namespaces keep what they are sent: copy it, also on the Local tier, so the caller's later mutations
  // never reach an engine (and an engine's never reach the caller).
  isolated: true,
  protocol: {
    /** Call a function once: `apply` passes the arguments, `execute` passes the namespace. */
    call: Actor.message({
      payload: Schema.Struct({ fn: Remote.WireSpec, args: Schema.Unknown, mode: Schema.Literals(["apply", "execute"]) }),
      success: Reply,
      error: RemoteError
    }),
    /** Call a function on every item; replies with the array of results. */
    map: Actor.message({ payload: Schema.Struct({ fn: Remote.WireSpec, items: Schema.Unknown }), success: Reply, error: RemoteError }),
    /** Bind names in the namespace. */
    push: Actor.message({ payload: Schema.Struct({ values: Schema.Unknown }), success: Reply, error: RemoteError }),
    /** Read names from the namespace (a `NameError` if one is missing). */
    pull: Actor.message({ payload: Schema.Struct({ names: Schema.Array(Schema.String) }), success: Reply, error: RemoteError }),
    /** Import modules and bind each under its alias (`import x as alias`). */
    imports: Actor.message({ payload: Schema.Struct({ modules: Schema.Array(ModuleSpec) }), success: Reply, error: RemoteError }),
    /** Names bound in the namespace. */
    keys: Actor.message({ payload: Schema.Void, success: Reply }),
    /** Forget every name. */
    clear: Actor.message({ payload: Schema.Void, success: Reply }),
    /** Where this engine runs. */
    info: Actor.message({ payload: Schema.Void, success: Info }),
    ping: Actor.message({ payload: Schema.Void, success: Schema.Number })
  },
  behaviour: ({ id }, context) =>
    Effect.sync(() => {
      let ns: Namespace = Object.create(null)

      const fail = (error: string, message: string, stack = "", fn?: string) =>
        new RemoteError({ engine: id, error, message, stack, ...(fn === undefined ? {} : { function: fn }) })

      const toRemoteError = (thrown: unknown, spec: Remote.WireSpec | undefined): RemoteError => {
        if (thrown instanceof RemoteError) return thrown
        if (thrown instanceof Error) {
          // Where it was thrown, mapped to the sources (workers run with source maps), and its cause chain.
          const stack = ActorError.trace(thrown)
          if (thrown instanceof ReferenceError && spec?.kind === "source") {
            return fail(
              "ReferenceError",
              `${thrown.message} on engine ${id}: the shipped function ${spec.name} uses a variable from where it was ` +
                `written (it captures it); pass the value as an argument, push it into the namespace, or call a module function`,
              stack,
              spec.name
            )
          }
          const tag = (thrown as { _tag?: unknown })._tag
          return fail(typeof tag === "string" ? tag : thrown.name, thrown.message, stack, spec?.name)
        }
        if (typeof thrown === "object" && thrown !== null && typeof (thrown as { _tag?: unknown })._tag === "string") {
          const { _tag, ...rest } = thrown as { _tag: string }
          return fail(_tag, safeJson(rest), "", spec?.name)
        }
        return fail("Error", String(thrown), "", spec?.name)
      }

      const reply = (value: unknown, started: number, what: string): Exit.Exit<Reply, RemoteError> => {
        const bad = findUncloneable(value)
        if (bad !== undefined) {
          return Exit.fail(fail("DataCloneError", `the result of ${what} cannot be sent back: ${bad.kind} at ${bad.path}`))
        }
        return Exit.succeed({ value, started, completed: now() })
      }

      /** An engine-side error for code that cannot be had. */
      const unavailable = (error: Code.CodeUnavailable): RemoteError =>
        error.stage === "find"
          ? fail("NameError", `${error.detail} (engine ${id})`)
          : fail("ImportError", `engine ${id}: ${error.detail}`)

      /** The function a spec names; synchronous (an Exit) once its module is loaded on this thread. */
      const resolve = (spec: Remote.WireSpec): Effect.Effect<Remote.AnyFunction, RemoteError> => {
        if (spec.kind === "module") return Effect.mapError(Code.resolve(spec, isFunction, "function"), unavailable)
        let f = compiled.get(spec.source)
        if (f === undefined) {
          try {
            f = Remote.compile(spec.source)
          } catch (error) {
            return Exit.fail(toRemoteError(error, spec))
          }
          compiled.set(spec.source, f)
        }
        return Exit.succeed(f)
      }

      const withFunction = (
        spec: Remote.WireSpec,
        use: (f: Remote.AnyFunction) => Effect.Effect<Reply, RemoteError>
      ): Effect.Effect<Reply, RemoteError> => {
        const f = resolve(spec)
        if (!Exit.isExit(f)) return Effect.flatMap(f, use)
        const exit = f as Exit.Exit<Remote.AnyFunction, RemoteError>
        return Exit.isSuccess(exit) ? use(exit.value) : (exit as Exit.Exit<never, RemoteError>)
      }

      /** Settle whatever a user function returned: a value, a promise or an Effect. */
      const settle = (out: unknown, spec: Remote.WireSpec): Effect.Effect<unknown, RemoteError> => {
        if (Effect.isEffect(out)) {
          return Effect.mapError(
            Effect.catchDefect(out as Effect.Effect<unknown, unknown>, (defect) => Effect.fail(defect)),
            (error) => toRemoteError(error, spec)
          )
        }
        if (isThenable(out)) return Effect.tryPromise({ try: () => out as PromiseLike<unknown>, catch: (error) => toRemoteError(error, spec) })
        return Exit.succeed(out)
      }

      const resolveArgs = (args: ReadonlyArray<unknown>): Array<unknown> =>
        args.map((arg) => {
          if (typeof arg === "object" && arg !== null && Remote.REFERENCE_KEY in arg) {
            const name = (arg as Record<string, string>)[Remote.REFERENCE_KEY]!
            if (!(name in ns)) throw fail("NameError", `name '${name}' is not defined on engine ${id}`)
            return ns[name]
          }
          return arg
        })

      const call = ({ args, fn, mode }: { fn: Remote.WireSpec; args: unknown; mode: "apply" | "execute" }) =>
        withFunction(fn, (f) => {
          const started = now()
          let out: unknown
          try {
            out = mode === "execute" ? f.call(ns, ns, { engine: id } satisfies ExecuteContext) : f.apply(ns, resolveArgs(args as Array<unknown>))
          } catch (error) {
            return Exit.fail(toRemoteError(error, fn))
          }
          const settled = settle(out, fn)
          if (Exit.isExit(settled)) return Exit.isSuccess(settled) ? reply(settled.value, started, fn.name) : (settled as Exit.Exit<never, RemoteError>)
          return Effect.flatMap(settled, (value) => reply(value, started, fn.name))
        })

      /**
       * Apply `f` to every item: synchronously while results are plain and the chunk is short, else as an Effect
       * that gives the thread back every `YIELD_MS` (clock read at a stride that grows while items are quick).
       */
      const mapItems = (f: Remote.AnyFunction, items: ReadonlyArray<unknown>, spec: Remote.WireSpec, started: number) => {
        const out = new Array<unknown>(items.length)
        let sliceStart = performance.now()
        let lastCheck = sliceStart
        let stride = 1
        let nextCheck = 1
        /** True when it is time to yield. */
        const due = (i: number): boolean => {
          if (i !== nextCheck) return false
          const t = performance.now()
          if (t - lastCheck < 0.25 && stride < 1024) stride *= 2
          lastCheck = t
          nextCheck = i + stride
          return t - sliceStart > YIELD_MS
        }
        const slow = (from: number): Effect.Effect<Reply, RemoteError> =>
          Effect.gen(function*() {
            for (let i = from; i < items.length; i++) {
              if (due(i)) {
                yield* Effect.yieldNow
                sliceStart = performance.now()
              }
              let value: unknown
              try {
                value = f(items[i])
              } catch (error) {
                return yield* Effect.fail(toRemoteError(error, spec))
              }
              out[i] = Effect.isEffect(value) || isThenable(value) ? yield* settle(value, spec) : value
            }
            return yield* reply(out, started, spec.name)
          })
        for (let i = 0; i < items.length; i++) {
          if (due(i)) return slow(i)
          let value: unknown
          try {
            value = f(items[i])
          } catch (error) {
            return Exit.fail(toRemoteError(error, spec))
          }
          if (Effect.isEffect(value) || isThenable(value)) {
            return Effect.flatMap(settle(value, spec), (v) => {
              out[i] = v
              return slow(i + 1)
            })
          }
          out[i] = value
        }
        return reply(out, started, spec.name)
      }

      return {
        call,
        map: ({ fn, items }) =>
          withFunction(fn, (f) => {
            if (!Array.isArray(items)) return Exit.fail(fail("TypeError", "map items must be an array"))
            return mapItems(f, items, fn, now())
          }),
        push: ({ values }) => {
          const started = now()
          if (typeof values !== "object" || values === null) return Exit.fail(fail("TypeError", "push takes an object of names to values"))
          Object.assign(ns, values)
          return Exit.succeed({ value: undefined, started, completed: now() })
        },
        pull: ({ names }) => {
          const started = now()
          const values = new Array<unknown>(names.length)
          for (let i = 0; i < names.length; i++) {
            const name = names[i]!
            if (!(name in ns)) return Exit.fail(fail("NameError", `name '${name}' is not defined on engine ${id}`))
            values[i] = ns[name]
          }
          return reply(values, started, `pull(${names.join(", ")})`)
        },
        imports: ({ modules: specs }) =>
          Effect.gen(function*() {
            const started = now()
            for (const spec of specs) {
              const module = yield* Effect.mapError(Code.load(spec), unavailable)
              if (spec.alias !== "") ns[spec.alias] = module
            }
            return { value: undefined, started, completed: now() }
          }),
        keys: () => {
          const started = now()
          return Exit.succeed({ value: Object.keys(ns), started, completed: now() })
        },
        clear: () => {
          const started = now()
          ns = Object.create(null)
          return Exit.succeed({ value: undefined, started, completed: now() })
        },
        info: () => Exit.succeed({ engine: id, worker: context.worker, threadId, pid: process.pid }),
        ping: () => Exit.succeed(id)
      }
    })
})

/** Long map chunks give the thread back this often (ms), so interrupts and other messages get through. */
const YIELD_MS = 20

const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { then?: unknown }).then === "function"

const safeJson = (u: unknown): string => {
  try {
    return JSON.stringify(u) ?? String(u)
  } catch {
    return String(u)
  }
}
