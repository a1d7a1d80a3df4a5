/**
 * A picture of the halo model for people: the periodic box, region borders (dashed), the halo (ghost) bands —
 * the strips within the cutoff of a border, whose particles a region sends its neighbours every step — shaded,
 * and particles coloured by the region that owns them (neighbouring regions alternate lightness so borders stand
 * out). Draws at most `maxParticles` particles (every k-th id) so the SVG stays small for any N.
 */
import * as Halo from "../../actors/halo/index.ts"

export interface RegionsSvgOptions {
  /** Side of the square image in pixels; default 600. */
  readonly size?: number
  /** Most particles drawn; default 5000. */
  readonly maxParticles?: number
  /** Optional caption, e.g. the step and checksum. */
  readonly title?: string
  /** Width of the halo bands to shade on both sides of every region border (the cutoff rc); none if omitted. */
  readonly halo?: number
}

const fmt = (v: number): string => (Math.round(v * 10) / 10).toString()

export const regionsSvg = (s: Halo.HaloState, L: number, grid: Halo.Grid, options: RegionsSvgOptions = {}): string => {
  const size = options.size ?? 600
  const pad = 30
  const inner = size - 2 * pad
  const scale = inner / L
  const { px, py } = grid
  const every = Math.max(1, Math.ceil(s.n / Math.max(1, options.maxParticles ?? 5000)))
  const colour = (r: number): string => {
    const rx = r % px
    const ry = (r - rx) / px
    const hue = Math.round((360 * r) / (px * py))
    return `hsl(${hue},65%,${(rx + ry) % 2 === 0 ? 40 : 60}%)`
  }
  const parts: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" font-family="sans-serif" font-size="12">`,
    `<rect width="${size}" height="${size}" fill="white"/>`,
    `<text x="${pad}" y="${pad - 10}">${options.title ?? `${s.n} particles, L = ${L.toPrecision(4)}, ${px} × ${py} regions`}${every > 1 ? ` (every ${every}th drawn)` : ""}</text>`
  ]
  // Group particles by region so each colour is written once.
  const byRegion: Array<Array<string>> = Array.from({ length: px * py }, () => [])
  for (let i = 0; i < s.n; i += every) {
    // y grows upwards in the model, downwards in SVG
    byRegion[Halo.regionOf({ px, py, L }, s.x[i]!, s.y[i]!)]!.push(`M${fmt(pad + s.x[i]! * scale)} ${fmt(pad + inner - s.y[i]! * scale)}h0`)
  }
  byRegion.forEach((d, r) => {
    if (d.length > 0) {
      parts.push(`<path d="${d.join("")}" stroke="${colour(r)}" stroke-width="3" stroke-linecap="round"/>`)
    }
  })
  // Halo bands first, under the particles: within `halo` of each border, on both sides (the box is periodic, so
  // with more than one region along an axis its edges at 0 and L are borders too).
  const band = options.halo
  if (band !== undefined && band > 0) {
    const w = fmt(Math.min(band, L) * scale)
    const bands: Array<string> = []
    if (px > 1) {
      for (let i = 0; i <= px; i++) {
        const x = pad + ((i * L) / px) * scale
        if (i > 0) bands.push(`<rect x="${fmt(x - Math.min(band, L) * scale)}" y="${pad}" width="${w}" height="${inner}"/>`)
        if (i < px) bands.push(`<rect x="${fmt(x)}" y="${pad}" width="${w}" height="${inner}"/>`)
      }
    }
    if (py > 1) {
      for (let j = 0; j <= py; j++) {
        const y = pad + inner - ((j * L) / py) * scale
        if (j > 0) bands.push(`<rect x="${pad}" y="${fmt(y)}" width="${inner}" height="${w}"/>`)
        if (j < py) bands.push(`<rect x="${pad}" y="${fmt(y - Math.min(band, L) * scale)}" width="${inner}" height="${w}"/>`)
      }
    }
    if (bands.length > 0) {
      parts.splice(2, 0, `<g class="halo" fill="#f2b705" fill-opacity="0.18">${bands.join("")}</g>`)
      parts.push(`<text x="${size / 2}" y="${size - pad + 16}" text-anchor="middle" fill="#9a7400">shaded: halo bands (within rc = ${band} of a border)</text>`)
    }
  }
  for (let i = 1; i < px; i++) {
    const x = fmt(pad + ((i * L) / px) * scale)
    parts.push(`<line x1="${x}" y1="${pad}" x2="${x}" y2="${pad + inner}" stroke="#333" stroke-dasharray="4 3"/>`)
  }
  for (let j = 1; j < py; j++) {
    const y = fmt(pad + inner - ((j * L) / py) * scale)
    parts.push(`<line x1="${pad}" y1="${y}" x2="${pad + inner}" y2="${y}" stroke="#333" stroke-dasharray="4 3"/>`)
  }
  parts.push(
    `<rect x="${pad}" y="${pad}" width="${inner}" height="${inner}" fill="none" stroke="#000"/>`,
    `<text x="${pad}" y="${size - pad + 16}">0</text>`,
    `<text x="${size - pad}" y="${size - pad + 16}" text-anchor="end">${L.toPrecision(4)}</text>`,
    "</svg>"
  )
  return parts.join("\n")
}
