/**
 * Processes: the `multiprocessing.Process` counterpart. `spawn` starts a task on an actor of its own (placed on
 * a worker, or the one you name) and returns a handle; `join` waits for it. The actor is stopped when the task
 * ends.
 */
import { Effect, Schema, Scope } from "effect"
import { ActorSystem, Handle } from "../index.ts"
import { runOn } from "./Pool.ts"
import type { PoolError } from "./Pool.ts"
import type { Task } from "./Task.ts"
import { TaskRunner, TaskUnavailable } from "./TaskRunner.ts"

export interface SpawnOptions {
  readonly worker?: number
}

export type ProcessError<E> = PoolError<E>

export const spawn = <I, O, E>(
  task: Task<I, O, E>,
  input: I,
  options: SpawnOptions = {}
): Effect.Effect<Handle.Handle<O, ProcessError<E>>, never, ActorSystem.ActorSystem | Scope.Scope> =>
  ActorSystem.ActorSystem.use((system) =>
    Handle.start(
      () =>
        Effect.scoped(
          Effect.gen(function*() {
            const runner = yield* ActorSystem.spawn(TaskRunner, {}, options)
            const shipped = yield* Effect.mapError(system.ship(task), (error) => new TaskUnavailable({ task: task.name, detail: error.detail }))
            const out = yield* runOn(runner, task, shipped, [Schema.encodeUnknownSync(task.input)(input)])
            return out[0]!
          })
        ),
      1
    )
  )

/** Wait for a spawned process (the `join` of the chapter). */
export const join = <A, E>(handle: Handle.Handle<A, E>): Effect.Effect<A, E> => handle.join
