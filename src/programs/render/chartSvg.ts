/**
 * A line chart as an SVG, for the bench's pictures: a few named series of (x, y) points over linear or
 * logarithmic axes, with round-number ticks, a legend, and dashed lines for references (an ideal, a baseline).
 * Plain text out, no dependencies; the same input always gives the same bytes.
 */

export interface Series {
  readonly name: string
  readonly points: ReadonlyArray<readonly [number, number]>
  /** A reference line (ideal, baseline): dashed, grey unless `colour` says otherwise. */
  readonly reference?: boolean
  readonly colour?: string
}

export interface Chart {
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly series: ReadonlyArray<Series>
  readonly logX?: boolean
  readonly logY?: boolean
  /** Where the x axis has ticks (and ends), e.g. the points measured; round numbers if omitted. */
  readonly xTicks?: ReadonlyArray<number>
  /** Names for `xTicks`, one each, in place of their numbers (a categorical axis: region grids). */
  readonly xTickLabels?: ReadonlyArray<string>
  /** A vertical marker and its label, e.g. the number of cores. */
  readonly marker?: { readonly x: number; readonly label: string }
  readonly width?: number
  readonly height?: number
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]

const fmt = (v: number): string => (Math.round(v * 10) / 10).toString()

const escape = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/** A tick label: 1.5, 20, 3k, 1.2M. */
const label = (v: number): string => {
  const abs = Math.abs(v)
  if (abs >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`
  if (abs >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`
  return `${Number(v.toPrecision(3))}`
}

/** Round-number ticks covering [lo, hi]: steps of 1, 2 or 5 times a power of ten. */
const linearTicks = (lo: number, hi: number): Array<number> => {
  const span = hi - lo || 1
  const raw = span / 5
  const power = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((k) => k * power).find((s) => s >= raw) ?? raw
  const ticks: Array<number> = []
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)))
  return ticks
}

/** Powers of ten (and their doubles and fives when few) within [lo, hi]. */
const logTicks = (lo: number, hi: number): Array<number> => {
  const ticks: Array<number> = []
  const decades = Math.log10(hi / lo)
  const steps = decades <= 2 ? [1, 2, 5] : [1]
  for (let p = Math.floor(Math.log10(lo)); p <= Math.ceil(Math.log10(hi)); p++) {
    for (const k of steps) {
      const t = k * 10 ** p
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(t)
    }
  }
  return ticks
}

interface Axis {
  readonly lo: number
  readonly hi: number
  readonly log: boolean
}

const axisFor = (values: ReadonlyArray<number>, log: boolean, fromZero: boolean): Axis => {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0))
  let lo = Math.min(...finite)
  let hi = Math.max(...finite)
  if (finite.length === 0) (lo = log ? 1 : 0), (hi = log ? 10 : 1)
  if (log) {
    lo = 10 ** Math.floor(Math.log10(lo))
    hi = 10 ** Math.ceil(Math.log10(hi))
  } else {
    if (fromZero) lo = Math.min(0, lo)
    // Headroom, so a line along the top value is not drawn on the frame.
    if (fromZero) hi += (hi - lo) * 0.05
    const ticks = linearTicks(lo, hi)
    hi = Math.max(hi, ticks[ticks.length - 1]!)
    if (hi === lo) hi = lo + 1
  }
  return { lo, hi, log }
}

/**
 * An axis ending at the given ticks; for named ticks (categories) half a gap further on each side, so the first
 * and last points sit inside the frame like the others.
 */
const tickedAxis = (ticks: ReadonlyArray<number>, log: boolean, categorical: boolean): Axis => {
  const sorted = [...ticks].sort((a, b) => a - b)
  const lo = sorted[0]!
  const hi = sorted[sorted.length - 1]!
  if (!categorical) return { lo, hi, log }
  if (log) return { lo: lo / Math.sqrt(sorted[1]! / lo), hi: hi * Math.sqrt(hi / sorted[sorted.length - 2]!), log }
  return { lo: lo - (sorted[1]! - lo) / 2, hi: hi + (hi - sorted[sorted.length - 2]!) / 2, log }
}

const position = (axis: Axis, v: number, from: number, length: number): number => {
  const t = axis.log ? Math.log(v / axis.lo) / Math.log(axis.hi / axis.lo) : (v - axis.lo) / (axis.hi - axis.lo)
  return from + t * length
}

