/**
 * The particle simulator's kernel in its two Effect forms: as a `parallelFor` kernel that evolves particles
 * [lo, hi) of shared position arrays (the OpenMP version), and evolved in slices of steps with a yield between
 * them (the serial and distributed modes), so that an interruption lands within about 10 ms.
 */
import { Effect } from "effect"
import { Partition } from "../../runtime/index.ts"
import { Kernel } from "../../runtime/parallel/index.ts"
import { WideCounter } from "../../runtime/shared/index.ts"
import * as Evolve from "./evolve.ts"

/** Particle-steps per slice between two yields: about 10 ms at ~250M particle-steps/s. */
export const SLICE_WORK = 2_500_000

/** Steps per slice when a slice should be about `work` particle-steps of `n` particles (at least 1). */
export const stepsPerSlice = (n: number, work: number): number => Math.max(1, Math.floor(work / Math.max(1, n)))

/**
 * Evolves all particles of the arrays by `nsteps`, in slices of steps with a yield between them, adding each
 * slice's particle-steps to `progress` when given. Splitting the steps does not change a bit.
 */
export const evolveInSlices = (
  x: Float64Array,
  y: Float64Array,
  w: Float64Array,
  nsteps: number,
  progress?: WideCounter.WideCounter
): Effect.Effect<void> => {
  const n = x.length
  const slice = stepsPerSlice(n, SLICE_WORK)
  if (nsteps <= slice) {
    return Effect.sync(() => {
      Evolve.evolveRange(x, y, w, 0, n, nsteps)
      progress?.add(n * nsteps)
    })
  }
  return Effect.gen(function*() {
    for (const { count } of Partition.ranges(nsteps, slice)) {
      Evolve.evolveRange(x, y, w, 0, n, count)
      progress?.add(n * count)
      yield* Effect.yieldNow
    }
  })
}

/** What one `parallelFor` of the kernel takes: shared position arrays, the velocities, and the steps. */
export interface EvolveArgs {
  readonly x: Float64Array
  readonly y: Float64Array
  readonly w: Float64Array
  readonly nsteps: number
  /** Where each chunk adds its particle-steps once done (progress from inside), if given. */
  readonly progress?: WideCounter.Handle
}

export const evolveKernel = Kernel.make("evolveParticles", {
  module: import.meta.url,
  run: ({ nsteps, progress, w, x, y }: EvolveArgs, lo, hi) => {
    Evolve.evolveRange(x, y, w, lo, hi, nsteps)
    WideCounter.fromOptionalHandle(progress)?.add((hi - lo) * nsteps)
  },
  warmUp: Evolve.warmUp
})
