/**
 * Pools: the `multiprocessing.Pool` counterpart, built on TaskRunner actors (one per worker by default) and a
 * least-loaded balancer, as a service: `Pool.layer()` over any tier's `ActorSystem`, or `Pool.make()` in a scope.
 *
 * - `map`: ordered results, items sent in chunks (automatic size unless given);
 * - `imap` / `mapUnordered`: results as a stream, in order or as chunks finish;
 * - `apply`: one item; `applyAsync` / `mapAsync` / `Process.spawn`: handles that can be awaited (`join`) or
 *   interrupted, with progress.
 *
 * Tasks are assumed pure, as with Python's pool: a chunk whose worker died is sent again (to whichever worker
 * is free) up to `retries` times, so each item's result is counted exactly once.
 */
import { Context, Effect, Layer, Schema, Stream } from "effect"
import type { Scope } from "effect"
import { ActorSystem, Balancer, Handle, Partition, Retry } from "../index.ts"
import type { ActorError, Code } from "../index.ts"
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

export const make = (options: { readonly size?: number } = {}): Effect.Effect<Shape, never, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const system = yield* ActorSystem.ActorSystem
    const size = options.size ?? system.workers
    const runners = yield* Effect.orDie(ActorSystem.spawnMany(TaskRunner, size, () => ({})))
    const balancer = Balancer.ofRefs(runners, system.isUp)

    const ship = (task: Task<any, any, any>) =>
      Effect.mapError(system.ship(task), (error) => new TaskUnavailable({ task: task.name, detail: error.detail }))

    const chunked = <I, O, E>(task: Task<I, O, E>, items: Iterable<I>, options: MapOptions = {}, tracker?: Handle.Tracker) =>
      Effect.gen(function*() {
        const all = Array.from(items)
        const encode = Schema.encodeUnknownSync(task.input)
        const chunkSize = options.chunkSize ?? Partition.chunkSize(all.length, size)
        if (!Number.isInteger(chunkSize) || chunkSize < 1) {
          return yield* Effect.die(new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`))
        }
        const chunks: Array<Array<unknown>> = []
        for (let i = 0; i < all.length; i += chunkSize) chunks.push(all.slice(i, i + chunkSize).map((item) => encode(item)))
        if (tracker) tracker.total = chunks.length
        const shipped = yield* ship(task)
        const retries = options.retries ?? 3
        const run = (chunk: Array<unknown>) =>
          Retry.onWorkerDeath(balancer.run((runner) => runOn(runner, task, shipped, chunk)), {
            times: retries,
            elsewhere: balancer.anyAvailable
          }).pipe(
            Effect.provideService(ActorSystem.ActorSystem, system),
            Effect.tap(() => Effect.sync(() => tracker && tracker.done++))
          )
        return { chunks, run, inFlight: options.inFlight ?? size * 2 }
      })

    const map: Shape["map"] = (task, items, options) =>
      Effect.flatMap(chunked(task, items, options), ({ chunks, inFlight, run }) =>
        Effect.map(Effect.forEach(chunks, run, { concurrency: inFlight }), (parts) => parts.flat()))

    const streamOf = (unordered: boolean): Shape["imap"] => (task, items, options) =>
      Stream.unwrap(
        Effect.map(chunked(task, items, options), ({ chunks, inFlight, run }) =>
          Stream.fromIterable(chunks).pipe(
            Stream.mapEffect(run, { concurrency: inFlight, unordered }),
            Stream.flattenIterable
          ))
      )

    const apply: Shape["apply"] = (task, input, options) =>
      Effect.flatMap(map(task, [input], { ...options, chunkSize: 1 }), (out) => Effect.succeed(out[0]!))

    return {
      size,
      map,
      imap: streamOf(false),
      mapUnordered: streamOf(true),
      apply,
      applyAsync: (task, input, options) => Handle.start(() => apply(task, input, options), 1),
      mapAsync: (task, items, options) =>
        Handle.start(
          (tracker) =>
            Effect.flatMap(chunked(task, items, options, tracker), ({ chunks, inFlight, run }) =>
              Effect.map(Effect.forEach(chunks, run, { concurrency: inFlight }), (parts) => parts.flat())),
          0
        )
    } satisfies Shape
  })

/** A pool as a Layer over the tier's `ActorSystem`; its runners stop when the layer is released. */
export const layer = (options: { readonly size?: number } = {}): Layer.Layer<Pool, never, ActorSystem.ActorSystem> =>
  Layer.effect(Pool, make(options))
