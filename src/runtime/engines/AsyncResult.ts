/**
 * Async results: what every engine operation returns, IPython's `AsyncResult`.
 *
 * A result is a handle on work already submitted, and is itself the Effect
 * that waits for it: `yield* result` (or `result.get`, `Effect.flip(result)`,
 * `Effect.all([r1, r2])`). Besides, it can poll `ready` and `progress` (done / total), read `elapsed`
 * time and per-task metadata (engine, engine-side start and end times,
 * attempts), `abort` its tasks that have not started (a task already running
 * is reported, typed: `TaskRunning`), or `interrupt` the whole operation, which
 * also cancels its running tasks. It implements the runtime's `Handle`, so code
 * written for pool handles works with it.
 *
 * Its *parts* (one per engine, per chunk, or the one task) arrive as they finish:
 * `stream()` gives its items as they come (in order, or as parts finish), and so
 * does `for await (const x of result)`; `settled` waits for all of them and gives
 * failures in place of values (IPython's `get(return_exceptions=True)`);
 * `wait(timeout, "firstFailure")` returns as soon as a part failed. Across results:
 * `waitAny`, `asCompleted` and `waitAll`. `resubmit` runs the same tasks again.
 *
 * What each task wrote on its engine comes back with it: `stdout()` / `stderr()` per task, `outputsByEngine()`,
 * and `displayOutputs()` prints it prefixed with the engine, `[stdout:0] ...` (IPython's `display_outputs`).
 */
import { Cause, Deferred, Effect, Exit, Fiber, Option, Queue, Stream } from "effect"
import type { Duration, Scope } from "effect"
import { Output, Progress } from "../index.ts"
import type { Handle } from "../index.ts"
import { TaskRunning } from "./Errors.ts"
import type { TaskFailure } from "./Errors.ts"
import * as TaskRecord from "./TaskRecord.ts"

export type Status = "pending" | "succeeded" | "failed"

/** When a wait returns: once all is done, once one result (or part) is, or once one failed. */
export type ReturnWhen = "allCompleted" | "firstCompleted" | "firstFailure"

/** The items of a result's value: a map's elements, one per engine, or the single value. */
export type ItemOf<A> = A extends ReadonlyArray<infer I> ? I : A

export interface AsyncResult<A, E, I = ItemOf<A>> extends Effect.Effect<A, E>, Handle.Handle<A, E>, AsyncIterable<I> {
  readonly label: string
  /** Wait for the value (the same as `join`, and as `yield* result`). */
  readonly get: Effect.Effect<A, E>
  /**
   * Wait at most `timeout` (forever without one); true if the result is ready by then. With `"firstFailure"`,
   * return as soon as one of its parts failed (true then too).
   */
  readonly wait: (timeout?: Duration.Input, returnWhen?: "allCompleted" | "firstFailure") => Effect.Effect<boolean>
  /**
   * Wait as `wait` does, showing a progress bar on stderr meanwhile (on a terminal, once a second has passed;
   * see `Progress.track`) — IPython's `wait_interactive`. A map's bar counts items, moving inside chunks still
   * running where engines share memory; others count tasks. Succeeds with whether it is ready (always, without
   * `timeout`); never fails: read the value with `get` after.
   */
  readonly waitInteractive: (options?: WaitInteractiveOptions) => Effect.Effect<boolean>
  /**
   * Withdraw its tasks that have not started (they fail with `TaskAborted`), wherever they wait — here, or in
   * an engine behind another task. Fails with `TaskRunning` naming those already running (they go on).
   */
  readonly abort: Effect.Effect<void, TaskRunning>
  /** Whether it has finished, synchronously. */
  readonly isReady: () => boolean
  readonly status: () => Status
  /** Per-task metadata: engine, status, attempts, submitted / started / completed times. */
  readonly metadata: () => ReadonlyArray<TaskRecord.Metadata>
  readonly tasks: () => ReadonlyArray<TaskRecord.TaskRecord>
  /** Engines where its tasks ran, in order of first use. */
  readonly engines: () => ReadonlyArray<number>
  /** Sum of engine-side task durations, ms (serial time; `serialTime() / elapsed()` is the speedup). */
  readonly serialTime: () => number
  /** Its items as their parts finish: in order (default), or as they come with `ordered: false`. */
  readonly stream: (options?: { readonly ordered?: boolean }) => Stream.Stream<I, E>
  /** Every item, a failed part's items replaced by its failure (IPython's `get(return_exceptions=True)`). */
  readonly settled: Effect.Effect<Array<I | TaskFailure>>
  /** Submit the same tasks again (`client.resubmit`): a new result. */
  readonly resubmit: Effect.Effect<AsyncResult<A, E, I>>
  /** What each task wrote to stdout on its engine, in task order ("" for nothing yet) — IPython's `stdout`. */
  readonly stdout: () => ReadonlyArray<string>
  /** What each task wrote to stderr on its engine, in task order. */
  readonly stderr: () => ReadonlyArray<string>
  /** Per engine (in order of first use): what its tasks wrote, in task order. */
  readonly outputsByEngine: () => ReadonlyArray<EngineOutput>
  /**
   * Print what the tasks wrote, each line prefixed with its engine (`[stdout:0] ...`), through the context's
   * `Output` sink (stdout lines on stdout by default) — IPython's `display_outputs`. `groupBy`: "order" (task
   * by task, default), "engine" (engine by engine) or "type" (every stdout, then every stderr).
   */
  readonly displayOutputs: (groupBy?: GroupBy) => Effect.Effect<void>
}

