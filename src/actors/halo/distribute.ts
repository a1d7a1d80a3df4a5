/**
 * Where a region's particles go after a step: each to the region that owns its position (a migrant, or staying),
 * and as halo to every other neighbour it is within reach of; one envelope per neighbour (see region.ts).
 */
import type { Geometry } from "./params.ts"
import { movedTooFar, regionOf } from "./params.ts"
import type { Envelope, Halo, HaloIssue, Particles } from "./Schemas.ts"
import { allocHalo, allocParticles, RegionWorkspace } from "./workspace.ts"

/** A step's result: the envelopes to send (one per target), or why the step cannot be taken. */
export type Advance =
  | { readonly _tag: "Advanced"; readonly outbox: ReadonlyArray<Envelope> }
  | { readonly _tag: "Invalid"; readonly issue: HaloIssue }

/** Periodic distance from v to the interval [lo, hi] of a box of side L (0 inside). */
const axisDistance = (v: number, lo: number, hi: number, L: number): number => {
  if (v >= lo && v <= hi) return 0
  let da = lo - v
  if (da < 0) da += L
  let db = v - hi
  if (db < 0) db += L
  return da < db ? da : db
}

/** Whether position (x, y) is within `g.reach` of region `r`'s rectangle (periodically). */
export const isNear = (g: Geometry, r: number, x: number, y: number): boolean => {
  const rx = r % g.px
  const ry = (r - rx) / g.px
  return (g.px === 1 || axisDistance(x, g.edgesX[rx]!, g.edgesX[rx + 1]!, g.L) <= g.reach) &&
    (g.py === 1 || axisDistance(y, g.edgesY[ry]!, g.edgesY[ry + 1]!, g.L) <= g.reach)
}

/**
 * Splits particles held by `region` (sorted by id) into the envelopes stamped `step` for each of its targets:
 * each particle is a migrant to the region that owns its position (itself if it stayed), and halo to every other
 * target whose rectangle it is within reach of. Used after integration and, with step 0, for the initial exchange.
 * Returns an issue if a particle's owner is not among the targets (it moved too far).
 */
