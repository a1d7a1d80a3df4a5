/**
 * Processes: the `multiprocessing.Process` counterpart. `spawn` starts a task on
 * an actor of its own (placed on a worker, or the one you name) and returns a
 * handle; `join` waits for it. The actor is stopped when the task ends.
 */
import { Effect, Schema, Scope } from "effect"
import type { ActorError } from "../ActorError.ts"
import * as ActorSystem from "../ActorSystem.ts"
import * as Handle from "./Handle.ts"
import type { Task } from "./Task.ts"
import { TaskRunner } from "./TaskRunner.ts"
import type { TaskUnavailable } from "./TaskRunner.ts"
import * as WorkerBundle from "../transport/WorkerBundle.ts"

export interface SpawnOptions {
  readonly worker?: number
}

export type ProcessError<E> = E | ActorError | TaskUnavailable

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
            const runner = yield* Effect.orDie(ActorSystem.spawn(TaskRunner, {}, options))
            const bundle = system.tier === "local" || WorkerBundle.isRuntimeModule(task.module)
              ? ""
              : yield* Effect.promise(() => WorkerBundle.moduleBundle(task.module))
            const item = Schema.encodeUnknownSync(task.input)(input)
            const out = yield* runner.ask("run", { module: task.module, name: task.name, bundle, items: [item] }).pipe(
              Effect.catchTag("TaskFailed", (failed) => Effect.fail(Schema.decodeUnknownSync(task.error)(failed.error) as E))
            )
            return Schema.decodeUnknownSync(task.output)(out[0]) as O
          })
        ),
      1
    )
  )

/** Wait for a spawned process (the `join` of the chapter). */
export const join = <A, E>(handle: Handle.Handle<A, E>): Effect.Effect<A, E> => handle.join
