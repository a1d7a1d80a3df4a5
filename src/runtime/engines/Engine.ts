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
 * so an interrupt reaches them. What a task writes (console, process.stdout / stderr) is kept, not printed,
 * and goes back with its reply or its `RemoteError` (`Output.capture`), as IPython's engines return it.
 *
 * Tasks take turns at the namespace in arrival order, inside the engine: every task message is interleaved
 * (the mailbox keeps moving while one waits), so an `abort` of a task that waits behind another is seen before
 * that task starts — it then fails with `TaskAborted`, and `abort` answers "aborted"; or the task is running
 * ("running"), or the engine has no such task ("unknown": done, or never sent). A task that ends lets the next
 * one start only from a fresh turn of the event loop, so an `abort` already on its way is read first.
 *
 * Each start of an engine draws an *incarnation*, sent with every reply. A task may carry the incarnation the
 * client expects (`expect`): an engine that restarted since refuses it with `Restarted` without running it, so
 * that the client can give it its namespace back first (see the controller's replay).
 */
import { Cause, Deferred, Effect, Exit, Schema } from "effect"
import { threadId } from "node:worker_threads"
import { Actor, ActorError, Code, Output, Progress } from "../index.ts"
import { findUncloneable } from "./Cloneable.ts"
import { RemoteError, Restarted, TaskAborted, isRemoteError } from "./Errors.ts"
import * as Remote from "./Remote.ts"

/** Wall-clock milliseconds (fractional) comparable across threads. */
export const now = (): number => performance.timeOrigin + performance.now()

/**
 * Every engine reply: the value, when the engine started and ended the work, the engine's incarnation, and what
 * the work wrote (when it wrote anything).
 */
export const Reply = Schema.Struct({
  value: Schema.Unknown,
  started: Schema.Number,
  completed: Schema.Number,
  incarnation: Schema.Number,
  stdout: Schema.optional(Schema.String),
  stderr: Schema.optional(Schema.String)
})
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

/** What every task message carries: its task id (for `abort`) and, optionally, the incarnation it expects. */
const Turn = { task: Schema.Number, expect: Schema.optional(Schema.Number) }

/** What a task message can fail with. */
const Failure = Schema.Union([RemoteError, TaskAborted, Restarted])
type Failure = typeof Failure.Type

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
      payload: Schema.Struct({ ...Turn, fn: Remote.WireSpec, args: Schema.Unknown, mode: Schema.Literals(["apply", "execute"]) }),
      success: Reply,
      error: Failure,
      interleave: true
    }),
    /**
     * Call a function on every item (`spread`: an item is the list of its arguments); replies with the array of
     * results. `settle`: a failing item's result is its failure (a marker, see `Remote.FAILURE_KEY`), not the chunk's.
     * `progress`: where to store how many items are done while it runs (a shared slot, see `Progress`).
     */
    map: Actor.message({
      payload: Schema.Struct({
        ...Turn,
        fn: Remote.WireSpec,
        items: Schema.Unknown,
        settle: Schema.optional(Schema.Boolean),
        spread: Schema.optional(Schema.Boolean),
        progress: Schema.optional(Progress.SlotSchema)
      }),
      success: Reply,
      error: Failure,
      interleave: true
    }),
    /** Bind names in the namespace (a dotted name binds an attribute of a bound value). */
    push: Actor.message({ payload: Schema.Struct({ ...Turn, values: Schema.Unknown }), success: Reply, error: Failure, interleave: true }),
    /** Read names (dotted: attributes) from the namespace (a `NameError` if one is missing). */
    pull: Actor.message({ payload: Schema.Struct({ ...Turn, names: Schema.Array(Schema.String) }), success: Reply, error: Failure, interleave: true }),
    /** Import modules and bind each under its alias (`import x as alias`). */
    imports: Actor.message({ payload: Schema.Struct({ ...Turn, modules: Schema.Array(ModuleSpec) }), success: Reply, error: Failure, interleave: true }),
    /** Names bound in the namespace. */
    keys: Actor.message({ payload: Schema.Struct(Turn), success: Reply, error: Failure, interleave: true }),
    /** Forget every name. */
    clear: Actor.message({ payload: Schema.Struct(Turn), success: Reply, error: Failure, interleave: true }),
    /** Withdraw task `task` if it waits here: "aborted"; or say it is "running", or "unknown" here (done, or never sent). */
    abort: Actor.message({ payload: Schema.Struct({ task: Schema.Number }), success: Schema.Literals(["aborted", "running", "unknown"]) }),
    /** Where this engine runs. */
    info: Actor.message({ payload: Schema.Void, success: Info }),
    ping: Actor.message({ payload: Schema.Void, success: Schema.Number })
  },
  behaviour: ({ id }, context) =>
    Effect.sync(() => {
      let ns: Namespace = Object.create(null)
      const incarnation = Math.floor(Math.random() * 2 ** 52)
      /** Where functions bound in the namespace came from, so that `pull` can hand them back by reference. */
      const origins = new WeakMap<Remote.AnyFunction, Remote.WireSpec>()

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
        return Exit.succeed({ value, started, completed: now(), incarnation })
      }
      const done = (value: unknown, started: number): Exit.Exit<Reply, never> => Exit.succeed({ value, started, completed: now(), incarnation })

      // Turns at the namespace (see the module doc).
      let running: number | undefined
      let cooling = false
      const waiting: Array<{ readonly task: number; readonly go: Deferred.Deferred<void, TaskAborted> }> = []
      const wakeNext = () => {
        if (running !== undefined || cooling) return
        const next = waiting.shift()
        if (next === undefined) return
        running = next.task
        Deferred.doneUnsafe(next.go, Effect.void)
      }
      const release = () => {
        running = undefined
        cooling = true
        setImmediate(() => {
          cooling = false
          wakeNext()
        })
      }
      const finishing = <A>(work: Effect.Effect<A, Failure>): Effect.Effect<A, Failure> => {
        if (Exit.isExit(work)) {
          release()
          return work
        }
        return Effect.ensuring(work, Effect.sync(release))
      }
      /** What a task wrote, on its reply or its `RemoteError` (unchanged when it wrote nothing). */
      const withOutput = <A>([exit, output]: readonly [Exit.Exit<A, Failure>, Output.Captured]): Exit.Exit<A, Failure> => {
        if (output.stdout === "" && output.stderr === "") return exit
        const written = { ...(output.stdout === "" ? {} : { stdout: output.stdout }), ...(output.stderr === "" ? {} : { stderr: output.stderr }) }
        if (Exit.isSuccess(exit)) return Exit.succeed({ ...(exit.value as Reply), ...written } as unknown as A)
        const failure = Cause.findErrorOption(exit.cause)
        if (failure._tag === "None" || !isRemoteError(failure.value)) return exit
        const error = failure.value
        return Exit.fail(
          new RemoteError({
            engine: error.engine,
            error: error.error,
            message: error.message,
            stack: error.stack,
            ...(error.function === undefined ? {} : { function: error.function }),
            ...written
          })
        )
      }
      /**
       * Run a task's work now, keeping what it writes (that goes back with its reply or its `RemoteError`); work
       * that finishes synchronously stays an Exit.
       */
      const keepingOutput = <A>(work: () => Effect.Effect<A, Failure>): Effect.Effect<A, Failure> => {
        const kept = Output.captureNow(work)
        if (Exit.isExit(kept)) {
          const done = kept as Exit.Exit<readonly [Exit.Exit<A, Failure>, Output.Captured]>
          // captureNow never fails: a synchronous outcome is its success
          return withOutput((done as Exit.Success<readonly [Exit.Exit<A, Failure>, Output.Captured]>).value)
        }
        return Effect.flatMap(kept, withOutput)
      }
      /** Run `work` when it is task `task`'s turn at the namespace (at once if nobody else's). */
      const turn = <A>(task: number, expect: number | undefined, work: () => Effect.Effect<A, Failure>): Effect.Effect<A, Failure> => {
        if (expect !== undefined && expect !== incarnation) return Exit.fail(new Restarted({ engine: id, incarnation }))
        if (running === undefined && !cooling && waiting.length === 0) {
          running = task
          // Run it now, not suspended: a task that finishes synchronously stays an Exit, which its actor settles
          // without forking a fiber (a suspended one was forked for every task: tens of µs on each apply round trip).
          let started: Effect.Effect<A, Failure>
          try {
            started = keepingOutput(work)
          } catch (thrown) {
            release()
            throw thrown
          }
          return finishing(started)
        }
        const entry = { task, go: Deferred.makeUnsafe<void, TaskAborted>() }
        waiting.push(entry)
        return Deferred.await(entry.go).pipe(
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              const i = waiting.indexOf(entry)
              if (i >= 0) waiting.splice(i, 1)
              else if (running === task) release()
            })
          ),
          Effect.andThen(Effect.suspend(() => finishing(keepingOutput(work))))
        )
      }

      /** A namespace value by (dotted) name: `NameError` for an unbound name, `AttributeError` for a missing attribute. */
      const lookup = (name: string): Effect.Effect<unknown, RemoteError> => {
        const path = name.split(".")
        const root = path[0]!
        if (!(root in ns)) return Exit.fail(fail("NameError", `name '${root}' is not defined on engine ${id}`))
        let value: unknown = ns[root]
        for (let k = 1; k < path.length; k++) {
          const attribute = path[k]!
          if (value === null || (typeof value !== "object" && typeof value !== "function") || !(attribute in (value as object))) {
            return Exit.fail(fail("AttributeError", `'${path.slice(0, k).join(".")}' has no attribute '${attribute}' on engine ${id}`))
          }
          value = (value as Record<string, unknown>)[attribute]
        }
        return Exit.succeed(value)
      }

      /** Bind `value` to a (dotted) name: a dotted one sets an attribute of an object already bound. */
      const bind = (name: string, value: unknown): RemoteError | undefined => {
        const at = name.lastIndexOf(".")
        if (at < 0) {
          ns[name] = value
          return undefined
        }
        const owner = lookup(name.slice(0, at)) as Exit.Exit<unknown, RemoteError>
        if (Exit.isFailure(owner)) return (owner.cause.reasons[0] as { error: RemoteError }).error
        const target = owner.value
        if (target === null || typeof target !== "object") {
          return fail("AttributeError", `cannot set '${name.slice(at + 1)}' on '${name.slice(0, at)}' (a ${target === null ? "null" : typeof target}) on engine ${id}`)
        }
        ;(target as Record<string, unknown>)[name.slice(at + 1)] = value
        return undefined
      }

      /** A function pushed by reference or by source, remembered so that `pull` can give it back the same way. */
      const loadFunction = (spec: Remote.WireSpec): Effect.Effect<Remote.AnyFunction, RemoteError> =>
        Effect.map(resolve(spec), (f) => {
          if (!origins.has(f)) origins.set(f, spec)
          return f
        })

      /** Markers (references, functions) in a value turned back into what they stand for. */
      const decode = (value: unknown): Effect.Effect<unknown, RemoteError> => Remote.decodeValue(value, lookup, loadFunction)

      /** A pulled value as it can travel: a function this engine knows the origin of goes back by reference. */
      const outgoing = (value: unknown): unknown => {
        if (typeof value !== "function") return value
        const spec = origins.get(value as Remote.AnyFunction)
        if (spec === undefined) return value
        const { via: _via, ...rest } = spec as Remote.WireSpec & { via?: string }
        return { _tag: "RemoteFunction", name: spec.name, spec: rest }
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

      const call = ({ args, fn, mode }: { fn: Remote.WireSpec; args: unknown; mode: "apply" | "execute" }) =>
        withFunction(fn, (f) => {
          const started = now()
          let out: unknown
          try {
            out = mode === "execute" ? f.call(ns, ns, { engine: id } satisfies ExecuteContext) : f.apply(ns, args as Array<unknown>)
          } catch (error) {
            return Exit.fail(toRemoteError(error, fn))
          }
          const settled = settle(out, fn)
          if (Exit.isExit(settled)) return Exit.isSuccess(settled) ? reply(settled.value, started, fn.name) : (settled as Exit.Exit<never, RemoteError>)
          return Effect.flatMap(settled, (value) => reply(value, started, fn.name))
        })

      /** Arguments or items with markers decoded (only when the client said there are some). */
      const decoded = <A>(value: unknown, marked: boolean | undefined, use: (value: unknown) => Effect.Effect<A, RemoteError>) =>
        marked === true ? Effect.flatMap(decode(value), use) : use(value)

      /**
       * Apply `f` to every item: synchronously while results are plain and the chunk is short, else as an Effect
       * that gives the thread back every `YIELD_MS` (clock read at a stride that grows while items are quick).
       */
      /** A failed item's result in a `settle` map: the failure, as a marker the client turns back into a `RemoteError`. */
      const failedItem = (error: RemoteError) => ({
        [Remote.FAILURE_KEY]: { engine: error.engine, error: error.error, message: error.message, stack: error.stack }
      })

      const mapItems = (
        fn: Remote.AnyFunction,
        items: ReadonlyArray<unknown>,
        spec: Remote.WireSpec,
        started: number,
        settleEach: boolean,
        spread: boolean,
        /** Items done, stored before each item and at the end: the caller reads them while the chunk runs. */
        slot: Progress.SlotView | undefined
      ) => {
        const f = spread ? (item: unknown) => fn(...(item as Array<unknown>)) : fn
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
        /** An item's awaited value; with `settleEach`, its failure in its place. */
        const settleItem = (value: unknown) => (settleEach ? Effect.catch(settle(value, spec), (error) => Effect.succeed(failedItem(error))) : settle(value, spec))
        const slow = (from: number): Effect.Effect<Reply, RemoteError> =>
          Effect.gen(function*() {
            for (let i = from; i < items.length; i++) {
              if (slot !== undefined) Progress.store(slot, i)
              if (due(i)) {
                yield* Effect.yieldNow
                sliceStart = performance.now()
              }
              let value: unknown
              try {
                value = f(items[i])
              } catch (error) {
                if (!settleEach) return yield* Effect.fail(toRemoteError(error, spec))
                out[i] = failedItem(toRemoteError(error, spec))
                continue
              }
              out[i] = Effect.isEffect(value) || isThenable(value) ? yield* settleItem(value) : value
            }
            if (slot !== undefined) Progress.store(slot, items.length)
            return yield* reply(out, started, spec.name)
          })
        for (let i = 0; i < items.length; i++) {
          if (slot !== undefined) Progress.store(slot, i)
          if (due(i)) return slow(i)
          let value: unknown
          try {
            value = f(items[i])
          } catch (error) {
            if (!settleEach) return Exit.fail(toRemoteError(error, spec))
            out[i] = failedItem(toRemoteError(error, spec))
            continue
          }
          if (Effect.isEffect(value) || isThenable(value)) {
            return Effect.flatMap(settleItem(value), (v) => {
              out[i] = v
              return slow(i + 1)
            })
          }
          out[i] = value
        }
        if (slot !== undefined) Progress.store(slot, items.length)
        return reply(out, started, spec.name)
      }

      return {
        call: ({ args, expect, fn, mode, task }) =>
          turn(task, expect, () => decoded(args, Remote.hasMarkers(args), (resolved) => call({ fn, args: resolved, mode }))),
        map: ({ expect, fn, items, progress, settle: settleEach, spread, task }) =>
          turn(task, expect, () =>
            withFunction(fn, (f) => {
              if (!Array.isArray(items)) return Exit.fail(fail("TypeError", "map items must be an array"))
              return decoded(items, Remote.hasMarkers(items), (resolved) =>
                mapItems(f, resolved as ReadonlyArray<unknown>, fn, now(), settleEach === true, spread === true, progress === undefined ? undefined : Progress.view(progress)))
            })),
        push: ({ expect, task, values }) =>
          turn(task, expect, () => {
            const started = now()
            if (typeof values !== "object" || values === null) return Exit.fail(fail("TypeError", "push takes an object of names to values"))
            return decoded(values, Remote.hasMarkers(values), (resolved) => {
              for (const [name, value] of Object.entries(resolved as Record<string, unknown>)) {
                const failed = bind(name, value)
                if (failed !== undefined) return Exit.fail(failed)
              }
              return done(undefined, started)
            })
          }),
        pull: ({ expect, names, task }) =>
          turn(task, expect, () => {
            const started = now()
            const values = new Array<unknown>(names.length)
            for (let i = 0; i < names.length; i++) {
              const found = lookup(names[i]!) as Exit.Exit<unknown, RemoteError>
              if (Exit.isFailure(found)) return found as Exit.Exit<never, RemoteError>
              values[i] = outgoing(found.value)
            }
            return reply(values, started, `pull(${names.join(", ")})`)
          }),
        imports: ({ expect, modules: specs, task }) =>
          turn(task, expect, () =>
            Effect.gen(function*() {
              const started = now()
              for (const spec of specs) {
                const module = yield* Effect.mapError(Code.load(spec), unavailable)
                if (spec.alias !== "") ns[spec.alias] = module
                // Its functions can be pulled back by reference.
                for (const [name, value] of Object.entries(module)) {
                  if (typeof value === "function" && !origins.has(value as Remote.AnyFunction)) {
                    origins.set(value as Remote.AnyFunction, { kind: "module", module: spec.module, name, via: spec.via })
                  }
                }
              }
              return yield* done(undefined, started)
            })),
        keys: ({ expect, task }) => turn(task, expect, () => done(Object.keys(ns), now())),
        clear: ({ expect, task }) =>
          turn(task, expect, () => {
            const started = now()
            ns = Object.create(null)
            return done(undefined, started)
          }),
        abort: ({ task }) =>
          Effect.sync(() => {
            const i = waiting.findIndex((entry) => entry.task === task)
            if (i >= 0) {
              const [entry] = waiting.splice(i, 1)
              Deferred.doneUnsafe(entry!.go, Exit.fail(new TaskAborted({ task })))
              return "aborted" as const
            }
            return running === task ? "running" as const : "unknown" as const
          }),
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
