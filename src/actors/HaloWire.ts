/**
 * What crosses threads in the halo model: the Schemas of particles, halos and step-stamped envelopes (typed arrays,
 * copied by structured clone), the model's parameters, per-region statistics, and `HaloError`, the typed error
 * that wraps the kernels' `HaloIssue` and says which parameter to change.
 */
import { Schema } from "effect"
import type { HaloIssue } from "./halo/params.ts"

const Int = Schema.Number.check(Schema.isInt())
// Typed over any buffer (the kernels' arrays), checked as instances; structured clone copies them.
export const Int32s = Schema.instanceOf<new() => Int32Array>(Int32Array)
export const Uint32s = Schema.instanceOf<new() => Uint32Array>(Uint32Array)
export const Float64s = Schema.instanceOf<new() => Float64Array>(Float64Array)
const Ids = Int32s
const Coords = Float64s

/** Full particle state, parallel arrays sorted by id (the kernels' `Particles`). */
export const ParticlesSchema = Schema.Struct({ ids: Ids, x: Coords, y: Coords, vx: Coords, vy: Coords })

/** Halo copies: ids and exact positions (the kernels' `Halo`). */
export const HaloSchema = Schema.Struct({ ids: Ids, x: Coords, y: Coords })

/** The one message from region `from` to region `to` for step `step` (the kernels' `Envelope`). */
export const EnvelopeSchema = Schema.Struct({
  from: Int,
  to: Int,
  step: Int,
  migrants: ParticlesSchema,
  halo: HaloSchema
})

/** The model's parameters (the kernels' `HaloParams` without `steps`, which each run names). */
export const ParamsSchema = Schema.Struct({
  n: Int,
  L: Schema.Number,
  rc: Schema.Number,
  k: Schema.Number,
  dt: Schema.Number,
  seed: Int,
  v0: Schema.optional(Schema.Number)
})

export const GridSchema = Schema.Struct({ px: Int, py: Int })

/** What one region did during a run. */
export const RegionStatsSchema = Schema.Struct({
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
export type RegionStats = typeof RegionStatsSchema.Type

const Axis = Schema.Literals(["x", "y"])

/** The kernels' `HaloIssue`, as a Schema. */
export const HaloIssueSchema: Schema.Codec<HaloIssue> = Schema.Union([
  Schema.Struct({
    _tag: Schema.Literal("InvalidParameter"),
    parameter: Schema.String,
    value: Schema.Number,
    message: Schema.String
  }),
  Schema.Struct({
    _tag: Schema.Literal("CutoffWiderThanRegion"),
    axis: Axis,
    rc: Schema.Number,
    regionWidth: Schema.Number,
    maxRegions: Schema.Number,
    message: Schema.String
  }),
  Schema.Struct({
    _tag: Schema.Literal("ParticleMovedTooFar"),
    axis: Axis,
    id: Schema.Number,
    step: Schema.Number,
    displacement: Schema.Number,
    limit: Schema.Number,
    message: Schema.String
  }),
  Schema.Struct({
    _tag: Schema.Literal("InboxMismatch"),
    region: Schema.Number,
    step: Schema.Number,
    message: Schema.String
  })
])

/**
 * A halo run that cannot go on: a bad parameter, a cutoff wider than a region, a particle moving farther than a
 * region allows in one step, or envelopes that do not fit the protocol. `issue` says which, `message` says what
 * to change.
 */
export class HaloError extends Schema.TaggedError<HaloError>()("HaloError", {
  issue: HaloIssueSchema,
  message: Schema.String
}) {}

export const haloError = (issue: HaloIssue): HaloError => new HaloError({ issue, message: issue.message })
