/**
 * The halo model's pure kernels (no Effect): particles attracting within a cutoff in a periodic box, the serial
 * references, the per-region kernel that region actors run (see region.ts for the message protocol), and the
 * bookkeeping around it. The actors are ParticleRegion.ts (messages) and SharedRegions.ts (shared memory, over
 * exchange.ts); what crosses threads is Schemas.ts, whose types are re-exported here.
 */
export { addTrace, envelopeBytes, expectedFingerprint, makeTrace, traceInto } from "./accounting.ts"
export { runDecomposed } from "./decomposed.ts"
export * as Energy from "./energy.ts"
export type { DecomposedOptions, DecomposedResult } from "./decomposed.ts"
export { boxForDensity, cellsOf, displacementLimit, makeGeometry, physicsOf, regionOf, validateSetup } from "./params.ts"
export type { Cells, Geometry, Physics } from "./params.ts"
export {
  advanceRegion,
  copyParticles,
  distribute,
  emptyParticles,
  gather,
  haloFor,
  isNear,
  partition,
  RegionWorkspace
} from "./region.ts"
export type { Advance } from "./region.ts"
export type { Envelope, Grid, Halo, HaloIssue, HaloParams, Model, Particles, RunResult, Trace } from "./Schemas.ts"
export { SerialWorkspace, simulateNaive, simulateSerial, stepNaive, stepSerial } from "./serial.ts"
export { allocState, checksum, cloneState, initialState, wrap } from "./state.ts"
export type { HaloState } from "./state.ts"
