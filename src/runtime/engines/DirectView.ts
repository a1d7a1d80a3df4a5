/**
 * The direct view: talk to chosen engines explicitly, IPython's `DirectView`.
 *
 * Every operation runs on each selected engine and returns an `AsyncResult`
 * right away (await it with `yield*`); its value has one entry per engine, in
 * the view's order. If any engine fails, the result fails with one
 * `CompositeError` listing each engine's failure. Operations of one view reach
 * each engine in the order they were made, so `push` then `execute` then
 * `pull` need no waiting in between.
 *
 * ```ts
 * const dview = yield* client.view()                   // rc[:]
 * yield* dview.push({ a: 2 })                          // dview['a'] = 2
 * const a = yield* yield* dview.pull<number>("a")      // [2, 2, ...]
 * yield* dview.scatter("xs", range(11))                // [[0,1,2],[3,4,5],...]
 * const sq = yield* yield* dview.apply((x: number) => x * x, 2)   // [4, 4, ...]
 * ```
 */
import { Effect, Exit } from "effect"
import type { Scope } from "effect"
import * as AsyncResult from "./AsyncResult.ts"
import * as CompositeError from "./CompositeError.ts"
import type { Controller, Pending, Tag } from "./Controller.ts"
import type { ExecuteContext, Info, Namespace } from "./Engine.ts"
import type { NotShippable } from "./Errors.ts"
import * as Partition from "./Partition.ts"
import * as Remote from "./Remote.ts"

/** Submitting an operation: fails at once only if the function cannot be shipped; its result fails with the summary. */
export type Submit<A> = Effect.Effect<AsyncResult.AsyncResult<A, CompositeError.CompositeError>, NotShippable>

/** `parallel(f)`: a function whose `map` (and call) spreads a sequence over the view's engines. */
export interface ParallelFunction<A, R> {
  (sequence: Partition.Sequence<A>): Submit<Array<Remote.Result<R>>>
  readonly map: (sequence: Partition.Sequence<A>) => Submit<Array<Remote.Result<R>>>
}

export interface DirectView {
  /** The engines this view talks to, in order. */
  readonly targets: ReadonlyArray<number>
  /** Run `fn(namespace, { engine })` on each engine (`this` is the namespace too); one result per engine. */
  readonly execute: <R>(fn: Remote.Callable<(ns: Namespace, context: ExecuteContext) => R>) => Submit<Array<Remote.Result<R>>>
  /** Call `fn(...args)` once on every engine; one result per engine. Arguments may be `Remote.reference(name)`. */
  readonly apply: <A extends ReadonlyArray<unknown>, R>(fn: Remote.Callable<(...args: A) => R>, ...args: Remote.Args<A>) => Submit<Array<Remote.Result<R>>>
  /** Split `sequence` over the engines, map `fn` over each part there, and join the results in order. */
  readonly map: <A, R>(fn: Remote.Callable<(item: A) => R>, sequence: Partition.Sequence<A>) => Submit<Array<Remote.Result<R>>>
  /** Bind names on every engine. */
  readonly push: (values: Readonly<Record<string, unknown>>) => Submit<void>
  /** Read a name (or several) from every engine: one value (or list of values) per engine. */
  readonly pull: {
    <A = unknown>(name: string): Submit<Array<A>>
    (names: ReadonlyArray<string>): Submit<Array<Array<unknown>>>
  }
  /** Dictionary form: `set(k, v)` is `push({ [k]: v })`, `get(k)` is `pull(k)`. */
  readonly set: (name: string, value: unknown) => Submit<void>
  readonly get: <A = unknown>(name: string) => Submit<Array<A>>
  /** Split `sequence` as evenly as possible into one part per engine, bound to `name` there. */
  readonly scatter: (name: string, sequence: Partition.Sequence<unknown>) => Submit<void>
  /** Join the parts bound to `name` on the engines, in order (typed arrays into one typed array). */
  readonly gather: <S = Array<unknown>>(name: string) => Submit<S>
  /** Import modules on every engine, bound under the given names (`sync_imports`); their functions can then be called by reference. */
  readonly syncImports: (modules: Readonly<Record<string, Remote.RemoteModule<object>>> | Remote.RemoteModule<object>) => Submit<void>
  /** Names bound on each engine. */
  readonly keys: () => Submit<Array<Array<string>>>
  /** Forget every name on every engine. */
  readonly clear: () => Submit<void>
  /** Where each engine runs (worker index, thread id, process id). */
  readonly info: () => Submit<Array<Info>>
  /** `remote(f)`: a function that runs on every engine of the view (`apply`). */
  readonly remote: <A extends ReadonlyArray<unknown>, R>(fn: Remote.Callable<(...args: A) => R>) => (...args: Remote.Args<A>) => Submit<Array<Remote.Result<R>>>
  /** `parallel(f)`: a function with a parallel `map` over the view's engines. */
  readonly parallel: <A, R>(fn: Remote.Callable<(item: A) => R>) => ParallelFunction<A, R>
}

