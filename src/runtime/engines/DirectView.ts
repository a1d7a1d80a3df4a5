/**
 * The direct view: talk to chosen engines explicitly, IPython's `DirectView`.
 *
 * Every operation runs on each selected engine and returns an `AsyncResult`
 * right away (await it with `yield*`); its value has one entry per engine, in
 * the view's order — or, for a view of a single engine (`client.view(0)`, IPython's
 * `rc[0]`), the bare value. `getDict` gives engine id → value. If any engine fails,
 * the result fails with one `CompositeError` listing each engine's failure (or,
 * with `returnExceptions` on maps, and `settled` on any result, gives the failures
 * in place). Operations of one view reach each engine in the order they were made,
 * so `push` then `execute` then `pull` need no waiting in between.
 *
 * ```ts
 * const dview = yield* client.view()                   // rc[:]
 * yield* dview.push({ a: 2 })                          // dview['a'] = 2
 * const a = yield* yield* dview.pull<number>("a")      // [2, 2, ...]
 * yield* dview.scatter("xs", range(11))                // [[0,1,2],[3,4,5],...]
 * const sq = yield* yield* dview.apply((x: number) => x * x, 2)   // [4, 4, ...]
 * const one = yield* yield* (yield* client.view(0)).apply((x: number) => x * x, 3)   // 9
 * ```
 *
 * Names may be dotted (`pull("a.b")`, `push({ "a.b": 1 })`: attribute `b` of `a`); arguments, items and pushed
 * values may hold `Remote.reference(name)` (a namespace value) and remote functions (`Remote.module`,
 * `Remote.fn`) anywhere in arrays, records and Map values. `push`, `syncImports`, `scatter` and `execute` take
 * `{ replay: true }`: the call is recorded, and sent again to an engine that restarted (see `Controller`).
 */
import { Effect, Exit } from "effect"
import type { Scope } from "effect"
import { Progress } from "../index.ts"
import * as AsyncResult from "./AsyncResult.ts"
import * as CompositeError from "./CompositeError.ts"
import type { Controller, Pending, Tag } from "./Controller.ts"
import type { ExecuteContext, Info, Namespace } from "./Engine.ts"
import { RemoteError, TaskRunning } from "./Errors.ts"
import type { NotShippable, TaskFailure } from "./Errors.ts"
import * as Partition from "./Partition.ts"
import * as Remote from "./Remote.ts"

/** How many engines a view talks to: one (bare values), or several (one value per engine). */
export type Width = "one" | "many"

/** One value per engine, in the view's order; a single engine's view gives the bare value. */
export type PerEngine<W extends Width, A> = W extends "one" ? A : Array<A>

/** A per-engine result, with `getDict` (engine id → value). */
export interface EngineResult<W extends Width, A> extends AsyncResult.AsyncResult<PerEngine<W, A>, CompositeError.CompositeError, A> {
  readonly getDict: import("effect").Effect.Effect<Record<number, A>, CompositeError.CompositeError>
}

/** Submitting an operation: fails at once only if the function cannot be shipped; its result fails with the summary. */
export type Submit<A> = Effect.Effect<AsyncResult.AsyncResult<A, CompositeError.CompositeError>, NotShippable>

/** Submitting an operation that gives one value per engine. */
export type SubmitEach<W extends Width, A> = Effect.Effect<EngineResult<W, A>, NotShippable>

/** A map's results, or, with `returnExceptions`, results and failures in place. */
export type Mapped<R, Options extends MapOptions | undefined> = Options extends { readonly returnExceptions: true } ? R | TaskFailure : R

export interface MapOptions {
  /** Give each failing item's (or failed engine's items') failure in its place instead of failing the map. */
  readonly returnExceptions?: boolean
}

export interface ReplayOptions {
  /** Record the call and send it again to an engine that restarted, before its next task (see `Controller`). */
  readonly replay?: boolean
}

/** `parallel(f)`: a function whose `map` (and call) spreads a sequence over the view's engines. */
export interface ParallelFunction<A, R> {
  (sequence: Iterable<A>): Submit<Array<Remote.Result<R>>>
  readonly map: (sequence: Iterable<A>) => Submit<Array<Remote.Result<R>>>
}


