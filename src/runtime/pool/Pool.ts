/**
 * Pools: the `multiprocessing.Pool` counterpart, built on TaskRunner actors and a least-loaded choice among them
 * (`Workers`), as a service: `Pool.layer()` over any tier's `ActorSystem`, or `Pool.make()` in a scope.
 *
 * - `map`: ordered results, items sent in chunks (automatic size unless given); `starmap` for tasks of several
 *   arguments (`Task.star`);
 * - `imap` / `mapUnordered`: results as a stream, in order or as they are ready. Each chunk's results leave its
 *   worker as they are computed (`TaskRunner.stream`, batched for at most a millisecond), so the first result
 *   arrives after one item rather than one chunk; a slow consumer holds the workers up through the stream's
 *   credit; a chunk whose worker died is sent again and the results the consumer already had are skipped.
 *   where a tier carries no stream messages (`ActorSystem.Service.streams` false), whole chunks;
 *   `map` / `apply` / the async handles always take one reply per chunk;
 * - `apply`: one item; `applyAsync` / `mapAsync` / `starmapAsync` / `Process.spawn`: handles that can be awaited
 *   (`join`) or interrupted, with progress;
 * - `terminate`: stop now; whatever is outstanding fails with `PoolTerminated` (closing the scope stops the pool
 *   too, interrupting what runs);
 * - progress: a map given `{ progress: meter }` (`Progress.meter()`) counts its items done while it runs — inside
 *   running chunks too, through a shared slot per chunk its runner stores into, where workers share memory — and
 *   its tasks' own reports (`Progress.reporter()`); without one, messages and runners are as before.
 *
 * Inputs are read as they are consumed (any iterable or async iterable, endless ones too), at most `inFlight`
 * chunks ahead (CPython's `buffersize`); an input that throws part-way delivers every result of what it gave
 * before, then fails with `InputFailed` (see `Feed`). Tasks are assumed pure, as with Python's pool: a chunk
 * whose worker died is sent again (to whichever worker is free) up to `retries` times, so each item's result is
 * counted exactly once. Pool options add an `initializer`, recycling (`maxTasksPerWorker`, `maxHeapMb`) and an
 * elastic size (`minWorkers` / `maxWorkers` / `idleTimeout`); see `Workers`.
 */
import { Cause, Context, Deferred, Duration, Effect, identity, Layer, Queue, Schema, Semaphore, Stream } from "effect"
import type { Scope } from "effect"
import { ActorError, ActorSystem, Handle, Partition, Progress, Retry } from "../index.ts"
import type { Code } from "../index.ts"
import { InputFailed, isInputFailed, isTaskThrew, PoolTerminated, PoolTimeout, TaskThrew } from "./Errors.ts"
import * as Feed from "./Feed.ts"
import type { Task } from "./Task.ts"
import { TaskFailed, TaskUnavailable } from "./TaskRunner.ts"
import type { Runner } from "./TaskRunner.ts"
import * as Workers from "./Workers.ts"

export { InputFailed, PoolTerminated, PoolTimeout, TaskFailed, TaskThrew, TaskUnavailable }

export interface MapOptions {
  /** Items per message; default: about `Partition.CHUNKS_PER_WORKER` chunks per worker. */
  readonly chunkSize?: number
  /** Resends of a chunk whose worker died (default 3). */
  readonly retries?: number
  /**
   * Chunks outstanding at once (default: 2 per worker, so none idles between chunks): the input is read no
   * further ahead than this (CPython's `buffersize`).
   */
  readonly inFlight?: number
  /** Fail with `PoolTimeout` (interrupting the work) past this: the whole call, or each chunk of a stream. */
  readonly timeout?: Duration.Input
  /**
   * A meter to read while the map runs (`Progress.meter()`): items done out of items in all, moving inside
   * running chunks where workers share memory (Local, Threads), on replies elsewhere; tasks add their own units
   * with `Progress.reporter().add(n)`. Without one, nothing is counted and the messages stay as they are.
   */
  readonly progress?: Progress.Meter
}

