/**
 * Timing script for the particle kernel: `npx tsx src/actors/particles/bench.ts [n] [dt] [reps]`.
 * Serial, fast loop order, after a warm-up on short calls (a cold first long call runs up to 2.3x slower).
 */
import { checksum } from "./checksum.ts"
import { evolveRange, stepsFor } from "./evolve.ts"
import { cloneParticles, randomParticles } from "./ParticleState.ts"

const n = Number(process.argv[2] ?? 10000)
const dt = Number(process.argv[3] ?? 0.1)
const reps = Number(process.argv[4] ?? 5)
const nsteps = stepsFor(dt)
const base = randomParticles(n, 42)

const warm = cloneParticles(base)
for (let r = 0; r < 50; r++) evolveRange(warm.x, warm.y, warm.w, 0, n, 20)

const times: Array<number> = []
let sum = ""
for (let r = 0; r < reps; r++) {
  const s = cloneParticles(base)
  const t0 = performance.now()
  evolveRange(s.x, s.y, s.w, 0, n, nsteps)
  times.push((performance.now() - t0) / 1000)
  sum = checksum(s.x, s.y)
}
times.sort((a, b) => a - b)
console.log(
  `particles n=${n} dt=${dt} steps=${nsteps}: min ${times[0]!.toFixed(3)} s, median ${
    times[Math.floor(reps / 2)]!.toFixed(3)
  } s, max ${times[reps - 1]!.toFixed(3)} s; checksum ${sum}`
)
