/**
 * Pools: the `multiprocessing.Pool` counterpart, built on TaskRunner actors (one per worker by default) and a
 * least-loaded balancer, as a service: `Pool.layer()` over any tier's `ActorSystem`, or `Pool.make()` in a scope.
 *
 * - `map`: ordered results, items sent in chunks (automatic size unless given);
 * - `imap` / `mapUnordered`: results as a stream, in order or as they finish. Each chunk's outputs stream back
 *   as the worker computes them (a stream message, `TaskRunner.stream`), so the first results arrive before
 *   their chunk is done and `mapUnordered` yields every item as soon as it is ready; a slow consumer slows
 *   the workers down (credit) instead of filling memory. Tiers without stream messages get whole chunks;
 * - `apply`: one item; `applyAsync` / `mapAsync` / `Process.spawn`: handles that can be awaited (`join`) or
 *   interrupted, with progress.
 *
 * Inputs are read as they are consumed (any iterable, endless ones too), a bounded number of chunks ahead.
 * Tasks are assumed pure, as with Python's pool: a chunk whose worker died is sent again (to whichever worker
 * is free) up to `retries` times, so each item's result is counted exactly once.
 */
import { Cause, Context, Effect, Layer, Queue, Schema, Scope, Semaphore, Stream } from "effect"
import { ActorError, ActorSystem, Balancer, Handle, Partition, Retry } from "../index.ts"
import type { Code } from "../index.ts"
import type { Task } from "./Task.ts"
import { TaskFailed, TaskRunner, TaskUnavailable } from "./TaskRunner.ts"
import type { Runner } from "./TaskRunner.ts"

export { TaskFailed, TaskUnavailable }

export interface MapOptions {
  /** Items per message; default: about `Partition.CHUNKS_PER_WORKER` chunks per worker. */
  readonly chunkSize?: number
  /** Resends of a chunk whose worker died (default 3). */
  readonly retries?: number
  /** Chunks outstanding at once (default: 2 per worker, so none idles between chunks). */
  readonly inFlight?: number
}

/** What a pool operation can fail with: the task's own error, or the runtime's. */
export type PoolError<E> = E | ActorError.ActorError | TaskUnavailable

export interface Shape {
  readonly size: number
  readonly map: <I, O, E>(task: Task<I, O, E>, items: Iterable<I>, options?: MapOptions) => Effect.Effect<Array<O>, PoolError<E>>
  readonly imap: <I, O, E>(task: Task<I, O, E>, items: Iterable<I>, options?: MapOptions) => Stream.Stream<O, PoolError<E>>
  readonly mapUnordered: <I, O, E>(task: Task<I, O, E>, items: Iterable<I>, options?: MapOptions) => Stream.Stream<O, PoolError<E>>
  readonly apply: <I, O, E>(task: Task<I, O, E>, input: I, options?: MapOptions) => Effect.Effect<O, PoolError<E>>
  readonly applyAsync: <I, O, E>(task: Task<I, O, E>, input: I, options?: MapOptions) => Effect.Effect<Handle.Handle<O, PoolError<E>>, never, Scope.Scope>
  readonly mapAsync: <I, O, E>(task: Task<I, O, E>, items: Iterable<I>, options?: MapOptions) => Effect.Effect<Handle.Handle<Array<O>, PoolError<E>>, never, Scope.Scope>
}

/** The pool as a service. */
export class Pool extends Context.Service<Pool, Shape>()("actorflow/pool/Pool") {}

/** Ship a task and run its encoded items on one runner; the task's typed error is decoded back. */
export const runOn = <I, O, E>(
  runner: Runner,
  task: Task<I, O, E>,
  shipped: Code.Shipped,
  items: ReadonlyArray<unknown>
): Effect.Effect<Array<O>, PoolError<E>> => {
  const decodeOut = Schema.decodeUnknownSync(task.output)
  const decodeError = Schema.decodeUnknownSync(task.error)
  return runner.ask("run", { task: shipped, items }).pipe(
    Effect.flatMap((out) => Effect.sync(() => out.map((value) => decodeOut(value) as O))),
    Effect.catchTag("TaskFailed", (failed) => Effect.fail(decodeError(failed.error) as E))
  )
}

