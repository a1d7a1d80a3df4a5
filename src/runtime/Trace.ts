/**
 * Seeing inside a run: a `Recorder` given to a tier (`Threads.layer({ trace })`, `Local.layerWith({ trace })`)
 * makes every thread record its handler runs (with their mailbox wait) and its message sends, collected on the
 * main thread as the run goes (in batches) and when the tier closes. From them it gives:
 *
 * - a Chrome trace-event file (`chrome()`; opens in https://ui.perfetto.dev or `chrome://tracing`): one process
 *   per thread (`main`, `worker k`), one track per actor with its handler runs (an interleaved message's run, which
 *   may overlap the actor's others, as an async slice), the mailbox waits as async slices, and the sends as
 *   instants on the thread's `sends` track;
 * - Effect spans across threads: an ask made inside a span gets a span of its own (`ask Actor.tag`) whose context
 *   travels in the message, and the handler's run is its child span (`Actor.tag`) wherever it runs. The spans
 *   ended on workers are replayed into the tracer of the fiber that made the recorder, so an OpenTelemetry
 *   tracer layer there exports them like any other;
 * - Effect `Metric`s (below): messages and bytes sent, mailbox wait and handler time per actor and message,
 *   utilisation per worker, updated in the registry of the fiber that made the recorder (`Metric.snapshot`).
 *
 * Without a recorder nothing is recorded and each message pays a few field checks. With one, measured on a loaded
 * 2-core machine with no-op asks at 64 in flight: about 3 µs more per ask (a send record, a handler-run record, the
 * metrics); an ask made inside a span also makes two spans, some 50 µs more: spans suit coarse asks, not one per
 * sample. Memory: a thread keeps at most 2M records (64 bytes each), then counts what it drops.
 */
import { Context, Effect, Exit, Metric, Option, Tracer } from "effect"
import { SLOTS, ThreadTrace, Type } from "./internal/Tracing.ts"
import type { Batch } from "./internal/Tracing.ts"

const messagesOptions = { description: "messages sent (asks, tells, stream requests)", incremental: true } as const
const bytesOptions = { description: "estimated payload bytes sent", incremental: true } as const
const timeBoundaries = Metric.exponentialBoundaries({ start: 1e-6, factor: 4, count: 14 })
const waitOptions = { description: "time from a message's arrival in its actor's mailbox to its handler's start", boundaries: timeBoundaries }
const handlerOptions = { description: "time from a handler's call to its end", boundaries: timeBoundaries }

/** Messages sent, by actor (`actor`), message tag (`message`) and sending thread (`from`: `main` or `worker k`). */
export const messages = Metric.counter("actorflow_messages", messagesOptions)

/** Estimated payload bytes sent (typed arrays by their length, numbers 8, strings by length), same attributes. */
export const bytes = Metric.counter("actorflow_message_bytes", bytesOptions)

/** Seconds from a message's arrival in the mailbox to the start of its handler, by `actor` and `message`. */
export const mailboxWait = Metric.histogram("actorflow_mailbox_wait_seconds", waitOptions)

/** Seconds a handler ran (from its call to its end, suspensions included), by `actor` and `message`. */
export const handlerTime = Metric.histogram("actorflow_handler_seconds", handlerOptions)

/**
 * The share of a thread's time spent in handlers since it was first seen (0..1, by `thread`), updated with every
 * batch of a thread that runs handlers. Handlers that suspend count while suspended (for kernels that do not,
 * this is the thread's busy share); interleaved messages' runs, which overlap the others, do not count. Capped
 * at 1: the suspending handlers of two actors on one thread overlap, and their wall times add up past it.
 */
export const utilisation = Metric.gauge("actorflow_thread_utilisation", { description: "share of the thread's time in handlers" })

/** One event of a Chrome trace (the subset written here). */
export interface ChromeEvent {
  readonly name: string
  readonly ph: "X" | "i" | "b" | "e" | "M"
  readonly pid: number
  readonly tid?: number
  readonly ts?: number
  readonly dur?: number
  readonly cat?: string
  readonly id?: string
  readonly s?: "t"
  readonly args?: Record<string, unknown>
}

export interface ChromeTrace {
  readonly traceEvents: Array<ChromeEvent>
  readonly displayTimeUnit: "ms"
  readonly otherData: Record<string, unknown>
}

/** Records turned into events at most: past this a file is too big to open; the rest are counted in `otherData`. */
const MAX_EVENTS = 1_000_000

interface ThreadState {
  first: number
  last: number
  busy: number
  runs: number
}

/** Collects what every thread of the tiers it is given records (see the module doc). */
export class Recorder {
  /** When the recorder was made, on the shared clock (`performance.timeOrigin + performance.now()`, ms). */
  readonly started: number
  private readonly batches: Array<Batch> = []
  private readonly threads = new Map<number, ThreadState>()
  private droppedRecords = 0