/** @internal A view over `targets` (users get views from `client.view()`). */
export const make = (controller: Controller, targets: ReadonlyArray<number>, scope: Scope.Scope): DirectView => {
  /** One task per engine, submitted now; the result joins them or summarises their failures. */
  const each = <A>(
    label: string,
    message: (engine: number, index: number) => { readonly tag: Tag; readonly payload: unknown },
    combine: (values: Array<unknown>) => A
  ): Effect.Effect<AsyncResult.AsyncResult<A, CompositeError.CompositeError>> =>
    Effect.suspend(() => {
      const tasks = targets.map(() => controller.task(label))
      const pending: Array<Pending> = targets.map((engine, i) => {
        const { payload, tag } = message(engine, i)
        return controller.submit(tasks[i]!, engine, tag, payload)
      })
      const work = Effect.gen(function*() {
        const exits = yield* Effect.forEach(pending, (p) => Effect.exit(p.await), { concurrency: "unbounded" })
        const failures: Array<CompositeError.Failure> = []
        const values = new Array<unknown>(exits.length)
        exits.forEach((exit, i) => {
          if (Exit.isSuccess(exit)) values[i] = exit.value.value
          else {
            const failure = tasks[i]!.failure
            if (failure !== undefined) failures.push({ engine: targets[i]!, task: tasks[i]!.id, error: failure })
          }
        })
        if (failures.length > 0) return yield* Effect.fail(CompositeError.make(label, targets.length, failures))
        return combine(values)
      })
      return AsyncResult.start({
        label,
        scope,
        tasks,
        onDone: controller.notify,
        onInterrupt: () => pending.forEach((p) => p.cancel())
      }, work)
    })

  const withFunction = <F extends Remote.AnyFunction, A>(
    fn: Remote.Callable<F>,
    use: (spec: Remote.WireSpec) => Effect.Effect<A>
  ): Effect.Effect<A, NotShippable> =>
    Effect.flatMap(Remote.toRemote(fn), (remote) => Effect.flatMap(controller.wireSpec(remote), use))

  const asVoid = () => undefined

  const map: DirectView["map"] = (fn, sequence) =>
    withFunction(fn, (spec) => {
      const parts = Partition.split(sequence as Partition.Sequence<unknown>, targets.length)
      return each(
        "map",
        (_, i) => ({ tag: "map", payload: { fn: spec, items: Array.isArray(parts[i]) ? parts[i] : Array.from(parts[i] as ArrayLike<unknown>) } }),
        (values) => (values as Array<Array<never>>).flat()
      )
    })

  const apply: DirectView["apply"] = (fn, ...args) =>
    withFunction(fn, (spec) =>
      each("apply", () => ({ tag: "call", payload: { fn: spec, args: Remote.encodeArgs(args), mode: "apply" } }), (values) => values as Array<never>))

  const push: DirectView["push"] = (values) => each("push", () => ({ tag: "push", payload: { values } }), asVoid)

  const pull = ((names: string | ReadonlyArray<string>) =>
    typeof names === "string"
      ? each("pull", () => ({ tag: "pull", payload: { names: [names] } }), (values) => (values as Array<Array<unknown>>).map((v) => v[0]))
      : each("pull", () => ({ tag: "pull", payload: { names } }), (values) => values)) as DirectView["pull"]

  return {
    targets,
    execute: (fn) =>
      withFunction(fn, (spec) =>
        each("execute", () => ({ tag: "call", payload: { fn: spec, args: [], mode: "execute" } }), (values) => values as Array<never>)),
    apply,
    map,
    push,
    pull,
    set: (name, value) => push({ [name]: value }),
    get: (name) => pull(name),
    scatter: (name, sequence) =>
      Effect.suspend(() => {
        const parts = Partition.split(sequence, targets.length)
        return each("scatter", (_, i) => ({ tag: "push", payload: { values: { [name]: parts[i] } } }), asVoid)
      }),
    gather: <S>(name: string) =>
      each("gather", () => ({ tag: "pull", payload: { names: [name] } }), (values) => Partition.join((values as Array<Array<unknown>>).map((v) => v[0])) as S),
    syncImports: (modules) =>
      Effect.gen(function*() {
        const entries: Array<[string, Remote.RemoteModule<object>]> = Remote.isRemoteModule(modules)
          ? [["", modules]]
          : Object.entries(modules as Record<string, Remote.RemoteModule<object>>)
        const specs = yield* Effect.forEach(entries, ([alias, module]) => {
          const url = Remote.moduleUrl(module)
          return Effect.map(controller.ship({ module: url, name: "*" }), (shipped) => ({ alias, ...shipped }))
        })
        return yield* each("sync_imports", () => ({ tag: "imports", payload: { modules: specs } }), asVoid)
      }),
    keys: () => each("keys", () => ({ tag: "keys", payload: undefined }), (values) => values as Array<Array<string>>),
    clear: () => each("clear", () => ({ tag: "clear", payload: undefined }), asVoid),
    info: () => each("info", () => ({ tag: "info", payload: undefined }), (values) => values as Array<Info>),
    remote: (fn) => (...args) => apply(fn, ...args),
    parallel: (fn) => Object.assign((sequence: Partition.Sequence<any>) => map(fn, sequence), { map: (sequence: Partition.Sequence<any>) => map(fn, sequence) })
  }
}
