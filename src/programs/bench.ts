/**
 * `npm run bench`: every benchmark section in one run, printed as ratios against
 * baselines measured in the same run (raw worker_threads, serial, batching off).
 *
 *   npm run bench                 all sections
 *   npm run bench -- --quick      smaller sizes, a smoke test
 *   npm run bench -- --rounds 9   more rounds per section (default 5 in most, 1 with --quick): steadier medians
 *                                 on a noisy machine
 *   npm run bench -- --json       one JSON object per figure
 *   npm run bench -- --only cluster   the Cluster tier against threads (starts its own cluster)
 *   npm run bench -- --only cold      π in fresh processes: first run against second, and against a warmed raw pool
 *   npm run bench -- --skip engines   all sections but one
 *   npm run bench -- --svg DIR    also the scaling and halo-grid sections, and their pictures in DIR (speedup.svg,
 *                                 asks.svg, halo-comm.svg, halo-bytes.svg)
 *
 * The scaling section (speedup against 1 .. 2 x cores workers, asks against messages in flight) and the halo-grid
 * section (halo comm/comp and bytes per step against the region grid) run only with `--svg` or `--only`: scaling
 * is the longest, halo-grid adds 20 to 40 s. With `--only`, `--svg` draws what that one section gives, e.g.
 * `--only halo-grid --svg DIR`; `--svg DIR --skip halo-grid` draws all but the halo grid's pictures. The results
 * are printed before the pictures are written, so a folder that does not exist costs the pictures, not the run.
 */
import { Console, Effect, Option, Schema } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Command, Flag } from "effect/cli"
import * as ClusterBench from "./bench/cluster.ts"
import * as Cold from "./bench/cold.ts"
import * as Engines from "./bench/engines.ts"
import * as Foundation from "./bench/foundation.ts"
import * as Halo from "./bench/halo.ts"
import * as HaloGrid from "./bench/haloGrid.ts"
import * as Pictures from "./bench/pictures.ts"
import * as PoolBench from "./bench/pool.ts"
import type { Options, Row } from "./bench/Row.ts"
import * as Scaling from "./bench/scaling.ts"
import * as Shared from "./bench/shared.ts"
import * as Flags from "./cli/Flags.ts"
import * as Main from "./cli/Main.ts"
import * as Table from "./cli/Table.ts"
import * as SvgFile from "./render/svgFile.ts"

const sections: Record<string, (options: Options) => Effect.Effect<Array<Row>, unknown>> = {
  foundation: Foundation.run,
  cold: Cold.run,
  shared: Shared.run,
  halo: Halo.run,
  "halo-grid": HaloGrid.run,
  engines: Engines.run,
  pool: PoolBench.run,
  cluster: ClusterBench.run,
  scaling: Scaling.run
}

/** Sections that are there for the pictures: `--svg` adds them, a plain run leaves them out (see above). */
const PICTURED = ["scaling", "halo-grid"]

/** Sections a plain `npm run bench` runs. */
const DEFAULT = Object.keys(sections).filter((name) => !PICTURED.includes(name))

const columns: ReadonlyArray<Table.Column<Row>> = [
  { header: "section", cell: (r) => r.section },
  { header: "benchmark", cell: (r) => r.name },
  { header: "value", cell: (r) => Table.si(r.value), right: true },
  { header: "unit", cell: (r) => r.unit },
  { header: "ratio", cell: (r) => (r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}x`), right: true },
  { header: "note", cell: (r) => r.note ?? "" }
]

const command = Command.make(
  "bench",
  {
    quick: Flag.Boolean("quick").pipe(Flag.withDefault(false), Flag.withDescription("smaller sizes (smoke test)")),
    rounds: Flag.Int("rounds").pipe(
      Flag.withSchema(Flags.PositiveInt.check(Schema.isLessThanOrEqualTo(100))),
      Flag.optional,
      Flag.withDescription("rounds per section, each a run of every variant (default: 5 in most sections, 1 with --quick); more give steadier medians on a noisy machine")
    ),
    only: Flag.Literals("only", Object.keys(sections)).pipe(Flag.optional, Flag.withDescription("run one section")),
    skip: Flag.Literals("skip", Object.keys(sections)).pipe(
      Flag.optional,
      Flag.withDescription("leave one section out (e.g. --svg --skip halo-grid: every picture but the halo grid's)")
    ),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("one JSON object per figure")),
    svg: Flag.String("svg").pipe(
      Flag.optional,
      Flag.withDescription(
        "also run the scaling and halo-grid sections (with --only: just that one) and draw speedup.svg, asks.svg, halo-comm.svg and halo-bytes.svg into this existing folder"
      )
    )
  },
  (options) =>
    Effect.gen(function*() {
      const chosen = Option.match(options.only, { onNone: () => DEFAULT, onSome: (name) => [name] })
      // `--only` with `--svg` runs that section alone and draws what it gives (`--only halo-grid --svg DIR`).
      const names = (Option.isSome(options.svg) && Option.isNone(options.only) ? [...chosen, ...PICTURED] : chosen)
        .filter((name) => Option.getOrUndefined(options.skip) !== name)
      const rows: Array<Row> = []
      for (const name of names) {
        if (!options.json) yield* Effect.sync(() => process.stderr.write(`running ${name}...\n`))
        const out = yield* sections[name]!({ quick: options.quick, rounds: Option.getOrUndefined(options.rounds) })
        rows.push(...out)
        if (options.json) yield* Table.json(out)
      }
      if (!options.json) yield* Console.log(Table.format(columns, rows))
      if (Option.isSome(options.svg)) {
        const dir = options.svg.value
        if (!Fs.existsSync(dir) || !Fs.statSync(dir).isDirectory()) {
          return yield* new SvgFile.CannotWrite({ file: dir, message: `--svg ${dir}: no such folder (the results above are complete; create it and run again for the pictures)` })
        }
        for (const picture of Pictures.draw(rows, Os.availableParallelism())) {
          yield* SvgFile.write(Path.join(dir, picture.file), picture.svg, { quiet: options.json })
        }
      }
    })
).pipe(Command.withDescription("Actorflow benchmarks: ratios against baselines from the same run"))

Main.run(command)
