/**
 * Derived geometry and setup validation for the halo model (its parameters and grid are Schemas.ts): N particles
 * of unit mass in a periodic L × L box, attracting within a cutoff rc, optionally decomposed into a px × py grid
 * of regions.
 *
 * Problems are returned as a typed `HaloIssue` (never thrown) whose message names the parameter to change, so a
 * program can print it and exit non-zero, and an actor can reply with it.
 */
import type { Grid, HaloIssue, HaloParams } from "./Schemas.ts"

/** Box side giving `density` neighbours within rc on average: N·π·rc²/L² = density. */
export const boxForDensity = (n: number, rc: number, density: number): number =>
  Math.sqrt((n * Math.PI * rc * rc) / density)

/** What the force and integration kernels need, shared by the serial and the decomposed versions. */
export interface Physics {
  readonly n: number
  readonly L: number
  readonly halfL: number
  readonly rc: number
  readonly rc2: number
  readonly k: number
  readonly dt: number
}

export const physicsOf = (p: HaloParams): Physics => ({
  n: p.n,
  L: p.L,
  halfL: p.L / 2,
  rc: p.rc,
  rc2: p.rc * p.rc,
  k: p.k,
  dt: p.dt
})

/**
 * A uniform grid of cells over the box, used only to find candidate neighbours (never for the arithmetic), so it may
 * differ between implementations. Cells are at least rc·(1 + 1e-9) wide, so two particles within rc of each other
 * sit in the same or adjacent cells (periodically) despite rounding in `x·scale`; capped at ~4n cells.
 */
export interface Cells {
  /** Cells per side. */
  readonly nc: number
  /** nc / L: column of x is floor(x·scale), clamped to nc - 1. */
  readonly scale: number
  /** Distinct neighbour columns (or rows) of column g: nb[3g .. 3g + nnb); the same table serves rows. */
  readonly nb: Int32Array
  readonly nnb: number
  /**
   * The same neighbour columns as at most two runs of consecutive columns: runs[4g .. 4g + 4) = [a0, a1, b0, b1],
   * so that, cells being numbered row by row, each neighbour row is one or two contiguous slot ranges.
   */
  readonly runs: Int32Array
}

/** The column (or row) of the cell holding coordinate v in [0, L): floor(v·scale), clamped to nc - 1. */
export const cellOf = (v: number, scale: number, nc: number): number => {
  const c = Math.floor(v * scale)
  return c >= nc ? nc - 1 : c
}

export const cellsOf = (n: number, L: number, rc: number): Cells => {
  const cap = 2 * Math.ceil(Math.sqrt(Math.max(1, n)))
  const nc = Math.max(1, Math.min(cap, Math.floor(L / (rc * (1 + 1e-9)))))
  const nnb = Math.min(nc, 3)
  const nb = new Int32Array(3 * nc)
  for (let g = 0; g < nc; g++) {
    // with 1 or 2 columns, "left", "self" and "right" are not distinct: list each column once
    if (nc < 3) for (let t = 0; t < nc; t++) nb[3 * g + t] = t
    else for (let t = 0; t < 3; t++) nb[3 * g + t] = (g + t - 1 + nc) % nc
  }
  const runs = new Int32Array(4 * nc)
  for (let g = 0; g < nc; g++) {
    const o = 4 * g
    if (nc < 3) runs.set([0, nc, 0, 0], o)
    else if (g === 0) runs.set([0, 2, nc - 1, nc], o)
    else if (g === nc - 1) runs.set([nc - 2, nc, 0, 1], o)
    else runs.set([g - 1, g + 2, 0, 0], o)
  }
  return { nc, scale: nc / L, nb, nnb, runs }
}

/** The decomposition: physics, region grid, halo reach and each region's message partners. */
export interface Geometry extends Physics {
  readonly px: number
  readonly py: number
  readonly regions: number
  /** Region widths L/px and L/py. */
  readonly wx: number
  readonly wy: number
  /** Region edges: region column rx spans [edgesX[rx], edgesX[rx + 1]); edgesX[0] = 0, edgesX[px] = L. */
  readonly edgesX: Float64Array
  readonly edgesY: Float64Array
  /**
   * Halo selection distance: rc plus a rounding margin (1e-9 relative + 1e-12·L). Halos may hold a few particles
   * that end up interacting with nothing (harmless); they must never miss one that does.
   */
  readonly reach: number
  readonly cells: Cells
  /**
   * For each region, the distinct regions of its 3 × 3 periodic neighbourhood INCLUDING itself, ascending. A region
   * sends exactly one envelope per step to each of these (to itself too: that envelope is its own next state) and
   * receives exactly one from each, so it knows when it holds all of step t.
   */
  readonly targets: ReadonlyArray<Int32Array>
}

