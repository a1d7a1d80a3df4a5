/**
 * A pool's runners: which TaskRunner takes the next chunk, how many there are, and when one is replaced.
 *
 * - Choice: the least-loaded runner that is ready and whose worker is up (`Balancer.leastLoaded`, the one rule).
 * - Elastic size: `min` runners start with the pool; while every ready runner is busy and there are fewer than
 *   `max`, a chunk starts one more (on the worker this pool uses least); a runner idle for `idleTimeoutMs` stops,
 *   down to `min`.
 * - Recycling (CPython's `maxtasksperchild`, and a heap watermark): a runner that took `maxTasks` chunks, or whose
 *   thread's heap passed `maxHeapBytes` after a chunk, takes no more; once it (and every runner of this pool on
 *   its worker) is idle, the worker is recycled (`ActorSystem.Service.recycle`: a fresh thread, the runners
 *   started again from their init parameters, so the initializer runs again). Where the tier cannot recycle a
 *   worker (Local, Cluster), the runner alone is replaced by a fresh one.
 * - `terminate`: every runner stops now; whatever waits for one fails with `PoolTerminated`.
 */
import { Deferred, Effect, Exit, Scope, Stream } from "effect"
import { ActorSystem, Balancer } from "../index.ts"
import type { ActorError } from "../index.ts"
import { PoolTerminated } from "./Errors.ts"
import { TaskRunner } from "./TaskRunner.ts"
import type { Runner } from "./TaskRunner.ts"

export interface Options {
  readonly min: number
  readonly max: number
  readonly idleTimeoutMs: number
  readonly maxTasks: number | undefined
  readonly maxHeapBytes: number | undefined
  readonly init: typeof TaskRunner.init.Type
}

export interface Stats {
  /** Runners now. */
  readonly runners: number
  /** The most runners at once so far. */
  readonly peak: number
  /** Workers recycled (or runners replaced) so far. */
  readonly recycled: number
}

export interface Workers {
  /** Run `f` on a runner (waiting for one to be ready, or starting one); it counts as busy until `f` ends. */
  readonly run: <A, E>(f: (runner: Runner) => Effect.Effect<A, E>) => Effect.Effect<A, E | PoolTerminated | ActorError.SpawnFailed>
  /** The stream `f` opens on a runner (chosen as for `run` when the stream starts); busy until the stream ends. */
  readonly stream: <A, E>(f: (runner: Runner) => Stream.Stream<A, E>) => Stream.Stream<A, E | PoolTerminated | ActorError.SpawnFailed>
  /** Whether a runner could take a chunk right now (so that a retry goes there rather than waiting). */
  readonly anyAvailable: () => boolean
  readonly stats: () => Stats
  readonly terminated: () => boolean
  /** Stop every runner now; pending and later `run`s fail with `PoolTerminated`. */
  readonly terminate: Effect.Effect<void>
}

interface Entry {
  ref: Runner
  readonly worker: number
  scope: Scope.Closeable
  load: number
  dispatched: number
  idleSince: number
  state: "ready" | "draining" | "replacing"
}

