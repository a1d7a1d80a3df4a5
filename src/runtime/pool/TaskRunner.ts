/**
 * The built-in actor that pools place on every worker: it resolves tasks on demand (`Code.resolve`) and runs
 * chunks of items through them, one chunk per message — replying with all the outputs (`run`), or streaming
 * them as they are computed (`stream`, for `imap` / `mapUnordered`).
 */
import { Cause, Effect, Schema, Stream } from "effect"
import type { Array as Arr } from "effect"
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

/** Outputs of a streamed chunk go out at least this often (ms), and in between as one element array per batch. */
const STREAM_EVERY_MS = 1

const ChunkErrors = Schema.Union([TaskFailed, TaskUnavailable])

/** Runs the items of a chunk through its task one by one: `next()` is the next encoded output. */
const runner = (shipped: Code.Shipped, items: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    const name = shipped.name
    const task = yield* Code.resolve(shipped, Task.isTask, "task").pipe(
      Effect.mapError((error) => new TaskUnavailable({ task: name, detail: error.detail }))
    )
    const decode = Schema.decodeUnknownSync(task.input)
    const encode = Schema.encodeUnknownSync(task.output)
    const encodeError = Schema.encodeUnknownSync(task.error)
    /** The encoded output of item `i`. */
    return (i: number): Effect.Effect<unknown, TaskFailed | TaskUnavailable> => {
      let input: unknown
      try {
        input = decode(items[i])
      } catch (error) {
        return Effect.fail(new TaskUnavailable({ task: name, detail: `item ${i}: ${ActorError.describe(error)}` }))
      }
      const value = task.run(input)
      return Effect.isEffect(value)
        ? Effect.mapBoth(value as Effect.Effect<unknown, unknown>, {
          onFailure: (error) => new TaskFailed({ task: name, index: i, error: encodeError(error) }),
          onSuccess: encode
        })
        : Effect.succeed(encode(value))
    }
  })

export const TaskRunner = Actor.make("TaskRunner", {
  module: import.meta.url,
  init: Schema.Struct({}),
  protocol: {
    /** Run every item of the chunk, in order; replies with the encoded outputs. */
    run: Actor.message({
      payload: Chunk,
      success: Schema.Array(Schema.Unknown),
      error: ChunkErrors
    }),
    /**
     * Run every item of the chunk, in order, streaming the encoded outputs as they are computed (gathered for at
     * most `STREAM_EVERY_MS` into one batch, and yielding after each batch so that it leaves and a cancel gets in).
     */
    stream: Actor.stream({ payload: Chunk, element: Schema.Unknown, error: ChunkErrors, buffer: 256 })
  },
  behaviour: () =>
    Effect.succeed({
      run: ({ items, task }) =>
        Effect.flatMap(runner(task, items), (output) =>
          Effect.gen(function*() {
            const out = new Array<unknown>(items.length)
            for (let i = 0; i < items.length; i++) out[i] = yield* output(i)
            return out
          })),
      stream: ({ items, task }) =>
        Stream.unwrap(Effect.map(runner(task, items), (output) => {
          let next = 0
          const pull: Effect.Effect<Arr.NonEmptyReadonlyArray<unknown>, TaskFailed | TaskUnavailable | Cause.Done> =
            Effect.suspend((): Effect.Effect<Arr.NonEmptyReadonlyArray<unknown>, TaskFailed | TaskUnavailable | Cause.Done> => {
              if (next >= items.length) return Cause.done()
              return Effect.gen(function*() {
                // The previous batch went out: let the event loop turn (the outbox posts it, a cancel gets in).
                if (next > 0) yield* Effect.yieldNow
                const batch: Array<unknown> = []
                const until = performance.now() + STREAM_EVERY_MS
                do batch.push(yield* output(next++))
                while (next < items.length && performance.now() < until)
                return batch as unknown as Arr.NonEmptyReadonlyArray<unknown>
              })
            })
          return Stream.fromPull(Effect.succeed(pull))
        }))
    })
})

/** A ref to a running TaskRunner. */
export type Runner = Actor.Ref<(typeof TaskRunner)["protocol"]>