export const makeGeometry = (p: HaloParams, grid: Grid): Geometry => {
  const { px, py } = grid
  const edges = (m: number): Float64Array => {
    const e = new Float64Array(m + 1)
    for (let i = 0; i < m; i++) e[i] = (i * p.L) / m
    e[m] = p.L
    return e
  }
  const targets: Array<Int32Array> = []
  for (let r = 0; r < px * py; r++) {
    const rx = r % px
    const ry = (r - rx) / px
    const set = new Set<number>()
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) set.add(((ry + dy + py) % py) * px + ((rx + dx + px) % px))
    }
    targets.push(Int32Array.from([...set].sort((a, b) => a - b)))
  }
  return {
    ...physicsOf(p),
    px,
    py,
    regions: px * py,
    wx: p.L / px,
    wy: p.L / py,
    edgesX: edges(px),
    edgesY: edges(py),
    reach: p.rc * (1 + 1e-9) + p.L * 1e-12,
    cells: cellsOf(p.n, p.L, p.rc),
    targets
  }
}

/** Region index of a position (positions are in [0, L)); rounding at an edge is clamped into the grid. */
export const regionOf = (g: Grid & { readonly L: number }, x: number, y: number): number => {
  let rx = Math.floor((x * g.px) / g.L)
  if (rx >= g.px) rx = g.px - 1
  let ry = Math.floor((y * g.py) / g.L)
  if (ry >= g.py) ry = g.py - 1
  return ry * g.px + rx
}

const isInt = (v: number, min: number, max: number): boolean => Number.isInteger(v) && v >= min && v <= max

/**
 * Checks parameters and grid before running. Returns the first problem found, or undefined.
 * Decomposition needs rc (plus margin) strictly below the region width along each axis, so that everything a region
 * needs lives in its 3 × 3 neighbourhood; this is checked for every grid, 1 × 1 included (rc < L).
 */
export const validateSetup = (p: HaloParams, grid: Grid): HaloIssue | undefined => {
  const bad = (parameter: string, value: number, why: string): HaloIssue => ({
    _tag: "InvalidParameter",
    parameter,
    value,
    message: `${parameter} = ${value}: ${why}`
  })
  if (!isInt(p.n, 1, 2 ** 31 - 1)) return bad("n", p.n, "must be an integer in [1, 2^31 - 1]")
  if (!(Number.isFinite(p.L) && p.L > 0)) return bad("L", p.L, "must be a finite number > 0")
  if (!(Number.isFinite(p.rc) && p.rc > 0)) return bad("rc", p.rc, "must be a finite number > 0")
  if (!Number.isFinite(p.k)) return bad("k", p.k, "must be a finite number")
  if (!(Number.isFinite(p.dt) && p.dt >= 0)) return bad("dt", p.dt, "must be a finite number >= 0")
  if (!isInt(p.steps, 0, 2 ** 31 - 1)) return bad("steps", p.steps, "must be a non-negative integer")
  if (!Number.isSafeInteger(p.seed)) return bad("seed", p.seed, "must be a safe integer")
  const v0 = p.v0 ?? 0.1
  if (!(Number.isFinite(v0) && v0 >= 0)) return bad("v0", v0, "must be a finite number >= 0")
  if (!isInt(grid.px, 1, 4096)) return bad("px", grid.px, "must be an integer in [1, 4096]")
  if (!isInt(grid.py, 1, 4096)) return bad("py", grid.py, "must be an integer in [1, 4096]")
  const reach = p.rc * (1 + 1e-9) + p.L * 1e-12
  for (const [axis, m, flag] of [["x", grid.px, "px"], ["y", grid.py, "py"]] as const) {
    const width = p.L / m
    if (reach >= width) {
      const maxRegions = Math.max(0, Math.ceil(p.L / reach) - 1)
      return {
        _tag: "CutoffWiderThanRegion",
        axis,
        rc: p.rc,
        regionWidth: width,
        maxRegions,
        message: maxRegions >= 1
          ? `rc = ${p.rc} is not smaller than the region width L/${flag} = ${width} along ${axis}: ` +
            `use at most ${maxRegions} regions along ${axis} (${flag}), or a smaller rc, or a larger L`
          : `rc = ${p.rc} is not smaller than the box side L = ${p.L}: use a smaller rc or a larger L`
      }
    }
  }
  return undefined
}

/** The per-step displacement limit along an axis of width w (see "ParticleMovedTooFar"). */
export const displacementLimit = (g: Geometry, axis: "x" | "y"): number => (axis === "x" ? g.wx : g.wy) - g.reach

/** Builds the "moved too far" issue; `displacement` is v·dt along `axis`. */
export const movedTooFar = (
  g: Geometry,
  axis: "x" | "y",
  id: number,
  step: number,
  displacement: number
): HaloIssue => {
  const limit = displacementLimit(g, axis)
  const flag = axis === "x" ? "px" : "py"
  return {
    _tag: "ParticleMovedTooFar",
    axis,
    id,
    step,
    displacement,
    limit,
    message: `particle ${id} moved ${Math.abs(displacement)} along ${axis} in step ${step}, more than region width - rc = ${limit}: ` +
      `use a smaller dt (or k, or v0), or fewer regions along ${axis} (${flag})`
  }
}
