/**
 * Async results: what every engine operation returns, IPython's `AsyncResult`.
 *
 * A result is a handle on work already submitted, and is itself the Effect
 * that waits for it: `yield* result` (or `result.get`, `Effect.flip(result)`,
 * `Effect.all([r1, r2])`). Besides, it can poll `ready` and `progress` (done / total), read `elapsed`
 * time and per-task metadata (engine, engine-side start and end times,
 * attempts), `abort` tasks that still wait in the client's queue, or
 * `interrupt` the whole operation, which also cancels its running tasks.
 * It implements the runtime's `Handle`, so code written for pool handles
 * works with it.
 */
import { Cause, Effect, Exit, Fiber, Option } from "effect"
import type { Duration, Scope } from "effect"
import type { Handle } from "../index.ts"
import * as TaskRecord from "./TaskRecord.ts"

export type Status = "pending" | "succeeded" | "failed"

export interface AsyncResult<A, E> extends Effect.Effect<A, E>, Handle.Handle<A, E> {
  readonly label: string
  /** Wait for the value (the same as `join`, and as `yield* result`). */
  readonly get: Effect.Effect<A, E>
  /** Wait at most `timeout`; true if the result is ready by then. */
  readonly wait: (timeout?: Duration.Input) => Effect.Effect<boolean>
  /** Drop tasks that have not reached an engine yet; they fail with `TaskAborted`. */
  readonly abort: Effect.Effect<void>
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
}

/** @internal How a view starts a result (not for users). */
export interface StartOptions {
  readonly label: string
  readonly scope: Scope.Scope
  /** The operation's tasks (may grow while it runs, e.g. a map reading its input lazily). */
  readonly tasks: Array<TaskRecord.TaskRecord>
  /** Progress other than tasks done / tasks: e.g. items done / items for a map. */
  readonly progress?: () => Handle.Progress
  /** Called on `abort`, besides aborting queued tasks (e.g. to stop reading input). */
  readonly onAbort?: () => void
  /** Called once the result has finished (the controller re-checks dependencies then). */
  readonly onDone?: () => void
  /** Called if the result was interrupted (to cancel its tasks, even if its fiber never got to run). */
  readonly onInterrupt?: () => void
}

/** Start `effect` in `scope` and hand back its result handle. @internal (views make results; users get them) */
export const start = <A, E>(options: StartOptions, effect: Effect.Effect<A, E>): Effect.Effect<AsyncResult<A, E>> =>
  Effect.gen(function*() {
    const started = performance.now()
    let ended: number | undefined
    const fiber = yield* Effect.forkIn(effect, options.scope)
    fiber.addObserver((exit) => {
      ended = performance.now()
      if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) options.onInterrupt?.()
      options.onDone?.()
    })
    const tasks = options.tasks
    const get = Fiber.join(fiber)
    // The result is the waiting Effect itself, with the handle's methods on it (Effect internals use symbol keys).
    const methods: Omit<AsyncResult<A, E>, keyof Effect.Effect<A, E>> = {
      label: options.label,
      join: get,
      get,
      interrupt: Effect.asVoid(Fiber.interrupt(fiber)),
      ready: Effect.sync(() => fiber.pollUnsafe() !== undefined),
      poll: Effect.sync(() => Option.fromUndefinedOr(fiber.pollUnsafe())),
      wait: (timeout) =>
        timeout === undefined
          ? Effect.as(Fiber.await(fiber), true)
          : Effect.map(Effect.timeoutOption(Fiber.await(fiber), timeout), Option.isSome),
      abort: Effect.sync(() => {
        for (const task of tasks) task.abort?.()
        options.onAbort?.()
      }),
      isReady: () => fiber.pollUnsafe() !== undefined,
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
      }
    }
    return Object.assign(Fiber.join(fiber), methods)
  })

/** Wait for a result: `yield* AsyncResult.get(result)` (or simply `yield* result`). */
export const get = <A, E>(result: AsyncResult<A, E>): Effect.Effect<A, E> => result.get

/** Submit and wait: `yield* AsyncResult.sync(view.apply(f, x))`, IPython's `*_sync` forms. */
export const sync = <A, E, E2, R>(submit: Effect.Effect<AsyncResult<A, E>, E2, R>): Effect.Effect<A, E | E2, R> =>
  Effect.flatMap(submit, (result) => result.get)

export const isAsyncResult = (u: unknown): u is AsyncResult<unknown, unknown> =>
  typeof u === "object" && u !== null && typeof (u as { tasks?: unknown }).tasks === "function" &&
  typeof (u as { status?: unknown }).status === "function" && Effect.isEffect((u as { get?: unknown }).get)
