/**
 * One benchmark figure: what was measured, its value, and its ratio against the
 * baseline it is judged by (measured in the same run), with where it goes in a picture
 * when it belongs to one; and the helpers every
 * section measures with: the median of rounds, the spread of per-round ratios, a timed effect and its seconds.
 */
import { Duration, Effect } from "effect"

export interface Row {
  readonly section: string
  readonly name: string
  readonly value: number
  readonly unit: string
  readonly ratio?: number
  readonly note?: string
  /** For pictures (`--svg`): the line this figure belongs to and its position along the x axis. */
  readonly series?: string
  readonly x?: number
  /** The name of that position when the axis is categorical (a region grid, "2x4"); `x` still orders it. */
  readonly xLabel?: string
}

/** What every section is run with: smaller sizes (`--quick`), and the rounds asked for (`--rounds`). */
export interface Options {
  readonly quick: boolean
  readonly rounds?: number | undefined
}

/** A section's rounds: `--rounds` when given, else its own count (`full`, or `quick` with `--quick`). */
export const roundsFor = (options: Options, full: number, quick = 1): number => options.rounds ?? (options.quick ? quick : full)

export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** `spread 0.91-1.08x over 5 rounds`: the range of per-round ratios (each of one round's two runs, side by side). */
export const spread = (ratios: ReadonlyArray<number>): string =>
  `spread ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x over ${ratios.length} rounds`

/** The per-round ratios `baseline[i] / measured[i]` of two series recorded once per round. */
export const perRound = (baseline: ReadonlyArray<number>, measured: ReadonlyArray<number>): Array<number> =>
  measured.map((value, i) => baseline[i]! / value)

/** Runs `effect` and returns its value with the seconds it took. */
export const timed = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<{ seconds: number; value: A }, E, R> =>
  Effect.map(Effect.timed(effect), ([duration, value]) => ({ seconds: Duration.toMillis(duration) / 1000, value }))

/** The seconds `effect` took (a failure is a defect: a bench run that fails has nothing to report). */
export const seconds = (effect: Effect.Effect<unknown, unknown, never>): Effect.Effect<number> =>
  Effect.map(Effect.orDie(timed(effect)), (r) => r.seconds)
