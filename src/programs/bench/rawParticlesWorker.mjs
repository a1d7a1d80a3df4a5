// Baseline for the particle benchmark: a hand-written worker_threads + SharedArrayBuffer particle worker, no
// framework at all. The main thread posts { buffer, n, lo, hi, nsteps } (the buffer holds x, y, w, as in
// src/actors/particles/ParticleState.ts); the worker evolves particles [lo, hi) in place, in the fast loop order,
// with the book's arithmetic (the same as src/actors/particles/evolve.ts), and replies when done.
import { parentPort } from "node:worker_threads"

const TIMESTEP = 1e-5

function evolve(x, y, w, lo, hi, nsteps) {
  lo |= 0
  hi |= 0
  nsteps |= 0
  for (let s = 0; s < nsteps; s++) {
    for (let i = lo; i < hi; i++) {
      const xi = x[i]
      const yi = y[i]
      const norm = Math.sqrt(xi * xi + yi * yi)
      const vx = -yi / norm
      const vy = xi / norm
      const h = TIMESTEP * w[i]
      x[i] = xi + h * vx
      y[i] = yi + h * vy
    }
  }
}

const views = (buffer, n) => [
  new Float64Array(buffer, 0, n),
  new Float64Array(buffer, n * 8, n),
  new Float64Array(buffer, 2 * n * 8, n)
]

// Warm up on short calls, as the framework's kernels do: a cold first long call runs much slower.
{
  const n = 64
  const [x, y, w] = views(new SharedArrayBuffer(3 * n * 8), n)
  for (let i = 0; i < n; i++) {
    x[i] = Math.cos(i)
    y[i] = Math.sin(i)
    w[i] = (i % 7) / 7 - 0.5
  }
  for (let r = 0; r < 200; r++) evolve(x, y, w, 0, n, 20)
}

parentPort.on("message", (message) => {
  if (message === "ping") return parentPort.postMessage("pong")
  const { buffer, hi, lo, n, nsteps } = message
  const [x, y, w] = views(buffer, n)
  const t0 = performance.now()
  evolve(x, y, w, lo, hi, nsteps)
  parentPort.postMessage(performance.now() - t0)
})
