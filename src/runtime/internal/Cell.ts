/**
 * A running actor: its handlers, its mailbox, and the one message it is handling.
 *
 * The same cell hosts an actor on the Local tier and inside a worker thread. It
 * handles one message at a time, in arrival order. Handlers that finish
 * synchronously are settled without scheduling anything, which keeps tiny
 * messages cheap; handlers that suspend keep the mailbox waiting until they end,
 * except those of interleaved messages (see `Actor.message`), which are settled
 * whenever they end while the next messages are handled.
 * A cancelled message is dropped if still queued, or its fiber interrupted.
 *
 * A stream message (`Actor.stream`) is handled by running the Stream its handler returns: elements go to the
 * origin as they come, as far as the asker's credit reaches (the message's `buffer`, topped up by `credit` as
 * the asker's consumer takes elements); with no credit left the producer waits, so a slow consumer slows the
 * producer instead of filling memory. The stream's end settles the message like an ask's reply.
 *
 * Each message is one output run (`Capture.ts`): what its handler writes, while it builds its Effect and in
 * the fiber that runs it, is passed on as `[stdout:w1 Actor.tag]`, and what is left of it goes before the reply.
 *
 * A persisted message (`Actor.Persisted`) runs once per key: the cell remembers each key's reply
 * (`Persisted.Memory`), answers a known key with it, and one still running when its reply comes; a cancelled
 * persisted message is not dropped or interrupted, only no longer answered.
 */
import { Cause, Effect, Exit, Scope, Stream } from "effect"
import type { Fiber, Tracer } from "effect"
import type * as Actor from "../Actor.ts"
import { ActorDefect, ActorStopped, describe, trace } from "../ActorError.ts"
import type { ActorError } from "../ActorError.ts"
import * as Capture from "./Capture.ts"
import * as Persisted from "./Persisted.ts"
import type { ThreadTrace } from "./Tracing.ts"

/** Where a message came from, and so where its outcome goes. */
export interface Origin {
  /** `reqId` 0 marks a tell: nothing to answer, but mailbox credit to return. */
  readonly settle: (reqId: number, cell: Cell, tag: string, exit: Exit.Exit<unknown, unknown>) => void
  /** The next elements of a stream message's reply, in order; an error if they cannot be sent (it fails the stream). */
  readonly items: (reqId: number, cell: Cell, tag: string, items: ReadonlyArray<unknown>) => ActorError | undefined
}

/** A message in the mailbox or running; its output is one run (see Capture.ts), opened on its first write. */
class Envelope implements Capture.Owner {
  /** A running stream message's credit. */
  window: Window | undefined = undefined
  run: Capture.Forwarded | undefined = undefined
  /** What the run calls itself instead of `Actor.tag` (see `Output.label`). */
  private name: string | undefined = undefined
  constructor(
    public reqId: number,
    public tag: string,
    readonly payload: unknown,
    public origin: Origin | undefined,
    private readonly cell: Cell,
    /** When it reached the mailbox (traced threads only, else 0). */
    readonly arrived: number,
    /** The span of the ask it answers, when traced and asked inside a span. */
    readonly parent: Tracer.AnySpan | undefined,
    /** A persisted message's key (see `Actor.Persisted`). */
    readonly key: string | undefined = undefined
  ) {}

  output(): Capture.Run {
    return (this.run ??= this.cell.openRun(this.tag, this.name))
  }

  label(name: string): void {
    this.name = name
    if (this.run !== undefined) this.run.origin = this.cell.origin(this.tag, name)
  }
}

/** How many more elements a stream message may send, and the producer waiting for more. */
class Window {
  private waiter: ((effect: Effect.Effect<void>) => void) | undefined = undefined
  constructor(public available: number) {}

  grant(n: number): void {
    this.available += n
    const waiter = this.waiter
    if (waiter !== undefined) {
      this.waiter = undefined
      waiter(Effect.void)
    }
  }

  readonly wait: Effect.Effect<void> = Effect.callback<void>((resume) => {
    if (this.available > 0) return resume(Effect.void)
    this.waiter = resume
    return Effect.sync(() => {
      this.waiter = undefined
    })
  })
}