export const make = (options: { readonly size?: number } = {}): Effect.Effect<Shape, ActorError.SpawnFailed, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const system = yield* ActorSystem.ActorSystem
    const size = options.size ?? system.workers
    const runners = yield* ActorSystem.spawnMany(TaskRunner, size, () => ({}))
    const balancer = Balancer.ofRefs(runners, system.isUp)

    const ship = (task: Task<any, any, any>) =>
      Effect.mapError(system.ship(task), (error) => new TaskUnavailable({ task: task.name, detail: error.detail }))

    /** A chunk of an input, encoded for the workers. */
    interface Job {
      readonly length: number
      readonly encoded: ReadonlyArray<unknown>
    }

    /**
     * The chunks of an input, encoded, as a stream of jobs. The input is read as the chunks are sent, with at
     * most `inFlight` chunks out at once, so an endless or huge input costs the memory of its chunks in flight.
     */
    const jobs = <I, O, E>(task: Task<I, O, E>, items: Iterable<I>, options: MapOptions, tracker?: Handle.Tracker) =>
      Effect.gen(function*() {
        const fixed = options.chunkSize
        if (fixed !== undefined && (!Number.isInteger(fixed) || fixed < 1)) {
          return yield* Effect.die(new RangeError(`chunkSize must be a positive integer, got ${fixed}`))
        }
        const known = Partition.knownLength(items)
        const chunker = new Partition.Chunker(fixed, known, size)
        if (tracker) tracker.total = known === undefined ? 0 : Math.ceil(known / chunker.next())
        const shipped = yield* ship(task)
        const encode = Schema.encodeUnknownSync(task.input)
        const encoded = Stream.mapEffect(Stream.fromIterable(Partition.chunks(items, chunker), { chunkSize: 1 }), (chunk: Array<I>) =>
          Effect.suspend((): Effect.Effect<Job, TaskUnavailable> => {
            const out: Array<unknown> = new Array(chunk.length)
            for (let i = 0; i < chunk.length; i++) {
              try {
                out[i] = encode(chunk[i])
              } catch (error) {
                return Effect.fail(new TaskUnavailable({ task: task.name, detail: `an item does not fit the task's input: ${ActorError.describe(error)}` }))
              }
            }
            if (tracker && known === undefined) tracker.total++
            return Effect.succeed({ length: chunk.length, encoded: out })
          }))
        /** Bookkeeping once a job's outputs are all in: the chunk size adapts, progress moves. */
        const finished = (job: Job, started: number) =>
          Effect.sync(() => {
            chunker.observe(job.length, performance.now() - started)
            if (tracker) tracker.done++
          })
        return { shipped, encoded, finished, retry: { times: options.retries ?? 3, elsewhere: balancer.anyAvailable }, inFlight: options.inFlight ?? size * 2 }
      })

    /** A job's outputs in one reply (an ask), resent whole if its worker died. */
    const askJob = <I, O, E>(task: Task<I, O, E>, setup: Effect.Success<ReturnType<typeof jobs<I, O, E>>>) => (job: Job) =>
      Effect.suspend(() => {
        const started = performance.now()
        return Retry.onWorkerDeath(balancer.run((runner) => runOn(runner, task, setup.shipped, job.encoded)), setup.retry).pipe(
          Effect.provideService(ActorSystem.ActorSystem, system),
          Effect.tap(() => setup.finished(job, started))
        )
      })

    /** A job's outputs as the worker computes them; after a worker died, the rest of them (none twice). */
    const streamJob = <I, O, E>(task: Task<I, O, E>, setup: Effect.Success<ReturnType<typeof jobs<I, O, E>>>) => {
      const decodeOut = Schema.decodeUnknownSync(task.output)
      const decodeError = Schema.decodeUnknownSync(task.error)
      return (job: Job): Stream.Stream<O, PoolError<E>> =>
        Stream.suspend(() => {
          const started = performance.now()
          const outputs = Retry.streamOnWorkerDeath(
            () => balancer.stream((runner) => runner.stream("stream", { task: setup.shipped, items: job.encoded })),
            setup.retry
          )
          return outputs.pipe(
            Stream.map((value) => decodeOut(value) as O),
            Stream.catchTag("TaskFailed", (failed) => Stream.fail(decodeError(failed.error) as E)),
            Stream.provideService(ActorSystem.ActorSystem, system),
            Stream.onEnd(setup.finished(job, started))
          ) as Stream.Stream<O, PoolError<E>>
        })
    }

    const collect = <I, O, E>(task: Task<I, O, E>, items: Iterable<I>, options: MapOptions = {}, tracker?: Handle.Tracker) =>
      Effect.flatMap(jobs(task, items, options, tracker), (setup) =>
        Stream.runCollect(Stream.mapEffect(setup.encoded, askJob(task, setup), { concurrency: setup.inFlight }))).pipe(
          Effect.map((parts) => parts.flat())
        )

    const map: Shape["map"] = (task, items, options) => collect(task, items, options)

    const streamOf = (unordered: boolean): Shape["imap"] => (task, items, options = {}) =>
      Stream.unwrap(Effect.map(jobs(task, items, options), (setup) => {
        if (system.streams === false) {
          return Stream.flattenIterable(Stream.mapEffect(setup.encoded, askJob(task, setup), { concurrency: setup.inFlight, unordered }))
        }
        const open = streamJob(task, setup)
        return unordered
          ? Stream.flatMap(setup.encoded, open, { concurrency: setup.inFlight })
          : inOrder(setup.encoded, open, setup.inFlight)
      }))

    const apply: Shape["apply"] = (task, input, options) =>
      Effect.flatMap(map(task, [input], { ...options, chunkSize: 1 }), (out) => Effect.succeed(out[0]!))

    return {
      size,
      map,
      imap: streamOf(false),
      mapUnordered: streamOf(true),
      apply,
      applyAsync: (task, input, options) => Handle.start(() => apply(task, input, options), 1),
      mapAsync: (task, items, options) => Handle.start((tracker) => collect(task, items, options, tracker), 0)
    } satisfies Shape
  })

