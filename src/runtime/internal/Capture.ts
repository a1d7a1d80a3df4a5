/**
 * Output attribution: what user code writes (`console.*`, `process.stdout.write`, `process.stderr.write`) while a
 * handler, a pool task or an engine task runs belongs to that *run*, and goes where the run says.
 *
 * How a write finds its run. Runs interleave inside one thread (handlers are fibers that yield), so there is no
 * global "current run". A handler's fiber is started inside `AsyncLocalStorage.run(owner)` (`fork`): Effect 4
 * captures a fiber's async context when it yields or forks and resumes it there, so the fiber, the fibers it
 * forks and the promise and timer callbacks they start all see their own owner, whatever ran in between. A
 * region inside a run can keep its output (`Output.capture`, an engine task) with an owner in the fiber's
 * context (`CurrentOwner`), read through `Fiber.getCurrent()`, which wins; a message's run can name itself
 * (`Output.label`, a pool's task). The synchronous part of a handler — the call that builds its Effect, before any fiber exists — is
 * covered by `enter` / `leave` around that call. Nothing is looked up unless something is written: a handler
 * that returns an Exit pays for two variable writes, one that needs a fiber for `AsyncLocalStorage.run` (an
 * owner in each fiber's context measured 2-3x the cost of starting the fiber; the async context, no more).
 *
 * Two kinds of run:
 * - `Forwarded` (actor handlers, pool tasks, a worker's writes outside any run): line-buffered; each complete
 *   line goes at once to the thread's `Channel` under the run's origin, a partial line waits for its end, and
 *   `end` (called before the run's reply is sent) writes what is left, so a user who logs and then returns sees
 *   the log before the result. A line is never cut by another run's output.
 * - `Kept` (engine tasks, `Output.capture`): the text is kept, as written, and handed back with the result.
 *
 * Both keep at most `LIMIT` bytes (characters) per stream and run: the rest is dropped and counted, and the run's
 * end says how much (a task that prints a gigabyte costs a megabyte). Writes after a run ended (from a fiber it
 * left behind) still go to its origin, line by line.
 *
 * `install` patches the process streams and the global console once per thread; writes outside any run go to
 * the thread's `fallback` (a worker's own origin), or, on the main thread, through untouched.
 */
import { Context, Effect, Fiber } from "effect"
import { AsyncLocalStorage } from "node:async_hooks"
import * as Util from "node:util"

/** 0: stdout, 1: stderr. */
export type Stream = 0 | 1

/** Where a thread's forwarded runs send their lines. */
export interface Channel {
  /** Names the thread in origins: `w1` for worker 1, `local` for the Local tier. */
  readonly where: string
  /** `text`: one or more complete lines, each ending with a newline. */
  readonly write: (stream: Stream, origin: string, text: string) => void
}

/** What a worker posts to the main thread for its channel's lines. */
export interface Message {
  readonly _tag: "Output"
  readonly stream: Stream
  readonly origin: string
  readonly text: string
}

/** Characters kept per stream and run; the rest is dropped (and counted). */
export const LIMIT = 1 << 20

/** A run: what its writes go to. */
export interface Run {
  readonly write: (stream: Stream, text: string) => void
}

/** Whatever is in a fiber's context as its run: the run itself, or a message that opens its run on first write. */
export interface Owner {
  readonly output: () => Run
  /** Name the run from now on (a message's run: a pool names it after its task). */
  readonly label?: (name: string) => void
}

export const CurrentOwner = Context.Reference<Owner | undefined>("actorflow/runtime/Output/CurrentOwner", {
  defaultValue: () => undefined
})

const dropNote = (dropped: number): string => `… ${dropped} more characters dropped (a run keeps ${LIMIT} per stream)\n`

/** The part of `text` that still fits under the limit, counting what does not. */
class Budget {
  private used = 0
  dropped = 0
  take(text: string): string {
    const room = LIMIT - this.used
    if (text.length <= room) {
      this.used += text.length
      return text
    }
    this.dropped += text.length - Math.max(room, 0)
    if (room <= 0) return ""
    this.used = LIMIT
    return text.slice(0, room)
  }
}

/** A line-buffered run whose complete lines go to `channel` under `origin`. */
export class Forwarded implements Run, Owner {
  private readonly partial: [string, string] = ["", ""]
  private readonly budget: [Budget, Budget] = [new Budget(), new Budget()]
  private ended = false
  private timer: ReturnType<typeof setTimeout> | undefined = undefined

  /** `capped`: false for a thread's own origin, which has no end (its lines are not limited). */
  constructor(public origin: string, readonly channel: Channel, private readonly capped = true) {}

