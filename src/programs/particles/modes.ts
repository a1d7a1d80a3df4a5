/**
 * The particle simulator's modes, as Effects over whichever tier is provided: `serial` (the reference),
 * `distributed` (scatter / evolve / gather over ParticleGroup actors, one per worker) and `shared` (parallelFor
 * over shared position arrays, the OpenMP version). All use the fast loop order and give the same bits.
 * Shared by `particles.ts`, the benchmark and the tests.
 *
 * A mode is prepared once (actors spawned, kernels loaded and warm) and then evolves any number of states, so
 * that timings measure the computation, not the start-up.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { evolveInSlices, evolveKernel, stepsPerSlice } from "../../actors/particles/EvolveKernel.ts"
import * as Particles from "../../actors/particles/index.ts"
import type { ParticleState } from "../../actors/particles/index.ts"
import { ParticleGroup } from "../../actors/particles/ParticleGroup.ts"
import type { GroupEmpty } from "../../actors/particles/Schemas.ts"
import { ActorSystem, Partition } from "../../runtime/index.ts"
import type { ActorError } from "../../runtime/index.ts"
import { ParallelFor } from "../../runtime/parallel/index.ts"
import type { WideCounter } from "../../runtime/shared/index.ts"
import type { Schedule } from "../../runtime/parallel/index.ts"

export const MODES = ["serial", "distributed", "shared"] as const
export type Mode = (typeof MODES)[number]

export interface Options {
  /** `shared` only: the parallelFor schedule (default static) and chunk size. */
  readonly schedule?: Schedule.Schedule | undefined
  readonly chunk?: number | undefined
  /** False where the workers share no memory with this process (a cluster): progress is then counted here. */
  readonly sharedMemory?: boolean
}

export type ModeError = ActorError.ActorError | ParallelFor.ParallelForError | GroupEmpty

export interface Runner {
  readonly mode: Mode
  /** Threads the computation runs on. */
  readonly workers: number
  /**
   * The state after `nsteps` steps from `initial` (left untouched). `progress`, if given, grows by the
   * particle-steps done as they are done, from inside the threads that do them (a shared counter: no messages);
   * on a cluster, whose runners share no memory, it grows by each group's share when its evolve returns.
   */
  readonly evolve: (initial: ParticleState, nsteps: number, progress?: WideCounter.WideCounter) => Effect.Effect<ParticleState, ModeError>
}

export const serial: Effect.Effect<Runner> = Effect.sync(() => {
  Particles.warmUp()
  return {
    mode: "serial",
    workers: 1,
    evolve: (initial, nsteps, progress) =>
      Effect.suspend(() => {
        const s = Particles.cloneParticles(initial)
        return Effect.as(evolveInSlices(s.x, s.y, s.w, nsteps, progress), s)
      })
  }
})

/** One ParticleGroup per worker; each evolve scatters, evolves and gathers. */
export const distributed = (options: { readonly sharedMemory?: boolean } = {}): Effect.Effect<Runner, ActorError.SpawnFailed, ActorSystem.ActorSystem | Scope.Scope> => Effect.gen(function*() {
  const system = yield* ActorSystem.ActorSystem
  const groups = yield* ActorSystem.spawnMany(ParticleGroup, system.workers, () => ({}))
  const all = <A, E>(f: (group: (typeof groups)[number], range: readonly [number, number], i: number) => Effect.Effect<A, E>, ranges: ReadonlyArray<readonly [number, number]>) =>
    Effect.forEach(groups, (group, i) => f(group, ranges[i]!, i), { concurrency: "unbounded" })
  return {
    mode: "distributed",
    workers: groups.length,
    evolve: (initial, nsteps, progress) =>
      Effect.gen(function*() {
        const ranges = Partition.allBounds(initial.n, groups.length)
        const inside = progress !== undefined && options.sharedMemory !== false
        // Scatter: each group gets a copy of its slice (distributed memory).
        yield* all((group, [lo, hi]) =>
          group.ask("scatter", { x: initial.x.slice(lo, hi), y: initial.y.slice(lo, hi), w: initial.w.slice(lo, hi) }), ranges)
        yield* all((group, [lo, hi]) =>
          inside
            ? group.ask("evolve", { nsteps, progress: progress.handle })
            : Effect.tap(group.ask("evolve", { nsteps }), () => Effect.sync(() => progress?.add((hi - lo) * nsteps))), ranges)
        const parts = yield* all((group) => group.ask("gather", undefined), ranges)
        const out = Particles.allocParticles(initial.n)
        out.w.set(initial.w)
        parts.forEach((part, i) => {
          out.x.set(part.x, ranges[i]![0])
          out.y.set(part.y, ranges[i]![0])
        })
        return out
      })
  }
})

/**
 * Particle-steps per parallelFor in the shared mode (~100 ms on 2 cores): a long run is a sequence of loops over
 * slices of steps, so an interruption reaches the workers between two slices. Each slice costs about 1 ms on 2
 * workers (a round trip, and waiting for the slower worker), measured: 1 loop 186 ms, 4 loops 188, 10 loops 198.
 */
export const SHARED_SLICE_WORK = 50_000_000

/** parallelFor over shared arrays: every worker evolves its chunks in place, a slice of steps per loop. */
export const shared = (options: Options = {}): Effect.Effect<Runner, ParallelFor.ParallelForError, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const loops = yield* ParallelFor.make()
    yield* loops.prepare(evolveKernel)
    return {
      mode: "shared",
      workers: loops.workers,
      evolve: (initial, nsteps, progress) =>
        Effect.gen(function*() {
          const s = Particles.allocParticles(initial.n, true)
          s.x.set(initial.x)
          s.y.set(initial.y)
          s.w.set(initial.w)
          for (const { count } of Partition.ranges(nsteps, stepsPerSlice(s.n, SHARED_SLICE_WORK))) {
            yield* loops.run(evolveKernel, s.n, { x: s.x, y: s.y, w: s.w, nsteps: count, ...(progress ? { progress: progress.handle } : {}) }, {
              schedule: options.schedule,
              chunk: options.chunk
            })
          }
          return s
        })
    }
  })

export const prepare = (mode: Mode, options: Options = {}): Effect.Effect<Runner, ModeError, ActorSystem.ActorSystem | Scope.Scope> => {
  switch (mode) {
    case "serial":
      return serial
    case "distributed":
      return distributed(options.sharedMemory === false ? { sharedMemory: false } : {})
    case "shared":
      return shared(options)
  }
}

/** One run: prepare the mode, evolve `initial` by `nsteps`. */
export const run = (mode: Mode, initial: ParticleState, nsteps: number, options: Options = {}) =>
  Effect.flatMap(prepare(mode, options), (runner) => runner.evolve(initial, nsteps))
