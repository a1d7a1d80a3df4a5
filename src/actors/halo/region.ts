/**
 * The halo model decomposed into regions: the pure per-region kernel that region actors run (its message types
 * are Schemas.ts).
 *
 * Protocol (one round of messages per step, no request/reply, so it cannot deadlock):
 * - Region r exchanges with `targets[r]`: the distinct regions of its periodic 3 × 3 neighbourhood, itself
 *   included. Every step it sends exactly one `Envelope` to each target (possibly with empty arrays) and receives
 *   exactly one from each; the envelope a region sends to itself is its own state, so a region actor only keeps that.
 * - `advanceRegion(g, r, t, inbound)` takes the envelopes stamped `step = t` addressed to r (in any order), computes
 *   forces, integrates, and returns the envelopes stamped t + 1 (or a typed issue).
 * - An envelope's `migrants` are the particles the receiver owns from now on (full state); its `halo` holds positions
 *   of particles within rc (plus margin) of the receiver's rectangle that it does not own. A particle is sent by the
 *   one region that held it in the previous step, so each id arrives as a migrant exactly once overall and at most
 *   once per receiver as halo, even when one region is a neighbour on several sides (grids with 1 or 2 regions along
 *   an axis).
 *
 * Bit-identity with the serial reference: a region iterates sources (owned ∪ halo) in ascending id and adds each
 * term into its owned neighbours' accumulators with the same function as `stepSerial` (physics.ts `addPull`) and
 * exact coordinates (halo copies are never shifted), so each owned particle's force is the same sum in the same
 * order. Halos are taken from positions AFTER the move, by the region that held the particle before it;
 * this is complete when no particle moves more than (region width - rc) per step, which `advanceRegion` checks.
 *
 * Payloads are plain typed arrays (Int32Array ids, Float64Array coordinates), sorted by id, fresh for every
 * envelope: post them between threads as they are (structured clone copies them; transferring is also safe since
 * the sender never reuses them). The one exception is opt-in: with `RegionWorkspace({ reuseOwnEnvelope: true })`
 * the envelope a region addresses to itself lives in the workspace (see there); it is never posted anyway.
 */
import type { Geometry } from "./params.ts"
import { cellOf, displacementLimit, movedTooFar, regionOf } from "./params.ts"
import { addPull, integrate } from "./physics.ts"
import type { Envelope, Halo, HaloIssue, Particles } from "./Schemas.ts"
import type { HaloState } from "./state.ts"
import { allocState } from "./state.ts"

export type Advance =
  | { readonly _tag: "Advanced"; readonly outbox: ReadonlyArray<Envelope> }
  | { readonly _tag: "Invalid"; readonly issue: HaloIssue }

export const emptyParticles = (): Particles => allocParticles(0)

const allocParticles = (m: number): Particles => ({
  ids: new Int32Array(m),
  x: new Float64Array(m),
  y: new Float64Array(m),
  vx: new Float64Array(m),
  vy: new Float64Array(m)
})

/** The first `m` particles of `p`, as views. */
const prefix = (p: Particles, m: number): Particles =>
  p.ids.length === m ? p : {
    ids: p.ids.subarray(0, m),
    x: p.x.subarray(0, m),
    y: p.y.subarray(0, m),
    vx: p.vx.subarray(0, m),
    vy: p.vy.subarray(0, m)
  }

/** A copy of particles that may be views (of a workspace, or of shared memory), as plain arrays of their own. */
export const copyParticles = (p: Particles): Particles => ({
  ids: p.ids.slice(),
  x: p.x.slice(),
  y: p.y.slice(),
  vx: p.vx.slice(),
  vy: p.vy.slice()
})

const allocHalo = (m: number): Halo => ({ ids: new Int32Array(m), x: new Float64Array(m), y: new Float64Array(m) })

/** The capacity a workspace buffer of capacity `have` grows to when `need` elements do not fit: by half, at least. */
const grown = (have: number, need: number): number => Math.max(need, Math.ceil(have * 1.5), 16)

/**
 * Reusable scratch for one region (grown on demand), so steady-state steps allocate only the outgoing envelopes.
 * Not shared between regions that run concurrently.
 */
export class RegionWorkspace {
  /**
   * With `reuseOwnEnvelope`, the envelope a region addresses to itself (its particles that stay, usually nearly
   * all) is written into two buffers of this workspace used in turn, instead of fresh arrays: its arrays are then
   * views that stay valid until this workspace's next-but-one step, so they must be consumed (or copied) before
   * that and never posted as they are. Saves allocating the region's whole state every step, which in worker
   * threads otherwise triggers a full GC every few steps ("external memory pressure"). Off by default.
   */
  constructor(readonly options: { readonly reuseOwnEnvelope?: boolean } = {}) {}
  private own: [Particles | undefined, Particles | undefined] = [undefined, undefined]
  private ownTurn = 0

