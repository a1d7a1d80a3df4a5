/**
 * The halo model's global state (indexed by particle id), its deterministic initial value, the periodic wrap, and
 * a checksum of the exact bits.
 */
import { Fnv1a64 } from "../fingerprint.ts"
import * as Rng from "../rng.ts"
import type { HaloParams } from "./Schemas.ts"

/** Particle i has position (x[i], y[i]) in [0, L)² and velocity (vx[i], vy[i]); mass 1. */
export interface HaloState {
  readonly n: number
  readonly x: Float64Array
  readonly y: Float64Array
  readonly vx: Float64Array
  readonly vy: Float64Array
}

export const allocState = (n: number): HaloState => ({
  n,
  x: new Float64Array(n),
  y: new Float64Array(n),
  vx: new Float64Array(n),
  vy: new Float64Array(n)
})

export const cloneState = (s: HaloState): HaloState => ({
  n: s.n,
  x: s.x.slice(),
  y: s.y.slice(),
  vx: s.vx.slice(),
  vy: s.vy.slice()
})

/**
 * Maps a coordinate into [0, L), deterministically and strictly below L. Values already in range come back
 * unchanged (except -0, which becomes +0). Otherwise r = x % L (exact in IEEE arithmetic); a negative r becomes
 * r + L, except that when r + L rounds up to L (|r| below half an ulp of L) the result is 0; -0 becomes +0.
 * Every kernel calls this same function, so all implementations wrap identically.
 */
export const wrap = (x: number, L: number): number => {
  if (x >= 0 && x < L) return x + 0 // + 0 only changes -0 (into +0)
  let r = x % L
  if (r < 0) {
    r += L
    if (r >= L) r = 0
  }
  return r + 0
}

/**
 * The initial state of `p.seed`: particle i uses draws 4i..4i+3 of the counter-based generator, so any subset of
 * particles can be generated independently. Positions uniform in [0, L) (wrapped: u·L can round up to L), velocity
 * components uniform in [-v0, v0).
 */
export const initialState = (p: HaloParams): HaloState => {
  const s = allocState(p.n)
  const key = Rng.seedKey(p.seed)
  const v0 = p.v0 ?? 0.1
  for (let i = 0; i < p.n; i++) {
    s.x[i] = wrap(Rng.uniformK(key, 4 * i) * p.L, p.L)
    s.y[i] = wrap(Rng.uniformK(key, 4 * i + 1) * p.L, p.L)
    s.vx[i] = (2 * Rng.uniformK(key, 4 * i + 2) - 1) * v0
    s.vy[i] = (2 * Rng.uniformK(key, 4 * i + 3) - 1) * v0
  }
  return s
}

/** 64-bit FNV-1a over n, then the exact bits of x, y, vx, vy in id order, as 16 hex digits. */
export const checksum = (s: HaloState): string =>
  new Fnv1a64().updateNumber(s.n).update(s.x).update(s.y).update(s.vx).update(s.vy).hex()
