/**
 * Pools: the `multiprocessing.Pool` counterpart, built on TaskRunner actors (one
 * per worker by default) and a least-loaded balancer.
 *
 * - `map`: ordered results, items sent in chunks (automatic size unless given);
 * - `imap` / `mapUnordered`: results as a stream, in order or as chunks finish;
 * - `apply`: one item; `applyAsync` / `mapAsync` / `spawn`: handles that can be
 *   awaited (`join`) or interrupted, with progress.
 *
 * Tasks are assumed pure, as with Python's pool: a chunk whose worker died is
 * sent again (to whichever worker is free) up to `retries` times, so each item's
 * result is counted exactly once.
 */
import { Effect, Schema, Stream } from "effect"
import type { Scope } from "effect"
import type { ActorError } from "../ActorError.ts"
import * as ActorSystem from "../ActorSystem.ts"
import * as Balancer from "./Balancer.ts"
import * as Handle from "./Handle.ts"
import * as Retry from "../Retry.ts"
import type * as Actor from "../Actor.ts"
import type { Task } from "./Task.ts"
import { TaskFailed, TaskRunner, TaskUnavailable } from "./TaskRunner.ts"
import * as WorkerBundle from "../transport/WorkerBundle.ts"

export { TaskFailed, TaskUnavailable }

export interface MapOptions {
  /** Items per message; default: enough chunks for about 4 per worker (Python's rule). */
  readonly chunkSize?: number
  /** Resends of a chunk whose worker died (default 3). */
  readonly retries?: number
  /** Chunks outstanding at once (default: 2 per worker, so none idles between chunks). */
  readonly inFlight?: number
}

/** What a pool operation can fail with: the task's own error, or the runtime's. */
export type PoolError<E> = E | ActorError | TaskUnavailable

export interface Pool {
  readonly size: number
  readonly map: <I, O, E>(task: Task<I, O, E>, items: Iterable<I>, options?: MapOptions) => Effect.Effect<Array<O>, PoolError<E>>
  readonly imap: <I, O, E>(task: Task<I, O, E>, items: Iterable<I>, options?: MapOptions) => Stream.Stream<O, PoolError<E>>
  readonly mapUnordered: <I, O, E>(task: Task<I, O, E>, items: Iterable<I>, options?: MapOptions) => Stream.Stream<O, PoolError<E>>
  readonly apply: <I, O, E>(task: Task<I, O, E>, input: I, options?: MapOptions) => Effect.Effect<O, PoolError<E>>
  readonly applyAsync: <I, O, E>(task: Task<I, O, E>, input: I, options?: MapOptions) => Effect.Effect<Handle.Handle<O, PoolError<E>>, never, Scope.Scope>
  readonly mapAsync: <I, O, E>(task: Task<I, O, E>, items: Iterable<I>, options?: MapOptions) => Effect.Effect<Handle.Handle<Array<O>, PoolError<E>>, never, Scope.Scope>
}

/** Python's default: split into about 4 chunks per worker. */
export const autoChunkSize = (items: number, workers: number): number => Math.max(1, Math.ceil(items / (workers * 4)))

export const make = (options: { readonly size?: number } = {}): Effect.Effect<Pool, never, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const system = yield* ActorSystem.ActorSystem
    const size = options.size ?? system.workers
    const runners = yield* Effect.orDie(ActorSystem.spawnMany(TaskRunner, size, () => ({})))
    const balancer = Balancer.make(runners)

    const bundleOf = (task: Task<any, any, any>) =>
      system.tier === "local" || WorkerBundle.isRuntimeModule(task.module)
        ? Effect.succeed("")
        : Effect.orDie(Effect.promise(() => WorkerBundle.moduleBundle(task.module)))

    /** Run one chunk (already encoded) on the least-loaded runner, resending after worker deaths. */
    const runChunk = <I, O, E>(task: Task<I, O, E>, bundle: string, items: ReadonlyArray<unknown>, retries: number) => {
      const decodeOut = Schema.decodeUnknownSync(task.output)
      const decodeError = Schema.decodeUnknownSync(task.error)
      const once = balancer.run((runner: Actor.Ref<typeof TaskRunner.protocol>) =>
        runner.ask("run", { module: task.module, name: task.name, bundle, items })
      )
      return Retry.onWorkerDeath(once, { times: retries }).pipe(
        Effect.flatMap((out) => Effect.sync(() => out.map((value) => decodeOut(value) as O))),
        Effect.catchTag("TaskFailed", (failed) => Effect.fail(decodeError(failed.error) as E))
      ) as Effect.Effect<Array<O>, PoolError<E>>
    }

    const chunked = <I, O, E>(task: Task<I, O, E>, items: Iterable<I>, options: MapOptions = {}, tracker?: Handle.Tracker) =>
      Effect.gen(function*() {
        const all = Array.from(items)
        const encode = Schema.encodeUnknownSync(task.input)
        const chunkSize = options.chunkSize ?? autoChunkSize(all.length, size)
        if (!Number.isInteger(chunkSize) || chunkSize < 1) {
          return yield* Effect.die(new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`))
        }
        const chunks: Array<Array<unknown>> = []
        for (let i = 0; i < all.length; i += chunkSize) chunks.push(all.slice(i, i + chunkSize).map((item) => encode(item)))
        if (tracker) tracker.total = chunks.length
        const bundle = yield* bundleOf(task)
        const run = (chunk: Array<unknown>) =>
          runChunk(task, bundle, chunk, options.retries ?? 3).pipe(
            Effect.tap(() => Effect.sync(() => tracker && tracker.done++))
          )
        return { chunks, run, inFlight: options.inFlight ?? size * 2 }
      })

    const map: Pool["map"] = (task, items, options) =>
      Effect.flatMap(chunked(task, items, options), ({ chunks, inFlight, run }) =>
        Effect.map(Effect.forEach(chunks, run, { concurrency: inFlight }), (parts) => parts.flat()))

    const streamOf = (unordered: boolean): Pool["imap"] => (task, items, options) =>
      Stream.unwrap(
        Effect.map(chunked(task, items, options), ({ chunks, inFlight, run }) =>
          Stream.fromIterable(chunks).pipe(
            Stream.mapEffect(run, { concurrency: inFlight, unordered }),
            Stream.flattenIterable
          ))
      )

    const apply: Pool["apply"] = (task, input, options) =>
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
    } satisfies Pool
  })
