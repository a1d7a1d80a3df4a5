/**
 * The particle simulator's kernel as a `parallelFor` kernel: evolve particles [lo, hi) of shared position
 * arrays by `nsteps` steps, in the fast loop order (steps outside, particles inside). The OpenMP version.
 * Also the interruptible form used by the serial and distributed modes.
 */
import { Effect } from "effect"
import * as Kernel from "../runtime/parallel/Kernel.ts"
import { evolveRange } from "./particles/evolve.ts"

/** Particle-steps per slice between two yields: about 10 ms at ~250M particle-steps/s. */
export const SLICE_WORK = 2_500_000

/**
 * Evolves all particles of the arrays by `nsteps`, in slices of steps with a yield between them, so that an
 * interruption lands within about 10 ms. Splitting the steps does not change a bit.
 */
export const evolveInSlices = (x: Float64Array, y: Float64Array, w: Float64Array, nsteps: number): Effect.Effect<void> => {
  const n = x.length
  const slice = Math.max(1, Math.floor(SLICE_WORK / Math.max(1, n)))
  if (nsteps <= slice) return Effect.sync(() => evolveRange(x, y, w, 0, n, nsteps))
  return Effect.gen(function*() {
    for (let done = 0; done < nsteps; done += slice) {
      evolveRange(x, y, w, 0, n, Math.min(slice, nsteps - done))
      yield* Effect.yieldNow
    }
  })
}

export interface EvolveArgs {
  readonly x: Float64Array
  readonly y: Float64Array
  readonly w: Float64Array
  readonly nsteps: number
}

/** Short calls on a small shared state, so the JIT has optimised `evolveRange` before the first long call. */
export const warmUpEvolve = (): void => {
  const n = 64
  const buffer = new SharedArrayBuffer(3 * n * 8)
  const x = new Float64Array(buffer, 0, n)
  const y = new Float64Array(buffer, n * 8, n)
  const w = new Float64Array(buffer, 2 * n * 8, n)
  for (let i = 0; i < n; i++) {
    x[i] = Math.cos(i)
    y[i] = Math.sin(i)
    w[i] = (i % 7) / 7 - 0.5
  }
  for (let r = 0; r < 200; r++) evolveRange(x, y, w, 0, n, 20)
}

export const evolveKernel = Kernel.make("evolveParticles", {
  module: import.meta.url,
  run: ({ nsteps, w, x, y }: EvolveArgs, lo, hi) => evolveRange(x, y, w, lo, hi, nsteps),
  warmUp: warmUpEvolve
})
