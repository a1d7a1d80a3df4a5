/**
 * What crosses threads in the halo model, as Schemas, and the TypeScript types of the kernels derived from them:
 * particles, halos and step-stamped envelopes (typed arrays, copied by structured clone), the model's parameters
 * and region grid, the issues a setup or a step can have and `HaloError` wrapping them, what a region reports
 * after a run, and the shared buffers of the shared-memory exchange.
 */
import { Schema } from "effect"
import { Float64s, Int32s, Uint32s } from "../TypedArrays.ts"

const Int = Schema.Number.check(Schema.isInt())

/** Full particle state, parallel arrays sorted by id. */
export const Particles = Schema.Struct({ ids: Int32s, x: Float64s, y: Float64s, vx: Float64s, vy: Float64s })
export type Particles = typeof Particles.Type

/** Halo copies: ids and exact positions, sorted by id. */
export const Halo = Schema.Struct({ ids: Int32s, x: Float64s, y: Float64s })
export type Halo = typeof Halo.Type

/**
 * The one message from region `from` to region `to` for step `step`: `migrants` are the particles the receiver
 * owns from now on, `halo` the ones within the cutoff of its rectangle that it does not own (see region.ts).
 */
export const Envelope = Schema.Struct({ from: Int, to: Int, step: Int, migrants: Particles, halo: Halo })
export type Envelope = typeof Envelope.Type

/** The model without its number of steps (which each run names): what region actors are created with. */
export const Model = Schema.Struct({
  /** Number of particles; ids are 0..n-1. */
  n: Int,
  /** Side of the periodic box; positions live in [0, L). */
  L: Schema.Number,
  /** Cutoff distance of the attraction. */
  rc: Schema.Number,
  /** Strength: a neighbour at distance r < rc pulls with magnitude k·(1 - r/rc)². */
  k: Schema.Number,
  /** Time step of the semi-implicit Euler integrator. */
  dt: Schema.Number,
  /** Seed of the counter-based generator for the initial state. */
  seed: Int,
  /** Initial velocity components are uniform in [-v0, v0); default 0.1. */
  v0: Schema.optional(Schema.Number)
})
export type Model = typeof Model.Type

/** N particles of unit mass in a periodic L × L box, attracting within a cutoff rc, for `steps` steps. */
export const HaloParams = Schema.Struct({ ...Model.fields, steps: Int })
export type HaloParams = typeof HaloParams.Type

/** A px × py grid of regions tiling the box; region index r = ry·px + rx. Strips are 1 × R or R × 1. */
export const Grid = Schema.Struct({ px: Int, py: Int })
export type Grid = typeof Grid.Type

const Axis = Schema.Literals(["x", "y"])

/** Everything that can be wrong with a setup or a step, as data; `message` says what to change. */
export const HaloIssue = Schema.Union([
  Schema.TaggedStruct("InvalidParameter", {
    parameter: Schema.String,
    value: Schema.Number,
    message: Schema.String
  }),
  Schema.TaggedStruct("CutoffWiderThanRegion", {
    axis: Axis,
    rc: Schema.Number,
    regionWidth: Schema.Number,
    /** The most regions along this axis that this rc allows. */
    maxRegions: Schema.Number,
    message: Schema.String
  }),
  Schema.TaggedStruct("ParticleMovedTooFar", {
    axis: Axis,
    id: Schema.Number,
    step: Schema.Number,
    displacement: Schema.Number,
    /** Largest allowed |displacement| per step along the axis: region width - rc (minus a rounding margin). */
    limit: Schema.Number,
    message: Schema.String
  }),
  /** A region got envelopes it cannot use: wrong step, sender, count, or a particle id twice (a wiring bug). */
  Schema.TaggedStruct("InboxMismatch", {
    region: Schema.Number,
    step: Schema.Number,
    message: Schema.String
  }),
  /** The regions' per-step allreduce failed (a region's worker died mid-run: the group is broken). */
  Schema.TaggedStruct("GroupFailed", {
    region: Schema.Number,
    step: Schema.Number,
    message: Schema.String
  })
])
export type HaloIssue = typeof HaloIssue.Type

/**
 * A halo run that cannot go on: a bad parameter, a cutoff wider than a region, a particle moving farther than a
 * region allows in one step, or envelopes that do not fit the protocol. `issue` says which, `message` says what
 * to change.
 */
export class HaloError extends Schema.TaggedError<HaloError>()("HaloError", {
  issue: HaloIssue,
  message: Schema.String
}) {}

export const haloError = (issue: HaloIssue): HaloError => new HaloError({ issue, message: issue.message })

/** What one region did during a run. */
export const RegionStats = Schema.Struct({
  region: Int,
  worker: Int,
  /** Envelopes sent to other regions, and their typed-array bytes (ids, coordinates, velocities). */
  messages: Int,
  bytes: Schema.Number,
  /** Of those, the ones that went to a region on another worker (a worker-to-worker channel). */
  crossWorkerMessages: Int,
  /** Milliseconds in the region kernels (forces, integration, distribution). */
  computeMs: Schema.Number,
  /**
   * Milliseconds waiting for neighbours: from the end of a step to the moment the next one could start
   * (messages: its inbox complete; shared: the barrier passed).
   */
  waitMs: Schema.Number
})
export type RegionStats = typeof RegionStats.Type

/** Per step 0..steps: particles owned and their id hash-sum (one region's, or the sum over regions). */
export const Trace = Schema.Struct({ counts: Int32s, hashes: Uint32s })
export type Trace = typeof Trace.Type

/** A region's answer to a run. */
export const RunResult = Schema.Struct({
  region: Int,
  /** The particles the region owns after the last step, in batches as they arrived (each sorted by id). */
  owned: Schema.Array(Particles),
  stats: RegionStats,
  trace: Schema.optional(Trace),
  /** Per step 0..steps, the total kinetic energy from the regions' allreduce (the same at every region). */
  energy: Schema.optional(Float64s)
})
export type RunResult = typeof RunResult.Type

const Shared = Schema.instanceOf(SharedArrayBuffer)

/** Everything the regions of the shared-memory exchange share, as plain buffers (see exchange.ts). */
export const ExchangeBuffers = Schema.Struct({
  n: Int,
  regions: Int,
  migrantCapacity: Int,
  haloCapacity: Int,
  control: Shared,
  table: Shared,
  migIds: Shared,
  migX: Shared,
  migY: Shared,
  migVx: Shared,
  migVy: Shared,
  haloIds: Shared,
  haloX: Shared,
  haloY: Shared
})
export type ExchangeBuffers = typeof ExchangeBuffers.Type