/** What `waitInteractive` takes: a time limit, the bar's label (default: the result's), and whether to draw it. */
export interface WaitInteractiveOptions extends Progress.TrackOptions {
  readonly timeout?: Duration.Input
  readonly label?: string
}

/** How `displayOutputs` orders what it prints. */
export type GroupBy = "order" | "engine" | "type"

/** What one engine's tasks of a result wrote. */
export interface EngineOutput {
  readonly engine: number
  readonly stdout: string
  readonly stderr: string
}

/** Per engine, in order of first use: its tasks' output, in task order. */
const byEngine = (tasks: ReadonlyArray<TaskRecord.TaskRecord>): Array<EngineOutput> => {
  const out = new Map<number, { engine: number; stdout: string; stderr: string }>()
  for (const task of tasks) {
    if (task.engine < 0) continue
    const entry = out.get(task.engine) ?? { engine: task.engine, stdout: "", stderr: "" }
    entry.stdout += task.stdout
    entry.stderr += task.stderr
    out.set(task.engine, entry)
  }
  return [...out.values()]
}

/** Print the tasks' output through the context's sink, grouped as asked. */
const display = (tasks: ReadonlyArray<TaskRecord.TaskRecord>, groupBy: GroupBy): Effect.Effect<void> =>
  Effect.flatMap(Effect.service(Output.CurrentSink), (sink) =>
    Effect.sync(() => {
      const write = (stream: Output.StreamName, engine: number, text: string) => {
        if (text !== "") sink.write(stream, String(engine), text)
      }
      const ran = tasks.filter((task) => task.engine >= 0)
      if (groupBy === "type") {
        for (const task of ran) write("stdout", task.engine, task.stdout)
        for (const task of ran) write("stderr", task.engine, task.stderr)
        return
      }
      const parts: ReadonlyArray<EngineOutput> = groupBy === "engine" ? byEngine(ran) : ran
      for (const part of parts) {
        write("stdout", part.engine, part.stdout)
        write("stderr", part.engine, part.stderr)
      }
    }))

/**
 * The parts of a result as they finish: part i has `size` items, and ends with them or with a failure. Parts
 * may be added while the work runs (a map reading its input lazily) until `close` says how many there are.
 */
export class Parts<I> {
  private readonly sizes: Array<number> = []
  private readonly exits: Array<Exit.Exit<ReadonlyArray<I>, TaskFailure> | undefined> = []
  private closedAt: number | undefined
  private readonly listeners = new Set<() => void>()

  /** A new part of `size` items; its index. */
  add(size: number): number {
    this.sizes.push(size)
    this.exits.push(undefined)
    return this.sizes.length - 1
  }

  settle(index: number, exit: Exit.Exit<ReadonlyArray<I>, TaskFailure>): void {
    this.exits[index] = exit
    this.changed()
  }

