/**
 * One fresh process of the bench's cold section (`cold.ts` starts it): π on 2 workers, timed twice in a row —
 * `actors` as `npm start`'s actors row runs it (the tier started and its threads booted before the clock, the
 * samplers spawned within it), or `raw` on a hand-written pool of plain worker_threads that was warmed first. Prints
 * `{"first": s, "second": s}` on stdout.
 *
 *   node --import tsx src/programs/bench/coldChild.ts actors|raw SAMPLES
 */
import { Context, Effect, Layer } from "effect"
import { ActorSystem, Threads } from "../../runtime/index.ts"
import * as Modes from "../pi/modes.ts"
import { rawPi, rawPool } from "./foundation.ts"
import { timed } from "./Row.ts"

const SEED = 2024
const WORKERS = 2

const [variant, samplesArg] = process.argv.slice(2)
const samples = Number(samplesArg)

const twice = <E, R>(run: Effect.Effect<unknown, E, R>) =>
  Effect.gen(function*() {
    const first = (yield* timed(run)).seconds
    const second = (yield* timed(run)).seconds
    return { first, second }
  })

const program = variant === "raw"
  ? Effect.flatMap(rawPool(WORKERS), (pool) => twice(rawPi(pool, samples)))
  : Effect.flatMap(Layer.build(Threads.layer({ workers: WORKERS })), (context) =>
    Effect.andThen(
      Context.get(context, ActorSystem.ActorSystem).ready,
      twice(Effect.scoped(Modes.actors({ samples, seed: SEED })).pipe(Effect.provide(context)))
    ))

Effect.runPromise(Effect.scoped(program)).then(
  (out) => process.stdout.write(JSON.stringify(out) + "\n"),
  (error) => {
    process.stderr.write(`coldChild: ${String(error)}\n`)
    process.exitCode = 1
  }
)