export class Cell {
  private queue: Array<Envelope | undefined> = []
  private head = 0
  private current: Envelope | undefined = undefined
  /** Whether `drain` runs (see there). */
  private draining = false
  private fiber: Fiber.Fiber<unknown, unknown> | undefined = undefined
  /** Suspended handlers of interleaved messages. */
  private readonly interleaved = new Map<Envelope, Fiber.Fiber<unknown, unknown>>()
  private stopped = false
  /** The keys of persisted messages, by tag (see `Persisted.Memory`). */
  private readonly memories = new Map<string, Persisted.Memory<Waiter>>()

  constructor(
    readonly id: number,
    readonly definition: Actor.Any,
    private readonly handlers: Actor.Handlers<Actor.Protocol>,
    private readonly scope: Scope.Closeable,
    /** The thread the cell lives on, as its defects report it. */
    readonly worker: number,
    /** Where its handlers' output goes. */
    private readonly channel: Capture.Channel,
    /** This thread's trace recorder, when the tier traces (see `Tracing.ts`). */
    private readonly trace: ThreadTrace | undefined = undefined
  ) {}

  /** The origin of a message's output: `w1 Actor.tag`, or `w1 name` once its run named itself. */
  origin(tag: string, name: string | undefined): string {
    return `${this.channel.where} ${name ?? `${this.definition.name}.${tag}`}`
  }

  /** The output run of one message: `[stdout:w1 Actor.tag]`. */
  openRun(tag: string, name: string | undefined): Capture.Forwarded {
    return new Capture.Forwarded(this.origin(tag, name), this.channel)
  }

  /**
   * Run the behaviour to build the handlers; the cell's scope holds what it acquires. The definition's warm-up
   * runs first, once per thread.
   */
  static make(
    id: number,
    definition: Actor.Any,
    init: unknown,
    context: Actor.Context,
    channel: Capture.Channel,
    recorder?: ThreadTrace
  ): Effect.Effect<Cell, unknown> {
    return Effect.suspend(() => {
      if (definition.warmUp !== undefined && !warmed.has(definition)) {
        warmed.add(definition)
        definition.warmUp()
      }
      const scope = Scope.makeUnsafe()
      return definition.behaviour(init, context).pipe(
        Scope.provide(scope),
        Effect.map((handlers) => new Cell(id, definition, handlers, scope, context.worker, channel, recorder)),
        Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
      )
    })
  }

  enqueue(reqId: number, tag: string, payload: unknown, origin: Origin | undefined, parent?: Tracer.AnySpan): void {
    if (this.stopped) {
      origin?.settle(reqId, this, tag, Exit.fail(new ActorStopped({ actor: this.definition.name })))
      return
    }
    const persisted = this.definition.protocol[tag]?.persisted
    let key: string | undefined
    if (persisted !== undefined) {
      const found = Persisted.keyOf(this.definition.name, tag, persisted, payload)
      if (typeof found !== "string") return origin?.settle(reqId, this, tag, Exit.fail(found))
      let memory = this.memories.get(tag)
      if (memory === undefined) this.memories.set(tag, memory = new Persisted.Memory(persisted.remember))
      // A tell of a known key has nothing to wait for: its credit goes back at once.
      const known = memory.arrive(found, reqId === 0 ? undefined : { reqId, origin })
      if (known !== "run") {
        if (reqId === 0) origin?.settle(0, this, tag, Exit.void)
        else if (known !== "waiting") origin?.settle(reqId, this, tag, known)
        return
      }
      key = found
    }
    this.queue.push(new Envelope(reqId, tag, payload, origin, this, this.trace === undefined ? 0 : performance.now(), parent, key))
    if (this.current === undefined) this.drain()
  }

  /**
   * Handle queued messages until one suspends or the mailbox is empty. Not re-entered: a message that arrives
   * while it runs (a settle that frees mailbox room sends the next message at once, on this very thread) is taken
   * by the loop already running, and never while another message's handler is suspended.
   */
  private drain(): void {
    if (this.draining) return
    this.draining = true
    try {
      this.drainQueue()
    } finally {
      this.draining = false
    }
  }

