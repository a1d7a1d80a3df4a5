/**
 * The built-in actor that pools place on every worker: it resolves tasks on demand (`Code.resolve`) and runs
 * chunks of items through them, one chunk per message.
 */
import { Effect, Schema } from "effect"
import { Actor, ActorError, Code } from "../index.ts"
import * as Task from "./Task.ts"

/** A task failed on one item with its own typed error (encoded with the task's error Schema). */
export class TaskFailed extends Schema.TaggedError<TaskFailed>()("TaskFailed", {
  task: Schema.String,
  index: Schema.Number,
  error: Schema.Unknown
}) {}

/** The task could not be found or loaded, or an item did not fit its Schema. */
export class TaskUnavailable extends Schema.TaggedError<TaskUnavailable>()("TaskUnavailable", {
  task: Schema.String,
  detail: Schema.String
}) {}

export const Chunk = Schema.Struct({
  task: Code.Shipped,
  items: Schema.Array(Schema.Unknown)
})

export const TaskRunner = Actor.make("TaskRunner", {
  module: import.meta.url,
  init: Schema.Struct({}),
  protocol: {
    /** Run every item of the chunk, in order; replies with the encoded outputs. */
    run: Actor.message({
      payload: Chunk,
      success: Schema.Array(Schema.Unknown),
      error: Schema.Union([TaskFailed, TaskUnavailable])
    })
  },
  behaviour: () =>
    Effect.succeed({
      run: ({ items, task: shipped }) =>
        Effect.gen(function*() {
          const name = shipped.name
          const task = yield* Code.resolve(shipped, Task.isTask, "task").pipe(
            Effect.mapError((error) => new TaskUnavailable({ task: name, detail: error.detail }))
          )
          const decode = Schema.decodeUnknownSync(task.input)
          const encode = Schema.encodeUnknownSync(task.output)
          const encodeError = Schema.encodeUnknownSync(task.error)
          const out = new Array<unknown>(items.length)
          for (let i = 0; i < items.length; i++) {
            const input = yield* Effect.try({
              try: () => decode(items[i]),
              catch: (error) => new TaskUnavailable({ task: name, detail: `item ${i}: ${ActorError.describe(error)}` })
            })
            const value = task.run(input)
            const result = Effect.isEffect(value)
              ? yield* Effect.mapError(value as Effect.Effect<unknown, unknown>, (error) => new TaskFailed({ task: name, index: i, error: encodeError(error) }))
              : value
            out[i] = encode(result)
          }
          return out
        })
    })
})

/** A ref to a running TaskRunner. */
export type Runner = Actor.Ref<(typeof TaskRunner)["protocol"]>