export interface DirectView<W extends Width = "many"> {
  /** The engines this view talks to, in order. */
  readonly targets: ReadonlyArray<number>
  /** Run `fn(namespace, { engine })` on each engine (`this` is the namespace too); one result per engine. */
  readonly execute: <R>(fn: Remote.Callable<(ns: Namespace, context: ExecuteContext) => R>, options?: ReplayOptions) => SubmitEach<W, Remote.Result<R>>
  /** Call `fn(...args)` once on every engine; one result per engine. Arguments may hold `Remote.reference(name)`. */
  readonly apply: <A extends ReadonlyArray<unknown>, R>(fn: Remote.Callable<(...args: A) => R>, ...args: Remote.Args<A>) => SubmitEach<W, Remote.Result<R>>
  /**
   * Split `sequence` (any finite iterable: it is read whole first, to split it evenly) over the engines, map `fn`
   * over each part there, and join the results in order. The load-balanced `map` reads its input lazily instead.
   */
  readonly map: <A, R, O extends MapOptions | undefined = undefined>(
    fn: Remote.Callable<(item: A) => R>,
    sequence: Partition.Sequence<A> | Iterable<A>,
    options?: O
  ) => Submit<Array<Mapped<Remote.Result<R>, O>>>
  /** `map` over several sequences at once (`map(f, xs, ys)`: `f(xs[i], ys[i])`), as long as the shortest. */
  readonly mapMany: <S extends ReadonlyArray<Iterable<unknown>>, R, O extends MapOptions | undefined = undefined>(
    fn: Remote.Callable<(...items: Partition.Items<S>) => R>,
    sequences: readonly [...S],
    options?: O
  ) => Submit<Array<Mapped<Remote.Result<R>, O>>>
  /** Bind names (dotted: attributes) on every engine; functions may be pushed by reference (`Remote.module`, `Remote.fn`). */
  readonly push: (values: Readonly<Record<string, unknown>>, options?: ReplayOptions) => Submit<void>
  /** Read a (dotted) name, or several, from every engine; functions come back by reference. */
  readonly pull: {
    <A = unknown>(name: string): SubmitEach<W, A>
    (names: ReadonlyArray<string>): SubmitEach<W, Array<unknown>>
  }
  /** Dictionary form: `set(k, v)` is `push({ [k]: v })`, `get(k)` is `pull(k)` (IPython's `view["a.b"]`). */
  readonly set: (name: string, value: unknown, options?: ReplayOptions) => Submit<void>
  readonly get: <A = unknown>(name: string) => SubmitEach<W, A>
  /**
   * Split `sequence` as evenly as possible into one part per engine, bound to `name` there; with `flatten`, a
   * part of one item is bound as that item.
   */
  readonly scatter: (name: string, sequence: Partition.Sequence<unknown> | Iterable<unknown>, options?: ReplayOptions & { readonly flatten?: boolean }) => Submit<void>
  /** Join the parts bound to `name` on the engines, in order (typed arrays into one typed array; `flatten`: items as parts). */
  readonly gather: <S = Array<unknown>>(name: string, options?: { readonly flatten?: boolean }) => Submit<S>
  /** Import modules on every engine, bound under the given names (`sync_imports`); their functions can then be called by reference. */
  readonly syncImports: (modules: Readonly<Record<string, Remote.RemoteModule<object>>> | Remote.RemoteModule<object>, options?: ReplayOptions) => Submit<void>
  /** Names bound on each engine. */
  readonly keys: () => SubmitEach<W, Array<string>>
  /** Forget every name on every engine. */
  readonly clear: () => Submit<void>
  /** Where each engine runs (worker index, thread id, process id). */
  readonly info: () => SubmitEach<W, Info>
  /** `remote(f)`: a function that runs on every engine of the view (`apply`). */
  readonly remote: <A extends ReadonlyArray<unknown>, R>(fn: Remote.Callable<(...args: A) => R>) => (...args: Remote.Args<A>) => SubmitEach<W, Remote.Result<R>>
  /** `parallel(f)`: a function with a parallel `map` over the view's engines. */
  readonly parallel: <A, R>(fn: Remote.Callable<(item: A) => R>) => ParallelFunction<A, R>
  /** Abort everything outstanding on this view; fails with `TaskRunning` for what already runs. */
  readonly abort: Effect.Effect<void, TaskRunning>
}