  private drainQueue(): void {
    while (this.current === undefined && this.head < this.queue.length) {
      const envelope = this.queue[this.head]!
      this.queue[this.head++] = undefined
      if (this.head === this.queue.length) {
        this.queue.length = 0
        this.head = 0
      } else if (this.head > 4096 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head)
        this.head = 0
      }
      const exit = this.start(envelope)
      if (exit === undefined) return
      if (exit === INTERLEAVED) continue
      this.settle(envelope, exit)
    }
  }

  /** Answer a message: its output first, then its outcome (to whoever else asked for its key, too). */
  private settle(envelope: Envelope, exit: Exit.Exit<unknown, unknown>): void {
    envelope.run?.end()
    envelope.origin?.settle(envelope.reqId, this, envelope.tag, exit)
    if (envelope.key === undefined) return
    const waiters = this.memories.get(envelope.tag)?.done(envelope.key, exit) ?? []
    for (const waiter of waiters) waiter.origin?.settle(waiter.reqId, this, envelope.tag, exit)
  }

  /**
   * Start one message; its exit if it finished synchronously, else undefined (observer set), or INTERLEAVED
   * for an interleaved message that suspended (observer set, the mailbox is free).
   */
  private start(envelope: Envelope): Exit.Exit<unknown, unknown> | undefined | typeof INTERLEAVED {
    const handler = this.handlers[envelope.tag]
    if (handler === undefined) {
      return Exit.fail(
        new ActorDefect({ actor: this.definition.name, message: envelope.tag, detail: "no handler for this message" })
      )
    }
    let effect: Effect.Effect<unknown, unknown>
    const t0 = this.trace === undefined ? 0 : performance.now()
    // What the handler writes while it builds its Effect is the message's output too.
    const outer = Capture.enter(envelope)
    try {
      effect = handler(envelope.payload) as Effect.Effect<unknown, unknown>
    } catch (thrown) {
      return this.defect(envelope.tag, thrown)
    } finally {
      Capture.leave(outer)
    }
    const streamed = this.definition.protocol[envelope.tag]?.stream
    if (streamed !== undefined) {
      if (!Stream.isStream(effect)) return this.defect(envelope.tag, "the handler of a stream message must return a Stream")
      effect = this.produce(envelope, effect as unknown as Stream.Stream<unknown, unknown>, streamed.buffer)
    }
    // Traced runs are timed here, at each way a run can end, not by wrapping the effect: a handler that ends
    // synchronously keeps its fast path (no fiber). Only an ask made inside a span is wrapped, in a span.
    if (this.trace !== undefined && envelope.parent !== undefined) {
      effect = this.trace.span(effect, this.definition.name, envelope.tag, envelope.parent, this.worker)
    }
    if (Exit.isExit(effect)) {
      if (this.trace !== undefined) this.ran(envelope, t0, false)
      return this.normalise(envelope.tag, effect)
    }
    const fiber = Capture.fork(envelope, effect)
    const done = fiber.pollUnsafe()
    if (done !== undefined) {
      if (this.trace !== undefined) this.ran(envelope, t0, false)
      return this.normalise(envelope.tag, done)
    }
    if (this.definition.protocol[envelope.tag]?.interleave === true) {
      this.interleaved.set(envelope, fiber)
      fiber.addObserver((exit) => {
        if (this.trace !== undefined) this.ran(envelope, t0, true)
        this.interleaved.delete(envelope)
        this.settle(envelope, this.normalise(envelope.tag, exit))
      })
      return INTERLEAVED
    }
    this.current = envelope
    this.fiber = fiber
    fiber.addObserver((exit) => {
      // Before the settle, which handles the next messages at once.
      if (this.trace !== undefined) this.ran(envelope, t0, false)
      this.current = undefined
      this.fiber = undefined
      this.settle(envelope, this.normalise(envelope.tag, exit))
      if (!this.stopped) this.drain()
    })
    return undefined
  }

  /** A traced run ended now (see `Tracing.ts`). */
  private ran(envelope: Envelope, t0: number, interleaved: boolean): void {
    this.trace!.run(this.id, this.definition.name, envelope.tag, envelope.arrived, t0, performance.now(), interleaved)
  }

  /** Run a stream message's stream, sending its elements as far as the asker's credit reaches. */
  private produce(envelope: Envelope, stream: Stream.Stream<unknown, unknown>, buffer: number): Effect.Effect<void, unknown> {
    const window = new Window(buffer)
    envelope.window = window
    const emit = (chunk: ReadonlyArray<unknown>, from: number): Effect.Effect<void, ActorError> => {
      while (from < chunk.length) {
        const origin = envelope.origin
        if (origin === undefined) return Effect.interrupt
        if (window.available === 0) return Effect.flatMap(window.wait, () => emit(chunk, from))
        const n = Math.min(window.available, chunk.length - from)
        window.available -= n
        const error = origin.items(envelope.reqId, this, envelope.tag, from === 0 && n === chunk.length ? chunk : chunk.slice(from, from + n))
        if (error !== undefined) return Effect.fail(error)
        from += n
      }
      return Effect.void
    }
    return Stream.runForEachArray(stream, (chunk) => emit(chunk, 0))
  }

  /** The asker of stream message `reqId` took `count` more elements: the producer may send that many more. */
  credit(reqId: number, origin: Origin, count: number): void {
    if (this.current !== undefined && this.current.reqId === reqId && this.current.origin === origin) {
      return this.current.window?.grant(count)
    }
    for (const envelope of this.interleaved.keys()) {
      if (envelope.reqId === reqId && envelope.origin === origin) return envelope.window?.grant(count)
    }
  }

  /** Typed failures pass through; defects become `ActorDefect`; interruption stays interruption. */
  private normalise(tag: string, exit: Exit.Exit<unknown, unknown>): Exit.Exit<unknown, unknown> {
    if (Exit.isSuccess(exit)) return exit
    const failure = Cause.findErrorOption(exit.cause)
    if (failure._tag === "Some") return exit
    if (Cause.hasInterruptsOnly(exit.cause)) return exit
    return this.defect(tag, Cause.squash(exit.cause))
  }

  private defect(tag: string, thrown: unknown): Exit.Exit<never, ActorDefect> {
    return Exit.fail(
      new ActorDefect({ actor: this.definition.name, message: tag, detail: describe(thrown), worker: this.worker, stack: trace(thrown) })
    )
  }

  /**
   * Drop a queued message, or interrupt it if it is running; a persisted one goes on, unanswered. With
   * `acknowledge` (a persisted message whose asker kept its mailbox credit), that credit comes back exactly once:
   * when the work goes on, as a tell's once it is done; otherwise (a second asker of a running key, or a reply
   * already on its way) at once.
   */
  cancel(reqId: number, origin: Origin, acknowledge = false): void {
    const orphan = (envelope: Envelope): void => {
      if (envelope.key !== undefined && acknowledge) envelope.reqId = 0
      else envelope.origin = undefined
    }
    if (this.current !== undefined && this.current.reqId === reqId && this.current.origin === origin) {
      orphan(this.current)
      if (this.current.key === undefined) this.fiber?.interruptUnsafe()
      return
    }
    for (const [envelope, fiber] of this.interleaved) {
      if (envelope.reqId === reqId && envelope.origin === origin) {
        orphan(envelope)
        if (envelope.key === undefined) fiber.interruptUnsafe()
        return
      }
    }
    for (let i = this.head; i < this.queue.length; i++) {
      const envelope = this.queue[i]
      if (envelope !== undefined && envelope.reqId === reqId && envelope.origin === origin) {
        orphan(envelope)
        if (envelope.key === undefined) envelope.tag = "__cancelled__"
        return
      }
    }
    for (const memory of this.memories.values()) {
      if (memory.withdraw((waiter) => waiter.reqId === reqId && waiter.origin === origin)) break
    }
    if (acknowledge) origin.settle(0, this, "", Exit.void)
  }

  /** Stop: queued messages fail with ActorStopped, the running one is interrupted, the scope closes. */
  stop(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.stopped) return Effect.void
      this.stopped = true
      const stopped = Exit.fail(new ActorStopped({ actor: this.definition.name }))
      for (let i = this.head; i < this.queue.length; i++) {
        const envelope = this.queue[i]
        if (envelope !== undefined) this.settle(envelope, stopped)
      }
      this.queue = []
      this.head = 0
      const fibers = this.fiber ? [this.fiber, ...this.interleaved.values()] : [...this.interleaved.values()]
      return Effect.forEach(fibers, (fiber) => Effect.exit(fiberInterrupt(fiber)), { discard: true }).pipe(
        Effect.andThen(Scope.close(this.scope, Exit.void))
      )
    })
  }
}

const INTERLEAVED = "interleaved" as const

/** An asker of a persisted message's key whose work runs already (see `Persisted.Memory`). */
interface Waiter {
  readonly reqId: number
  readonly origin: Origin | undefined
}

/** Definitions whose warm-up ran on this thread. */
const warmed = new WeakSet<Actor.Any>()

const fiberInterrupt = (fiber: Fiber.Fiber<unknown, unknown>) =>
  Effect.suspend(() => {
    fiber.interruptUnsafe()
    return Effect.callback<void>((resume) => {
      fiber.addObserver(() => resume(Effect.void))
    })
  })
