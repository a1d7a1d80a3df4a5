/**
 * Cold against warm: π on 2 workers in fresh processes, as a user meets it (`npm start`), against a hand-written
 * pool of plain worker_threads warmed before its clock starts, in the same run. Each round starts one process of
 * each (alternating), and each process times its run twice: the first run is the cold one (kernels not yet
 * compiled by V8, actor modules not yet loaded), the second is warm. Rows: the actors' first run against the raw
 * pool's first run (target >= 0.95x), and the actors' first run against their second (cold = warm: 1.00x, within
 * noise), each a median over rounds with the spread of the per-round ratios.
 */
import { Effect } from "effect"
import * as ChildProcess from "node:child_process"
import { fileURLToPath } from "node:url"
import type { Options, Row } from "./Row.ts"
import { median, roundsFor, spread } from "./Row.ts"

interface Twice {
  readonly first: number
  readonly second: number
}

const child = fileURLToPath(new URL("./coldChild.ts", import.meta.url))

/** One fresh process of `coldChild.ts`. */
const fresh = (variant: "actors" | "raw", samples: number): Effect.Effect<Twice, Error> =>
  Effect.tryPromise({
    try: () =>
      new Promise<Twice>((resolve, reject) => {
        ChildProcess.execFile(process.execPath, ["--import", "tsx", child, variant, String(samples)], { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
          if (error) return reject(new Error(`${variant}: ${stderr.trim() || error.message}`))
          resolve(JSON.parse(stdout) as Twice)
        })
      }),
    catch: (error) => (error instanceof Error ? error : new Error(String(error)))
  })

export const run = (options: Options): Effect.Effect<Array<Row>, unknown> =>
  Effect.gen(function*() {
    // Five rounds, not three: a single round on a loaded machine (another tenant on one core) swung a median of three.
    const rounds = roundsFor(options, 5)
    const samples = options.quick ? 1e8 : 1e9
    const actors: Array<Twice> = []
    const raw: Array<Twice> = []
    for (let round = 0; round < rounds; round++) {
      // Alternating which goes first, so that a drift in the machine's load does not favour one.
      if (round % 2 === 0) actors.push(yield* fresh("actors", samples)), raw.push(yield* fresh("raw", samples))
      else raw.push(yield* fresh("raw", samples)), actors.push(yield* fresh("actors", samples))
    }
    const vsRaw = actors.map((a, i) => raw[i]!.first / a.first)
    const coldWarm = actors.map((a) => a.second / a.first)
    const rate = (seconds: number) => samples / seconds
    const size = `${samples.toExponential(0)} samples, 2 workers`
    return [
      {
        section: "cold",
        name: `π actors, fresh process, first run, ${size}`,
        value: rate(median(actors.map((a) => a.first))),
        unit: "samples/s",
        ratio: median(vsRaw),
        note: `ratio: vs a warmed raw pool's first run, fresh process (target >= 0.95); ${spread(vsRaw)}`
      },
      {
        section: "cold",
        name: `π actors, fresh process, second run`,
        value: rate(median(actors.map((a) => a.second))),
        unit: "samples/s",
        ratio: median(coldWarm),
        note: `ratio: first run's rate / second's (cold = warm: 1.00); ${spread(coldWarm)}`
      },
      { section: "cold", name: `raw warmed pool, fresh process, first run`, value: rate(median(raw.map((r) => r.first))), unit: "samples/s" }
    ]
  })
