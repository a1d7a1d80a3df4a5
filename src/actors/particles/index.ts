/** The particle simulator's pure kernels (no Effect): state layout, evolution, checksum and picture. */
export { checksum, Fnv1a64, fnv1a64 } from "./checksum.ts"
export { evolveRange, stepsFor, TIMESTEP } from "./evolve.ts"
export { allocParticles, cloneParticles, fillRandom, randomParticles, viewParticles } from "./ParticleState.ts"
export type { ParticleState } from "./ParticleState.ts"
export { pathsSvg } from "./pathsSvg.ts"
export type { PathsSvgOptions } from "./pathsSvg.ts"