  /** No parts after these. */
  close(): void {
    this.closedAt = this.sizes.length
    this.changed()
  }

  get count(): number {
    return this.sizes.length
  }

  get closed(): boolean {
    return this.closedAt !== undefined
  }

  size(index: number): number {
    return this.sizes[index]!
  }

  exit(index: number): Exit.Exit<ReadonlyArray<I>, TaskFailure> | undefined {
    return this.exits[index]
  }

  anyFailed(): boolean {
    return this.exits.some((exit) => exit !== undefined && Exit.isFailure(exit))
  }

  /** Call `f` on every change until it returns true (at once too). */
  watch(f: () => boolean): () => void {
    if (f()) return () => {}
    const listener = () => {
      if (f()) this.listeners.delete(listener)
    }
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener()
  }
}

/** @internal How a view starts a result (not for users). */
export interface StartOptions<I> {
  readonly label: string
  readonly scope: Scope.Scope
  /** The operation's tasks (may grow while it runs, e.g. a map reading its input lazily). */
  readonly tasks: Array<TaskRecord.TaskRecord>
  /** Its parts as they finish (for `stream`, `settled` and `wait(…, "firstFailure")`). */
  readonly parts: Parts<I>
  /** Progress other than tasks done / tasks: e.g. items done / items for a map. */
  readonly progress?: () => Handle.Progress
  /** A map's meter: `waitInteractive` reads it (its total may be unknown yet, and says so). */
  readonly meter?: Progress.Meter
  /** Withdraw one task wherever it is (see `Controller.abort`). */
  readonly abortTask: (task: TaskRecord.TaskRecord) => Effect.Effect<"aborted" | "running" | "done">
  /** Called on `abort`, besides aborting its tasks (e.g. to stop reading input). */
  readonly onAbort?: () => void
  /** Called once the result has finished (the controller re-checks dependencies then). */
  readonly onDone?: () => void
  /** Called if the result was interrupted (to cancel its tasks, even if its fiber never got to run). */
  readonly onInterrupt?: () => void
  /** Submits the same tasks again. */
  readonly resubmit: () => Effect.Effect<AsyncResult<any, any, any>>
}

const failureOf = (exit: Exit.Exit<unknown, TaskFailure>): TaskFailure | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = Cause.findErrorOption(exit.cause)
  return failure._tag === "Some" ? failure.value : undefined
}

