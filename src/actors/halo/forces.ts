/**
 * A region's physics for one step, on its workspace: the forces on its owned particles from every source (owned
 * and halo, in ascending id, through a cell list local to the region) and the integration that follows, with the
 * same arithmetic and order as the serial reference (physics.ts).
 */
import type { Geometry } from "./params.ts"
import { cellOf, displacementLimit, movedTooFar } from "./params.ts"
import { addPull, integrate } from "./physics.ts"
import type { HaloIssue } from "./Schemas.ts"
import type { RegionWorkspace } from "./workspace.ts"

/**
 * How one axis of the global cell grid maps onto a region's local cell grid. "Full": local = global, all nc
 * columns, neighbours periodic (used when the region spans at least half the box). "Window": the contiguous
 * range of nl columns starting at `start` (mod nc) that holds owned particles; neighbours are clipped to it. The
 * window mode needs nl + 2 <= nc so that the columns just before and just after it are distinct.
 */
interface AxisMap {
  full: boolean
  start: number
  nl: number
}

/** Chooses the axis map for owned cell coordinates `gc[0..no)`; `centre` is the region's middle column. */
const axisMap = (out: AxisMap, gc: Int32Array, no: number, nc: number, regionsAlong: number, centre: number): void => {
  out.full = true
  out.start = 0
  out.nl = nc
  if (regionsAlong <= 2 || no === 0) return
  const half = nc >> 1
  let dmin = nc
  let dmax = -nc
  for (let q = 0; q < no; q++) {
    let d = gc[q]! - centre
    if (d < -half) d += nc
    else if (d >= nc - half) d -= nc
    if (d < dmin) dmin = d
    if (d > dmax) dmax = d
  }
  const nl = dmax - dmin + 1
  if (nl + 2 > nc) return
  out.full = false
  out.start = (((centre + dmin) % nc) + nc) % nc
  out.nl = nl
}

const mapX: AxisMap = { full: true, start: 0, nl: 0 }
const mapY: AxisMap = { full: true, start: 0, nl: 0 }

/**
 * Forces on the owned particles (ws.o*, sorted by id) into ws.fx/fy by slot; ws.qSlot maps owned index -> slot.
 * Returns false if an id is both owned and halo.
 */