/** A failure marker in a `returnExceptions` map's results, back into its `RemoteError`. */
const failureIn = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null || !(Remote.FAILURE_KEY in value)) return value
  return new RemoteError((value as Record<string, ConstructorParameters<typeof RemoteError>[0]>)[Remote.FAILURE_KEY]!)
}

/** Zip sequences to the shortest: `[[xs[0], ys[0]], [xs[1], ys[1]], ...]`. */
export const zip = (sequences: ReadonlyArray<Iterable<unknown>>): Array<Array<unknown>> => {
  const iterators = sequences.map((sequence) => sequence[Symbol.iterator]())
  const out: Array<Array<unknown>> = []
  try {
    for (;;) {
      const row: Array<unknown> = []
      for (const iterator of iterators) {
        const next = iterator.next()
        if (next.done === true) return out
        row.push(next.value)
      }
      out.push(row)
    }
  } finally {
    for (const iterator of iterators) iterator.return?.()
  }
}

const asSequence = <A>(items: Partition.Sequence<A> | Iterable<A>): Partition.Sequence<A> =>
  Array.isArray(items) || Partition.isTypedArray(items) ? items as Partition.Sequence<A> : Array.from(items as Iterable<A>)

/** @internal A direct view over `targets`; `width` "one" for a single engine's view (bare values). Users get views from `client.view()`. */
export const make = <W extends Width = "many">(controller: Controller, targets: ReadonlyArray<number>, scope: Scope.Scope, width?: W): DirectView<W> => {
  const single = width === "one"
  const outstanding = new Set<AsyncResult.AsyncResult<unknown, unknown, unknown>>()

  interface Each<A> {
    readonly label: string
    /** The message for engine `engine` (the `index`-th target); `slot`: a map part's progress slot, if any. */
    readonly message: (engine: number, index: number, slot: Progress.Slot | undefined) => { readonly tag: Tag; readonly payload: object; readonly size?: number }
    readonly combine: (values: Array<unknown>) => A
    readonly replay?: boolean
    /** Failures in place of values (a failed engine's items all get its failure). */
    readonly inPlace?: boolean
    /** Progress in items (a map's, moving inside running parts where engines share memory), not engines. */
    readonly items?: boolean
    /** A map's sizes, known before its messages are made (one slot per part). */
    readonly sizes?: ReadonlyArray<number>
  }

  /** One task per engine, submitted now; the result joins them or summarises their failures. */
  const each = <A>(op: Each<A>): Effect.Effect<AsyncResult.AsyncResult<A, CompositeError.CompositeError, any> & { getDict: Effect.Effect<Record<number, unknown>, CompositeError.CompositeError> }> =>
    Effect.suspend(() => {
      const { label } = op
      const tasks = targets.map(() => controller.task(label))
      const parts = new AsyncResult.Parts<unknown>()
      const meter = op.items === true ? Progress.meter() : undefined
      meter?.start(op.sizes?.reduce((a, b) => a + b, 0) ?? 0, controller.sharedMemory ? targets.length : 0)
      const slots = targets.map((_, i) => (meter !== undefined && controller.sharedMemory ? meter.slot(op.sizes?.[i] ?? 0) : undefined))
      const messages = targets.map((engine, i) => op.message(engine, i, slots[i]))
      const sizes = messages.map((m) => m.size ?? 1)
      for (const size of sizes) parts.add(size)
      const pending: Array<Pending> = targets.map((engine, i) => controller.submit(tasks[i]!, engine, messages[i]!.tag, messages[i]!.payload, op.replay === true))
      // Each engine's value (a map part's items) as its part, as soon as it is in.
      pending.forEach((p, i) =>
        Effect.runFork(Effect.exit(p.await)).addObserver((exit) => {
          if (exit._tag === "Success" && Exit.isSuccess(exit.value)) meter?.complete(sizes[i]!, slots[i])
          else meter?.release(slots[i])
          if (exit._tag !== "Success") return
          const outcome = exit.value
          parts.settle(i, Exit.isSuccess(outcome)
            ? Exit.succeed(op.items === true ? (outcome.value.value as Array<unknown>).map(failureIn) : [outcome.value.value])
            : outcome as Exit.Exit<never, TaskFailure>)
        }))
      const work = Effect.gen(function*() {
        const exits = yield* Effect.forEach(pending, (p) => Effect.exit(p.await), { concurrency: "unbounded" })
        const failures: Array<CompositeError.Failure> = []
        const values = new Array<unknown>(exits.length)
        exits.forEach((exit, i) => {
          if (Exit.isSuccess(exit)) values[i] = op.items === true ? (exit.value.value as Array<unknown>).map(failureIn) : exit.value.value
          else {
            const failure = tasks[i]!.failure
            if (op.inPlace === true && failure !== undefined) values[i] = op.items === true ? Array.from({ length: sizes[i]! }, () => failure) : failure
            else if (failure !== undefined) failures.push({ engine: targets[i]!, task: tasks[i]!.id, error: failure })
          }
        })
        if (failures.length > 0) return yield* Effect.fail(CompositeError.make(label, targets.length, failures))
        return { values, combined: op.combine(values) }
      })
      const byEngine = (values: Array<unknown>) => Object.fromEntries(targets.map((engine, i) => [engine, values[i]]))
      return Effect.map(
        AsyncResult.start({
          label,
          scope,
          tasks,
          parts,
          abortTask: (task) => controller.abort(task),
          onDone: controller.notify,
          onInterrupt: () => pending.forEach((p) => p.cancel()),
          resubmit: () => track(each(op)),
          ...(meter === undefined ? {} : { progress: meter.counted, meter })
        }, Effect.map(work, (out) => out.combined)),
        (result) => Object.assign(result, { getDict: Effect.map(Effect.flatMap(work, (out) => Effect.succeed(out.values)), byEngine) })
      )
    }).pipe(track)

  /** Keep a result among the view's outstanding ones until it ends (for `view.abort`). */
  function track<R extends AsyncResult.AsyncResult<any, any, any>, E>(submit: Effect.Effect<R, E>): Effect.Effect<R, E> {
    return Effect.tap(submit, (result) =>
      Effect.sync(() => {
        outstanding.add(result)
        Effect.runFork(result.wait()).addObserver(() => outstanding.delete(result))
      }))
  }

  /** Per-engine values, bare for a single engine's view. */
  const perEngine = <A>(values: Array<unknown>): A => (single ? values[0] : values) as A

  const withFunction = <F extends Remote.AnyFunction, A>(
    fn: Remote.Callable<F>,
    use: (spec: Remote.WireSpec) => Effect.Effect<A, NotShippable>
  ): Effect.Effect<A, NotShippable> =>
    Effect.flatMap(Remote.toRemote(fn), (remote) => Effect.flatMap(controller.wireSpec(remote), use))

  /** References and remote functions anywhere in a value, for the wire. */
  const encoded = (value: unknown) => Remote.encodeValue(value, (f) => controller.wireSpec(f))

  const asVoid = () => undefined

  const mapParts = (fn: Remote.Callable<Remote.AnyFunction>, items: Partition.Sequence<unknown>, spread: boolean, options: MapOptions | undefined) =>
    withFunction(fn, (spec) =>
      Effect.flatMap(encoded(items), (wire) => {
        const parts = Partition.split(wire as Partition.Sequence<unknown>, targets.length)
        const inPlace = options?.returnExceptions === true
        return each({
          label: "map",
          sizes: parts.map((part) => part.length),
          message: (_, i, slot) => {
            const part = Array.isArray(parts[i]) ? parts[i] as Array<unknown> : Array.from(parts[i] as ArrayLike<unknown>)
            return { tag: "map", payload: { fn: spec, items: part, settle: inPlace, spread, ...(slot === undefined ? {} : { progress: slot }) }, size: part.length }
          },
          combine: (values) => (values as Array<Array<never>>).flat(),
          inPlace,
          items: true
        })
      }))

  const map: DirectView<W>["map"] = (fn, sequence, options) => mapParts(fn as Remote.AnyFunction, asSequence(sequence), false, options) as never

  const mapMany: DirectView<W>["mapMany"] = (fn, sequences, options) => mapParts(fn as Remote.AnyFunction, zip(sequences), true, options) as never

  const apply: DirectView<W>["apply"] = (fn, ...args) =>
    withFunction(fn, (spec) =>
      Effect.flatMap(encoded(args), (wire) => each({ label: "apply", message: () => ({ tag: "call", payload: { fn: spec, args: wire, mode: "apply" } }), combine: perEngine }))) as never

  const push: DirectView<W>["push"] = (values, options) =>
    Effect.flatMap(Effect.mapError(encoded(values), (error) => error), (wire) =>
      each({ label: "push", message: () => ({ tag: "push", payload: { values: wire } }), combine: asVoid, replay: options?.replay === true })) as never

  const pull = ((names: string | ReadonlyArray<string>) =>
    typeof names === "string"
      ? each({ label: "pull", message: () => ({ tag: "pull", payload: { names: [names] } }), combine: (values) => perEngine((values as Array<Array<unknown>>).map((v) => v[0])) })
      : each({ label: "pull", message: () => ({ tag: "pull", payload: { names } }), combine: perEngine })) as DirectView<W>["pull"]

  const view: DirectView<W> = {
    targets,
    execute: (fn, options) =>
      withFunction(fn, (spec) =>
        each({
          label: "execute",
          message: () => ({ tag: "call", payload: { fn: spec, args: [], mode: "execute" } }),
          combine: perEngine,
          replay: options?.replay === true
        })) as never,
    apply,
    map,
    mapMany,
    push,
    pull,
    set: (name, value, options) => push({ [name]: value }, options),
    get: (name) => pull(name),
    scatter: (name, sequence, options) =>
      Effect.suspend(() => {
        const parts = Partition.split(asSequence(sequence), targets.length)
        const bound = (part: Partition.Sequence<unknown>) => (options?.flatten === true && part.length === 1 ? part[0] : part)
        return each({
          label: "scatter",
          message: (_, i) => ({ tag: "push", payload: { values: { [name]: bound(parts[i]!) } } }),
          combine: asVoid,
          replay: options?.replay === true
        })
      }) as never,
    gather: <S>(name: string, options?: { readonly flatten?: boolean }) =>
      each({
        label: "gather",
        message: () => ({ tag: "pull", payload: { names: [name] } }),
        combine: (values) => {
          const parts = (values as Array<Array<unknown>>).map((v) => v[0])
          // A part scattered with `flatten` is its one item.
          return Partition.join(options?.flatten === true ? parts.map((part) => (Array.isArray(part) || Partition.isTypedArray(part) ? part : [part])) : parts) as S
        }
      }) as never,
    syncImports: (modules, options) =>
      Effect.gen(function*() {
        const entries: Array<[string, Remote.RemoteModule<object>]> = Remote.isRemoteModule(modules)
          ? [["", modules]]
          : Object.entries(modules as Record<string, Remote.RemoteModule<object>>)
        const specs = yield* Effect.forEach(entries, ([alias, module]) => {
          const url = Remote.moduleUrl(module)
          return Effect.map(controller.ship({ module: url, name: "*" }), (shipped) => ({ alias, ...shipped }))
        })
        return yield* each({ label: "sync_imports", message: () => ({ tag: "imports", payload: { modules: specs } }), combine: asVoid, replay: options?.replay === true })
      }) as never,
    keys: () => each({ label: "keys", message: () => ({ tag: "keys", payload: {} }), combine: perEngine }) as never,
    clear: () => each({ label: "clear", message: () => ({ tag: "clear", payload: {} }), combine: asVoid }) as never,
    info: () => each({ label: "info", message: () => ({ tag: "info", payload: {} }), combine: perEngine }) as never,
    remote: (fn) => (...args) => apply(fn, ...args),
    parallel: (fn) => Object.assign((sequence: Iterable<any>) => map(fn, sequence), { map: (sequence: Iterable<any>) => map(fn, sequence) }) as never,
    abort: Effect.suspend(() => AsyncResult.abortAll([...outstanding]))
  }
  return view
}