export interface Options {
  /** Runners, one per worker in turn (default: the tier's worker count); a fixed size. */
  readonly size?: number
  /** An elastic pool: start this many runners (default `size`) ... */
  readonly minWorkers?: number
  /** ... add runners while every one is busy, up to this many (default: the larger of `size` and `minWorkers`) ... */
  readonly maxWorkers?: number
  /** ... and stop runners idle this long, down to `minWorkers` (default 10 seconds). */
  readonly idleTimeout?: Duration.Input
  /** A task run once on every runner before its first chunk (again when its worker is restarted or recycled). */
  readonly initializer?: Task<any, any, any>
  /** The initializer's input (`initargs`). */
  readonly initargs?: unknown
  /** Chunks a runner takes before its worker is recycled (CPython's `maxtasksperchild`; chunk size 1: items). */
  readonly maxTasksPerWorker?: number
  /** Recycle a runner's worker, between chunks, once its V8 heap in use passed this many MB. */
  readonly maxHeapMb?: number
}

/** What a pool operation can fail with: the task's own error, or the runtime's and the pool's. */
export type PoolError<E> =
  | E
  | ActorError.ActorError
  | ActorError.SpawnFailed
  | TaskUnavailable
  | TaskThrew
  | InputFailed
  | PoolTerminated
  | PoolTimeout

export interface Shape {
  /** The most runners the pool has at once. */
  readonly size: number
  readonly map: <I, O, E>(task: Task<I, O, E>, items: Feed.Input<I>, options?: MapOptions) => Effect.Effect<Array<O>, PoolError<E>>
  readonly imap: <I, O, E>(task: Task<I, O, E>, items: Feed.Input<I>, options?: MapOptions) => Stream.Stream<O, PoolError<E>>
  readonly mapUnordered: <I, O, E>(task: Task<I, O, E>, items: Feed.Input<I>, options?: MapOptions) => Stream.Stream<O, PoolError<E>>
  /** `map` for a task of several arguments: each item is the tuple of its arguments. */
  readonly starmap: <A extends ReadonlyArray<unknown>, O, E>(task: Task<A, O, E>, items: Feed.Input<A>, options?: MapOptions) => Effect.Effect<Array<O>, PoolError<E>>
  readonly apply: <I, O, E>(task: Task<I, O, E>, input: I, options?: MapOptions) => Effect.Effect<O, PoolError<E>>
  readonly applyAsync: <I, O, E>(task: Task<I, O, E>, input: I, options?: MapOptions) => Effect.Effect<Handle.Handle<O, PoolError<E>>, never, Scope.Scope>
  readonly mapAsync: <I, O, E>(task: Task<I, O, E>, items: Feed.Input<I>, options?: MapOptions) => Effect.Effect<Handle.Handle<Array<O>, PoolError<E>>, never, Scope.Scope>
  readonly starmapAsync: <A extends ReadonlyArray<unknown>, O, E>(task: Task<A, O, E>, items: Feed.Input<A>, options?: MapOptions) => Effect.Effect<Handle.Handle<Array<O>, PoolError<E>>, never, Scope.Scope>
  /** Stop now: runners stop, outstanding and later calls fail with `PoolTerminated`. */
  readonly terminate: Effect.Effect<void>
  /** Runners now, at most so far, and workers recycled. */
  readonly stats: () => Workers.Stats
}

/** The pool as a service. */
export class Pool extends Context.Service<Pool, Shape>()("actorflow/pool/Pool") {}

/** Ship a task and run its encoded items on one runner; the task's typed error is decoded back. */
export const runOn = <I, O, E>(
  runner: Runner,
  task: Task<I, O, E>,
  shipped: Code.Shipped,
  items: ReadonlyArray<unknown>,
  progress?: Progress.Slot
): Effect.Effect<Array<O>, PoolError<E>> => {
  const decodeOut = Schema.decodeUnknownSync(task.output)
  const decodeError = Schema.decodeUnknownSync(task.error)
  return runner.ask("run", progress === undefined ? { task: shipped, items } : { task: shipped, items, progress }).pipe(
    Effect.flatMap((out) => Effect.sync(() => out.map((value) => decodeOut(value) as O))),
    Effect.catchTag("TaskFailed", (failed) => Effect.fail(decodeError(failed.error) as E))
  )
}