export function regionForces(g: Geometry, region: number, ws: RegionWorkspace, no: number, nh: number): boolean {
  const { L, halfL, rc, rc2, k } = g
  const { nc, scale, runs } = g.cells
  const { oid, ox, oy, hid, hx, hy, ogx, ogy } = ws
  if (no === 0) return true // nothing receives force

  for (let q = 0; q < no; q++) {
    ogx[q] = cellOf(ox[q]!, scale, nc)
    ogy[q] = cellOf(oy[q]!, scale, nc)
  }
  const rx = region % g.px
  const ry = (region - rx) / g.px
  const centreCol = cellOf((g.edgesX[rx]! + g.edgesX[rx + 1]!) / 2, scale, nc)
  const centreRow = cellOf((g.edgesY[ry]! + g.edgesY[ry + 1]!) / 2, scale, nc)
  axisMap(mapX, ogx, no, nc, g.px, centreCol)
  axisMap(mapY, ogy, no, nc, g.py, centreRow)
  const fullX = mapX.full
  const fullY = mapY.full
  const startX = mapX.start
  const startY = mapY.start
  const nlx = mapX.nl
  const nly = mapY.nl

  // Local cell list of the owned particles (only they receive force), cells numbered row by row.
  const ncell = nlx * nly
  ws.ensureCells(ncell)
  const { lcStart, cursor, qSlot, sx, sy, fx, fy } = ws
  lcStart.fill(0, 0, ncell + 1)
  for (let q = 0; q < no; q++) {
    const lx = fullX ? ogx[q]! : (ogx[q]! - startX + nc) % nc
    const ly = fullY ? ogy[q]! : (ogy[q]! - startY + nc) % nc
    const c = ly * nlx + lx
    ogx[q] = c // reuse: local cell of q
    lcStart[c + 1]!++
  }
  for (let c = 0; c < ncell; c++) {
    lcStart[c + 1]! += lcStart[c]!
    cursor[c] = lcStart[c]!
  }
  for (let q = 0; q < no; q++) {
    const s = cursor[ogx[q]!]!++
    qSlot[q] = s
    sx[s] = ox[q]!
    sy[s] = oy[q]!
    fx[s] = 0
    fy[s] = 0
  }

  // Sources: owned ∪ halo, merged in ascending id; each adds into its owned neighbours.
  const interiorOk = nc >= 5
  let a = 0
  let b = 0
  let ok = true
  while (a < no || b < nh) {
    let xi: number
    let yi: number
    if (b >= nh || (a < no && oid[a]! < hid[b]!)) {
      xi = ox[a]!
      yi = oy[a]!
      a++
    } else {
      if (a < no && oid[a] === hid[b]) ok = false
      xi = hx[b]!
      yi = hy[b]!
      b++
    }
    const cx = cellOf(xi, scale, nc)
    const cy = cellOf(yi, scale, nc)
    // Neighbour columns and rows as at most two runs each, in local numbering.
    let ca0: number, ca1: number, cb0: number, cb1: number
    if (fullX) {
      ca0 = runs[4 * cx]!
      ca1 = runs[4 * cx + 1]!
      cb0 = runs[4 * cx + 2]!
      cb1 = runs[4 * cx + 3]!
    } else {
      let e = (cx - startX + nc) % nc
      if (e > nlx) e -= nc
      ca0 = e > 0 ? e - 1 : 0
      ca1 = e + 2 < nlx ? e + 2 : nlx
      if (ca1 < ca0) ca1 = ca0 // source far outside the window
      cb0 = 0
      cb1 = 0
    }
    let ra0: number, ra1: number, rb0: number, rb1: number
    if (fullY) {
      ra0 = runs[4 * cy]!
      ra1 = runs[4 * cy + 1]!
      rb0 = runs[4 * cy + 2]!
      rb1 = runs[4 * cy + 3]!
    } else {
      let e = (cy - startY + nc) % nc
      if (e > nly) e -= nc
      ra0 = e > 0 ? e - 1 : 0
      ra1 = e + 2 < nly ? e + 2 : nly
      if (ra1 < ra0) ra1 = ra0
      rb0 = 0
      rb1 = 0
    }
    // Same reasoning as in stepSerial: with nc >= 5 and a non-wrapping 3 × 3 block, minimage is the identity.
    const plain = interiorOk && cx > 0 && cx < nc - 1 && cy > 0 && cy < nc - 1
    if (plain && cb1 <= cb0 && rb1 <= rb0) {
      // the common case, kept as tight as the serial interior loop: one column run per row, no minimage
      for (let row = ra0; row < ra1; row++) {
        const base = row * nlx
        addPull(xi, yi, sx, sy, fx, fy, lcStart[base + ca0]!, lcStart[base + ca1]!, rc, rc2, k, L, halfL, false)
      }
      continue
    }
    for (let rr = 0; rr < 2; rr++) {
      const r0 = rr === 0 ? ra0 : rb0
      const r1 = rr === 0 ? ra1 : rb1
      for (let row = r0; row < r1; row++) {
        const base = row * nlx
        for (let cr = 0; cr < 2; cr++) {
          // an empty run gives s1 <= s0
          const s0 = lcStart[base + (cr === 0 ? ca0 : cb0)]!
          const s1 = lcStart[base + (cr === 0 ? ca1 : cb1)]!
          addPull(xi, yi, sx, sy, fx, fy, s0, s1, rc, rc2, k, L, halfL, !plain)
        }
      }
    }
  }
  return ok
}

/** Integrates the owned particles (`integrate`, as `stepSerial` does); checks the per-step displacement limit. */
export function integrateOwned(g: Geometry, ws: RegionWorkspace, no: number, step: number): HaloIssue | undefined {
  const { L, dt } = g
  const { oid, ox, oy, ovx, ovy, qSlot, fx, fy } = ws
  const limX = displacementLimit(g, "x")
  const limY = displacementLimit(g, "y")
  for (let q = 0; q < no; q++) {
    const s = qSlot[q]!
    integrate(ox, oy, ovx, ovy, q, fx[s]!, fy[s]!, dt, L)
    // The move just made, v·dt (the same product integrate added): a failed step is discarded whole.
    const dxm = ovx[q]! * dt
    const dym = ovy[q]! * dt
    if (!(Math.abs(dxm) < limX)) return movedTooFar(g, "x", oid[q]!, step, dxm)
    if (!(Math.abs(dym) < limY)) return movedTooFar(g, "y", oid[q]!, step, dym)
  }
  return undefined
}