  /**
   * The next own-envelope buffer, room for at least `m` particles (see `reuseOwnEnvelope`; without it, a fresh
   * one of exactly `m`): its first particles are then cut to length with `prefix`.
   */
  ownEnvelope(m: number): Particles {
    if (this.options.reuseOwnEnvelope !== true) return allocParticles(m)
    const turn = (this.ownTurn ^= 1)
    let buffer = this.own[turn]
    if (buffer === undefined || buffer.ids.length < m) {
      buffer = allocParticles(grown(buffer?.ids.length ?? 0, m))
      this.own[turn] = buffer
    }
    return buffer
  }

  // owned particles of the current step, sorted by id
  oid = new Int32Array(0)
  ox = new Float64Array(0)
  oy = new Float64Array(0)
  ovx = new Float64Array(0)
  ovy = new Float64Array(0)
  // halo of the current step, sorted by id
  hid = new Int32Array(0)
  hx = new Float64Array(0)
  hy = new Float64Array(0)
  // concatenation buffers and sort keys
  tid = new Int32Array(0)
  tx = new Float64Array(0)
  ty = new Float64Array(0)
  tvx = new Float64Array(0)
  tvy = new Float64Array(0)
  keys = new Float64Array(0)
  // region-local cell list over owned particles
  ogx = new Int32Array(0)
  ogy = new Int32Array(0)
  qSlot = new Int32Array(0)
  sx = new Float64Array(0)
  sy = new Float64Array(0)
  fx = new Float64Array(0)
  fy = new Float64Array(0)
  lcStart = new Int32Array(1)
  cursor = new Int32Array(0)
  // distribute: the particles that leave or are halo, and their codes
  listed = new Int32Array(0)
  code = new Int32Array(0)

  ensureOwned(m: number): void {
    if (this.oid.length >= m) return
    const c = grown(this.oid.length, m)
    this.oid = new Int32Array(c)
    this.ox = new Float64Array(c)
    this.oy = new Float64Array(c)
    this.ovx = new Float64Array(c)
    this.ovy = new Float64Array(c)
    this.ogx = new Int32Array(c)
    this.ogy = new Int32Array(c)
    this.listed = new Int32Array(c)
    this.qSlot = new Int32Array(c)
    this.sx = new Float64Array(c)
    this.sy = new Float64Array(c)
    this.fx = new Float64Array(c)
    this.fy = new Float64Array(c)
    this.code = new Int32Array(c)
  }

  ensureHalo(m: number): void {
    if (this.hid.length >= m) return
    const c = grown(this.hid.length, m)
    this.hid = new Int32Array(c)
    this.hx = new Float64Array(c)
    this.hy = new Float64Array(c)
  }

  ensureTemp(m: number): void {
    if (this.tid.length >= m) return
    const c = grown(this.tid.length, m)
    this.tid = new Int32Array(c)
    this.tx = new Float64Array(c)
    this.ty = new Float64Array(c)
    this.tvx = new Float64Array(c)
    this.tvy = new Float64Array(c)
    this.keys = new Float64Array(c)
  }

  ensureCells(ncell: number): void {
    if (this.cursor.length >= ncell) return
    const c = grown(this.cursor.length, ncell)
    this.cursor = new Int32Array(c)
    this.lcStart = new Int32Array(c + 1)
  }
}

const KEY_SHIFT = 4194304 // 2^22: sort key = id·2^22 + position, exact below 2^53 for ids < 2^31

/**
 * Sorts positions 0..m-1 of the temp buffers by id: afterwards keys[r] is the temp position of rank r.
 * Returns false when an id repeats.
 */
const sortTempById = (ws: RegionWorkspace, m: number): boolean => {
  const { tid, keys } = ws
  if (m < KEY_SHIFT) {
    for (let q = 0; q < m; q++) keys[q] = tid[q]! * KEY_SHIFT + q
    keys.subarray(0, m).sort()
    for (let r = 0; r < m; r++) keys[r] = keys[r]! % KEY_SHIFT
  } else {
    const perm = Array.from({ length: m }, (_, q) => q).sort((a, b) => tid[a]! - tid[b]!)
    for (let r = 0; r < m; r++) keys[r] = perm[r]!
  }
  for (let r = 1; r < m; r++) if (tid[keys[r]!] === tid[keys[r - 1]!]) return false
  return true
}

