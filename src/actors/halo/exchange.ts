/**
 * The shared-memory halo exchange: the envelopes regions send each other, published into shared typed arrays
 * instead of messages (plain typed-array code, no Effect; the lockstep loop around it is SharedRegions.ts).
 *
 * Two parities: the envelopes stamped s live in parity s & 1. During step t every region reads parity t & 1 and
 * writes parity (t + 1) & 1, then all wait at one barrier; so nobody overwrites what someone may still read.
 * A region keeps its envelope to itself (its own particles) privately; what it sends to the others is copied into
 * two pools per parity, migrants (full state) and halos (positions), at offsets claimed with one `Atomics.add`
 * on the pool's counter, and described by one row of the parity's table per (sender, target): migrant offset and
 * count, halo offset and count. Pool order depends on timing; results do not, since the kernel sorts by id.
 *
 * The pools never overflow: a particle is a migrant to at most one other region, and halo to at most
 * (columns within reach) × (rows within reach) - 1 regions (see `haloCapacity`). The counter of parity p is reset
 * during the step that reads p (by region group 0): its writes were all before the previous barrier, and the next
 * ones come after the next.
 *
 * Stopping together: before arriving at barrier b, a group that failed, or that sees the run cancelled (`cancel`,
 * from any thread), proposes "stop after barrier b" (`proposeStop`; the first proposal wins); after the barrier
 * every group asks `stopsAfter(b)`, so all leave at the same barrier and nobody waits for one that has left.
 * Programs use `allocate`, `forRun` and `cancel` and never touch the memory layout.
 */
import type { Geometry } from "./params.ts"
import type { Envelope, ExchangeBuffers, Halo, Particles } from "./Schemas.ts"

/** Words of the control array: pool counters per parity, then the abort and cancel words. */
const COUNTERS = 0 // [parity * 2 + 0] migrants, [parity * 2 + 1] halo
/** 0, or 1 + the barrier after which every group stops. */
const ABORT = 4
/** Set (to 1) to cancel the run. */
const CANCEL = 5
const CONTROL_WORDS = 6

/** Table row fields. */
const ROW = 4
const MAX_TARGETS = 9

/** Most halo copies per step: each particle is halo to at most this many regions other than its owner. */
export const haloCapacity = (g: Geometry, n: number): number => {
  const along = (m: number, w: number): number => (m === 1 ? 1 : Math.min(m, 2 * g.reach < w ? 2 : 3))
  return n * (along(g.px, g.wx) * along(g.py, g.wy) - 1)
}

/** Pools for `n` particles on the regions of `g` (reuse them run after run, each through `forRun`). */
export const allocate = (g: Geometry, n: number): ExchangeBuffers => {
  const mig = Math.max(1, n)
  const halo = Math.max(1, haloCapacity(g, n))
  const sab = (bytes: number) => new SharedArrayBuffer(bytes)
  return {
    n,
    regions: g.regions,
    migrantCapacity: mig,
    haloCapacity: halo,
    control: sab(CONTROL_WORDS * 4),
    table: sab(2 * g.regions * MAX_TARGETS * ROW * 4),
    migIds: sab(2 * mig * 4),
    migX: sab(2 * mig * 8),
    migY: sab(2 * mig * 8),
    migVx: sab(2 * mig * 8),
    migVy: sab(2 * mig * 8),
    haloIds: sab(2 * halo * 4),
    haloX: sab(2 * halo * 8),
    haloY: sab(2 * halo * 8)
  }
}

/** The buffers for one run: the same pools, with fresh control words (counters, abort, cancel). */
export const forRun = (pools: ExchangeBuffers): ExchangeBuffers => ({
  ...pools,
  control: new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT)
})

/** Cancels the run using `buffers`: every group stops at the next barrier they can all agree on. */
export const cancel = (buffers: ExchangeBuffers): void => {
  Atomics.store(new Int32Array(buffers.control), CANCEL, 1)
}

/** Typed views of the buffers on the thread that calls it, for the regions of `g`. */
export const open = (buffers: ExchangeBuffers, g: Geometry): Exchange => new Exchange(buffers, g)

/** Typed views of the buffers, made once per thread (see `open`). */
export class Exchange {
  private readonly control: Int32Array
  readonly table: Int32Array
  readonly migIds: Int32Array
  readonly migX: Float64Array
  readonly migY: Float64Array
  readonly migVx: Float64Array
  readonly migVy: Float64Array
  readonly haloIds: Int32Array
  readonly haloX: Float64Array
  readonly haloY: Float64Array

