/**
 * A region's scratch (`RegionWorkspace`, grown on demand and reused step after step) and the particle arrays the
 * region kernel allocates: what region.ts, inbox.ts, forces.ts and distribute.ts work in.
 */
import type { Halo, Particles } from "./Schemas.ts"

export const emptyParticles = (): Particles => allocParticles(0)

export const allocParticles = (m: number): Particles => ({
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

export const allocHalo = (m: number): Halo => ({ ids: new Int32Array(m), x: new Float64Array(m), y: new Float64Array(m) })

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
   * A buffer for the next own envelope, room for at least `m` particles (see `reuseOwnEnvelope`; without it, a
   * fresh one of `m`); once `n` are written, `ownEnvelopeOf` gives the envelope's particles.
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

  /**
   * The first `n` particles of an `ownEnvelope` buffer: views of it with `reuseOwnEnvelope`, else arrays of exactly
   * `n` of their own (plain arrays, as every other envelope's, that may be posted as they are).
   */
  ownEnvelopeOf(buffer: Particles, n: number): Particles {
    const first = prefix(buffer, n)
    return this.options.reuseOwnEnvelope === true || first === buffer ? first : copyParticles(first)
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
