/**
 * What crosses threads in the particle simulator: particles (positions and angular velocities, one element per
 * particle), positions gathered back, step counts, and the error of a group asked before it holds particles.
 */
import { Schema } from "effect"
import { WideCounter } from "../../runtime/shared/index.ts"
import { Float64s } from "../TypedArrays.ts"

/** Particles as parallel arrays: positions `x`, `y` and angular velocity `w`. */
export const Particles = Schema.Struct({ x: Float64s, y: Float64s, w: Float64s })
export type Particles = typeof Particles.Type

/** Positions only, e.g. gathered back after evolving. */
export const Positions = Schema.Struct({ x: Float64s, y: Float64s })
export type Positions = typeof Positions.Type

/** A number of time steps. */
export const Steps = Schema.Number.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))

/**
 * An evolve request: the steps, and optionally a shared counter that the group adds its particle-steps to slice
 * by slice as it goes (progress seen from outside with no messages).
 */
export const Evolve = Schema.Struct({ nsteps: Steps, progress: Schema.optional(WideCounter.HandleSchema) })
export type Evolve = typeof Evolve.Type

/** A group was asked to evolve or gather before any particles were scattered to it. */
export class GroupEmpty extends Schema.TaggedError<GroupEmpty>()("GroupEmpty", {
  detail: Schema.String
}) {}