  constructor(readonly buffers: ExchangeBuffers, readonly g: Geometry) {
    this.control = new Int32Array(buffers.control)
    this.table = new Int32Array(buffers.table)
    this.migIds = new Int32Array(buffers.migIds)
    this.migX = new Float64Array(buffers.migX)
    this.migY = new Float64Array(buffers.migY)
    this.migVx = new Float64Array(buffers.migVx)
    this.migVy = new Float64Array(buffers.migVy)
    this.haloIds = new Int32Array(buffers.haloIds)
    this.haloX = new Float64Array(buffers.haloX)
    this.haloY = new Float64Array(buffers.haloY)
  }

  private row(parity: number, from: number, target: number): number {
    return ((parity * this.buffers.regions + from) * MAX_TARGETS + target) * ROW
  }

  /**
   * Before arriving at barrier `b`: proposes that every group stop after it, if this group `failed` or the run
   * was cancelled. The first proposal wins.
   */
  proposeStop(b: number, failed: boolean): void {
    if (failed || Atomics.load(this.control, CANCEL) !== 0) Atomics.compareExchange(this.control, ABORT, 0, b + 1)
  }

  /** After barrier `b`: whether every group stops here (a proposal for b or an earlier barrier). */
  stopsAfter(b: number): boolean {
    const abort = Atomics.load(this.control, ABORT)
    return abort !== 0 && abort <= b + 1
  }

  /** Makes the pools of `parity` empty again (see the module comment for when that is safe). */
  reset(parity: number): void {
    Atomics.store(this.control, COUNTERS + parity * 2, 0)
    Atomics.store(this.control, COUNTERS + parity * 2 + 1, 0)
  }

  /** Copies envelope `e` (from a region to another, stamped with `e.step`) into the pools of its parity. */
  publish(e: Envelope): void {
    const parity = e.step & 1
    const t = this.g.targets[e.from]!.indexOf(e.to)
    const m = e.migrants
    const h = e.halo
    const nm = m.ids.length
    const nh = h.ids.length
    const mo = Atomics.add(this.control, COUNTERS + parity * 2, nm)
    const ho = Atomics.add(this.control, COUNTERS + parity * 2 + 1, nh)
    const { haloCapacity: hcap, migrantCapacity: mcap } = this.buffers
    if (mo + nm > mcap || ho + nh > hcap || t < 0) {
      throw new Error(`halo exchange: envelope ${e.from} -> ${e.to} does not fit (a bug: the pools cannot overflow)`)
    }
    const mb = parity * mcap + mo
    this.migIds.set(m.ids, mb)
    this.migX.set(m.x, mb)
    this.migY.set(m.y, mb)
    this.migVx.set(m.vx, mb)
    this.migVy.set(m.vy, mb)
    const hb = parity * hcap + ho
    this.haloIds.set(h.ids, hb)
    this.haloX.set(h.x, hb)
    this.haloY.set(h.y, hb)
    const r = this.row(parity, e.from, t)
    const table = this.table
    table[r] = mb
    table[r + 1] = nm
    table[r + 2] = hb
    table[r + 3] = nh
  }

  /** The envelope region `from` published to region `to` for step `step`, as views of the pools (no copy). */
  read(from: number, to: number, step: number): Envelope {
    const t = this.g.targets[from]!.indexOf(to)
    const r = this.row(step & 1, from, t)
    const table = this.table
    const mb = table[r]!
    const me = mb + table[r + 1]!
    const hb = table[r + 2]!
    const he = hb + table[r + 3]!
    const migrants: Particles = {
      ids: this.migIds.subarray(mb, me),
      x: this.migX.subarray(mb, me),
      y: this.migY.subarray(mb, me),
      vx: this.migVx.subarray(mb, me),
      vy: this.migVy.subarray(mb, me)
    }
    const halo: Halo = { ids: this.haloIds.subarray(hb, he), x: this.haloX.subarray(hb, he), y: this.haloY.subarray(hb, he) }
    return { from, to, step, migrants, halo }
  }

  /** The inbox of region `to` for step `step`: its own envelope plus what every other neighbour published. */
  inbox(to: number, step: number, own: Envelope): Array<Envelope> {
    const out: Array<Envelope> = []
    for (const from of this.g.targets[to]!) out.push(from === to ? own : this.read(from, to, step))
    return out
  }
}
