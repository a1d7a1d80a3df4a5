/**
 * A picture of the particle simulator for people: each particle's path as a polyline, positions sampled every few
 * steps, one hue per particle, inside a framed square with its coordinate range written on the axes.
 *
 * It re-runs the kernel on a copy of the first `maxParticles` particles (particles are independent, so their paths
 * are exactly those of the full run) and caps the points per path, keeping the SVG small for any n and dt.
 */
import * as Particles from "../../actors/particles/index.ts"

export interface PathsSvgOptions {
  /** Steps to simulate (e.g. `stepsFor(dt)`). */
  readonly nsteps: number
  /** Most particles drawn (the first ones by index); default 100. */
  readonly maxParticles?: number
  /** Most samples per path, excluding the start; default 100. */
  readonly samples?: number
  /** Side of the square image in pixels; default 600. */
  readonly size?: number
}

const fmt = (v: number): string => (Math.round(v * 10) / 10).toString()

export const pathsSvg = (state: Particles.ParticleState, options: PathsSvgOptions): string => {
  const m = Math.max(0, Math.min(state.n, options.maxParticles ?? 100))
  const nsteps = Math.max(0, Math.floor(options.nsteps))
  const samples = Math.max(1, Math.min(nsteps, Math.floor(options.samples ?? 100)))
  const size = options.size ?? 600
  const every = Math.max(1, Math.ceil(nsteps / samples))

  const x = state.x.slice(0, m)
  const y = state.y.slice(0, m)
  const w = state.w.slice(0, m)
  const npts = Math.ceil(nsteps / every) + 1
  const px = new Float64Array(m * npts)
  const py = new Float64Array(m * npts)
  let done = 0
  for (let k = 0; k < npts; k++) {
    if (k > 0) {
      const step = Math.min(every, nsteps - done)
      Particles.evolveRange(x, y, w, 0, m, step)
      done += step
    }
    for (let i = 0; i < m; i++) {
      px[i * npts + k] = x[i]!
      py[i * npts + k] = y[i]!
    }
  }

  // Square, origin-centred view: the motion is circular around (0, 0).
  let r = 1e-9
  for (let j = 0; j < px.length; j++) {
    const a = Math.max(Math.abs(px[j]!), Math.abs(py[j]!))
    if (a > r) r = a
  }
  r *= 1.05
  const pad = 40
  const inner = size - 2 * pad
  const sx = (v: number): string => fmt(pad + ((v + r) / (2 * r)) * inner)
  const sy = (v: number): string => fmt(pad + ((r - v) / (2 * r)) * inner)

  const parts: Array<string> = []
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" font-family="sans-serif" font-size="12">`,
    `<rect width="${size}" height="${size}" fill="white"/>`,
    `<rect x="${pad}" y="${pad}" width="${inner}" height="${inner}" fill="none" stroke="#333"/>`,
    `<line x1="${sx(0)}" y1="${pad}" x2="${sx(0)}" y2="${pad + inner}" stroke="#ccc"/>`,
    `<line x1="${pad}" y1="${sy(0)}" x2="${pad + inner}" y2="${sy(0)}" stroke="#ccc"/>`,
    `<text x="${pad}" y="${size - pad + 16}">${(-r).toPrecision(3)}</text>`,
    `<text x="${size - pad}" y="${size - pad + 16}" text-anchor="end">${r.toPrecision(3)}</text>`,
    `<text x="${pad - 4}" y="${pad + 4}" text-anchor="end">${r.toPrecision(3)}</text>`,
    `<text x="${pad}" y="${pad - 12}">${m} of ${state.n} particles, ${nsteps} steps, sampled every ${every}</text>`
  )
  for (let i = 0; i < m; i++) {
    const pts: Array<string> = []
    for (let k = 0; k < npts; k++) pts.push(`${sx(px[i * npts + k]!)},${sy(py[i * npts + k]!)}`)
    const hue = Math.round((360 * i) / Math.max(1, m))
    const colour = `hsl(${hue},70%,45%)`
    parts.push(
      `<polyline points="${pts.join(" ")}" fill="none" stroke="${colour}" stroke-width="1.2"/>`,
      `<circle cx="${sx(px[i * npts]!)}" cy="${sy(py[i * npts]!)}" r="2" fill="${colour}"/>`
    )
  }
  parts.push("</svg>")
  return parts.join("\n")
}