  constructor(private readonly context: Context.Context<never>, private readonly tracer: Tracer.Tracer) {
    this.started = performance.timeOrigin + performance.now()
  }

  /**
   * A recorder for the main thread's own router.
   * @internal
   */
  mainThread(): ThreadTrace {
    return new ThreadTrace(-1, (batch) => this.add(batch))
  }

  /**
   * Take a batch a thread recorded: keep it for the trace, update the metrics, replay its spans.
   * @internal
   */
  add(batch: Batch): void {
    this.droppedRecords += batch.dropped
    if (batch.records.length > 0) {
      this.batches.push(batch)
      this.measure(batch)
    }
    if (batch.spans.length > 0 && this.tracer !== Tracer.nativeTracer) this.replay(batch)
  }

  /** Handler runs and sends recorded so far (for tests and summaries). */
  get records(): number {
    let n = 0
    for (const batch of this.batches) n += batch.records.length / SLOTS
    return n
  }

  private measure(batch: Batch): void {
    const from = threadName(batch.thread)
    const state = this.threads.get(batch.thread) ?? { first: Infinity, last: -Infinity, busy: 0, runs: 0 }
    this.threads.set(batch.thread, state)
    const r = batch.records
    const names = batch.names
    const context = this.context
    const touched: Array<ReturnType<typeof metricsOf>> = []
    for (let i = 0; i < r.length; i += SLOTS) {
      const t0 = batch.origin + r[i + 1]!
      const t1 = batch.origin + r[i + 2]!
      const m = this.metricsFor(names[r[i + 4]!]!, names[r[i + 5]!]!, from)
      if (r[i] === Type.Send) {
        if (m.sent === 0) touched.push(m)
        m.sent++
        m.sentBytes += r[i + 7]!
      } else {
        const arrived = batch.origin + r[i + 6]!
        m.handlerTime.updateUnsafe((t1 - t0) / 1000, context)
        m.mailboxWait.updateUnsafe(Math.max(0, t0 - arrived) / 1000, context)
        // An interleaved message's run overlaps the actor's other runs: counted once, in those.
        if (r[i + 7] !== 1) {
          state.busy += t1 - t0
          state.runs++
        }
        if (arrived < state.first) state.first = arrived
      }
      if (t0 < state.first) state.first = t0
      if (t1 > state.last) state.last = t1
    }
    for (const m of touched) {
      m.messages.updateUnsafe(m.sent, context)
      m.bytes.updateUnsafe(m.sentBytes, context)
      m.sent = 0
      m.sentBytes = 0
    }
    if (state.runs > 0 && state.last > state.first) {
      Metric.withAttributes(utilisation, { thread: from }).updateUnsafe(Math.min(1, state.busy / (state.last - state.first)), context)
    }
  }

  /** Metric series by sending thread, actor and message (nested maps: no key string per record). */
  private readonly metricCache = new Map<string, Map<string, Map<string, ReturnType<typeof metricsOf>>>>()
  private metricsFor(actor: string, message: string, from: string): ReturnType<typeof metricsOf> {
    let byActor = this.metricCache.get(from)
    if (byActor === undefined) this.metricCache.set(from, byActor = new Map())
    let byMessage = byActor.get(actor)
    if (byMessage === undefined) byActor.set(actor, byMessage = new Map())
    let m = byMessage.get(message)
    if (m === undefined) byMessage.set(message, m = metricsOf(actor, message, from))
    return m
  }

  private replay(batch: Batch): void {
    // Parents start before their children: replayed in start order, a span inside a handler finds its parent
    // among this batch's (kept for one batch only, so that a long run holds no map of every span; a span
    // whose parent ended in a later batch keeps its worker-side parent id).
    const replayed = new Map<string, Tracer.Span>()
    const spans = [...batch.spans].sort((a, b) => (a[4] < b[4] ? -1 : a[4] > b[4] ? 1 : 0))
    for (const [name, traceId, spanId, parentId, start, end, ok, attributes] of spans) {
      const parent: Tracer.AnySpan = replayed.get(parentId) ?? Tracer.externalSpan({ traceId, spanId: parentId })
      const span = this.tracer.span({
        name,
        parent: Option.some(parent),
        annotations: Context.empty(),
        links: [],
        startTime: start,
        kind: name.startsWith("ask ") ? "client" : "server",
        root: false,
        sampled: true
      })
      for (const key in attributes) span.attribute(key, attributes[key])
      span.attribute("actorflow.thread", threadName(batch.thread))
      replayed.set(spanId, span)
      span.end(end, ok ? exitOk : exitFailed)
    }
  }

