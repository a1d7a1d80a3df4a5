/**
 * A group of particles living on one worker: the distributed-memory particle simulator (the chapter's IPython
 * version). The main thread scatters a slice of the particles to each group (a copy: the group owns its
 * memory), tells every group to evolve, then gathers the positions back.
 *
 * Evolution is the fast-order kernel, run in slices of steps with a yield between them (`evolveInSlices`), so
 * that an interrupted ask stops the work inside the worker within about 10 ms.
 */
import { Effect, Schema } from "effect"
import * as Actor from "../runtime/Actor.ts"
import { evolveInSlices, warmUpEvolve } from "./ParticleEvolve.ts"

const Floats = Schema.instanceOf(Float64Array)

/** A group's particles: positions and angular velocities, one element per particle. */
export const Particles = Schema.Struct({ x: Floats, y: Floats, w: Floats })

export const Positions = Schema.Struct({ x: Floats, y: Floats })

const Steps = Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))

export class GroupEmpty extends Schema.TaggedError<GroupEmpty>()("GroupEmpty", {
  detail: Schema.String
}) {}

export const ParticleGroup = Actor.make("ParticleGroup", {
  module: import.meta.url,
  init: Schema.Struct({}),
  protocol: {
    /** Take these particles (replacing any held before). */
    scatter: Actor.message({ payload: Particles }),
    /** Advance the held particles by `nsteps` steps of the book's TIMESTEP. */
    evolve: Actor.message({ payload: Steps, error: GroupEmpty }),
    /** The held particles' current positions. */
    gather: Actor.message({ payload: Schema.Void, success: Positions, error: GroupEmpty })
  },
  behaviour: () =>
    Effect.sync(() => {
      warmUpEvolve()
      let held: typeof Particles.Type | undefined
      const none = new GroupEmpty({ detail: "no particles were scattered to this group" })
      return {
        scatter: (particles) =>
          Effect.sync(() => {
            held = particles
          }),
        evolve: (nsteps) => held === undefined ? Effect.fail(none) : evolveInSlices(held.x, held.y, held.w, nsteps),
        gather: () => held === undefined ? Effect.fail(none) : Effect.succeed({ x: held.x, y: held.y })
      }
    })
})
