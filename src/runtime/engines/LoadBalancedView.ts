/**
 * The load-balanced view: tasks go to whichever engine the scheduler picks,
 * IPython's `LoadBalancedView`.
 *
 * - `apply(f, ...args)` is one task on one engine, with one value (a direct
 *   view's `apply` runs on every engine instead);
 * - `map(f, items)` splits items into chunks (sized automatically unless
 *   `chunkSize` is given), reads its input lazily with at most
 *   `maxOutstanding` chunks in flight, and gives results in input order or,
 *   with `ordered: false`, as chunks finish; every chunk runs, and failures
 *   are reported together (or in place, `returnExceptions`); `mapMany` maps over
 *   several iterables side by side; `imap` is `map` as a Stream. Its result's
 *   `progress()` counts items, inside chunks still running too where engines
 *   share memory (each chunk carries a `Progress` slot its engine stores into),
 *   and `waitInteractive()` shows it as a bar while waiting.
 *
 * Flags (`view.with({...})`, IPython's `set_flags` / `temp_flags`) apply to
 * every task the view submits: `scheduler`, `retries` (a failed task — also
 * one whose engine died — is resubmitted on an engine that has not failed it;
 * once none is left, it fails with `NoEngineLeft`),
 * `after` / `follow` dependencies and a dependency `timeout`.
 */
import { Duration, Effect, Exit, Stream } from "effect"
import type { Scope } from "effect"
import { Partition, Progress } from "../index.ts"
import type { Items as ItemsOf } from "./Partition.ts"
import * as AsyncResult from "./AsyncResult.ts"
import * as CompositeError from "./CompositeError.ts"
import type { Balanced, Controller } from "./Controller.ts"
import * as Dependency from "./Dependency.ts"
import { RemoteError, TaskAborted } from "./Errors.ts"
import type { NotShippable, TaskFailure, TaskRunning } from "./Errors.ts"
import * as Remote from "./Remote.ts"
import * as Scheduler from "./Scheduler.ts"
import type * as TaskRecord from "./TaskRecord.ts"

export interface Flags {
  /** Which free engine gets a task (default `leastload`). */
  readonly scheduler?: Scheduler.Kind
  /** Resubmissions of a failed task (default 0). */
  readonly retries?: number
  /** Run only after these finished (successfully, unless a `Dependency` says otherwise). */
  readonly after?: Dependency.Like
  /** Run on the engine where these ran, once they finished. */
  readonly follow?: Dependency.Like
  /** How long to wait for `after` / `follow` before failing with `DependencyTimeout` (default: forever). */
  readonly timeout?: Duration.Input
  /** Seed of the `random` scheduler. */
  readonly seed?: number
}

export interface MapOptions {
  /** Items per task; default automatic (about 4 tasks per engine for inputs of known length, adaptive otherwise). */
  readonly chunkSize?: number
  /** Results in input order (default) or as chunks finish. */
  readonly ordered?: boolean
  /** Chunks in flight at once (default 2 per engine); the input is read no further ahead than this. */
  readonly maxOutstanding?: number
  /** Give each failing item's (or failed chunk's items') failure in its place instead of failing the map. */
  readonly returnExceptions?: boolean
}


/** A map's results, or, with `returnExceptions`, results and failures in place. */
export type Mapped<R, O extends MapOptions | undefined> = O extends { readonly returnExceptions: true } ? R | TaskFailure : R

