/**
 * Baseline for the particle benchmark: a hand-written worker_threads + SharedArrayBuffer particle worker, no
 * framework at all. The main thread posts { buffer, n, lo, hi, nsteps } (the buffer holds x, y, w, as in
 * src/actors/particles/ParticleState.ts); the worker evolves particles [lo, hi) in place with the same kernel
 * (bundled on its own, as the π baseline is) and replies with the milliseconds it took.
 */
import { parentPort } from "node:worker_threads"
import * as Particles from "../../actors/particles/index.ts"

// Warm up on short calls, as the framework's kernels do: a cold first long call runs much slower.
{
  const warm = Particles.randomParticles(64, 1)
  for (let r = 0; r < 200; r++) Particles.evolveRange(warm.x, warm.y, warm.w, 0, 64, 20)
}

parentPort!.on("message", (message: "ping" | { buffer: SharedArrayBuffer; n: number; lo: number; hi: number; nsteps: number }) => {
  if (message === "ping") return parentPort!.postMessage("pong")
  const { buffer, hi, lo, n, nsteps } = message
  const { w, x, y } = Particles.viewParticles(buffer, n)
  const t0 = performance.now()
  Particles.evolveRange(x, y, w, lo, hi, nsteps)
  parentPort!.postMessage(performance.now() - t0)
})
