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
 *
 * The step's parts: inbox.ts merges what arrived, forces.ts computes forces and integrates, distribute.ts splits
 * the result into the next envelopes, all in a region's `RegionWorkspace` (workspace.ts).
 */
import { distribute } from "./distribute.ts"
import type { Advance } from "./distribute.ts"
import { integrateOwned, regionForces } from "./forces.ts"
import { collectSorted } from "./inbox.ts"
import type { Geometry } from "./params.ts"
import { regionOf } from "./params.ts"
import type { Envelope, HaloIssue, Particles } from "./Schemas.ts"
import type { HaloState } from "./state.ts"
import { allocState } from "./state.ts"
import { allocParticles, RegionWorkspace } from "./workspace.ts"

export { distribute, haloFor, isNear } from "./distribute.ts"
export type { Advance } from "./distribute.ts"
export { copyParticles, emptyParticles, RegionWorkspace } from "./workspace.ts"

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
