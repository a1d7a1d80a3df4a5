/**
 * The halo model's communication against computation as the box is cut into more regions (the chapter's point:
 * more regions means more boundary per particle, so more talking per unit of work). The messages mode on
 * 2 workers over region grids from 1x2 to 8x8 (more regions than workers on purpose: region r runs on worker
 * r mod 2), at a fixed N, each grid checked against the serial checksum. Grids alternate within each round
 * and every figure is the median over rounds.
 *
 * Per grid: the comm/comp ratio (`Modes.commRatio`: kernel time measured inside the regions, communication the
 * rest of `2 × seconds`, so it also holds copies, idle time and time the machine gave to other processes), and
 * the halo bytes and messages per step (counted by the regions). Rows carry `series`, `x` (regions) and
 * `xLabel` (the grid) for `halo-comm.svg` and `halo-bytes.svg`.
 */
import { Effect, Layer } from "effect"
import * as Halo from "../../actors/halo/index.ts"
import type { Grid } from "../../actors/halo/index.ts"
import { Threads } from "../../runtime/index.ts"
import * as Modes from "../halo/modes.ts"
import type { Options, Row } from "./Row.ts"
import { median, roundsFor } from "./Row.ts"

export const WORKERS = 2
const SEED = 2024

/** The region grids, fewest regions first. */
export const GRIDS: ReadonlyArray<Grid> = [
  { px: 1, py: 2 },
  { px: 2, py: 2 },
  { px: 2, py: 4 },
  { px: 4, py: 4 },
  { px: 4, py: 8 },
  { px: 8, py: 8 }
]

export const gridName = (grid: Grid): string => `${grid.px}x${grid.py}`

export const run = (options: Options): Effect.Effect<Array<Row>, unknown> =>
  Effect.scoped(
    Effect.gen(function*() {
      const n = options.quick ? 5_000 : 10_000
      const steps = options.quick ? 10 : 25
      const rounds = roundsFor(options, 3)
      const params: Halo.HaloParams = { n, L: Halo.boxForDensity(n, 1, 20), rc: 1, k: 1, dt: 0.01, steps, seed: SEED }
      const initial = Halo.initialState(params)
      const context = yield* Layer.build(Threads.layer({ workers: WORKERS }))
      const serial = yield* Effect.orDie(Modes.serial({ params, grid: { px: 1, py: 1 } }))
      const reference = Halo.checksum((yield* Effect.orDie(serial.run(initial))).state)
      const runners = yield* Effect.forEach(GRIDS, (grid) => Modes.messages({ params, grid })).pipe(
        Effect.provide(context),
        Effect.orDie
      )

      const ratios: Array<Array<number>> = GRIDS.map(() => [])
      const computes: Array<Array<number>> = GRIDS.map(() => [])
      const comms: Array<Array<number>> = GRIDS.map(() => [])
      const last: Array<Modes.Outcome | undefined> = GRIDS.map(() => undefined)
      const differs = new Set<number>()
      // A short untimed run of each first: the workers' JIT warms on the real sizes and every channel is opened.
      for (const runner of runners) yield* Effect.orDie(runner.run(initial, { steps: 5 }))
      for (let round = 0; round < rounds; round++) {
        const order = GRIDS.map((_, i) => i)
        if (round % 2 === 1) order.reverse()
        for (const i of order) {
          const outcome = yield* Effect.orDie(runners[i]!.run(initial))
          if (Halo.checksum(outcome.state) !== reference) differs.add(i)
          ratios[i]!.push(Modes.commRatio(outcome, WORKERS))
          computes[i]!.push(outcome.computeSeconds)
          comms[i]!.push(Math.max(0, WORKERS * outcome.seconds - outcome.computeSeconds))
          last[i] = outcome
        }
      }

      const size = `N=${n / 1000}k, ${steps} steps`
      const rows: Array<Row> = []
      GRIDS.forEach((grid, i) => {
        const name = gridName(grid)
        const regions = grid.px * grid.py
        const outcome = last[i]!
        const agree = differs.has(i) ? "CHECKSUM DIFFERS FROM SERIAL" : "same checksum as serial"
        rows.push({
          section: "halo grid",
          name: `comm/comp, ${name} regions on ${WORKERS} workers, ${size}`,
          value: median(ratios[i]!),
          unit: "comm/comp",
          note: `compute ${median(computes[i]!).toFixed(2)} s, the rest ${median(comms[i]!).toFixed(2)} s of ${WORKERS} workers; ${agree}`,
          series: "comm/comp",
          x: regions,
          xLabel: name
        })
        rows.push({
          section: "halo grid",
          name: `halo traffic per step, ${name} regions, ${size}`,
          value: outcome.bytes / (steps + 1) / 1024,
          unit: "KB/step",
          note: `${(outcome.messages / (steps + 1)).toFixed(0)} messages/step`,
          series: "KB/step",
          x: regions,
          xLabel: name
        })
      })
      return rows
    })
  )