  output(): Run {
    return this
  }

  write(stream: Stream, text: string): void {
    const kept = this.capped ? this.budget[stream].take(text) : text
    if (kept === "") return
    const nl = kept.lastIndexOf("\n")
    if (nl < 0) {
      this.partial[stream] += kept
      // A line that never ends is passed on in pieces rather than held without bound (uncapped runs), and a
      // thread's own partial line shortly (it has no end to wait for).
      if (this.partial[stream].length >= LIMIT) this.flushPartial(stream)
      else if (!this.capped && this.timer === undefined) {
        this.timer = setTimeout(() => {
          this.timer = undefined
          this.flushPartial(0)
          this.flushPartial(1)
        }, PARTIAL_MS)
        this.timer.unref()
      }
      return
    }
    const lines = this.partial[stream] + kept.slice(0, nl + 1)
    this.partial[stream] = kept.slice(nl + 1)
    this.channel.write(stream, this.origin, lines)
    if (this.ended && this.partial[stream] !== "") this.flushPartial(stream)
  }

  /** Pass on a partial line of `stream` as a line of its own. */
  flushPartial(stream: Stream): void {
    const partial = this.partial[stream]
    if (partial === "") return
    this.partial[stream] = ""
    this.channel.write(stream, this.origin, partial + "\n")
  }

  /** The run is over: what is left goes now, and how much was dropped. */
  end(): void {
    this.ended = true
    for (const stream of STREAMS) {
      this.flushPartial(stream)
      const budget = this.budget[stream]
      if (budget.dropped > 0) {
        this.channel.write(stream, this.origin, dropNote(budget.dropped))
        budget.dropped = 0
      }
    }
  }
}

const STREAMS: ReadonlyArray<Stream> = [0, 1]

/** How long a thread's own partial line waits for its end before it is passed on as it is. */
const PARTIAL_MS = 100

/** A run whose text is kept and handed back (`end`). */
export class Kept implements Run, Owner {
  private readonly texts: [Array<string>, Array<string>] = [[], []]
  private readonly budget: [Budget, Budget] = [new Budget(), new Budget()]
  private ended = false

  output(): Run {
    return this
  }

  write(stream: Stream, text: string): void {
    // Written after the result left (a timer the task set): the thread's own origin shows it.
    if (this.ended) return fallback?.output().write(stream, text)
    const kept = this.budget[stream].take(text)
    if (kept !== "") this.texts[stream].push(kept)
  }

