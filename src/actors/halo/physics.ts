/**
 * The halo model's arithmetic, written once for every kernel (the serial references and the region kernel): the
 * pull one source adds to the particles near it, and the integrator step. Both are small functions the JIT
 * inlines into the kernels' loops. Measured against the six loops written out in place (N = 20,000, 100 steps,
 * paired runs on a loaded 2-core box): single-threaded at parity; the region kernel on worker threads (shared
 * mode, 1 × 2 strips) 2–3% more kernel time, against ±2% between two copies of identical code. A literal
 * `periodic` at every call measured the same; testing minimage everywhere (no flag) cost 14% serial.
 *
 * The pair term, from the target's point of view: d = (minimage(x_i - x_j), minimage(y_i - y_j)), and when
 * 0 < |d|² < rc², r = sqrt(|d|²), q = 1 - r/rc, f = (k·q·q)/r, F_j += (f·d.x, f·d.y). Callers add sources in
 * ascending id, so every F_j is the same sum in the same order whichever kernel computes it (see serial.ts).
 */
import { wrap } from "./state.ts"

/**
 * Adds the pull of a source at (xi, yi) into the accumulators `fx[s]`, `fy[s]` of the targets at (`sx[s]`,
 * `sy[s]`), s in [s0, s1). With `periodic`, differences take the minimum image (half-box `halfL`, box side `L`);
 * callers whose targets lie within L/2 of the source along both axes pass `false`, which gives the same bits
 * (minimage is then the identity) and, with a literal `false`, lets the JIT drop the test from the inlined loop.
 */
export function addPull(
  xi: number,
  yi: number,
  sx: Float64Array,
  sy: Float64Array,
  fx: Float64Array,
  fy: Float64Array,
  s0: number,
  s1: number,
  rc: number,
  rc2: number,
  k: number,
  L: number,
  halfL: number,
  periodic: boolean
): void {
  for (let s = s0; s < s1; s++) {
    let dx = xi - sx[s]!
    let dy = yi - sy[s]!
    if (periodic) {
      if (dx > halfL) dx -= L
      else if (dx < -halfL) dx += L
      if (dy > halfL) dy -= L
      else if (dy < -halfL) dy += L
    }
    const r2 = dx * dx + dy * dy
    if (r2 < rc2 && r2 > 0) {
      const r = Math.sqrt(r2)
      const q = 1 - r / rc
      const f = (k * q * q) / r
      fx[s]! += f * dx
      fy[s]! += f * dy
    }
  }
}

/** Semi-implicit Euler for particle j under the force (fxj, fyj): v += F·dt, then x = wrap(x + v·dt). */
export function integrate(
  x: Float64Array,
  y: Float64Array,
  vx: Float64Array,
  vy: Float64Array,
  j: number,
  fxj: number,
  fyj: number,
  dt: number,
  L: number
): void {
  const vxj = vx[j]! + fxj * dt
  const vyj = vy[j]! + fyj * dt
  vx[j] = vxj
  vy[j] = vyj
  x[j] = wrap(x[j]! + vxj * dt, L)
  y[j] = wrap(y[j]! + vyj * dt, L)
}