/**
 * The streams `open` makes of `jobs`, at most `inFlight` running at once, their elements in job order: the
 * first job's elements flow as they come, later jobs' wait (each in its own queue, holding at most its own
 * elements) until those before them ended. At most `inFlight` jobs run and as many more have ended unread.
 */
const inOrder = <J, A, E, E2>(jobs: Stream.Stream<J, E2>, open: (job: J) => Stream.Stream<A, E>, inFlight: number): Stream.Stream<A, E | E2> =>
  Stream.unwrap(Effect.gen(function*() {
    const scope = yield* Scope.Scope
    const running = Semaphore.makeUnsafe(inFlight)
    const start = (job: J) =>
      Effect.gen(function*() {
        yield* running.take(1)
        const queue = yield* Queue.unbounded<A, E | Cause.Done>()
        yield* Effect.forkIn(Effect.ensuring(Stream.runIntoQueue(open(job), queue), running.release(1)), scope)
        return Stream.fromQueue(queue)
      })
    return jobs.pipe(Stream.mapEffect(start), Stream.buffer({ capacity: inFlight }), Stream.flatten())
  }))

/** A pool as a Layer over the tier's `ActorSystem`; its runners stop when the layer is released. */
export const layer = (options: { readonly size?: number } = {}): Layer.Layer<Pool, ActorError.SpawnFailed, ActorSystem.ActorSystem> =>
  Layer.effect(Pool, make(options))
