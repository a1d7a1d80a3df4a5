/**
 * The halo model's pure kernels (no Effect): particles attracting within a cutoff in a periodic box, the serial
 * references, and the per-region kernel that region actors run (see region.ts for the message protocol).
 */
export { runDecomposed } from "./decomposed.ts"
export type { DecomposedOptions, DecomposedResult } from "./decomposed.ts"
export {
  boxForDensity,
  cellsOf,
  displacementLimit,
  makeGeometry,
  physicsOf,
  regionOf,
  validateSetup
} from "./params.ts"
export type { Cells, Geometry, Grid, HaloIssue, HaloParams, Physics } from "./params.ts"
export {
  advanceRegion,
  distribute,
  emptyParticles,
  gather,
  haloFor,
  isNear,
  partition,
  RegionWorkspace
} from "./region.ts"
export type { Advance, Envelope, Halo, Particles } from "./region.ts"
export { regionsSvg } from "./regionsSvg.ts"
export type { RegionsSvgOptions } from "./regionsSvg.ts"
export { SerialWorkspace, simulateNaive, simulateSerial, stepNaive, stepSerial } from "./serial.ts"
export { allocState, checksum, cloneState, initialState, wrap } from "./state.ts"
export type { HaloState } from "./state.ts"
