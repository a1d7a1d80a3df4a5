/**
 * A region's inbox merged: the batches of particles that arrived (migrants, or halo) into one list sorted by id,
 * whatever their order of arrival, refusing an id that arrives twice.
 */
import type { Halo } from "./Schemas.ts"
import type { RegionWorkspace } from "./workspace.ts"

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
export const collectSorted = (
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