  /**
   * The Chrome trace events of everything recorded so far, one at a time (a long run's would not fit in one
   * array); at most `MAX_EVENTS`, and the generator's result says how many more were left out.
   */
  *events(): Generator<ChromeEvent, { readonly omitted: number }> {
    const base = this.started
    const named = new Set<string>()
    let emitted = 0
    let omitted = 0
    let waits = 0
    let interleaved = 0
    function* name(pid: number, tid: number | undefined, text: string): Generator<ChromeEvent> {
      const key = `${pid}:${tid ?? "p"}`
      if (named.has(key)) return
      named.add(key)
      if (tid !== undefined) {
        yield { name: "thread_name", ph: "M", pid, tid, args: { name: text } }
        return
      }
      yield { name: "process_name", ph: "M", pid, args: { name: text } }
      yield { name: "process_sort_index", ph: "M", pid, args: { sort_index: pid } }
    }
    for (const batch of this.batches) {
      const pid = batch.thread + 2
      yield* name(pid, undefined, threadName(batch.thread))
      const offset = batch.origin - base
      const r = batch.records
      const names = batch.names
      for (let i = 0; i < r.length; i += SLOTS) {
        if (emitted >= MAX_EVENTS) {
          omitted++
          continue
        }
        emitted++
        const ts = (offset + r[i + 1]!) * 1000
        const actorId = r[i + 3]!
        const label = `${names[r[i + 4]!]!}.${names[r[i + 5]!]!}`
        if (r[i] === Type.Send) {
          yield* name(pid, 0, "sends")
          yield { name: `send ${label}`, cat: "send", ph: "i", s: "t", pid, tid: 0, ts, args: { to: threadName(r[i + 6]!), bytes: r[i + 7] } }
          continue
        }
        yield* name(pid, actorId, `${names[r[i + 4]!]!} #${actorId}`)
        const arrived = (offset + r[i + 6]!) * 1000
        const dur = (offset + r[i + 2]!) * 1000 - ts
        if (r[i + 7] === 1) {
          // An interleaved message's run may overlap the actor's other runs: an async slice, which may.
          const id = `h${++interleaved}`
          yield { name: label, cat: "handler", ph: "b", id, pid, tid: actorId, ts, args: { wait_us: ts - arrived } }
          yield { name: label, cat: "handler", ph: "e", id, pid, tid: actorId, ts: ts + dur }
        } else {
          yield { name: label, cat: "handler", ph: "X", pid, tid: actorId, ts, dur, args: { wait_us: ts - arrived } }
        }
        if (ts > arrived) {
          const id = `w${++waits}`
          yield { name: `wait ${label}`, cat: "wait", ph: "b", id, pid, tid: actorId, ts: arrived }
          yield { name: `wait ${label}`, cat: "wait", ph: "e", id, pid, tid: actorId, ts }
        }
      }
    }
    return { omitted }
  }

  /** What a trace file says about itself besides its events (`omitted`: records past `MAX_EVENTS`). */
  otherData(omitted: number): Record<string, unknown> {
    return {
      producer: "actorflow",
      startedAt: new Date(this.started).toISOString(),
      droppedRecords: this.droppedRecords,
      omittedRecords: omitted
    }
  }

  /** The Chrome trace-event form of everything recorded so far, in one object (see the module doc). */
  chrome(): ChromeTrace {
    const traceEvents: Array<ChromeEvent> = []
    const events = this.events()
    let next = events.next()
    while (next.done !== true) {
      traceEvents.push(next.value)
      next = events.next()
    }
    return { traceEvents, displayTimeUnit: "ms", otherData: this.otherData(next.value.omitted) }
  }
}

const exitOk = Exit.void
const exitFailed = Exit.fail("the handler failed")

/**
 * The metrics of one actor's message, as sent from one thread (sends) and handled (runs): the series of the
 * metrics above, made with their attributes once (`withAttributes` would rebuild the series key per update).
 */
const metricsOf = (actor: string, message: string, from: string) => ({
  messages: Metric.counter(messages.id, { ...messagesOptions, attributes: { actor, message, from } }),
  bytes: Metric.counter(bytes.id, { ...bytesOptions, attributes: { actor, message, from } }),
  handlerTime: Metric.histogram(handlerTime.id, { ...handlerOptions, attributes: { actor, message } }),
  mailboxWait: Metric.histogram(mailboxWait.id, { ...waitOptions, attributes: { actor, message } }),
  /** Sends in the batch being measured, counted once per batch. */
  sent: 0,
  sentBytes: 0
})

const threadName = (thread: number): string => (thread < 0 ? "main" : `worker ${thread}`)

/**
 * A recorder for the tiers of one run. Spans from workers go to the tracer of the fiber that runs this, metrics
 * to its metric registry.
 */
export const make: Effect.Effect<Recorder> = Effect.zipWith(
  Effect.context<never>(),
  Effect.tracer,
  (context, tracer) => new Recorder(context, tracer)
)
