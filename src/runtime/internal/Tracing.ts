/**
 * One thread's trace recorder: handler runs (with their mailbox wait), message sends, and the Effect spans of
 * handlers run for an ask made inside a span, kept as flat records and handed to the main thread in batches.
 *
 * It exists only when the tier was given a `Trace.Recorder`; the router, sender and cells hold it as a field
 * that is `undefined` otherwise, so tracing off costs one field check per message on each side. Times are this
 * thread's `performance.now()`; the batch carries the thread's `performance.timeOrigin`, so that the main
 * thread puts every thread on one clock (`timeOrigin + now`).
 *
 * A handler run for an ask that carries a span context (see `Sender`: the frame's tag slot holds
 * `[tag, traceId, spanId]` then) runs inside `Effect.withSpan` under that span as an external parent, with a
 * tracer that records every span it ends; the main thread replays them into the user's tracer (`Trace.ts`).
 */
import { Effect, Option, Tracer } from "effect"
import type { Exit } from "effect"

/**
 * Slots per record: `[type, t0, t1, actorId, actor, tag, extra, bytes]`, all numbers (`actor` and `tag` index the
 * batch's `names`), in a `Float64Array` that moves to the main thread without a copy and costs the collector
 * nothing to keep.
 */
export const SLOTS = 8

export const Type = {
  /** A handler run: t0 start, t1 end, extra = arrival time in the mailbox, bytes = 1 for an interleaved message. */
  Run: 0,
  /** A message sent: t0 = t1 = when, extra = the worker it goes to, bytes = its payload's (estimated). */
  Send: 1
} as const

/** A span that ended on this thread: `[name, traceId, spanId, parentSpanId, startNs, endNs, ok, attributes]`. */
export type SpanRecord = readonly [string, string, string, string, bigint, bigint, boolean, Record<string, unknown>]

/** What a thread hands to the main thread. */
export interface Batch {
  readonly _tag: "Trace"
  /** -1 for the main thread, else the worker's index. */
  readonly thread: number
  readonly origin: number
  readonly records: Float64Array<ArrayBuffer>
  /** The actor names and message tags the records index (this thread's, so far). */
  readonly names: ReadonlyArray<string>
  readonly spans: Array<SpanRecord>
  /** Records left out since the last batch: past the thread's cap. */
  readonly dropped: number
  /** The answer to a `TraceFlush`: nothing more comes from this thread. */
  readonly last?: boolean
}

/** The control message that asks a worker for what it has recorded so far. */
export interface Flush {
  readonly _tag: "TraceFlush"
}

/** Records per batch sent while running; a thread holds at most `CAP` records in all, then counts drops. */
const BATCH = 8192
const CAP = 2_000_000

/** The span context of an ask, as it rides in the frame's tag slot. */
export type Carried = readonly [tag: string | number, traceId: string, spanId: string]

export const carry = (tag: string | number, span: Tracer.AnySpan): Carried => [tag, span.traceId, span.spanId]

export const isCarried = (tag: unknown): tag is Carried => Array.isArray(tag)

export const parentOf = (carried: Carried): Tracer.AnySpan =>
  Tracer.externalSpan({ traceId: carried[1], spanId: carried[2] })

export class ThreadTrace {
  private records: Float64Array<ArrayBuffer> = new Float64Array(BATCH * SLOTS)
  private length = 0
  private readonly names: Array<string> = []
  private readonly nameIndex = new Map<string, number>()
  private spans: Array<SpanRecord> = []
  /**
   * Spans ended inside handler runs still going: they join the batch when a handler's span (whose parent is the
   * asker's, not one recorded here) ends, so that a span and the spans inside it travel in one batch (the main thread parents them there).
   */
  private pending: Array<SpanRecord> = []
  private dropped = 0
  /** Records this thread kept so far (all batches). */
  private kept = 0
  /** Records every span a traced handler run ends (handler spans and the spans inside them). */
  readonly tracer: Tracer.Tracer

  constructor(readonly thread: number, private readonly deliver: (batch: Batch) => void) {
    const ended = (record: SpanRecord, outermost: boolean) => {
      this.pending.push(record)
      if (!outermost) return
      for (const span of this.pending) this.spans.push(span)
      this.pending = []
    }
    this.tracer = Tracer.make({
      span: (options) => new RecordedSpan(options, ended)
    })
  }