const millis = (input: Duration.Input | undefined): number | undefined =>
  input === undefined ? undefined : Duration.toMillis(Duration.fromInputUnsafe(input))

export const make = (options: Options = {}): Effect.Effect<Shape, ActorError.SpawnFailed, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const system = yield* ActorSystem.ActorSystem
    const size = options.size ?? system.workers
    const min = options.minWorkers ?? size
    const max = options.maxWorkers ?? Math.max(size, min)
    const positive = (name: string, n: number | undefined, zero = false) =>
      n === undefined || (Number.isInteger(n) && (zero ? n >= 0 : n >= 1)) || (name === "maxHeapMb" && n > 0)
        ? Effect.void
        : Effect.die(new RangeError(`${name} must be a positive integer, got ${n}`))
    yield* positive("size", size)
    yield* positive("minWorkers", min, true)
    yield* positive("maxWorkers", max)
    yield* positive("maxTasksPerWorker", options.maxTasksPerWorker)
    yield* positive("maxHeapMb", options.maxHeapMb)
    if (min > max) return yield* Effect.die(new RangeError(`minWorkers (${min}) must not exceed maxWorkers (${max})`))
    const initializer = options.initializer === undefined ? null : yield* Effect.gen(function*() {
      const task = options.initializer!
      const fail = (detail: string) => new ActorError.SpawnFailed({ actor: "TaskRunner", detail: `initializer ${task.name}: ${detail}` })
      const shipped = yield* Effect.mapError(system.ship(task), (error) => fail(error.detail))
      const input = yield* Effect.try({ try: () => Schema.encodeUnknownSync(task.input)(options.initargs), catch: (error) => fail(ActorError.describe(error)) })
      return { task: shipped, input }
    })
    const maxHeapMb = options.maxHeapMb
    const workers = yield* Workers.make({
      min,
      max,
      idleTimeoutMs: millis(options.idleTimeout) ?? 10_000,
      maxTasks: options.maxTasksPerWorker,
      maxHeapBytes: maxHeapMb === undefined ? undefined : maxHeapMb * 1024 * 1024,
      init: { initializer }
    })
    const terminated = Deferred.makeUnsafe<void>()
    /** `effect`, failing with `PoolTerminated` (and interrupted) as soon as the pool is terminated. */
    const guard = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E | PoolTerminated> =>
      Effect.raceFirst(effect, Effect.andThen(Deferred.await(terminated), Effect.fail(new PoolTerminated())))
    const limit = <A, E>(operation: string, timeout: Duration.Input | undefined, effect: Effect.Effect<A, E>): Effect.Effect<A, E | PoolTimeout> => {
      const ms = millis(timeout)
      return ms === undefined ? effect : Effect.timeoutOrElse(effect, { duration: ms, orElse: () => Effect.fail(new PoolTimeout({ operation, ms })) })
    }

    const ship = (task: Task<any, any, any>) =>
      Effect.mapError(system.ship(task), (error) => new TaskUnavailable({ task: task.name, detail: error.detail }))

    /**
     * What a map needs for its chunks: the input cut as it is read (with at most `inFlight` chunks out at once, so
     * an endless or huge input costs the memory of its chunks in flight), and each chunk run on a runner — with one
     * reply (`whole`) or streamed as the worker computes its items (`streamed`).
     */
    const plan = <I, O, E>(task: Task<I, O, E>, items: Feed.Input<I>, options: MapOptions, tracker?: Handle.Tracker) =>
      Effect.gen(function*() {
        const fixed = options.chunkSize
        if (fixed !== undefined && (!Number.isInteger(fixed) || fixed < 1)) {
          return yield* Effect.die(new RangeError(`chunkSize must be a positive integer, got ${fixed}`))
        }
        const known = Feed.isAsync(items) ? undefined : Partition.knownLength(items)
        const chunker = new Partition.Chunker(fixed, known, max)
        if (tracker) tracker.total = known === undefined ? 0 : Math.ceil(known / chunker.next())
        const inFlight = options.inFlight ?? max * 2
        const meter = options.progress
        // Slots only where the workers see the caller's memory; elsewhere the meter counts replies.
        const slots = meter !== undefined && system.sharedMemory !== false
        meter?.start(known, slots ? inFlight : 0)
        const shipped = yield* ship(task)
        const encode = Schema.encodeUnknownSync(task.input)
        const decodeOut = Schema.decodeUnknownSync(task.output)
        const decodeError = Schema.decodeUnknownSync(task.error)
        const retry = { times: options.retries ?? 3, elsewhere: workers.anyAvailable }
        /** Chunks sent and not finished; an input failure waits until they are (their results come first). */
        let outstanding = 0
        let drained = Deferred.makeUnsafe<void>()
        const settled = Effect.sync(() => {
          if (--outstanding === 0) {
            Deferred.doneUnsafe(drained, Effect.void)
            drained = Deferred.makeUnsafe<void>()
          }
        })
        /** A chunk about to be sent: its items encoded, counted, and a progress slot for it. */
        const begin = (chunk: Array<I>) =>
          Effect.suspend(() => {
            const encoded: Array<unknown> = new Array(chunk.length)
            for (let i = 0; i < chunk.length; i++) {
              try {
                encoded[i] = encode(chunk[i])
              } catch (error) {
                return Effect.fail(new TaskUnavailable({ task: task.name, detail: `an item does not fit the task's input: ${ActorError.describe(error)}` }))
              }
            }
            if (tracker && known === undefined) tracker.total++
            if (meter !== undefined && known === undefined) meter.readItems(chunk.length)
            const slot = slots ? meter!.slot(chunk.length) : undefined
            return Effect.succeed({ encoded, slot, started: performance.now() })
          })
        /** A chunk's results are all in: the chunk size adapts, progress moves. */
        const end = (length: number, slot: Progress.Slot | undefined, started: number) =>
          Effect.sync(() => {
            chunker.observe(length, performance.now() - started)
            if (tracker) tracker.done++
            meter?.complete(length, slot)
          })
        /** A throw names the item that caused it, as given, and its place in the whole input. */
        const placed = (chunk: Array<I>, start: number) => (threw: TaskThrew) =>
          new TaskThrew({
            task: threw.task,
            index: start + threw.index,
            input: chunk[threw.index],
            error: threw.error,
            detail: threw.detail,
            stack: threw.stack
          })
        /** The input's failure, in its place: once every chunk before it has finished (their results go first). */
        const inputFailed = (piece: Extract<Feed.Piece<I>, { _tag: "Failed" }>): Effect.Effect<InputFailed> =>
          Effect.suspend(() => {
            const failed = new InputFailed({ read: piece.read, detail: ActorError.describe(piece.error), cause: piece.error })
            // Unordered, results go out as chunks finish: let the last chunk's result out before this.
            return outstanding === 0 ? Effect.succeed(failed) : Effect.andThen(Deferred.await(drained), Effect.as(Effect.yieldNow, failed))
          })
        const timeoutMs = millis(options.timeout)

        /** A chunk's results in one reply; resent whole if its worker died. */
        const run = (chunk: Array<I>, start: number): Effect.Effect<Array<O>, PoolError<E>> =>
          Effect.flatMap(begin(chunk), ({ encoded, slot, started }) =>
            Retry.onWorkerDeath(workers.run((runner) => runOn(runner, task, shipped, encoded, slot)), retry).pipe(
              Effect.provideService(ActorSystem.ActorSystem, system),
              Effect.catchIf(isTaskThrew, (threw) => Effect.fail(placed(chunk, start)(threw))),
              Effect.tap(() => end(chunk.length, slot, started)),
              meter === undefined ? identity : Effect.onError(() => Effect.sync(() => meter.release(slot)))
            ))
        /** A chunk's results, or (the input's last piece) its failure once every chunk before it has finished. */
        const whole = (piece: Feed.Piece<I>): Effect.Effect<Array<O> | InputFailed, PoolError<E>> => {
          if (piece._tag === "Failed") return inputFailed(piece)
          outstanding++
          return guard(limit("a chunk", options.timeout, run(piece.items, piece.start))).pipe(Effect.ensuring(settled))
        }

        /** The end of a streamed chunk's wait: the pool terminated, or (with a timeout) the chunk ran too long. */
        const stop: Effect.Effect<never, PoolTerminated | PoolTimeout> = Effect.andThen(Deferred.await(terminated), Effect.fail(new PoolTerminated()))
        const stopOrTimeout = timeoutMs === undefined
          ? stop
          : Effect.raceFirst(stop, Effect.andThen(Effect.sleep(timeoutMs), Effect.fail(new PoolTimeout({ operation: "a chunk", ms: timeoutMs }))))
        /**
         * A chunk's results as the worker computes them (`TaskRunner.stream`); after its worker died, sent again
         * with the results the consumer already had skipped, so that each arrives exactly once.
         */
        const streamed = (piece: Feed.Piece<I>): Stream.Stream<O, PoolError<E>> => {
          if (piece._tag === "Failed") return Stream.fromEffect(Effect.flatMap(inputFailed(piece), Effect.fail))
          const chunk = piece.items
          return Stream.unwrap(Effect.map(begin(chunk), ({ encoded, slot, started }) => {
            outstanding++
            const payload = slot === undefined ? { task: shipped, items: encoded } : { task: shipped, items: encoded, progress: slot }
            const outputs = Retry.streamOnWorkerDeath(() => workers.stream((runner) => runner.stream("stream", payload)), retry).pipe(
              Stream.provideService(ActorSystem.ActorSystem, system),
              Stream.map((value) => decodeOut(value) as O),
              Stream.catchTag("TaskFailed", (failed) => Stream.fail(decodeError(failed.error) as E)),
              Stream.catchIf(isTaskThrew, (threw) => Stream.fail(placed(chunk, piece.start)(threw))),
              Stream.interruptWhen(stopOrTimeout),
              Stream.onEnd(end(chunk.length, slot, started)),
              Stream.ensuring(settled)
            )
            return meter === undefined ? outputs : Stream.onError(outputs, () => Effect.sync(() => meter.release(slot)))
          }))
        }
        return { pieces: Feed.pieces(items, chunker), whole, streamed, inFlight, finish: Effect.sync(() => meter?.finish()) }
      })

    /**
     * The chunks' results as a stream of arrays, one per chunk, in order or as chunks finish; the input's failure
     * goes out in its place: after every result of what was read before it.
     */
    const chunked = <I, O, E>(
      task: Task<I, O, E>,
      items: Feed.Input<I>,
      options: MapOptions,
      unordered: boolean,
      tracker?: Handle.Tracker
    ): Stream.Stream<Array<O>, PoolError<E>> =>
      Stream.unwrap(Effect.map(plan(task, items, options, tracker), ({ finish, inFlight, pieces, whole }) =>
        pieces.pipe(
          Stream.mapEffect(whole, { concurrency: inFlight, unordered }),
          Stream.mapEffect((part) => (part instanceof InputFailed ? Effect.fail(part) : Effect.succeed(part))),
          Stream.onEnd(finish)
        )))

    /** Every result in order; an input failure carries the results of what was read before it. */
    const collect = <I, O, E>(task: Task<I, O, E>, items: Feed.Input<I>, options: MapOptions = {}, tracker?: Handle.Tracker) =>
      Effect.suspend(() => {
        const parts: Array<Array<O>> = []
        // Without a per-call timeout, the chunks' timeout does not apply either: the whole call is bounded instead.
        const { timeout, ...perChunk } = options
        return Stream.runForEach(chunked(task, items, perChunk, false, tracker), (part) => Effect.sync(() => void parts.push(part))).pipe(
          Effect.as(parts),
          Effect.map((all) => all.flat()),
          Effect.catchIf(isInputFailed, (failed) =>
            Effect.fail(new InputFailed({ read: failed.read, detail: failed.detail, cause: failed.cause, results: parts.flat() }))),
          (effect) => guard(limit("map", timeout, effect))
        )
      })

    const map: Shape["map"] = (task, items, options) => collect(task, items, options)

    /**
     * `imap` / `mapUnordered`: each chunk's results stream as its worker computes them (where the tier carries
     * stream messages; whole chunks elsewhere). Unordered, every result goes out as soon as it is in; in order,
     * the head chunk's results flow as they come and later chunks' wait in their own buffers (at most a chunk's
     * results each, with at most `inFlight` chunks started and not yet read to their end).
     */
    const streamOf = (unordered: boolean): Shape["imap"] => (task, items, options = {}) =>
      system.streams === false
        ? Stream.flattenIterable(chunked(task, items, options, unordered))
        : Stream.unwrap(Effect.map(plan(task, items, options), ({ finish, inFlight, pieces, streamed }) =>
          Stream.onEnd(
            // One batch waiting at the merge: what runs ahead of the consumer is the chunks' credit.
            unordered ? Stream.flatMap(pieces, streamed, { concurrency: inFlight, bufferSize: 1 }) : inOrder(pieces, streamed, inFlight),
            finish
          )))

    const apply: Shape["apply"] = (task, input, options) =>
      Effect.flatMap(map(task, [input], { ...options, chunkSize: 1 }), (out) => Effect.succeed(out[0]!))

    return {
      size: max,
      map,
      imap: streamOf(false),
      mapUnordered: streamOf(true),
      starmap: map,
      apply,
      applyAsync: (task, input, options) => Handle.start(() => apply(task, input, options), 1),
      mapAsync: (task, items, options) => Handle.start((tracker) => collect(task, items, options, tracker), 0),
      starmapAsync: (task, items, options) => Handle.start((tracker) => collect(task, items, options, tracker), 0),
      terminate: Effect.suspend(() => {
        Deferred.doneUnsafe(terminated, Effect.void)
        return workers.terminate
      }),
      stats: workers.stats
    } satisfies Shape
  })