type Batch = Halo & { readonly vx?: Float64Array; readonly vy?: Float64Array }

/**
 * Merges batches into out* sorted by id (velocities too when `withV`). Fast path: the largest batch (usually the
 * region's own envelope) is already sorted, so only the others are sorted (small) and then merged into it; an
 * unsorted largest batch falls back to sorting everything. Returns false when an id repeats.
 */
const collectSorted = (
  ws: RegionWorkspace,
  batches: ReadonlyArray<Batch>,
  withV: boolean,
  outId: Int32Array,
  outX: Float64Array,
  outY: Float64Array,
  outVx: Float64Array,
  outVy: Float64Array
): boolean => {
  let big = 0
  for (let i = 1; i < batches.length; i++) if (batches[i]!.ids.length > batches[big]!.ids.length) big = i
  const B = batches[big]
  let bigSorted = B !== undefined
  if (B !== undefined) for (let j = 1; j < B.ids.length && bigSorted; j++) bigSorted = B.ids[j - 1]! < B.ids[j]!
  // the rest (or everything) into the temp buffers, then sorted
  let m = 0
  for (let i = 0; i < batches.length; i++) {
    if (i === big && bigSorted) continue
    const p = batches[i]!
    ws.tid.set(p.ids, m)
    ws.tx.set(p.x, m)
    ws.ty.set(p.y, m)
    if (withV) {
      ws.tvx.set(p.vx!, m)
      ws.tvy.set(p.vy!, m)
    }
    m += p.ids.length
  }
  if (!sortTempById(ws, m)) return false
  const { tid, tx, ty, tvx, tvy, keys } = ws
  const nb = bigSorted ? B!.ids.length : 0
  const bid = bigSorted ? B!.ids : tid
  let a = 0
  let b = 0
  let o = 0
  if (nb > 0 && m * 8 < nb) {
    // Few to insert into a large sorted batch (the usual case: a handful of migrants into the region's own
    // particles): copy the runs of the big batch between insertion points in bulk.
    const copyRun = (end: number) => {
      if (end === a) return
      outId.set(bid.subarray(a, end), o)
      outX.set(B!.x.subarray(a, end), o)
      outY.set(B!.y.subarray(a, end), o)
      if (withV) {
        outVx.set(B!.vx!.subarray(a, end), o)
        outVy.set(B!.vy!.subarray(a, end), o)
      }
      o += end - a
      a = end
    }
    for (; b < m; b++) {
      const q = keys[b]!
      const id = tid[q]!
      let pos = a
      while (pos < nb && bid[pos]! < id) pos++
      if (pos < nb && bid[pos] === id) return false
      copyRun(pos)
      outId[o] = id
      outX[o] = tx[q]!
      outY[o] = ty[q]!
      if (withV) {
        outVx[o] = tvx[q]!
        outVy[o] = tvy[q]!
      }
      o++
    }
    copyRun(nb)
    return true
  }
  while (a < nb || b < m) {
    if (b >= m || (a < nb && bid[a]! < tid[keys[b]!]!)) {
      outId[o] = bid[a]!
      outX[o] = B!.x[a]!
      outY[o] = B!.y[a]!
      if (withV) {
        outVx[o] = B!.vx![a]!
        outVy[o] = B!.vy![a]!
      }
      a++
    } else {
      const q = keys[b]!
      if (a < nb && bid[a] === tid[q]) return false
      outId[o] = tid[q]!
      outX[o] = tx[q]!
      outY[o] = ty[q]!
      if (withV) {
        outVx[o] = tvx[q]!
        outVy[o] = tvy[q]!
      }
      b++
    }
    o++
  }
  return true
}

const mismatch = (region: number, step: number, message: string): Advance => ({
  _tag: "Invalid",
  issue: { _tag: "InboxMismatch", region, step, message: `region ${region}, step ${step}: ${message}` }
})

/**
 * One step of region `region`: consumes the envelopes stamped `step` addressed to it (exactly one from each of
 * `g.targets[region]`, any order), returns the envelopes stamped `step + 1` (one per target, in `targets` order),
 * or an issue (inbox not matching the protocol, a duplicated id, or a particle moving too far). The inbound
 * envelopes are not modified.
 */