  private push(type: number, t0: number, t1: number, actorId: number, actor: string, tag: string, extra: number, bytes: number): void {
    if (this.kept >= CAP) {
      this.dropped++
      return
    }
    this.kept++
    const r = this.records
    const k = this.length
    r[k] = type
    r[k + 1] = t0
    r[k + 2] = t1
    r[k + 3] = actorId
    r[k + 4] = this.name(actor)
    r[k + 5] = this.name(tag)
    r[k + 6] = extra
    r[k + 7] = bytes
    this.length = k + SLOTS
    if (this.length === r.length) this.deliver(this.take())
  }

  private name(text: string): number {
    let index = this.nameIndex.get(text)
    if (index === undefined) {
      index = this.names.length
      this.names.push(text)
      this.nameIndex.set(text, index)
    }
    return index
  }

  send(actorId: number, actor: string, tag: string, to: number, payload: unknown): void {
    const now = performance.now()
    this.push(Type.Send, now, now, actorId, actor, tag, to, sizeOf(payload, 0))
  }

  run(actorId: number, actor: string, tag: string, arrived: number, t0: number, t1: number, interleaved: boolean): void {
    this.push(Type.Run, t0, t1, actorId, actor, tag, arrived, interleaved ? 1 : 0)
  }

  /** A handler's effect as a span under `parent`, the span of the ask it answers; this thread records it. */
  span<A, E>(effect: Effect.Effect<A, E>, actor: string, tag: string, parent: Tracer.AnySpan, worker: number): Effect.Effect<A, E> {
    return effect.pipe(
      Effect.withSpan(`${actor}.${tag}`, {
        parent,
        kind: "server",
        attributes: { "actorflow.actor": actor, "actorflow.message": tag, "actorflow.worker": worker }
      }, { captureStackTrace: false }),
      Effect.withTracer(this.tracer)
    )
  }

  /** What was recorded since the last batch, handed over (the recorder starts afresh). */
  take(last = false): Batch {
    const batch: Batch = {
      _tag: "Trace",
      thread: this.thread,
      origin: performance.timeOrigin,
      records: this.length === this.records.length ? this.records : this.records.slice(0, this.length),
      names: this.names.slice(),
      spans: this.spans,
      dropped: this.dropped,
      ...(last ? { last } : {})
    }
    this.records = new Float64Array(BATCH * SLOTS)
    this.length = 0
    this.spans = []
    this.dropped = 0
    return batch
  }
}

/** A native span that records itself when it ends. */
class RecordedSpan extends Tracer.NativeSpan {
  constructor(
    options: ConstructorParameters<typeof Tracer.NativeSpan>[0],
    private readonly ended: (record: SpanRecord, outermost: boolean) => void
  ) {
    super(options)
  }
  override end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    if (this.status._tag === "Ended") return
    super.end(endTime, exit)
    const parent = Option.getOrUndefined(this.parent)
    this.ended([
      this.name,
      this.traceId,
      this.spanId,
      parent?.spanId ?? "",
      this.startTime,
      endTime,
      exit._tag === "Success",
      plain(this.attributes)
    ], !(parent instanceof RecordedSpan))
  }
}

/** Attributes that can cross threads: strings, numbers, booleans (anything else is described). */
const plain = (attributes: ReadonlyMap<string, unknown>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of attributes) {
    out[key] = typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? value : String(value)
  }
  return out
}

/**
 * A payload's size, estimated as structured clone would carry it: typed arrays and buffers by their length,
 * numbers 8, strings by length, arrays and records by their parts (the first 16 parts of a long array stand
 * for the rest), 4 levels deep.
 */
export const sizeOf = (value: unknown, depth: number): number => {
  switch (typeof value) {
    case "number":
    case "bigint":
      return 8
    case "boolean":
      return 1
    case "string":
      return value.length
    case "object": {
      if (value === null) return 1
      if (ArrayBuffer.isView(value)) return value.byteLength
      if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return value.byteLength
      if (depth >= 4) return 8
      if (Array.isArray(value)) {
        const n = Math.min(value.length, 16)
        let sum = 0
        for (let i = 0; i < n; i++) sum += sizeOf(value[i], depth + 1)
        return n === 0 ? 0 : Math.round((sum * value.length) / n)
      }
      let sum = 0
      for (const key in value) sum += key.length + sizeOf((value as Record<string, unknown>)[key], depth + 1)
      return sum
    }
    default:
      return 0
  }
}
