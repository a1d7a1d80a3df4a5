/**
 * The flags every program shares, defined once: counts that accept `1e9`,
 * worker counts, seeds, one-mode choices and `--json`.
 */
import { Schema } from "effect"
import { Flag } from "effect/cli"
import * as Os from "node:os"

/** A whole number above zero (written `20000` or `2e4`). */
export const PositiveInt = Schema.Finite.check(Schema.isInt(), Schema.isGreaterThan(0))

/** A whole number, zero or more. */
export const NonNegativeInt = Schema.Finite.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))

/** A positive whole-number count up to `max`; scientific notation welcome. */
export const count = (name: string, options: { readonly default: number; readonly max: number; readonly description: string }) =>
  Flag.Finite(name).pipe(
    Flag.withSchema(PositiveInt.check(Schema.isLessThanOrEqualTo(options.max))),
    Flag.withDefault(options.default),
    Flag.withDescription(options.description)
  )

/** What one idle worker thread costs in memory (its V8 isolate, Effect and the runtime), measured here: ~30 MB. */
export const WORKER_MB = 30

/** How many workers this machine has room for now (free memory / `WORKER_MB`, at least 1, at most 1024). */
export const workersThatFit = (): number => Math.max(1, Math.min(1024, Math.floor(Os.freemem() / (WORKER_MB * 2 ** 20))))

/** `--workers`: worker threads, one per core by default; no more than the machine's memory can hold. */
export const workers = (description = "worker threads (default: cores)", max = 1024) =>
  Flag.Int("workers").pipe(
    Flag.withSchema(PositiveInt.check(
      Schema.isLessThanOrEqualTo(max),
      Schema.makeFilter((n: number) =>
        n <= workersThatFit() ||
        `${n} workers need about ${n * WORKER_MB} MB; this machine has room for about ${workersThatFit()} now (${Math.round(Os.freemem() / 2 ** 20)} MB free, ~${WORKER_MB} MB each)`)
    )),
    Flag.withDefault(Os.availableParallelism()),
    Flag.withDescription(description)
  )

/** `--seed`: the generator seed. */
export const seed = (defaultSeed: number, description = "generator seed") =>
  Flag.Int("seed").pipe(Flag.withDefault(defaultSeed), Flag.withDescription(description))

/** `--mode`: one of the program's modes; all of them when omitted. */
export const mode = <const Modes extends ReadonlyArray<string>>(modes: Modes) =>
  Flag.Literals("mode", modes).pipe(Flag.optional, Flag.withDescription("one mode (default: all)"))

/** `--json`: one JSON object per result line on stdout, nothing else there. */
export const json = (description = "one JSON object per mode on stdout") =>
  Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription(description))

/** `--cluster FILE`: run on the cluster that connection file names (see `cluster.ts start`) instead of threads. */
export const cluster = () =>
  Flag.String("cluster").pipe(
    Flag.optional,
    Flag.withDescription("run on the cluster this connection file names (`cluster.ts start` writes .actorflow/cluster.json)")
  )
