/**
 * The halo model's kinetic energy, summed so that every mode gets the same bits: each region sums ½(vx² + vy²)
 * over the particles it owns in id order, and the regions' partials are combined over the fixed tree of ranks
 * (region r is rank r) that `allreduce` uses. Region actors do it every step with an allreduce; `byRegions`
 * does it in this thread from a global state (the serial and shared modes, and the tests' reference).
 */
import { Reducer } from "../../runtime/collectives/index.ts"
import type { Geometry } from "./params.ts"
import { partition } from "./region.ts"
import type { Particles } from "./Schemas.ts"
import type { HaloState } from "./state.ts"

/** ½ Σ (vx² + vy²) over particles held in batches each sorted by id, taken in id order across the batches. */
export const kineticInIdOrder = (batches: ReadonlyArray<Particles>): number => {
  const k = batches.length
  const at = new Int32Array(k)
  let total = 0
  for (;;) {
    let best = -1
    let bestId = 0
    for (let b = 0; b < k; b++) {
      const ids = batches[b]!.ids
      const i = at[b]!
      if (i < ids.length && (best < 0 || ids[i]! < bestId)) {
        best = b
        bestId = ids[i]!
      }
    }
    if (best < 0) return total
    const p = batches[best]!
    const i = at[best]!++
    const vx = p.vx[i]!
    const vy = p.vy[i]!
    total += 0.5 * (vx * vx + vy * vy)
  }
}

/** The kinetic energy of `state` as the region actors' allreduce gives it for the grid of `g`. */
export const byRegions = (g: Geometry, state: HaloState): number =>
  Reducer.serial(Reducer.sum, partition(g, state).map((owned) => kineticInIdOrder([owned])))
