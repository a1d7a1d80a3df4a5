/**
 * The built-in actor that pools place on every worker: it resolves tasks on demand (`Code.resolve`) and runs
 * chunks of items through them, one chunk per message — replying with all the outputs (`run`), or streaming them
 * as they are computed (`stream`, for `imap` / `mapUnordered` on tiers with stream messages).
 *
 * A pool's `initializer` is part of the runner's init parameters, so it runs when the runner starts — before its
 * first task — and again whenever the runner is started afresh (its worker restarted or recycled). A task that
 * throws fails the chunk with `TaskThrew` (its stack on this worker, mapped to the sources); `heap` reports this thread's V8 heap.
 * What a task writes is attributed to it by name (`[stdout:w1 square]`, see `Output`).
 */
import { Cause, Effect, Schema, Stream } from "effect"
import type { Array as Arr } from "effect"
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

/** A streamed chunk's outputs leave at least this often (ms); those computed in between go as one batch. */
export const STREAM_EVERY_MS = 1

/**
 * Outputs of a streamed chunk in transit at most (sent, not yet taken by the asker's consumer): the stream's
 * credit. Large enough that a worker computing cheap items does not wait for credit to come back (1024 cost a
 * credit message every 512 cheap items; 4096 left imap of 100k cheap items at 0.7-0.8x of map in the bench),
 * bounded whatever the chunk size.
 */
export const STREAM_BUFFER = 16384

/** Outputs in one batch at most: a quarter of the credit, so that several batches are in transit at once. */
export const STREAM_BATCH = STREAM_BUFFER / 4

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
    /**
     * Run every item of the chunk, in order, streaming the encoded outputs as they are computed: gathered for at
     * most `STREAM_EVERY_MS` into one batch (one frame), so that cheap items do not cost a message each, and
     * yielding after each batch so that it leaves at once and a cancel gets in. At most `STREAM_BUFFER` outputs
     * travel ahead of the asker's consumer (the stream's credit).
     */
    stream: Actor.stream({
      payload: Chunk,
      element: Schema.Unknown,
      error: Schema.Union([TaskFailed, TaskUnavailable, TaskThrew]),
      buffer: STREAM_BUFFER
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

type ChunkError = TaskFailed | TaskUnavailable | TaskThrew

/** An item's output that is not a plain value: a task that returned an Effect, or a failure. */
class Later {
  constructor(readonly effect: Effect.Effect<unknown, ChunkError>) {}
}

/**
 * A chunk made ready to run: the task resolved, and `item(i)`, the encoded output of item `i` — a plain value
 * when the task ran synchronously (no Effect per item on the hot path), else `Later` — storing "i + 1 done" into
 * the chunk's progress slot, if it has one. One rule for both messages, `run` and `stream`.
 */
const prepare = ({ items, progress, task: shipped }: typeof Chunk.Type) =>
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
    // With a meter: items done go to the chunk's slot, and the task's own reports to the meter's work counter.
    const slot = progress === undefined ? undefined : Progress.view(progress)
    const reporter = slot === undefined ? undefined : Progress.workReporter(slot)
    const finish = (i: number, result: unknown): unknown => {
      const out = encode(result)
      if (slot !== undefined) Progress.store(slot, i + 1)
      return out
    }
    return (i: number): unknown => {
      let input: unknown
      try {
        input = decode(items[i])
      } catch (error) {
        return new Later(Effect.fail(new TaskUnavailable({ task: name, detail: `item ${i}: ${ActorError.describe(error)}` })))
      }
      let value: unknown
      const outer = reporter === undefined ? undefined : Progress.enter(reporter)
      try {
        value = task.run(input)
      } catch (thrown) {
        return new Later(Effect.fail(threw(name, i, thrown)))
      } finally {
        if (outer !== undefined) Progress.enter(outer)
      }
      if (!Effect.isEffect(value)) return finish(i, value)
      return new Later((value as Effect.Effect<unknown, unknown>).pipe(
        Effect.catchDefect((defect) => Effect.fail(threw(name, i, defect))),
        Effect.mapError((error) => error instanceof TaskThrew ? error : new TaskFailed({ task: name, index: i, error: encodeError(error) })),
        Effect.map((result) => finish(i, result))
      ))
    }
  })

const handlers = {
  heap: () => Effect.sync(() => V8.getHeapStatistics().used_heap_size),
  run: (chunk: typeof Chunk.Type) =>
    Effect.flatMap(prepare(chunk), (item) =>
      Effect.gen(function*() {
        const n = chunk.items.length
        const out = new Array<unknown>(n)
        for (let i = 0; i < n; i++) {
          const value = item(i)
          out[i] = value instanceof Later ? yield* value.effect : value
        }
        return out
      })),
  stream: (chunk: typeof Chunk.Type) =>
    Stream.unwrap(Effect.map(prepare(chunk), (item) => {
      const n = chunk.items.length
      let next = 0
      // Items between two looks at the clock: 1 for slow items, up to 256 for cheap ones (about 50 µs of them),
      // so that the clock costs nothing next to the items.
      let stride = 1
      type Pull = Effect.Effect<Arr.NonEmptyReadonlyArray<unknown>, ChunkError | Cause.Done>
      /**
       * The next batch: at least one output, more while they come within `STREAM_EVERY_MS`, never more than
       * `STREAM_BATCH` (so a slow consumer holds up the worker a batch after the credit ran out, not a chunk later).
       */
      const pull: Pull = Effect.suspend((): Pull => {
        if (next >= n) return Cause.done()
        return Effect.gen(function*() {
          // The previous batch was handed over: let the event loop turn, so that it is posted (the wire flushes
          // on `setImmediate`) and a cancel can get in, before the next item runs.
          if (next > 0) yield* Effect.yieldNow
          const batch: Array<unknown> = []
          const began = performance.now()
          const until = began + STREAM_EVERY_MS
          let countdown = stride
          while (true) {
            const value = item(next++)
            batch.push(value instanceof Later ? yield* value.effect : value)
            if (next >= n || batch.length >= STREAM_BATCH) break
            if (--countdown === 0) {
              if (performance.now() >= until) break
              countdown = stride
            }
          }
          const perItem = (performance.now() - began) / batch.length
          stride = Math.max(1, Math.min(256, Math.floor(0.05 / Math.max(perItem, 1e-6))))
          return batch as unknown as Arr.NonEmptyReadonlyArray<unknown>
        })
      })
      return Stream.fromPull(Effect.succeed(pull))
    }))
}

/** A ref to a running TaskRunner. */
export type Runner = Actor.Ref<(typeof TaskRunner)["protocol"]>
