/**
 * A group of particles living on one worker: the distributed-memory particle simulator (the chapter's IPython
 * version). The main thread scatters a slice of the particles to each group (a copy: the group owns its
 * memory), tells every group to evolve, then gathers the positions back.
 *
 * Evolution is the fast-order kernel, run in slices of steps with a yield between them (`evolveInSlices`), so
 * that an interrupted ask stops the work inside the worker within about 10 ms.
 */
import { Effect, Schema } from "effect"
import { Actor } from "../../runtime/index.ts"
import { WideCounter } from "../../runtime/shared/index.ts"
import * as Evolve from "./evolve.ts"
import { evolveInSlices } from "./EvolveKernel.ts"
import * as Schemas from "./Schemas.ts"

export const ParticleGroup = Actor.make("ParticleGroup", {
  module: import.meta.url,
  init: Schema.Struct({}),
  protocol: {
    /** Take these particles (replacing any held before). */
    scatter: Actor.message({ payload: Schemas.Particles }),
    /** Advance the held particles by `nsteps` steps of the book's TIMESTEP (adding them to `progress` as it goes). */
    evolve: Actor.message({ payload: Schemas.Evolve, error: Schemas.GroupEmpty }),
    /** The held particles' current positions. */
    gather: Actor.message({ payload: Schema.Void, success: Schemas.Positions, error: Schemas.GroupEmpty })
  },
  warmUp: Evolve.warmUp,
  behaviour: () =>
    Effect.sync(() => {
      let held: Schemas.Particles | undefined
      const none = new Schemas.GroupEmpty({ detail: "no particles were scattered to this group" })
      return {
        scatter: (particles) =>
          Effect.sync(() => {
            held = particles
          }),
        evolve: ({ nsteps, progress }) =>
          held === undefined
            ? Effect.fail(none)
            : evolveInSlices(held.x, held.y, held.w, nsteps, WideCounter.fromOptionalHandle(progress)),
        gather: () => held === undefined ? Effect.fail(none) : Effect.succeed({ x: held.x, y: held.y })
      }
    })
})
