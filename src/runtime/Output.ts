/**
 * Output from inside a parallel run, shown with where it came from — ipyparallel's `[stdout:2]`.
 *
 * What user code writes (`console.log` and friends, `process.stdout.write`, `process.stderr.write`) while an actor
 * handler or a pool task runs is attributed to that run and passed to the `Sink` of the tier, one line at a time
 * (a line is never cut by another run's output), before the run's reply: a handler that logs and then returns
 * shows its log before its result. The default sink prints every line with its origin:
 *
 * ```text
 * [stdout:w1 Counter.add] adding 3          a handler of actor Counter, message add, on worker 1
 * [stderr:w0 square] item 7 is odd          a pool task (`square`) on worker 0
 * [stdout:w1] loaded                        worker 1, outside any run (a module's top level)
 * [stdout:local Counter.add] adding 3       the Local tier (the calling thread)
 * ```
 *
 * stdout lines go to stdout, stderr lines to stderr; `Output.stderr` sends both to stderr (every program does
 * so under `--json`, whose stdout carries JSON only) and `Output.drop` drops them. A run keeps at most
 * `LIMIT` characters per stream; the rest is dropped, and its end says how many. Engine tasks keep their output
 * instead (`capture`): it comes back with each task's result (`AsyncResult.stdout()` / `stderr()`,
 * `displayOutputs`).
 *
 * ```ts
 * // tiers built here send worker output to stderr
 * program.pipe(Effect.provide(Threads.layer()), Output.withSink(Output.stderr))
 * ```
 *
 * Attribution follows the fiber that runs the handler, the fibers it forks and the promise and timer callbacks
 * they start (Node's async context, which Effect keeps across yields), whatever else runs in between on the same
 * thread. Code that runs outside every run (a module's top level, an actor's start, a listener set up there)
 * writes as the worker (`[stdout:w1]`) or, on the main thread, straight to the process streams. Lines a run
 * writes after its reply (a timer it left) still carry its origin.
 */
import { Context, Effect, Exit } from "effect"
import * as Capture from "./internal/Capture.ts"

export type StreamName = "stdout" | "stderr"

/** Where attributed output goes: complete lines (one or more, each ending with a newline) of one origin. */
export interface Sink {
  readonly write: (stream: StreamName, origin: string, text: string) => void
}

/** Characters kept per stream and run; the rest is dropped, and counted in a last line. */
export const LIMIT = Capture.LIMIT

/** Every line of `text` (complete lines) prefixed with its origin: `[stdout:w1 Counter.add] line`. */
export const prefix = (stream: StreamName, origin: string, text: string): string => {
  const tag = `[${stream}:${origin}] `
  const body = text.endsWith("\n") ? text.slice(0, -1) : text
  return tag + body.replaceAll("\n", "\n" + tag) + "\n"
}

/** The default: prefixed lines, stdout's on stdout and stderr's on stderr. */
export const console: Sink = {
  write: (stream, origin, text) => {
    const line = prefix(stream, origin, text)
    if (stream === "stdout") Capture.original.stdout(line)
    else Capture.original.stderr(line)
  }
}

/** Prefixed lines, all on stderr: stdout stays for a program's own output (`--json`). */
export const stderr: Sink = {
  write: (stream, origin, text) => Capture.original.stderr(prefix(stream, origin, text))
}

/** Drop attributed output. */
export const drop: Sink = { write: () => {} }

/** The sink of tiers built in this context (read when a tier starts). */
export const CurrentSink = Context.Reference<Sink>("actorflow/runtime/Output/CurrentSink", { defaultValue: () => console })

/** Build tiers inside `effect` with `sink` for their workers' output. */
export const withSink = (sink: Sink) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.provideService(effect, CurrentSink, sink)

/** What a captured run wrote: each stream's text as written (up to `LIMIT` characters), and what was dropped. */
export interface Captured {
  readonly stdout: string
  readonly stderr: string
  /** Characters dropped past the limit, per stream. */
  readonly dropped: { readonly stdout: number; readonly stderr: number }
}

/**
 * Run `effect`, keeping what it writes instead of passing it on — it, the fibers it forks, and the promise and
 * timer callbacks it starts (Node's async context): its exit and its output. What engines do for every task.
 */
export const capture = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<readonly [Exit.Exit<A, E>, Captured], never, R> =>
  Effect.flatMap(Effect.context<R>(), (context) => keep(new Capture.Kept(), context as Context.Context<never>, effect as Effect.Effect<A, E>))

/**
 * `capture` of the Effect `work` returns, with `work` called now: what it writes while it builds its Effect is
 * kept too, and work that finishes synchronously gives an Exit at once (no fiber is started).
 */
export const captureNow = <A, E>(work: () => Effect.Effect<A, E>): Effect.Effect<readonly [Exit.Exit<A, E>, Captured]> => {
  const kept = new Capture.Kept()
  const outer = Capture.enter(kept)
  let effect: Effect.Effect<A, E>
  try {
    effect = Capture.runTracked(kept, work)
  } finally {
    Capture.leave(outer)
  }
  if (Exit.isExit(effect)) return Exit.succeed([effect as Exit.Exit<A, E>, kept.end()] as const)
  return Effect.flatMap(Effect.context<never>(), (context) => keep(kept, context, effect))
}

/** Run `effect` in a fiber of its own whose output `kept` keeps, started in Node's async context too. */
const keep = <A, E>(kept: Capture.Kept, context: Context.Context<never>, effect: Effect.Effect<A, E>) =>
  Effect.callback<readonly [Exit.Exit<A, E>, Captured]>((resume) => {
    // A function that awaits keeps its output: its callbacks carry the async context.
    const fiber = Capture.track(kept, context, effect)
    fiber.addObserver((exit) => resume(Effect.succeed([exit, kept.end()] as const)))
    return Effect.suspend(() => {
      fiber.interruptUnsafe()
      return Effect.callback<void>((done) => {
        fiber.addObserver(() => done(Effect.void))
      })
    })
  })

/**
 * Name the message run this is part of from now on: its lines read `[stdout:w1 name]` instead of
 * `[stdout:w1 Actor.tag]` — a pool names each chunk's run after its task. Cheap (no context entry); elsewhere
 * (inside a `capture`, outside any message) it does nothing.
 */
export const label = (name: string): Effect.Effect<void> => Effect.sync(() => Capture.current()?.label?.(name))
