/**
 * Timing script for the particle kernel alone: `npx tsx src/programs/bench/particlesKernel.ts [n] [dt] [reps]`.
 * Serial, fast loop order, after a warm-up on short calls (a cold first long call runs up to 2.3x slower).
 */
import * as Particles from "../../actors/particles/index.ts"

const n = Number(process.argv[2] ?? 10000)
const dt = Number(process.argv[3] ?? 0.1)
const reps = Number(process.argv[4] ?? 5)
const nsteps = Particles.stepsFor(dt)
const base = Particles.randomParticles(n, 42)

const warm = Particles.cloneParticles(base)
for (let r = 0; r < 50; r++) Particles.evolveRange(warm.x, warm.y, warm.w, 0, n, 20)

const times: Array<number> = []
let sum = ""
for (let r = 0; r < reps; r++) {
  const s = Particles.cloneParticles(base)
  const t0 = performance.now()
  Particles.evolveRange(s.x, s.y, s.w, 0, n, nsteps)
  times.push((performance.now() - t0) / 1000)
  sum = Particles.checksum(s.x, s.y)
}
times.sort((a, b) => a - b)
console.log(
  `particles n=${n} dt=${dt} steps=${nsteps}: min ${times[0]!.toFixed(3)} s, median ${
    times[Math.floor(reps / 2)]!.toFixed(3)
  } s, max ${times[reps - 1]!.toFixed(3)} s; checksum ${sum}`
)
