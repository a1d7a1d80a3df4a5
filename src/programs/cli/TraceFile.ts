/**
 * `--trace FILE`, shared by every program: a `Trace.Recorder` for the run's tiers when the flag is given, and the
 * Chrome trace-event JSON written once the results are printed (so a file that cannot be written costs one line
 * and a non-zero exit, never the results). The file opens in https://ui.perfetto.dev or `chrome://tracing`.
 */
import { Effect, Metric, Option, Schema } from "effect"
import { Flag } from "effect/cli"
import * as Fs from "node:fs"
import { ActorError, Trace } from "../../runtime/index.ts"
import * as Table from "./Table.ts"

/** `--trace FILE`. */
export const flag = () =>
  Flag.String("trace").pipe(
    Flag.optional,
    Flag.withDescription("write a Chrome trace-event JSON of the run to FILE (open it in https://ui.perfetto.dev)")
  )

/** The trace could not be written; `message` says which file and why. */
export class TraceNotWritten extends Schema.TaggedError<TraceNotWritten>()("TraceNotWritten", {
  file: Schema.String,
  message: Schema.String
}) {}

/** `--trace` with `--cluster`: the Cluster tier does not record traces (yet). */
export class TraceUnsupported extends Schema.TaggedError<TraceUnsupported>()("TraceUnsupported", {
  message: Schema.String
}) {}

/**
 * A recorder when `--trace` was given, else undefined (and the tiers record nothing); refused up front with
 * `--cluster`, whose runners do not record.
 */
export const recorder = (
  file: Option.Option<string>,
  cluster: Option.Option<string> = Option.none()
): Effect.Effect<Trace.Recorder | undefined, TraceUnsupported> => {
  if (Option.isNone(file)) return Effect.succeed(undefined)
  if (Option.isSome(cluster)) {
    return Effect.fail(new TraceUnsupported({ message: "--trace records worker threads and the local tier; the cluster tier does not record traces yet" }))
  }
  return Trace.make
}

/** The tier options that turn tracing on, when there is a recorder. */
export const option = (recorder: Trace.Recorder | undefined): { readonly trace?: Trace.Recorder } =>
  recorder === undefined ? {} : { trace: recorder }

/** Events per write: the file is written in pieces, never held as one string. */
const CHUNK = 10_000

/** Write the trace as Chrome trace-event JSON; a line on stderr says where (not with `--json`). */
export const write = (
  file: Option.Option<string>,
  recorder: Trace.Recorder | undefined,
  options: { readonly quiet: boolean }
): Effect.Effect<void, TraceNotWritten> => {
  if (Option.isNone(file) || recorder === undefined) return Effect.void
  const path = file.value
  return Effect.try({
    try: () => {
      const fd = Fs.openSync(path, "w")
      try {
        Fs.writeSync(fd, `{"displayTimeUnit":"ms","traceEvents":[\n`)
        const events = recorder.events()
        let written = 0
        let piece: Array<string> = []
        let next = events.next()
        while (next.done !== true) {
          piece.push(JSON.stringify(next.value))
          next = events.next()
          if (piece.length === CHUNK || next.done === true) {
            Fs.writeSync(fd, (written === 0 ? "" : ",\n") + piece.join(",\n"))
            written += piece.length
            piece = []
          }
        }
        Fs.writeSync(fd, `\n],"otherData":${JSON.stringify(recorder.otherData(next.value.omitted))}}\n`)
        return written
      } finally {
        Fs.closeSync(fd)
      }
    },
    catch: (error) => new TraceNotWritten({ file: path, message: `cannot write the trace to ${path}: ${ActorError.describe(error)}` })
  }).pipe(
    Effect.flatMap((events) =>
      options.quiet
        ? Effect.void
        : Effect.andThen(
          Effect.sync(() => process.stderr.write(`wrote ${path} (${events} trace events; open it in https://ui.perfetto.dev)\n`)),
          Effect.flatMap(summary, (line) => Effect.sync(() => process.stderr.write(`${line}\n`)))
        ))
  )
}

/**
 * The run's metrics in one line, read back from Effect's metric registry (`Metric.snapshot`) as any program can:
 * messages and bytes sent, mean handler time and mailbox wait, utilisation per thread.
 */
export const summary: Effect.Effect<string> = Effect.map(Metric.snapshot, (snapshot) => {
  const of = (id: string) => snapshot.filter((m) => m.id === id)
  let messages = 0
  let bytes = 0
  for (const m of of(Trace.messages.id)) if (m.type === "Counter") messages += Number(m.state.count)
  for (const m of of(Trace.bytes.id)) if (m.type === "Counter") bytes += Number(m.state.count)
  const mean = (id: string) => {
    let sum = 0
    let count = 0
    for (const m of of(id)) {
      if (m.type !== "Histogram") continue
      sum += m.state.sum
      count += m.state.count
    }
    return count === 0 ? "-" : `${((sum / count) * 1e6).toFixed(1)} µs`
  }
  const threads = of(Trace.utilisation.id)
    .filter((m) => m.type === "Gauge")
    .map((m) => `${String(m.attributes?.["thread"])} ${(100 * Number(m.state.value as number)).toFixed(0)}%`)
    .sort()
  return `metrics: ${messages} messages (${Table.si(bytes)}B), handler mean ${mean(Trace.handlerTime.id)}, ` +
    `mailbox wait mean ${mean(Trace.mailboxWait.id)}; time in handlers: ${threads.join(", ") || "-"}`
})