export const distribute = (
  g: Geometry,
  region: number,
  held: Particles,
  step: number,
  ws: RegionWorkspace = new RegionWorkspace()
): Advance => {
  const targets = g.targets[region]!
  const nt = targets.length
  const self = targets.indexOf(region)
  const rx = region % g.px
  const ry = (region - rx) / g.px
  // With one region along an axis nothing lies beyond it along that axis: only the other axis can send a
  // particle to a neighbour (the test below then takes the fast path for every particle deep inside along it).
  const x0 = g.px === 1 ? -Infinity : g.edgesX[rx]!
  const x1 = g.px === 1 ? Infinity : g.edgesX[rx + 1]!
  const y0 = g.py === 1 ? -Infinity : g.edgesY[ry]!
  const y1 = g.py === 1 ? Infinity : g.edgesY[ry + 1]!
  const reach = g.reach
  const L = g.L
  const nearX0 = new Float64Array(nt)
  const nearX1 = new Float64Array(nt)
  const nearY0 = new Float64Array(nt)
  const nearY1 = new Float64Array(nt)
  for (let t = 0; t < nt; t++) {
    const tx = targets[t]! % g.px
    const ty = (targets[t]! - tx) / g.px
    nearX0[t] = g.edgesX[tx]!
    nearX1[t] = g.edgesX[tx + 1]!
    nearY0[t] = g.edgesY[ty]!
    nearY1[t] = g.edgesY[ty + 1]!
  }
  const m = held.ids.length
  ws.ensureOwned(m)
  // One pass: a particle that stays (nearly all) goes straight into the region's own envelope; the others (and
  // those that stay but are another region's halo) are listed with their code, dest | (halo mask << 4).
  const own = ws.ownEnvelope(m)
  const oIds = own.ids
  const oX = own.x
  const oY = own.y
  const oVx = own.vx
  const oVy = own.vy
  let oj = 0
  const { listed, code } = ws
  let nl = 0
  const migCount = new Int32Array(nt)
  const haloCount = new Int32Array(nt)
  const { ids, x, y, vx, vy } = held
  for (let q = 0; q < m; q++) {
    const xq = x[q]!
    const yq = y[q]!
    let dest = self
    let mask = 0
    // Unless deep inside its own rectangle (then it stays, farther than reach from every other region): where it
    // goes, and which other targets it is halo to.
    if (!(xq - x0 > reach && x1 - xq > reach && yq - y0 > reach && y1 - yq > reach)) {
      const home = regionOf(g, xq, yq)
      dest = -1
      for (let t = 0; t < nt; t++) {
        if (targets[t] === home) {
          dest = t
          break
        }
      }
      if (dest < 0) {
        const ax = home % g.px !== rx ? "x" : "y"
        return { _tag: "Invalid", issue: movedTooFar(g, ax, ids[q]!, step - 1, ax === "x" ? xq - x0 : yq - y0) }
      }
      for (let t = 0; t < nt; t++) {
        // isNear(g, targets[t], xq, yq), with the targets' edges looked up once per call
        if (
          t !== dest &&
          (g.px === 1 || axisDistance(xq, nearX0[t]!, nearX1[t]!, L) <= reach) &&
          (g.py === 1 || axisDistance(yq, nearY0[t]!, nearY1[t]!, L) <= reach)
        ) {
          mask |= 1 << t
          haloCount[t]!++
        }
      }
    }
    if (dest === self) {
      oIds[oj] = ids[q]!
      oX[oj] = xq
      oY[oj] = yq
      oVx[oj] = vx[q]!
      oVy[oj] = vy[q]!
      oj++
      if (mask === 0) continue
    } else migCount[dest]!++
    listed[nl] = q
    code[nl++] = dest | (mask << 4)
  }

  const mig = Array.from(migCount, (count, t) => (t === self ? ws.ownEnvelopeOf(own, oj) : allocParticles(count)))
  const hal = Array.from(haloCount, allocHalo)
  migCount.fill(0)
  haloCount.fill(0)
  for (let l = 0; l < nl; l++) {
    const q = listed[l]!
    const c = code[l]!
    const dest = c & 15
    if (dest !== self) {
      const p = mig[dest]!
      const j = migCount[dest]!++
      p.ids[j] = ids[q]!
      p.x[j] = x[q]!
      p.y[j] = y[q]!
      p.vx[j] = vx[q]!
      p.vy[j] = vy[q]!
    }
    for (let mask = c >> 4, t = 0; mask !== 0; mask >>= 1, t++) {
      if ((mask & 1) === 0) continue
      const h = hal[t]!
      const i = haloCount[t]!++
      h.ids[i] = ids[q]!
      h.x[i] = x[q]!
      h.y[i] = y[q]!
    }
  }
  const outbox: Array<Envelope> = []
  for (let t = 0; t < nt; t++) {
    outbox.push({ from: region, to: targets[t]!, step, migrants: mig[t]!, halo: hal[t]! })
  }
  return { _tag: "Advanced", outbox }
}

/**
 * The particles of `held` that `neighbour` needs as halo: within reach of its rectangle and not owned by it.
 * The same rule `distribute` applies; useful to build or check a single halo message.
 */
export const haloFor = (g: Geometry, held: Particles, neighbour: number): Halo => {
  const pick: Array<number> = []
  for (let q = 0; q < held.ids.length; q++) {
    const xq = held.x[q]!
    const yq = held.y[q]!
    if (regionOf(g, xq, yq) !== neighbour && isNear(g, neighbour, xq, yq)) pick.push(q)
  }
  const h = allocHalo(pick.length)
  pick.forEach((q, i) => {
    h.ids[i] = held.ids[q]!
    h.x[i] = held.x[q]!
    h.y[i] = held.y[q]!
  })
  return h
}
