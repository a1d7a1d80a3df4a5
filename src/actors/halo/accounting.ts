/**
 * Bookkeeping around the region kernel, shared by the message and shared-memory variants: the bytes an envelope
 * carries, a per-step fingerprint of the particle ids a region owns (the sum mod 2^32 of `Rng.mix32` of each id:
 * summed over regions it shows that no particle was lost or duplicated), and a JIT warm-up of the kernels.
 */
import * as Rng from "../rng.ts"
import { runDecomposed } from "./decomposed.ts"
import type { Envelope, Particles, Trace } from "./Schemas.ts"

/** Bytes of the typed arrays of an envelope: 36 per migrant (id, x, y, vx, vy), 20 per halo copy (id, x, y). */
export const envelopeBytes = (e: Envelope): number =>
  e.migrants.ids.byteLength + e.migrants.x.byteLength + e.migrants.y.byteLength + e.migrants.vx.byteLength +
  e.migrants.vy.byteLength + e.halo.ids.byteLength + e.halo.x.byteLength + e.halo.y.byteLength


export const makeTrace = (steps: number): Trace => ({ counts: new Int32Array(steps + 1), hashes: new Uint32Array(steps + 1) })

/** Adds the count and id hash-sum of `parts` into step `step` of `trace`. */
export const traceInto = (trace: Trace, step: number, parts: ReadonlyArray<Particles>): void => {
  let c = 0
  let h = 0
  for (const p of parts) {
    c += p.ids.length
    for (let j = 0; j < p.ids.length; j++) h = (h + Rng.mix32(p.ids[j]!)) >>> 0
  }
  trace.counts[step]! += c
  trace.hashes[step] = (trace.hashes[step]! + h) >>> 0
}

/** Adds `other` into `into`, step by step. */
export const addTrace = (into: Trace, other: Trace): void => {
  for (let s = 0; s < into.counts.length; s++) {
    into.counts[s]! += other.counts[s]!
    into.hashes[s] = (into.hashes[s]! + other.hashes[s]!) >>> 0
  }
}

/** The fingerprint every step of a run over particles 0..n-1 must show. */
export const expectedFingerprint = (n: number): { readonly count: number; readonly hash: number } => {
  let h = 0
  for (let i = 0; i < n; i++) h = (h + Rng.mix32(i)) >>> 0
  return { count: n, hash: h }
}

let warmed = false

/** Short runs of the region kernels, once per thread, so that timed steps are not the JIT's first calls. */
export const warmUpRegionKernels = (): void => {
  if (warmed) return
  warmed = true
  runDecomposed({ n: 2000, L: 20, rc: 1, k: 1, dt: 0.01, steps: 4, seed: 7 }, { px: 3, py: 2 })
  runDecomposed({ n: 2000, L: 20, rc: 1, k: 1, dt: 0.01, steps: 4, seed: 7 }, { px: 1, py: 2 })
}
