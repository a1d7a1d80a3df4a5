/**
 * The particle simulator's pure kernels (no Effect): state layout, evolution and checksum. Engines load this
 * module as it is (see src/programs/engines.ts), so it stays free of actors and Effect.
 */
export { evolveRange, stepsFor, TIMESTEP, warmUp } from "./evolve.ts"
export { allocParticles, checksum, cloneParticles, fillRandom, randomParticles, viewParticles } from "./ParticleState.ts"
export type { ParticleState } from "./ParticleState.ts"