export const chartSvg = (chart: Chart): string => {
  const width = chart.width ?? 640
  const height = chart.height ?? 420
  const left = 70
  // Room for the legend: its line, then the longest name at about 7 px a character (12 px sans-serif).
  const right = Math.max(170, 46 + 7 * Math.max(0, ...chart.series.map((series) => series.name.length)) + 10)
  const top = 40
  const bottom = 50
  const plotW = width - left - right
  const plotH = height - top - bottom
  const points = chart.series.flatMap((s) => s.points)
  const xAxis = chart.xTicks !== undefined && chart.xTicks.length > 1
    ? tickedAxis(chart.xTicks, chart.logX === true, chart.xTickLabels !== undefined)
    : axisFor(points.map(([x]) => x), chart.logX === true, false)
  const yAxis = axisFor(points.map(([, y]) => y), chart.logY === true, true)
  const px = (x: number) => position(xAxis, x, left, plotW)
  const py = (y: number) => position(yAxis, y, top + plotH, -plotH)
  const parts: Array<string> = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="${top - 16}" font-size="14" font-weight="bold">${escape(chart.title)}</text>`
  ]
  // Grid and ticks.
  const xTicks = chart.xTicks !== undefined && chart.xTicks.length > 1 ? chart.xTicks : xAxis.log ? logTicks(xAxis.lo, xAxis.hi) : linearTicks(xAxis.lo, xAxis.hi).filter((t) => Number.isInteger(t) || xAxis.hi - xAxis.lo < 5)
  const yTicks = yAxis.log ? logTicks(yAxis.lo, yAxis.hi) : linearTicks(yAxis.lo, yAxis.hi)
  xTicks.forEach((t, i) => {
    const x = fmt(px(t))
    const name = chart.xTicks === xTicks ? chart.xTickLabels?.[i] : undefined
    parts.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + plotH}" stroke="#e6e6e6"/>`)
    parts.push(`<text x="${x}" y="${top + plotH + 16}" text-anchor="middle">${escape(name ?? label(t))}</text>`)
  })
  for (const t of yTicks) {
    const y = fmt(py(t))
    parts.push(`<line x1="${left}" y1="${y}" x2="${left + plotW}" y2="${y}" stroke="#e6e6e6"/>`)
    parts.push(`<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${label(t)}</text>`)
  }
  parts.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`)
  parts.push(`<text x="${left + plotW / 2}" y="${height - 12}" text-anchor="middle">${escape(chart.xLabel)}</text>`)
  parts.push(
    `<text x="16" y="${top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${top + plotH / 2})">${escape(chart.yLabel)}</text>`
  )
  if (chart.marker !== undefined) {
    const x = fmt(px(chart.marker.x))
    parts.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + plotH}" stroke="#999" stroke-dasharray="2 3"/>`)
    // At the foot of the line: at the top it would sit on a reference line that levels off there (the ideal).
    parts.push(`<text x="${x}" y="${top + plotH - 6}" dx="4" fill="#666">${escape(chart.marker.label)}</text>`)
  }
  // Series, then the legend.
  let colourIndex = 0
  chart.series.forEach((series, i) => {
    const colour = series.colour ?? (series.reference === true ? "#888" : PALETTE[colourIndex++ % PALETTE.length]!)
    const visible = series.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!xAxis.log || x > 0) && (!yAxis.log || y > 0))
    const d = visible.map(([x, y], k) => `${k === 0 ? "M" : "L"}${fmt(px(x))} ${fmt(py(y))}`).join("")
    const dash = series.reference === true ? ` stroke-dasharray="6 4"` : ""
    if (d.length > 0) parts.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"${dash}/>`)
    if (series.reference !== true) {
      for (const [x, y] of visible) parts.push(`<circle cx="${fmt(px(x))}" cy="${fmt(py(y))}" r="3" fill="${colour}"/>`)
    }
    const ly = top + 10 + i * 20
    parts.push(`<line x1="${left + plotW + 14}" y1="${ly}" x2="${left + plotW + 40}" y2="${ly}" stroke="${colour}" stroke-width="2"${dash}/>`)
    parts.push(`<text x="${left + plotW + 46}" y="${ly}" dominant-baseline="middle">${escape(series.name)}</text>`)
  })
  parts.push(`</svg>`)
  return parts.join("\n") + "\n"
}
