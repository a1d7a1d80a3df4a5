/**
 * Async handles: a computation started in the background that can be awaited,
 * polled or interrupted, and that reports its progress — the counterpart of
 * `apply_async` / `map_async` results and of IPython's AsyncResult.
 */
import { Effect, Fiber, Option } from "effect"
import type { Exit, Scope } from "effect"

export interface Progress {
  readonly done: number
  readonly total: number
}

export interface Handle<A, E> {
  /** Wait for the result (fails with the computation's error). */
  readonly join: Effect.Effect<A, E>
  /** Stop the computation, including the work already inside workers. */
  readonly interrupt: Effect.Effect<void>
  /** Whether it has finished (successfully or not). */
  readonly ready: Effect.Effect<boolean>
  /** The outcome, if finished. */
  readonly poll: Effect.Effect<Option.Option<Exit.Exit<A, E>>>
  /** Parts finished out of parts in all (1 / 1 for a single task). */
  readonly progress: () => Progress
  /** Milliseconds since start, or start to end once finished. */
  readonly elapsed: () => number
}

/** A progress counter a computation bumps as its parts finish. */
export interface Tracker {
  total: number
  done: number
}

/** Start `effect` in the background of `scope` and hand back its handle. */
export const start = <A, E, R>(
  effect: (tracker: Tracker) => Effect.Effect<A, E, R>,
  total: number
): Effect.Effect<Handle<A, E>, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const tracker: Tracker = { total, done: 0 }
    const started = performance.now()
    let ended: number | undefined
    const fiber = yield* Effect.forkScoped(
      Effect.ensuring(effect(tracker), Effect.sync(() => {
        ended = performance.now()
      }))
    )
    return {
      join: Fiber.join(fiber),
      interrupt: Fiber.interrupt(fiber).pipe(Effect.asVoid),
      ready: Effect.sync(() => fiber.pollUnsafe() !== undefined),
      poll: Effect.sync(() => Option.fromUndefinedOr(fiber.pollUnsafe())),
      progress: () => ({ done: tracker.done, total: tracker.total }),
      elapsed: () => (ended ?? performance.now()) - started
    }
  })
