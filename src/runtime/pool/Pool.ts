/**
 * Pools: the `multiprocessing.Pool` counterpart, built on TaskRunner actors (one per worker by default) and a
 * least-loaded balancer, as a service: `Pool.layer()` over any tier's `ActorSystem`, or `Pool.make()` in a scope.
 *
 * - `map`: ordered results, items sent in chunks (automatic size unless given);
 * - `imap` / `mapUnordered`: results as a stream, in order or as chunks finish;
 * - `apply`: one item; `applyAsync` / `mapAsync` / `Process.spawn`: handles that can be awaited (`join`) or
 *   interrupted, with progress.
 *
 * Inputs are read as they are consumed (any iterable, endless ones too), a bounded number of chunks ahead.
 * Tasks are assumed pure, as with Python's pool: a chunk whose worker died is sent again (to whichever worker
 * is free) up to `retries` times, so each item's result is counted exactly once.
 */
import { Context, Effect, Layer, Schema, Stream } from "effect"
import type { Scope } from "effect"
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

    /**
     * The chunks of an input as a stream of result arrays. The input is read as the chunks are sent, with at
     * most `inFlight` chunks out at once, so an endless or huge input costs the memory of its chunks in flight.
     */
    const chunked = <I, O, E>(
      task: Task<I, O, E>,
      items: Iterable<I>,
      options: MapOptions,
      unordered: boolean,
      tracker?: Handle.Tracker
    ): Stream.Stream<Array<O>, PoolError<E>> =>
      Stream.unwrap(Effect.gen(function*() {
        const fixed = options.chunkSize
        if (fixed !== undefined && (!Number.isInteger(fixed) || fixed < 1)) {
          return yield* Effect.die(new RangeError(`chunkSize must be a positive integer, got ${fixed}`))
        }
        const known = Partition.knownLength(items)
        const chunker = new Partition.Chunker(fixed, known, size)
        if (tracker) tracker.total = known === undefined ? 0 : Math.ceil(known / chunker.next())
        const shipped = yield* ship(task)
        const encode = Schema.encodeUnknownSync(task.input)
        const retries = options.retries ?? 3
        const run = (chunk: Array<I>): Effect.Effect<Array<O>, PoolError<E>> =>
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
            const started = performance.now()
            return Retry.onWorkerDeath(balancer.run((runner) => runOn(runner, task, shipped, encoded)), {
              times: retries,
              elsewhere: balancer.anyAvailable
            }).pipe(
              Effect.provideService(ActorSystem.ActorSystem, system),
              Effect.tap(() =>
                Effect.sync(() => {
                  chunker.observe(chunk.length, performance.now() - started)
                  if (tracker) tracker.done++
                })
              )
            )
          })
        return Stream.fromIterable(Partition.chunks(items, chunker), { chunkSize: 1 }).pipe(
          Stream.mapEffect(run, { concurrency: options.inFlight ?? size * 2, unordered })
        )
      }))

    const collect = <I, O, E>(task: Task<I, O, E>, items: Iterable<I>, options: MapOptions = {}, tracker?: Handle.Tracker) =>
      Effect.map(Stream.runCollect(chunked(task, items, options, false, tracker)), (parts) => parts.flat())

    const map: Shape["map"] = (task, items, options) => collect(task, items, options)

    const streamOf = (unordered: boolean): Shape["imap"] => (task, items, options = {}) =>
      Stream.flattenIterable(chunked(task, items, options, unordered))

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

/** A pool as a Layer over the tier's `ActorSystem`; its runners stop when the layer is released. */
export const layer = (options: { readonly size?: number } = {}): Layer.Layer<Pool, ActorError.SpawnFailed, ActorSystem.ActorSystem> =>
  Layer.effect(Pool, make(options))
