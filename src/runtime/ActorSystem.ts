/**
 * The service every tier provides: spawn actors, connect to running ones, and ship code to where they live.
 *
 * Programs and libraries are written against this service and never against a tier, so the same program runs
 * serially on `Local.layer` and in parallel on `Threads.layer(...)`: choosing the tier is choosing the Layer.
 * A new tier is a Layer that provides this service; nothing else has to change.
 */
import { Context, Effect } from "effect"
import type { Scope } from "effect"
import type * as Actor from "./Actor.ts"
import type { SpawnFailed, WorkerLost } from "./ActorError.ts"
import type * as Code from "./Code.ts"

export interface SpawnOptions {
  /** Place the actor on this worker (0-based, modulo the worker count); automatic when omitted. */
  readonly worker?: number
}

export interface Service {
  /** How many workers actors can be placed on (1 on a tier that runs everything in the calling thread). */
  readonly workers: number
  /**
   * Whether actors on different workers run at the same time, so that one may block waiting for another
   * (at a shared-memory barrier or lock) without stopping it. False where every actor shares one thread.
   */
  readonly concurrent: boolean
  /**
   * Whether stream messages (`Actor.stream`) reach the actors libraries spawn on a worker (default true; on the
   * Cluster tier those pinned to a runner take them, those placed by shard do not); libraries fall back to asks
   * where they do not.
   */
  readonly streams?: boolean
  /**
   * Whether a `SharedArrayBuffer` in a message reaches the actor as the same memory (default true: the calling
   * thread and worker threads of one process). False where actors live in other processes (Cluster): libraries
   * then count progress on replies instead of in shared slots (see `Progress`).
   */
  readonly sharedMemory?: boolean
  /** Where actors live, in a few words ("2 worker threads"), for banners and logs. */
  readonly description: string
  /** Start an actor; it stops when the surrounding scope closes. */
  readonly spawn: <Name extends string, Init extends Actor.Codec, P extends Actor.Protocol>(
    definition: Actor.Definition<Name, Init, P>,
    init: Init["Type"],
    options?: SpawnOptions
  ) => Effect.Effect<Actor.Ref<P>, SpawnFailed, Scope.Scope>
  /** Workers restarted after dying, so far (always 0 on the Local tier). */
  readonly restarts: () => number
  /** Whether worker `k` can take messages now (false while it is being restarted, or once the tier gave up on it). */
  readonly isUp: (worker: number) => boolean
  /** Wait until worker `k` runs (at once if it does); fails with `WorkerLost` once the tier gave up on it. */
  readonly awaitUp: (worker: number) => Effect.Effect<void, WorkerLost>
  /**
   * Wait until every worker has booted (loaded the runtime; on a cluster, every runner is up). A tier's layer
   * starts its workers without waiting: start a clock after this to time the work, not the tier's start.
   */
  readonly ready: Effect.Effect<void, WorkerLost>
  /**
   * Replace worker `k`'s thread with a fresh one, for callers that know it is idle (a pool's `maxTasksPerWorker`
   * or heap watermark, CPython's `maxtasksperchild`): what the old thread held (module state, leaked memory) is
   * gone, and its actors are started again from their init parameters under the same addresses, as after a
   * death — but at once, without a backoff and without counting as a restart. Asks it still held fail with
   * `WorkerDied`. Succeeds with true once the new thread is up; with false where workers are not replaced
   * (Local: everything runs in the calling thread; Cluster: runner threads are not recycled from a client).
   */
  readonly recycle: (worker: number) => Effect.Effect<boolean, WorkerLost>
  /**
   * What the tier is waiting on, one line per worker (up, booting, restarting or lost; a watchdog ping in flight;
   * asks and spawns awaiting its answer): for a report of something that took far too long. Absent on tiers
   * with nothing to wait on.
   */
  readonly status?: () => ReadonlyArray<string>
  /**
   * Make the module of `code` loadable by the workers: the `Shipped` form travels in messages, and a worker
   * turns it back into the code with `Code.resolve`.
   */
  readonly ship: (code: Code.Locator) => Effect.Effect<Code.Shipped, Code.CodeUnavailable>
  /** A ref to an actor from its address (for addresses received in messages). */
  readonly connect: <P extends Actor.Protocol>(
    definition: Actor.Definition<string, Actor.Codec, P>,
    address: Actor.Address
  ) => Actor.Ref<P>
}

export class ActorSystem extends Context.Service<ActorSystem, Service>()("actorflow/runtime/ActorSystem") {}

/** Spawn through whichever tier is provided. */
export const spawn = <Name extends string, Init extends Actor.Codec, P extends Actor.Protocol>(
  definition: Actor.Definition<Name, Init, P>,
  init: Init["Type"],
  options?: SpawnOptions
): Effect.Effect<Actor.Ref<P>, SpawnFailed, ActorSystem | Scope.Scope> =>
  ActorSystem.use((system) => system.spawn(definition, init, options))

/** Spawn `count` copies, one per worker in turn (worker i gets copy i mod workers). */
export const spawnMany = <Name extends string, Init extends Actor.Codec, P extends Actor.Protocol>(
  definition: Actor.Definition<Name, Init, P>,
  count: number,
  init: (index: number) => Init["Type"]
): Effect.Effect<Array<Actor.Ref<P>>, SpawnFailed, ActorSystem | Scope.Scope> =>
  ActorSystem.use((system) =>
    Effect.forEach(
      Array.from({ length: count }, (_, i) => i),
      (i) => system.spawn(definition, init(i), { worker: i % system.workers }),
      { concurrency: "unbounded" }
    ))

/** Ship code through whichever tier is provided (see `Service.ship`). */
export const ship = (code: Code.Locator): Effect.Effect<Code.Shipped, Code.CodeUnavailable, ActorSystem> =>
  ActorSystem.use((system) => system.ship(code))
