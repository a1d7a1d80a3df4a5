/**
 * The built-in actor that pools place on every worker: it loads task modules on
 * demand and runs chunks of items through a task, one chunk per message.
 */
import { Effect, Schema } from "effect"
import * as Actor from "../Actor.ts"
import * as Codec from "../transport/Codec.ts"
import * as ModuleLoader from "../transport/ModuleLoader.ts"
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
  module: Schema.String,
  name: Schema.String,
  bundle: Schema.String,
  items: Schema.Array(Schema.Unknown)
})

const findTask = (module: string, name: string, bundle: string): Effect.Effect<Task.Any, TaskUnavailable> =>
  Effect.gen(function*() {
    let task = Task.lookup(module, name)
    if (task === undefined && bundle !== "") {
      yield* Effect.tryPromise({
        try: () => ModuleLoader.load(bundle),
        catch: (error) => new TaskUnavailable({ task: name, detail: `cannot load ${module}: ${Codec.issue(error)}` })
      })
      task = Task.lookup(module, name)
    }
    if (task === undefined) {
      return yield* new TaskUnavailable({ task: name, detail: `no task named ${name} in ${module}` })
    }
    return task
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
      run: ({ bundle, items, module, name }) =>
        Effect.gen(function*() {
          const task = yield* findTask(module, name, bundle)
          const decode = Schema.decodeUnknownSync(task.input)
          const encode = Schema.encodeUnknownSync(task.output)
          const encodeError = Schema.encodeUnknownSync(task.error)
          const out = new Array<unknown>(items.length)
          for (let i = 0; i < items.length; i++) {
            const input = yield* Effect.try({
              try: () => decode(items[i]),
              catch: (error) => new TaskUnavailable({ task: name, detail: `item ${i}: ${Codec.issue(error)}` })
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
