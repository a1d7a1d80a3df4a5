/**
 * The load-balanced view: tasks go to whichever engine the scheduler picks,
 * IPython's `LoadBalancedView`.
 *
 * - `apply(f, ...args)` is one task on one engine, with one value (a direct
 *   view's `apply` runs on every engine instead);
 * - `map(f, items)` splits items into chunks (sized automatically unless
 *   `chunkSize` is given), reads its input lazily with at most
 *   `maxOutstanding` chunks in flight, and gives results in input order or,
 *   with `ordered: false`, as chunks finish; `imap` is the same as a Stream.
 *
 * Flags (`view.with({...})`, IPython's `set_flags` / `temp_flags`) apply to
 * every task the view submits: `scheduler`, `retries` (a failed task — also
 * one whose engine died — is resubmitted, preferably on another engine),
 * `after` / `follow` dependencies and a dependency `timeout`.
 */
import { Duration, Effect, Stream } from "effect"
import type { Scope } from "effect"
import { Partition } from "../index.ts"
import * as AsyncResult from "./AsyncResult.ts"
import * as CompositeError from "./CompositeError.ts"
import type { Balanced, Controller } from "./Controller.ts"
import * as Dependency from "./Dependency.ts"
import { TaskAborted } from "./Errors.ts"
import type { NotShippable, TaskFailure } from "./Errors.ts"
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
}

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
  /** `fn` over every item, in chunks spread over the engines. */
  readonly map: <A, R>(
    fn: Remote.Callable<(item: A) => R>,
    items: Iterable<A>,
    options?: MapOptions
  ) => Effect.Effect<AsyncResult.AsyncResult<Array<Remote.Result<R>>, CompositeError.CompositeError>, NotShippable>
  /** `map` as a Stream of results (in order, or as they finish with `ordered: false`). */
  readonly imap: <A, R>(
    fn: Remote.Callable<(item: A) => R>,
    items: Iterable<A>,
    options?: MapOptions
  ) => Stream.Stream<Remote.Result<R>, CompositeError.CompositeError | NotShippable>
}

const ABORTED: unique symbol = Symbol("aborted")

/** @internal A view over `targets` (users get views from `client.loadBalanced()`). */
export const make = (controller: Controller, targets: ReadonlyArray<number>, scope: Scope.Scope, flags: Flags = {}): LoadBalancedView => {
  const scheduler = Scheduler.make(flags.scheduler ?? "leastload", flags.seed)
  const timeout = flags.timeout === undefined ? 0 : Math.max(1, Duration.toMillis(Duration.fromInputUnsafe(flags.timeout)))
  const request = (tag: Balanced["tag"], payload: unknown): Balanced => ({
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

  /** The chunks of a map as a stream of result arrays, with the tasks and counters its result reports. */
  const chunked = <A>(spec: Remote.WireSpec, items: Iterable<A>, options: MapOptions, state: {
    readonly tasks: Array<TaskRecord.TaskRecord>
    readonly progress: { done: number; total: number; known: boolean }
    aborted: boolean
  }) => {
    const known = Partition.knownLength(items)
    const chunkSize = options.chunkSize
    if (chunkSize !== undefined && (!Number.isInteger(chunkSize) || chunkSize < 1)) {
      return Stream.die(new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`))
    }
    const sizer = new Partition.Chunker(chunkSize, known, targets.length)
    const maxOutstanding = options.maxOutstanding ?? 2 * targets.length
    state.progress.total = known ?? 0
    state.progress.known = known !== undefined
    const chunks: Iterable<Array<unknown> | typeof ABORTED> = {
      [Symbol.iterator]: function*() {
        let cut = false
        for (const chunk of Partition.chunks(items, sizer, () => (cut = state.aborted))) {
          if (!state.progress.known) state.progress.total += chunk.length
          yield chunk
        }
        // Chunks not read yet when the map was aborted fail it; one that had read everything goes on.
        if (cut) yield ABORTED
      }
    }
    const run = (chunk: Array<unknown> | typeof ABORTED) => {
      const task = controller.task("map")
      state.tasks.push(task)
      const summary = (failure: TaskFailure) =>
        CompositeError.make("map", state.tasks.length, [{ engine: task.engine, task: task.id, error: failure }], "tasks")
      if (chunk === ABORTED) {
        task.status = "aborted"
        return Effect.fail(summary(new TaskAborted({ task: task.id })))
      }
      const pending = controller.submitBalanced(task, request("map", { fn: spec, items: chunk }))
      return pending.await.pipe(
        Effect.map((reply) => {
          state.progress.done += chunk.length
          sizer.observe(chunk.length, reply.completed - reply.started)
          return reply.value as Array<unknown>
        }),
        Effect.mapError(summary)
      )
    }
    return Stream.fromIterable(chunks, { chunkSize: 1 }).pipe(
      Stream.mapEffect(run, { concurrency: maxOutstanding, unordered: options.ordered === false }),
      Stream.flattenIterable
    )
  }

  const view: LoadBalancedView = {
    targets,
    flags,
    with: (more) => make(controller, targets, scope, { ...flags, ...more }),
    apply: (fn, ...args) =>
      Effect.flatMap(specOf(fn), (spec) =>
        Effect.suspend(() => {
          const task = controller.task("apply")
          const pending = controller.submitBalanced(task, request("call", { fn: spec, args: Remote.encodeArgs(args), mode: "apply" }))
          return AsyncResult.start(
            { label: "apply", scope, tasks: [task], onDone: controller.notify, onInterrupt: pending.cancel },
            Effect.map(pending.await, (reply) => reply.value as never)
          )
        })),
    map: (fn, items, options = {}) =>
      Effect.flatMap(specOf(fn), (spec) =>
        Effect.suspend(() => {
          const state = { tasks: [] as Array<TaskRecord.TaskRecord>, progress: { done: 0, total: 0, known: false }, aborted: false }
          const stream = chunked(spec, items, options, state)
          return AsyncResult.start(
            {
              label: "map",
              scope,
              tasks: state.tasks,
              onDone: controller.notify,
              onAbort: () => {
                state.aborted = true
              },
              progress: () => ({ done: state.progress.done, total: state.progress.total })
            },
            Effect.map(Stream.runCollect(stream), (values) => values as Array<never>)
          )
        })),
    imap: (fn, items, options = {}) =>
      Stream.unwrap(Effect.map(specOf(fn), (spec) =>
        chunked(spec, items, options, { tasks: [], progress: { done: 0, total: 0, known: false }, aborted: false }) as Stream.Stream<never, CompositeError.CompositeError>))
  }
  return view
}