  /** What the run wrote (its shape is `Output.Captured`, the public name of it). */
  end() {
    this.ended = true
    const [out, err] = this.budget
    const captured = {
      stdout: this.texts[0].join("") + (out.dropped > 0 ? dropNote(out.dropped) : ""),
      stderr: this.texts[1].join("") + (err.dropped > 0 ? dropNote(err.dropped) : ""),
      dropped: { stdout: out.dropped, stderr: err.dropped }
    }
    this.texts[0] = []
    this.texts[1] = []
    return captured
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Which run a write belongs to

/** The owner of the synchronous call running now (a handler building its Effect), and the fiber it runs in. */
let syncOwner: Owner | undefined = undefined
let syncFiber: Fiber.Fiber<unknown, unknown> | undefined = undefined

/** Writes outside every run: a worker's own origin; undefined on the main thread (they pass through). */
let fallback: Owner | undefined = undefined

/**
 * The run a write made now belongs to. A handler building its Effect may do so inside another run's fiber (on
 * the Local tier an ask is handled in the asker's fiber): there, the handler's message owns the write; in a
 * fiber of its own (the handler's, or one it forks or runs), that fiber's owner does.
 */
export const current = (): Owner | undefined => {
  const fiber = Fiber.getCurrent()
  if (syncOwner !== undefined && fiber === syncFiber) return syncOwner
  return fiber?.getRef(CurrentOwner) ?? tracked.getStore() ?? syncOwner ?? fallback
}

/** What `enter` replaced, when it replaced anything (nested handler calls only). */
export interface Outer {
  readonly owner: Owner
  readonly fiber: Fiber.Fiber<unknown, unknown> | undefined
}

/** Attribute what the synchronous code about to run writes to `owner`; returns what to give `leave`. */
export const enter = (owner: Owner): Outer | undefined => {
  const outer = syncOwner === undefined ? undefined : { owner: syncOwner, fiber: syncFiber }
  syncOwner = owner
  syncFiber = Fiber.getCurrent()
  return outer
}

export const leave = (outer: Outer | undefined): void => {
  syncOwner = outer?.owner
  syncFiber = outer?.fiber
}

/**
 * Run `effect` in a new fiber whose writes belong to `owner`: and those of the fibers it forks, and of the
 * promise and timer callbacks they start (see `tracked`).
 */
export const fork = <A, E>(owner: Owner, effect: Effect.Effect<A, E>): Fiber.Fiber<A, E> =>
  tracked.run(owner, Effect.runFork, effect) as Fiber.Fiber<A, E>

/**
 * The owner in Node's async context. Effect 4 captures the async context of a fiber when it yields and when it
 * forks, and resumes it there, so a fiber started inside `tracked.run(owner, ...)` — and every fiber it forks,
 * every promise and timer callback they start — sees `owner` here, whatever ran in between on the thread.
 * Measured cheaper than an owner in each fiber's context (`fork`, see the closing note of issue 11).
 */
const tracked = new AsyncLocalStorage<Owner>()

/**
 * `fork` with `context`, and with `owner` in Node's async context too: what the code writes after an `await`
 * or in a timer it set (outside every fiber) still belongs to `owner`.
 */
export const track = <A, E>(owner: Owner, context: Context.Context<never>, effect: Effect.Effect<A, E>): Fiber.Fiber<A, E> =>
  tracked.run(owner, () => Effect.runForkWith(Context.add(context, CurrentOwner, owner))(effect))

/** Call `f` with `owner` in Node's async context (the promises and timers it starts keep it). */
export const runTracked = <A>(owner: Owner, f: () => A): A => tracked.run(owner, f)

// ---------------------------------------------------------------------------------------------------------------
// The patch

type Write = (chunk: unknown, encoding?: unknown, callback?: unknown) => boolean

/** The streams' own write functions: what forwarded lines are finally written with (never captured again). */
export const original = {
  stdout: (text: string): void => {
    if (writes !== undefined) writes[0].call(process.stdout, text)
    else process.stdout.write(text)
  },
  stderr: (text: string): void => {
    if (writes !== undefined) writes[1].call(process.stderr, text)
    else process.stderr.write(text)
  }
}

let writes: [Write, Write] | undefined = undefined
let installs = 0

const textOf = (chunk: unknown, encoding: unknown): string =>
  typeof chunk === "string"
    ? chunk
    : chunk instanceof Uint8Array
    ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString(typeof encoding === "string" ? encoding as BufferEncoding : "utf8")
    : String(chunk)

const patchStream = (stream: NodeJS.WriteStream, index: Stream): Write => {
  const write = stream.write as Write
  stream.write = function(this: unknown, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    const owner = current()
    if (owner === undefined) return write.apply(this, arguments as unknown as Parameters<Write>)
    owner.output().write(index, textOf(chunk, encoding))
    const done = typeof encoding === "function" ? encoding : callback
    if (typeof done === "function") queueMicrotask(() => (done as () => void)())
    return true
  } as NodeJS.WriteStream["write"]
  return write
}

/** Console methods and the stream they print to (others — dir, table, trace — reach the streams themselves). */
const consoleMethods: ReadonlyArray<readonly [keyof Console, Stream]> = [
  ["log", 0],
  ["info", 0],
  ["debug", 0],
  ["warn", 1],
  ["error", 1]
]
let consoles: Array<readonly [keyof Console, unknown]> = []

/**
 * Patch this thread's streams and console (counted: the patch is removed when every `install` was undone).
 * `orphans` takes the writes made outside every run (a worker's own origin); without it they pass through.
 */
export const install = (orphans?: Owner): void => {
  if (orphans !== undefined) fallback = orphans
  if (installs++ > 0) return
  writes = [patchStream(process.stdout, 0), patchStream(process.stderr, 1)]
  // The console is patched too: where it does not print through process.stdout (a test runner's console), the
  // run still gets the line.
  consoles = consoleMethods.map(([name]) => [name, console[name]] as const)
  for (const [name, stream] of consoleMethods) {
    const own = console[name] as (...args: Array<unknown>) => void
    ;(console as unknown as Record<string, unknown>)[name] = function(this: unknown, ...args: Array<unknown>): void {
      const owner = current()
      if (owner === undefined) return own.apply(this, args)
      owner.output().write(stream, Util.format(...args) + "\n")
    }
  }
}

export const uninstall = (): void => {
  if (installs === 0 || --installs > 0) return
  if (writes !== undefined) {
    process.stdout.write = writes[0] as NodeJS.WriteStream["write"]
    process.stderr.write = writes[1] as NodeJS.WriteStream["write"]
    writes = undefined
  }
  for (const [name, own] of consoles) (console as unknown as Record<string, unknown>)[name] = own
  consoles = []
  fallback = undefined
}