/** Start `effect` in `scope` and hand back its result handle. @internal (views make results; users get them) */
export const start = <A, E, I = ItemOf<A>>(options: StartOptions<I>, effect: Effect.Effect<A, E>): Effect.Effect<AsyncResult<A, E, I>> =>
  Effect.gen(function*() {
    const started = performance.now()
    let ended: number | undefined
    const fiber = yield* Effect.forkIn(effect, options.scope)
    fiber.addObserver((exit) => {
      ended = performance.now()
      if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) options.onInterrupt?.()
      options.onDone?.()
    })
    const { parts, tasks } = options
    const get = Fiber.join(fiber)
    const isReady = () => fiber.pollUnsafe() !== undefined

    /** Done once `ready()` holds (checked on every change of the parts and when the result ends). */
    const until = (ready: () => boolean): Effect.Effect<void> =>
      Effect.callback<void>((resume) => {
        let fired = false
        const check = () => {
          if (fired || !(isReady() || ready())) return fired
          fired = true
          resume(Effect.void)
          return true
        }
        const stop = parts.watch(check)
        fiber.addObserver(() => check())
        return Effect.sync(stop)
      })

    const stream = (streamOptions: { readonly ordered?: boolean } = {}): Stream.Stream<I, E> =>
      Stream.callback<I, E>((queue) =>
        Effect.gen(function*() {
          const emitted = new Set<number>()
          let next = 0
          const ordered = streamOptions.ordered ?? true
          const finished = Deferred.makeUnsafe<void, E>()
          const push = () => {
            let failed = false
            const emit = (index: number): boolean => {
              const exit = parts.exit(index)
              if (exit === undefined || emitted.has(index)) return false
              emitted.add(index)
              if (Exit.isFailure(exit)) {
                failed = true
                return true
              }
              for (const item of exit.value) Queue.offerUnsafe(queue, item)
              return true
            }
            if (ordered) {
              while (next < parts.count && emit(next)) next++
            } else {
              for (let index = 0; index < parts.count; index++) emit(index)
            }
            // A failed part ends the stream with the result's own error, once it is known.
            if (failed) {
              Effect.runFork(Fiber.await(fiber)).addObserver((exit) => {
                if (Exit.isSuccess(exit) && Exit.isFailure(exit.value)) Deferred.doneUnsafe(finished, exit.value as Exit.Exit<never, E>)
                else Deferred.doneUnsafe(finished, Effect.void)
              })
              return true
            }
            if (parts.closed && emitted.size === parts.count) {
              Deferred.doneUnsafe(finished, Effect.void)
              return true
            }
            return false
          }
          const stop = parts.watch(push)
          yield* Effect.addFinalizer(() => Effect.sync(stop))
          yield* Deferred.await(finished)
          Queue.endUnsafe(queue)
        })
      )

    const abort: Effect.Effect<void, TaskRunning> = Effect.gen(function*() {
      options.onAbort?.()
      const pending = tasks.filter((task) => !TaskRecord.isDone(task))
      const outcomes = yield* Effect.forEach(pending, (task) => Effect.map(options.abortTask(task), (outcome) => ({ task, outcome })), {
        concurrency: "unbounded"
      })
      const running = outcomes.filter((o) => o.outcome === "running").map((o) => ({ task: o.task.id, engine: o.task.engine }))
      if (running.length > 0) return yield* new TaskRunning({ tasks: running })
    })

    // The result is the waiting Effect itself, with the handle's methods on it (Effect internals use symbol keys).
    const methods: Omit<AsyncResult<A, E, I>, keyof Effect.Effect<A, E>> = {
      label: options.label,
      join: get,
      get,
      interrupt: Effect.asVoid(Fiber.interrupt(fiber)),
      ready: Effect.sync(isReady),
      poll: Effect.sync(() => Option.fromUndefinedOr(fiber.pollUnsafe())),
      wait: (timeout, returnWhen = "allCompleted") => {
        const done = returnWhen === "firstFailure" ? until(() => parts.anyFailed()) : Effect.asVoid(Fiber.await(fiber))
        return timeout === undefined ? Effect.as(done, true) : Effect.map(Effect.timeoutOption(done, timeout), Option.isSome)
      },
      waitInteractive: (interactive = {}) => {
        const { label, timeout, ...track } = interactive
        const source: Progress.Source = options.meter ?? (() => methods.progress())
        return Progress.withBar(label ?? options.label, source, track)(methods.wait(timeout))
      },
      abort,
      isReady,
      status: () => {
        const exit = fiber.pollUnsafe()
        return exit === undefined ? "pending" : Exit.isSuccess(exit) ? "succeeded" : "failed"
      },
      progress: options.progress ?? (() => ({ done: tasks.filter(TaskRecord.isDone).length, total: tasks.length })),
      elapsed: () => (ended ?? performance.now()) - started,
      metadata: () => tasks.map(TaskRecord.metadata),
      tasks: () => tasks,
      engines: () => [...new Set(tasks.filter((task) => task.engine >= 0 && task.started !== undefined).map((task) => task.engine))],
      serialTime: () => {
        let total = 0
        for (const task of tasks) if (task.started !== undefined && task.completed !== undefined) total += task.completed - task.started
        return total
      },
      stream,
      settled: Effect.andThen(Fiber.await(fiber), () =>
        Effect.sync(() => {
          const out: Array<I | TaskFailure> = []
          for (let index = 0; index < parts.count; index++) {
            const exit = parts.exit(index)
            if (exit === undefined) continue
            if (Exit.isSuccess(exit)) out.push(...exit.value)
            else {
              const failure = failureOf(exit)!
              for (let k = 0; k < parts.size(index); k++) out.push(failure)
            }
          }
          return out
        })),
      resubmit: Effect.suspend(() => options.resubmit() as Effect.Effect<AsyncResult<A, E, I>>),
      stdout: () => tasks.map((task) => task.stdout),
      stderr: () => tasks.map((task) => task.stderr),
      outputsByEngine: () => byEngine(tasks),
      displayOutputs: (groupBy = "order") => display(tasks, groupBy),
      [Symbol.asyncIterator]: () => Stream.toAsyncIterable(stream())[Symbol.asyncIterator]()
    }
    return Object.assign(Fiber.join(fiber), methods)
  })

