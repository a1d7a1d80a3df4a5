/**
 * The bench's pictures (`--svg DIR`), drawn from its rows: speedup against workers for π, particles and halo
 * with the ideal line (linear up to the cores, flat past them), and no-op asks per second against messages in
 * flight with the raw postMessage baseline (see `scaling.ts`); the halo's communication / computation and its
 * halo bytes per step against the region grid (see `haloGrid.ts`). Rows carry `series`, `x` and, on a categorical
 * axis, `xLabel` for this.
 */
import type { Series } from "../render/chartSvg.ts"
import { chartSvg } from "../render/chartSvg.ts"
import * as HaloGrid from "./haloGrid.ts"
import type { Row } from "./Row.ts"

export interface Picture {
  readonly file: string
  readonly svg: string
}

const seriesOf = (rows: ReadonlyArray<Row>, section: string, name: string, y: (row: Row) => number): Series => ({
  name,
  points: rows
    .filter((row) => row.section === section && row.series === name && row.x !== undefined)
    .map((row) => [row.x!, y(row)] as const)
    .sort((a, b) => a[0] - b[0])
})

/** The pictures these rows can give (none for a section that did not run). */
export const draw = (rows: ReadonlyArray<Row>, cores: number): Array<Picture> => {
  const pictures: Array<Picture> = []
  const speedups = ["π", "particles", "halo"].map((kernel) => seriesOf(rows, "scaling", kernel, (row) => row.ratio ?? NaN))
    .filter((series) => series.points.length > 0)
  if (speedups.length > 0) {
    const xs = speedups.flatMap((series) => series.points.map(([x]) => x))
    const ideal: Series = {
      name: "ideal",
      reference: true,
      points: [...new Set([1, ...xs, cores])].sort((a, b) => a - b).map((x) => [x, Math.min(x, cores)] as const)
    }
    pictures.push({
      file: "speedup.svg",
      svg: chartSvg({
        title: "Speedup against workers (vs serial, same run)",
        xLabel: "worker threads",
        yLabel: "speedup",
        series: [...speedups, ideal],
        marker: { x: cores, label: `${cores} cores` }
      })
    })
  }
  const actors = seriesOf(rows, "in flight", "actors", (row) => row.value)
  const raw = seriesOf(rows, "in flight", "raw postMessage", (row) => row.value)
  if (actors.points.length > 0) {
    pictures.push({
      file: "asks.svg",
      svg: chartSvg({
        title: `No-op asks per second against messages in flight (${cores} workers)`,
        xLabel: "messages in flight",
        yLabel: "round trips per second",
        series: [{ ...actors, name: "actors (ask)" }, { ...raw, reference: true, colour: "#d62728" }],
        xTicks: actors.points.map(([x]) => x),
        logX: true,
        logY: true
      })
    })
  }
  const ratio = seriesOf(rows, "halo grid", "comm/comp", (row) => row.value)
  const traffic = seriesOf(rows, "halo grid", "KB/step", (row) => row.value)
  for (const [file, series, title, yLabel] of [
    ["halo-comm.svg", ratio, "Halo: communication / computation against the region grid", "comm / comp (worker time)"],
    ["halo-bytes.svg", traffic, "Halo: bytes exchanged per step against the region grid", "KB per step (all regions)"]
  ] as const) {
    if (series.points.length === 0) continue
    const xs = series.points.map(([x]) => x)
    const names = new Map(rows.filter((row) => row.section === "halo grid" && row.x !== undefined).map((row) => [row.x!, row.xLabel ?? `${row.x}`]))
    pictures.push({
      file,
      svg: chartSvg({
        title,
        xLabel: `region grid (px x py regions, spread over ${HaloGrid.WORKERS} workers)`,
        yLabel,
        series: [{ ...series, name: `messages, ${HaloGrid.WORKERS} workers` }],
        xTicks: xs,
        xTickLabels: xs.map((x) => names.get(x)!),
        logX: true
      })
    })
  }
  return pictures
}