export interface LoadBalancedView {
  readonly targets: ReadonlyArray<number>
  readonly flags: Flags
  /** A view with these flags on top of this one's. */
  readonly with: (flags: Flags) => LoadBalancedView
  /** One task, on one engine, with one value. */
  readonly apply: <A extends ReadonlyArray<unknown>, R>(
    fn: Remote.Callable<(...args: A) => R>,
    ...args: Remote.Args<A>
  ) => Effect.Effect<AsyncResult.AsyncResult<Remote.Result<R>, TaskFailure>, NotShippable>
  /**
   * `fn` over every item, in chunks spread over the engines. If chunks fail, the map fails with one
   * `CompositeError` listing every failed chunk (or, with `returnExceptions`, gives the failures in place).
   */
  readonly map: <A, R, O extends MapOptions | undefined = undefined>(
    fn: Remote.Callable<(item: A) => R>,
    items: Iterable<A>,
    options?: O
  ) => Effect.Effect<AsyncResult.AsyncResult<Array<Mapped<Remote.Result<R>, O>>, CompositeError.CompositeError>, NotShippable>
  /** `map` over several sequences or iterators at once (`f(xs[i], ys[i])`), as long as the shortest, read lazily. */
  readonly mapMany: <S extends ReadonlyArray<Iterable<unknown>>, R, O extends MapOptions | undefined = undefined>(
    fn: Remote.Callable<(...items: ItemsOf<S>) => R>,
    sequences: readonly [...S],
    options?: O
  ) => Effect.Effect<AsyncResult.AsyncResult<Array<Mapped<Remote.Result<R>, O>>, CompositeError.CompositeError>, NotShippable>
  /** `map` as a Stream of results (in order, or as they finish with `ordered: false`); it fails at the first failed chunk. */
  readonly imap: <A, R>(
    fn: Remote.Callable<(item: A) => R>,
    items: Iterable<A>,
    options?: MapOptions
  ) => Stream.Stream<Remote.Result<R>, CompositeError.CompositeError | NotShippable>
  /** Abort everything outstanding on this view; fails with `TaskRunning` for what already runs. */
  readonly abort: Effect.Effect<void, TaskRunning>
}

const ABORTED: unique symbol = Symbol("aborted")

/** The items of several iterables side by side, as long as the shortest, read lazily. */
function* zipLazily(sequences: ReadonlyArray<Iterable<unknown>>): Generator<Array<unknown>> {
  const iterators = sequences.map((sequence) => sequence[Symbol.iterator]())
  try {
    for (;;) {
      const row: Array<unknown> = []
      for (const iterator of iterators) {
        const next = iterator.next()
        if (next.done === true) return
        row.push(next.value)
      }
      yield row
    }
  } finally {
    for (const iterator of iterators) iterator.return?.()
  }
}

/** A failure marker in a `returnExceptions` map's results, back into its `RemoteError`. */
const failureIn = (value: unknown): unknown => {
  if (typeof value !== "object" || value === null || !(Remote.FAILURE_KEY in value)) return value
  return new RemoteError((value as Record<string, ConstructorParameters<typeof RemoteError>[0]>)[Remote.FAILURE_KEY]!)
}

interface MapState {
  readonly tasks: Array<TaskRecord.TaskRecord>
  readonly parts: AsyncResult.Parts<unknown>
  /** Items done (inside running chunks too, where engines share memory), and the total once known. */
  readonly meter: Progress.Meter
  /** The chunks sent, kept so that `resubmit` can send them again. */
  readonly sent: Array<Array<unknown>>
  aborted: boolean
}

const newState = (): MapState => ({
  tasks: [],
  parts: new AsyncResult.Parts(),
  meter: Progress.meter(),
  sent: [],
  aborted: false
})

