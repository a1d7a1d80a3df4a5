/**
 * Timing script for the halo kernels alone: `npx tsx src/programs/bench/haloKernel.ts [n...]` (default 20000 80000).
 * Density 20 (L = sqrt(N·π·rc²/20)), rc = 1, k = 1, dt = 0.01, 100 steps; serial cell-list reference, then the
 * one-thread decomposed run on a few grids, with checksums (all must be equal). Best of `REPS` runs after a warm-up.
 */
import * as Halo from "../../actors/halo/index.ts"

const REPS = Number(process.env["REPS"] ?? 3)
const sizes = process.argv.slice(2).map(Number)
const grids: ReadonlyArray<Halo.Grid> = [{ px: 1, py: 1 }, { px: 2, py: 1 }, { px: 2, py: 2 }, { px: 4, py: 4 }]

const time = (f: () => string): { s: number; sum: string } => {
  let best = Infinity
  let sum = ""
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now()
    sum = f()
    best = Math.min(best, (performance.now() - t0) / 1000)
  }
  return { s: best, sum }
}

for (const n of sizes.length > 0 ? sizes : [20000, 80000]) {
  const p: Halo.HaloParams = { n, L: Halo.boxForDensity(n, 1, 20), rc: 1, k: 1, dt: 0.01, steps: 100, seed: 1 }
  Halo.simulateSerial({ ...p, steps: 10 })
  Halo.runDecomposed({ ...p, steps: 10 }, { px: 2, py: 2 })
  const serial = time(() => Halo.checksum(Halo.simulateSerial(p)))
  console.log(`n=${n} L=${p.L.toFixed(2)} serial cell list: ${serial.s.toFixed(3)} s  ${serial.sum}`)
  for (const grid of grids) {
    const d = time(() => {
      const res = Halo.runDecomposed(p, grid)
      return res._tag === "Done" ? Halo.checksum(res.state) : res.issue.message
    })
    console.log(`n=${n} decomposed ${grid.px}x${grid.py} (one thread): ${d.s.toFixed(3)} s  ${d.sum}`)
  }
}
