/**
 * `npm run bench`: every benchmark section in one run, printed as ratios against
 * baselines measured in the same run (raw worker_threads, serial, batching off).
 *
 *   npm run bench                 all sections
 *   npm run bench -- --quick      smaller sizes, a smoke test
 *   npm run bench -- --json       one JSON object per figure
 *   npm run bench -- --only cluster   the Cluster tier against threads (starts its own cluster)
 */
import { Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import * as ClusterBench from "./bench/cluster.ts"
import * as Engines from "./bench/engines.ts"
import * as Foundation from "./bench/foundation.ts"
import * as Halo from "./bench/halo.ts"
import type { Row } from "./bench/Row.ts"
import * as Shared from "./bench/shared.ts"
import * as Main from "./cli/Main.ts"
import * as Table from "./cli/Table.ts"

const sections: Record<string, (options: { quick: boolean }) => Effect.Effect<Array<Row>, unknown>> = {
  foundation: Foundation.run,
  shared: Shared.run,
  halo: Halo.run,
  engines: Engines.run,
  cluster: ClusterBench.run
}

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
    only: Flag.Literals("only", Object.keys(sections)).pipe(Flag.optional, Flag.withDescription("run one section")),
    json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("one JSON object per figure"))
  },
  (options) =>
    Effect.gen(function*() {
      const names = Option.match(options.only, { onNone: () => Object.keys(sections), onSome: (name) => [name] })
      const rows: Array<Row> = []
      for (const name of names) {
        if (!options.json) yield* Effect.sync(() => process.stderr.write(`running ${name}...\n`))
        const out = yield* sections[name]!({ quick: options.quick })
        rows.push(...out)
        if (options.json) yield* Table.json(out)
      }
      if (!options.json) yield* Console.log(Table.format(columns, rows))
    })
).pipe(Command.withDescription("Actorflow benchmarks: ratios against baselines from the same run"))

Main.run(command)