/** @internal A view over `targets` (users get views from `client.loadBalanced()`). */
export const make = (controller: Controller, targets: ReadonlyArray<number>, scope: Scope.Scope, flags: Flags = {}): LoadBalancedView => {
  const scheduler = Scheduler.make(flags.scheduler ?? "leastload", flags.seed)
  const timeout = flags.timeout === undefined ? 0 : Math.max(1, Duration.toMillis(Duration.fromInputUnsafe(flags.timeout)))
  const outstanding = new Set<AsyncResult.AsyncResult<unknown, unknown, unknown>>()
  const request = (tag: Balanced["tag"], payload: object): Balanced => ({
    tag,
    payload,
    scheduler,
    retries: flags.retries ?? 0,
    targets,
    after: Dependency.from(flags.after),
    follow: Dependency.from(flags.follow),
    timeout
  })

  const specOf = <F extends Remote.AnyFunction>(fn: Remote.Callable<F>) =>
    Effect.flatMap(Remote.toRemote(fn), (remote) => controller.wireSpec(remote))

  /** Keep a result among the view's outstanding ones until it ends (for `view.abort`). */
  const track = <R extends AsyncResult.AsyncResult<any, any, any>, E>(submit: Effect.Effect<R, E>): Effect.Effect<R, E> =>
    Effect.tap(submit, (result) =>
      Effect.sync(() => {
        outstanding.add(result)
        Effect.runFork(result.wait()).addObserver(() => outstanding.delete(result))
      }))

  /**
   * The chunks of a map as a stream of their outcomes (in input order, or as they finish), each also settled as
   * a part of the result; the state holds the tasks and counters the result reports.
   */
  const chunked = (spec: Remote.WireSpec, items: Iterable<unknown>, options: MapOptions, spread: boolean, state: MapState) => {
    const known = Partition.knownLength(items)
    const chunkSize = options.chunkSize
    if (chunkSize !== undefined && (!Number.isInteger(chunkSize) || chunkSize < 1)) {
      return Stream.die(new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`))
    }
    const sizer = new Partition.Chunker(chunkSize, known, targets.length)
    const maxOutstanding = options.maxOutstanding ?? 2 * targets.length
    const settle = options.returnExceptions === true
    const slots = controller.sharedMemory
    state.meter.start(known, slots ? maxOutstanding : 0)
    const chunks: Iterable<Array<unknown> | typeof ABORTED> = {
      [Symbol.iterator]: function*() {
        let cut = false
        for (const chunk of Partition.chunks(items, sizer, () => (cut = state.aborted))) {
          if (known === undefined) state.meter.readItems(chunk.length)
          yield chunk
        }
        state.meter.finish()
        // Chunks not read yet when the map was aborted fail it; one that had read everything goes on.
        if (cut) yield ABORTED
        state.parts.close()
      }
    }
    const run = (chunk: Array<unknown> | typeof ABORTED): Effect.Effect<{ readonly task: TaskRecord.TaskRecord; readonly exit: Exit.Exit<Array<unknown>, TaskFailure> }> => {
      const task = controller.task("map")
      state.tasks.push(task)
      const part = state.parts.add(chunk === ABORTED ? 0 : chunk.length)
      if (chunk === ABORTED) {
        task.status = "aborted"
        const exit = Exit.fail(new TaskAborted({ task: task.id }))
        state.parts.settle(part, exit)
        return Effect.succeed({ task, exit })
      }
      state.sent.push(chunk)
      // Where engines share memory, the chunk's engine stores its items done in a slot the meter reads.
      const slot = slots ? state.meter.slot(chunk.length) : undefined
      return Effect.flatMap(
        Remote.encodeValue(chunk, (f) => controller.wireSpec(f)).pipe(Effect.orDie),
        (wire) => {
          const pending = controller.submitBalanced(task, request("map", { fn: spec, items: wire, settle, spread, ...(slot === undefined ? {} : { progress: slot }) }))
          return pending.await.pipe(
            Effect.onError(() => Effect.sync(() => state.meter.release(slot))),
            Effect.map((reply) => {
              state.meter.complete(chunk.length, slot)
              sizer.observe(chunk.length, reply.completed - reply.started)
              return (reply.value as Array<unknown>).map(failureIn)
            }),
            Effect.exit,
            Effect.map((exit) => {
              state.parts.settle(part, exit)
              return { task, exit }
            })
          )
        }
      )
    }
    return Stream.fromIterable(chunks, { chunkSize: 1 }).pipe(
      Stream.mapEffect(run, { concurrency: maxOutstanding, unordered: options.ordered === false })
    )
  }

  /** Every chunk's outcome, then the results in order — or one `CompositeError` listing every failed chunk. */
  const collect = (spec: Remote.WireSpec, items: Iterable<unknown>, options: MapOptions, spread: boolean, state: MapState) =>
    Effect.gen(function*() {
      const outcomes = yield* Stream.runCollect(chunked(spec, items, options, spread, state))
      const failures: Array<CompositeError.Failure> = []
      const values: Array<unknown> = []
      for (const { exit, task } of outcomes) {
        if (Exit.isSuccess(exit)) values.push(...exit.value)
        else if (task.failure !== undefined || task.status === "aborted") {
          const failure = task.failure ?? new TaskAborted({ task: task.id })
          if (options.returnExceptions === true) {
            const size = state.sent[state.tasks.indexOf(task)]?.length ?? 0
            for (let k = 0; k < size; k++) values.push(failure)
          } else failures.push({ engine: task.engine, task: task.id, error: failure })
        }
      }
      if (failures.length > 0) return yield* Effect.fail(CompositeError.make("map", state.tasks.length, failures, "tasks"))
      return values
    })

  const startMap = (spec: Remote.WireSpec, items: Iterable<unknown>, options: MapOptions, spread: boolean): Effect.Effect<AsyncResult.AsyncResult<Array<any>, CompositeError.CompositeError>> =>
    Effect.suspend(() => {
      const state = newState()
      return AsyncResult.start(
        {
          label: "map",
          scope,
          tasks: state.tasks,
          parts: state.parts,
          abortTask: (task) => controller.abort(task),
          onDone: controller.notify,
          onAbort: () => {
            state.aborted = true
          },
          progress: state.meter.counted,
          meter: state.meter,
          // The same chunks again, as they were sent.
          resubmit: () => track(startMap(spec, state.sent.flat(), { ...options, chunkSize: Math.max(1, state.sent[0]?.length ?? 1) }, spread))
        },
        collect(spec, items, options, spread, state)
      )
    }).pipe(track)

  const apply: LoadBalancedView["apply"] = (fn, ...args) =>
    Effect.flatMap(specOf(fn), (spec) =>
      Effect.flatMap(Remote.encodeValue(args, (f) => controller.wireSpec(f)), (wire) => {
        const submit = (): Effect.Effect<AsyncResult.AsyncResult<any, TaskFailure>> =>
          Effect.suspend(() => {
            const task = controller.task("apply")
            const parts = new AsyncResult.Parts<unknown>()
            parts.add(1)
            parts.close()
            const pending = controller.submitBalanced(task, request("call", { fn: spec, args: wire, mode: "apply" }))
            return AsyncResult.start(
              {
                label: "apply",
                scope,
                tasks: [task],
                parts,
                abortTask: (t) => controller.abort(t),
                onDone: controller.notify,
                onInterrupt: pending.cancel,
                resubmit: submit
              },
              pending.await.pipe(
                Effect.onExit((exit) => Effect.sync(() => parts.settle(0, Exit.map(exit, (reply) => [reply.value])))),
                Effect.map((reply) => reply.value as never)
              )
            )
          }).pipe(track)
        return submit()
      }))

  const view: LoadBalancedView = {
    targets,
    flags,
    with: (more) => make(controller, targets, scope, { ...flags, ...more }),
    apply,
    map: (fn, items, options) => Effect.flatMap(specOf(fn), (spec) => startMap(spec, items, options ?? {}, false)) as never,
    mapMany: (fn, sequences, options) =>
      Effect.flatMap(specOf(fn as Remote.AnyFunction), (spec) => startMap(spec, { [Symbol.iterator]: () => zipLazily(sequences) }, options ?? {}, true)) as never,
    imap: (fn, items, options = {}) =>
      Stream.unwrap(Effect.map(specOf(fn), (spec) =>
        chunked(spec, items, options, false, newState()).pipe(
          Stream.mapEffect(({ exit, task }) =>
            Exit.isSuccess(exit)
              ? Effect.succeed(exit.value)
              : Effect.fail(CompositeError.make("map", 1, [{ engine: task.engine, task: task.id, error: task.failure ?? new TaskAborted({ task: task.id }) }], "tasks"))),
          Stream.flattenIterable
        ) as Stream.Stream<never, CompositeError.CompositeError>)),
    abort: Effect.suspend(() => AsyncResult.abortAll([...outstanding]))
  }
  return view
}
