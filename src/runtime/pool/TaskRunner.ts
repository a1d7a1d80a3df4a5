/**
 * The built-in actor that pools place on every worker: it resolves tasks on demand (`Code.resolve`) and runs
 * chunks of items through them, one chunk per message.
 *
 * A pool's `initializer` is part of the runner's init parameters, so it runs when the runner starts — before its
 * first task — and again whenever the runner is started afresh (its worker restarted or recycled). A task that
 * throws fails the chunk with `TaskThrew` (its stack on this worker, mapped to the sources); `heap` reports this thread's V8 heap.
 * What a task writes is attributed to it by name (`[stdout:w1 square]`, see `Output`).
 */
import { Effect, Schema } from "effect"
import * as V8 from "node:v8"
import { Actor, ActorError, Code, Output, Progress } from "../index.ts"
import { TaskThrew } from "./Errors.ts"
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
  items: Schema.Array(Schema.Unknown),
  /** Where to store how many items are done while the chunk runs, for a map with a meter (see `Progress`). */
  progress: Schema.optional(Progress.SlotSchema)
})

/** A task to run once when a runner starts, with its (encoded) input. */
export const Initializer = Schema.Struct({ task: Code.Shipped, input: Schema.Unknown })

/** A thrown error as `TaskThrew` (its stack as the worker saw it); the pool fills in the item and its position. */
const threw = (task: string, index: number, thrown: unknown): TaskThrew =>
  new TaskThrew({
    task,
    index,
    input: undefined,
    error: thrown instanceof Error ? thrown.name : "Error",
    detail: thrown instanceof Error ? thrown.message : ActorError.describe(thrown),
    // Mapped to the .ts sources, with its cause chain (the runtime's one rule for remote stacks).
    stack: ActorError.trace(thrown)
  })

export const TaskRunner = Actor.make("TaskRunner", {
  module: import.meta.url,
  init: Schema.Struct({ initializer: Schema.optional(Schema.NullOr(Initializer)) }),
  protocol: {
    /** Run every item of the chunk, in order; replies with the encoded outputs. */
    run: Actor.message({
      payload: Chunk,
      success: Schema.Array(Schema.Unknown),
      error: Schema.Union([TaskFailed, TaskUnavailable, TaskThrew])
    }),
    /** This thread's V8 heap in use, in bytes (for a pool's heap watermark). */
    heap: Actor.message({ payload: Schema.Void, success: Schema.Number })
  },
  behaviour: ({ initializer }) =>
    Effect.gen(function*() {
      if (initializer !== undefined && initializer !== null) {
        const task = yield* Code.resolve(initializer.task, Task.isTask, "task")
        const input = yield* Effect.try(() => Schema.decodeUnknownSync(task.input)(initializer.input))
        yield* Effect.mapError(Task.runOne(task, input), (error) => new Error(`initializer ${task.name} failed: ${ActorError.describe(error)}`))
      }
      return handlers
    })
})

const handlers = {
  heap: () => Effect.sync(() => V8.getHeapStatistics().used_heap_size),
  run: ({ items, progress, task: shipped }: typeof Chunk.Type) =>
    Effect.gen(function*() {
      const name = shipped.name
      // What a task writes is shown under its name: `[stdout:w1 square] ...`.
      yield* Output.label(name)
      const task = yield* Code.resolve(shipped, Task.isTask, "task").pipe(
        Effect.mapError((error) => new TaskUnavailable({ task: name, detail: error.detail }))
      )
      const decode = Schema.decodeUnknownSync(task.input)
      const encode = Schema.encodeUnknownSync(task.output)
      const encodeError = Schema.encodeUnknownSync(task.error)
      const out = new Array<unknown>(items.length)
      // With a meter: items done go to the chunk's slot, and the task's own reports to the meter's work counter.
      const slot = progress === undefined ? undefined : Progress.view(progress)
      const reporter = slot === undefined ? undefined : Progress.workReporter(slot)
      for (let i = 0; i < items.length; i++) {
        const input = yield* Effect.try({
          try: () => decode(items[i]),
          catch: (error) => new TaskUnavailable({ task: name, detail: `item ${i}: ${ActorError.describe(error)}` })
        })
        let value: unknown
        const outer = reporter === undefined ? undefined : Progress.enter(reporter)
        try {
          value = task.run(input)
        } catch (thrown) {
          return yield* threw(name, i, thrown)
        } finally {
          if (outer !== undefined) Progress.enter(outer)
        }
        const result = Effect.isEffect(value)
          ? yield* (value as Effect.Effect<unknown, unknown>).pipe(
            Effect.catchDefect((defect) => Effect.fail(threw(name, i, defect))),
            Effect.mapError((error) => error instanceof TaskThrew ? error : new TaskFailed({ task: name, index: i, error: encodeError(error) }))
          )
          : value
        out[i] = encode(result)
        if (slot !== undefined) Progress.store(slot, i + 1)
      }
      return out
    })
}

/** A ref to a running TaskRunner. */
export type Runner = Actor.Ref<(typeof TaskRunner)["protocol"]>