/**
 * The streams `open` makes of `pieces`, in order, at most `inFlight` of them started and not yet read to their
 * end: the first one's elements flow as they come; each later one runs into its own queue (room for all of its
 * chunk's elements, so its worker is never held up by the one before) until the consumer reaches it.
 */
const inOrder = <I, A, E>(
  pieces: Stream.Stream<Feed.Piece<I>>,
  open: (piece: Feed.Piece<I>) => Stream.Stream<A, E>,
  inFlight: number
): Stream.Stream<A, E> =>
  Stream.unwrap(Effect.gen(function*() {
    const scope = yield* Effect.scope
    const started = Semaphore.makeUnsafe(inFlight)
    const start = (piece: Feed.Piece<I>) =>
      Effect.gen(function*() {
        yield* started.take(1)
        const queue = yield* Queue.bounded<A, E | Cause.Done>(piece._tag === "Chunk" ? Math.max(1, piece.items.length) : 1)
        yield* Effect.forkIn(Stream.runIntoQueue(open(piece), queue), scope)
        return Stream.ensuring(Stream.fromQueue(queue), started.release(1))
      })
    return pieces.pipe(Stream.mapEffect(start), Stream.buffer({ capacity: inFlight }), Stream.flatten())
  }))

/** A pool as a Layer over the tier's `ActorSystem`; its runners stop when the layer is released. */
export const layer = (options: Options = {}): Layer.Layer<Pool, ActorError.SpawnFailed, ActorSystem.ActorSystem> =>
  Layer.effect(Pool, make(options))