export const advanceRegion = (
  g: Geometry,
  region: number,
  step: number,
  inbound: ReadonlyArray<Envelope>,
  ws: RegionWorkspace = new RegionWorkspace()
): Advance => {
  const targets = g.targets[region]!
  if (inbound.length !== targets.length) {
    return mismatch(region, step, `expected ${targets.length} envelopes (from ${targets.join(", ")}), got ${inbound.length}`)
  }
  let seen = 0
  let nOwned = 0
  let nHalo = 0
  for (const e of inbound) {
    const t = targets.indexOf(e.from)
    if (e.to !== region || e.step !== step || t < 0 || (seen & (1 << t)) !== 0) {
      return mismatch(region, step, `unexpected envelope from ${e.from} to ${e.to} for step ${e.step}`)
    }
    seen |= 1 << t
    nOwned += e.migrants.ids.length
    nHalo += e.halo.ids.length
  }

  // Owned particles and halo, each sorted by id: independent of arrival order.
  ws.ensureOwned(nOwned)
  ws.ensureHalo(nHalo)
  ws.ensureTemp(Math.max(nOwned, nHalo))
  if (!collectSorted(ws, inbound.map((e) => e.migrants), true, ws.oid, ws.ox, ws.oy, ws.ovx, ws.ovy)) {
    return mismatch(region, step, "a particle id arrived twice as a migrant")
  }
  if (!collectSorted(ws, inbound.map((e) => e.halo), false, ws.hid, ws.hx, ws.hy, ws.ovx, ws.ovy)) {
    return mismatch(region, step, "a particle id arrived twice as halo")
  }
  if (!regionForces(g, region, ws, nOwned, nHalo)) return mismatch(region, step, "a particle is both owned and halo")
  const issue = integrateOwned(g, ws, nOwned, step)
  if (issue !== undefined) return { _tag: "Invalid", issue }
  const owned: Particles = {
    ids: ws.oid.subarray(0, nOwned),
    x: ws.ox.subarray(0, nOwned),
    y: ws.oy.subarray(0, nOwned),
    vx: ws.ovx.subarray(0, nOwned),
    vy: ws.ovy.subarray(0, nOwned)
  }
  return distribute(g, region, owned, step + 1, ws)
}

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
function regionForces(g: Geometry, region: number, ws: RegionWorkspace, no: number, nh: number): boolean {
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
function integrateOwned(g: Geometry, ws: RegionWorkspace, no: number, step: number): HaloIssue | undefined {
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

  const mig = Array.from(migCount, (count, t) => (t === self ? prefix(own, oj) : allocParticles(count)))
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

/** Splits a global state into each region's owned particles (sorted by id), e.g. to seed region actors. */
export const partition = (g: Geometry, s: HaloState): ReadonlyArray<Particles> => {
  const count = new Int32Array(g.regions)
  const home = new Int32Array(s.n)
  for (let i = 0; i < s.n; i++) count[(home[i] = regionOf(g, s.x[i]!, s.y[i]!))]!++
  const parts = Array.from(count, allocParticles)
  count.fill(0)
  for (let i = 0; i < s.n; i++) {
    const p = parts[home[i]!]!
    const j = count[home[i]!]!++
    p.ids[j] = i
    p.x[j] = s.x[i]!
    p.y[j] = s.y[i]!
    p.vx[j] = s.vx[i]!
    p.vy[j] = s.vy[i]!
  }
  return parts
}

/**
 * Reassembles the global state from envelopes of one step (the migrants are the owned particles). Returns an issue
 * unless every id 0..n-1 appears exactly once.
 */
export const gather = (
  n: number,
  envelopes: ReadonlyArray<Envelope>
): { readonly _tag: "Gathered"; readonly state: HaloState } | { readonly _tag: "Invalid"; readonly issue: HaloIssue } => {
  const s = allocState(n)
  const seen = new Uint8Array(n)
  let count = 0
  for (const e of envelopes) {
    const p = e.migrants
    for (let j = 0; j < p.ids.length; j++) {
      const id = p.ids[j]!
      if (!(id >= 0 && id < n) || seen[id] === 1) {
        return {
          _tag: "Invalid",
          issue: {
            _tag: "InboxMismatch",
            region: e.to,
            step: e.step,
            message: `particle id ${id} is out of range or owned twice at step ${e.step}`
          }
        }
      }
      seen[id] = 1
      count++
      s.x[id] = p.x[j]!
      s.y[id] = p.y[j]!
      s.vx[id] = p.vx[j]!
      s.vy[id] = p.vy[j]!
    }
  }
  if (count !== n) {
    const step = envelopes[0]?.step ?? 0
    return {
      _tag: "Invalid",
      issue: { _tag: "InboxMismatch", region: -1, step, message: `${n - count} particles are missing at step ${step}` }
    }
  }
  return { _tag: "Gathered", state: s }
}