export const make = (options: Options): Effect.Effect<Workers, ActorError.SpawnFailed, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const system = yield* ActorSystem.ActorSystem
    const scope = yield* Effect.scope
    const entries: Array<Entry> = []
    let starting = 0
    let peak = 0
    let recycled = 0
    let closed = false
    let cursor = 0
    let changed = Deferred.makeUnsafe<void>()
    /** Wake whoever waits for a runner. */
    const signal = () => {
      const waiting = changed
      changed = Deferred.makeUnsafe<void>()
      Deferred.doneUnsafe(waiting, Effect.void)
    }

    const spawnOn = (worker: number) =>
      Effect.gen(function*() {
        const own = yield* Scope.fork(scope)
        const ref = yield* Scope.provide(system.spawn(TaskRunner, options.init, { worker }), own).pipe(
          Effect.onError(() => Scope.close(own, Exit.void))
        )
        return { ref, own }
      })

    /** One more runner, on the worker this pool uses least. */
    const grow = Effect.suspend(() => {
      const workers = Array.from({ length: system.workers }, (_, k) => k)
      const usage = (k: number) => entries.filter((entry) => entry.worker === k).length + (system.isUp(k) ? 0 : 1e6)
      const worker = Balancer.leastLoaded(workers, usage, cursor)
      cursor = worker + 1
      starting++
      return spawnOn(worker).pipe(
        Effect.map(({ own, ref }) => {
          entries.push({ ref, worker, scope: own, load: 0, dispatched: 0, idleSince: Date.now(), state: "ready" })
          peak = Math.max(peak, entries.length)
          signal()
        }),
        Effect.ensuring(Effect.sync(() => starting--))
      )
    })

    yield* Effect.forEach(Array.from({ length: options.min }, () => grow), (g) => g, { concurrency: "unbounded", discard: true })

    const ready = () => entries.filter((entry) => entry.state === "ready")

    /** The runner for the next chunk now, if one can take it. */
    const pick = (): Entry | undefined => {
      const candidates = ready()
      if (candidates.length === 0) return undefined
      const up = candidates.filter((entry) => system.isUp(entry.worker))
      const pool = up.length > 0 ? up : candidates
      const i = Balancer.leastLoaded(pool.map((_, k) => k), (k) => pool[k]!.load, 0)
      return pool[i]
    }

    const canGrow = () => entries.length + starting < options.max

    const take = (entry: Entry): Entry => {
      entry.load++
      entry.dispatched++
      if (options.maxTasks !== undefined && entry.dispatched >= options.maxTasks) drain(entry)
      return entry
    }

    /** A runner for the next chunk: an idle one, else a new one (below `max`), else the least loaded, else wait. */
    const acquire: Effect.Effect<Entry, PoolTerminated | ActorError.SpawnFailed> = Effect.suspend(
      function loop(): Effect.Effect<Entry, PoolTerminated | ActorError.SpawnFailed> {
        if (closed) return Effect.fail(new PoolTerminated())
        const entry = pick()
        if (entry !== undefined && (entry.load === 0 || !canGrow())) return Effect.succeed(take(entry))
        if (canGrow()) return Effect.andThen(grow, Effect.suspend(loop))
        if (entry !== undefined) return Effect.succeed(take(entry))
        return Effect.andThen(Deferred.await(changed), Effect.suspend(loop))
      }
    )

    /** Take no more chunks on `entry`; its worker is recycled once this pool's runners there are idle. */
    const drain = (entry: Entry) => {
      entry.state = "draining"
      for (const other of entries) if (other.worker === entry.worker && other.state === "ready") other.state = "draining"
    }

    /** Recycle `worker` if every runner of this pool there is draining and idle. */
    const recycleIfIdle = (worker: number) => {
      const here = entries.filter((entry) => entry.worker === worker)
      if (closed || here.length === 0 || here.some((entry) => entry.state !== "draining" || entry.load > 0)) return
      for (const entry of here) entry.state = "replacing"
      const replace = Effect.gen(function*() {
        const done = yield* system.recycle(worker)
        if (!done) {
          // The tier keeps its threads: replace the runner that asked for it, and let the others go on.
          const due = here.filter((entry) => options.maxTasks !== undefined && entry.dispatched >= options.maxTasks)
          for (const entry of due.length > 0 ? due : here) {
            const fresh = yield* spawnOn(worker)
            const old = entry.scope
            entry.ref = fresh.ref
            entry.scope = fresh.own
            yield* Scope.close(old, Exit.void)
            entry.dispatched = 0
          }
        }
        recycled++
        for (const entry of here) {
          if (done) entry.dispatched = 0
          entry.state = "ready"
          entry.idleSince = Date.now()
        }
      }).pipe(
        Effect.catchCause(() =>
          Effect.sync(() => {
            // A worker that could not be recycled (lost): its runners stay out of use.
            for (const entry of here) entry.state = "draining"
          })
        ),
        Effect.ensuring(Effect.sync(signal))
      )
      Effect.runFork(Effect.forkIn(replace, scope))
    }

    const release = (entry: Entry) =>
      Effect.sync(() => {
        entry.load--
        entry.idleSince = Date.now()
        if (options.maxHeapBytes !== undefined && entry.state === "ready" && !closed) {
          const limit = options.maxHeapBytes
          Effect.runFork(Effect.forkIn(
            entry.ref.ask("heap", undefined).pipe(
              Effect.tap((used) => Effect.sync(() => {
                if (used > limit && entry.state === "ready") {
                  drain(entry)
                  recycleIfIdle(entry.worker)
                }
              })),
              Effect.ignore
            ),
            scope
          ))
        }
        if (entry.state === "draining") recycleIfIdle(entry.worker)
        signal()
      })

    // Elastic pools stop runners idle for `idleTimeoutMs`, down to `min`.
    if (options.max > options.min) {
      const period = Math.max(20, Math.floor(options.idleTimeoutMs / 2))
      const reap = Effect.gen(function*() {
        for (;;) {
          yield* Effect.sleep(period)
          const now = Date.now()
          for (const entry of [...entries]) {
            if (entries.length <= options.min) break
            if (entry.state === "ready" && entry.load === 0 && now - entry.idleSince >= options.idleTimeoutMs) {
              entries.splice(entries.indexOf(entry), 1)
              yield* Scope.close(entry.scope, Exit.void)
            }
          }
        }
      })
      yield* Effect.forkIn(reap, scope)
    }

    return {
      run: (f) => Effect.flatMap(acquire, (entry) => Effect.ensuring(f(entry.ref), release(entry))),
      stream: (f) => Stream.unwrap(Effect.map(Effect.acquireRelease(acquire, release), (entry) => f(entry.ref))),
      anyAvailable: () => !closed && (canGrow() || ready().some((entry) => system.isUp(entry.worker))),
      stats: () => ({ runners: entries.length, peak, recycled }),
      terminated: () => closed,
      terminate: Effect.suspend(() => {
        if (closed) return Effect.void
        closed = true
        signal()
        const all = entries.splice(0)
        return Effect.forEach(all, (entry) => Scope.close(entry.scope, Exit.void), { discard: true })
      })
    } satisfies Workers
  })