/** Wait for a result: `yield* AsyncResult.get(result)` (or simply `yield* result`). */
export const get = <A, E>(result: AsyncResult<A, E, any>): Effect.Effect<A, E> => result.get

/** Submit and wait: `yield* AsyncResult.sync(view.apply(f, x))`, IPython's `*_sync` forms. */
export const sync = <A, E, E2, R>(submit: Effect.Effect<AsyncResult<A, E, any>, E2, R>): Effect.Effect<A, E | E2, R> =>
  Effect.flatMap(submit, (result) => result.get)

/** The first of `results` to finish (successfully or not). */
export const waitAny = <R extends AsyncResult<any, any, any>>(results: ReadonlyArray<R>): Effect.Effect<R> =>
  Effect.raceAll(results.map((result) => Effect.as(result.wait(), result)))

/** `results` as they finish, first finished first (IPython's `as_completed` over results). */
export const asCompleted = <R extends AsyncResult<any, any, any>>(results: ReadonlyArray<R>): Stream.Stream<R> =>
  Stream.mergeAll(results.map((result) => Stream.fromEffect(Effect.as(result.wait(), result))), { concurrency: "unbounded" })

/**
 * Wait on several results: until all are done, until the first is done, or until one has failed (a part of it
 * included) — `concurrent.futures.wait`. Returns those done and those not yet, at that moment.
 */
export const waitAll = <R extends AsyncResult<any, any, any>>(
  results: ReadonlyArray<R>,
  options: { readonly returnWhen?: ReturnWhen; readonly timeout?: Duration.Input } = {}
): Effect.Effect<{ readonly done: ReadonlyArray<R>; readonly pending: ReadonlyArray<R> }> => {
  const returnWhen = options.returnWhen ?? "allCompleted"
  const waitFor = returnWhen === "allCompleted"
    ? Effect.forEach(results, (result) => result.wait(), { concurrency: "unbounded", discard: true })
    : returnWhen === "firstCompleted"
    ? Effect.asVoid(waitAny(results))
    : Effect.raceAll([
      ...results.map((result) => Effect.asVoid(result.wait(undefined, "firstFailure").pipe(
        // A result whose every task is over is about to fail: let it, so that it is among those done.
        Effect.flatMap(() =>
          result.status() === "succeeded"
            ? Effect.never
            : result.tasks().every(TaskRecord.isDone)
            ? result.wait()
            : Effect.void
        )
      ))),
      Effect.forEach(results, (result) => result.wait(), { concurrency: "unbounded", discard: true })
    ])
  const bounded = options.timeout === undefined ? waitFor : Effect.ignore(Effect.timeout(waitFor, options.timeout))
  return Effect.map(bounded, () => ({
    done: results.filter((result) => result.isReady()),
    pending: results.filter((result) => !result.isReady())
  }))
}

export const isAsyncResult = (u: unknown): u is AsyncResult<unknown, unknown> =>
  typeof u === "object" && u !== null && typeof (u as { tasks?: unknown }).tasks === "function" &&
  typeof (u as { status?: unknown }).status === "function" && Effect.isEffect((u as { get?: unknown }).get)

/** Abort every one of `results`; fails with one `TaskRunning` naming every task already running. */
export const abortAll = (results: ReadonlyArray<AsyncResult<any, any, any>>): Effect.Effect<void, TaskRunning> =>
  Effect.gen(function*() {
    const running: Array<{ readonly task: number; readonly engine: number }> = []
    for (const result of results) {
      const exit = yield* Effect.exit(result.abort)
      if (Exit.isFailure(exit)) {
        const failure = Cause.findErrorOption(exit.cause)
        if (failure._tag === "Some") running.push(...failure.value.tasks)
      }
    }
    if (running.length > 0) return yield* new TaskRunning({ tasks: running })
  })
