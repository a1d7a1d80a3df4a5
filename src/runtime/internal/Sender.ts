/**
 * The sending half of a thread's router: refs, asks and tells, mailbox credit, and the asks still waiting for
 * their reply.
 *
 * An ask to an actor hosted on this very thread skips the codec (a message of an `isolated` actor is copied
 * instead); one that crosses threads is encoded with the protocol's Schemas and pushed onto the peer's outbox,
 * and its reply is decoded when it comes back (`settle`). Mailbox credit is counted per target actor on the
 * sending side: a sender waits once `mailbox` messages are outstanding, and the receiver returns credit with
 * each reply (asks) or acknowledgement (tells).
 */
import { Cause, Channel, Effect, Exit, Option, Scope, Stream, Tracer } from "effect"
import type { Array as Arr } from "effect"
import type * as Actor from "../Actor.ts"
import { MalformedMessage, WorkerDied, WorkerLost, describe } from "../ActorError.ts"
import type { Cell, Origin } from "./Cell.ts"
import * as Codec from "./Codec.ts"
import * as Persisted from "./Persisted.ts"
import { Requests } from "./Requests.ts"
import { carry } from "./Tracing.ts"
import type { ThreadTrace } from "./Tracing.ts"
import { Kind } from "./Wire.ts"
import type { Outbox } from "./Wire.ts"

/** An ask waiting for its reply (a class: one shape for V8, one allocation per ask). */
class Pending {
  constructor(
    readonly resume: (effect: Effect.Effect<unknown, unknown>) => void,
    readonly codec: Codec.MessageCodec | undefined,
    readonly peer: number,
    /** The target actor, whose credit the reply returns; -1 for control requests (spawn, stop). */
    readonly actorId: number,
    /** Copy the reply (an isolated actor on this thread). */
    readonly copy: boolean,
    /** Resume with the undecoded `RawReply` (see `forward`). */
    readonly raw: boolean = false,
    /** The message's tag, for errors. */
    readonly tag: string = "",
    /** Set for a stream message: where its elements go (`resume` then hears only of its end). */
    readonly call?: ItemSink,
    /** The target actor's name, for errors. */
    readonly actor: string = ""
  ) {}
}

/** Where a stream reply's elements go: the asker's consumer (`StreamCall`), or a relay on to another process. */
interface ItemSink {
  push(items: ReadonlyArray<unknown>): void
  finish(exit: Exit.Exit<unknown, unknown>): void
}

/**
 * Whether a stream's consumer returns the credit of the `owed` elements it has taken to the producer now: half
 * a buffer at a time (a credit message per element would double the messages; one per buffer would stall the
 * producer until the consumer had emptied it).
 */
export const creditDue = (owed: number, buffer: number): boolean => owed > 0 && owed * 2 >= buffer

/**
 * A stream reply as the asker receives it: elements not taken yet, the consumer's pull waiting for them, and the
 * end. The elements of a chunk handed to the consumer count as taken when it pulls again (it is done with them
 * then); they are returned to the producer as credit half a buffer at a time, so the elements in transit,
 * buffered here and being consumed never exceed the message's `buffer`.
 */
class StreamCall {
  reqId = 0
  private items: Array<unknown> = []
  private end: Exit.Exit<unknown, unknown> | undefined = undefined
  private waiter: ((effect: Effect.Effect<Arr.NonEmptyReadonlyArray<unknown>, unknown>) => void) | undefined = undefined
  /** Elements of the last chunk handed out, and those taken but not yet returned as credit. */
  private handed = 0
  private owed = 0

  constructor(readonly buffer: number, private readonly returnCredit: (call: StreamCall, count: number) => void) {}

  get ended(): boolean {
    return this.end !== undefined
  }

  push(items: ReadonlyArray<unknown>): void {
    if (this.end !== undefined) return
    for (let i = 0; i < items.length; i++) this.items.push(items[i])
    this.wake()
  }

  finish(exit: Exit.Exit<unknown, unknown>): void {
    if (this.end !== undefined) return
    this.end = exit
    this.wake()
  }

  private wake(): void {
    const waiter = this.waiter
    if (waiter === undefined) return
    this.waiter = undefined
    this.take(waiter)
  }

  /** Hand the consumer what there is: the elements buffered, else the end. */
  private take(resume: (effect: Effect.Effect<Arr.NonEmptyReadonlyArray<unknown>, unknown>) => void): void {
    if (this.items.length > 0) {
      const chunk = this.items as unknown as Arr.NonEmptyReadonlyArray<unknown>
      this.items = []
      this.handed = chunk.length
      return resume(Exit.succeed(chunk))
    }
    const end = this.end!
    resume(Exit.isSuccess(end) ? Cause.done() : (end as Exit.Exit<never, unknown>))
  }

  /** The consumer's pull: the next elements, or `Cause.Done` at the end, or the stream's failure. */
  readonly pull: Effect.Effect<Arr.NonEmptyReadonlyArray<unknown>, unknown> = Effect.callback((resume) => {
    // Pulling again means the consumer is done with the previous chunk: its elements are taken.
    if (this.handed > 0 && this.end === undefined) {
      this.owed += this.handed
      if (creditDue(this.owed, this.buffer)) {
        const count = this.owed
        this.owed = 0
        this.returnCredit(this, count)
      }
    }
    this.handed = 0
    if (this.items.length > 0 || this.end !== undefined) return this.take(resume)
    this.waiter = resume
    return Effect.sync(() => {
      this.waiter = undefined
    })
  })
}

/**
 * Mailbox credit for one target actor, as seen from this thread: messages in flight, and the senders waiting
 * for room in arrival order. The queue is an array read from a moving head (compacted now and then), and a
 * waiter that gives up is only marked, so that every operation is O(1) however many senders wait.
 */
class Credit {
  inflight = 0
  private waiters: Array<Waiter | undefined> = []
  private head = 0
  constructor(readonly limit: number) {}

  /** Queue a sender until there is room; returns the waiter, to `withdraw` it if the sender gives up. */
  wait(send: () => void): Waiter {
    const waiter: Waiter = { send, withdrawn: false }
    this.waiters.push(waiter)
    return waiter
  }

  withdraw(waiter: Waiter): void {
    waiter.withdrawn = true
  }

  release(n: number): void {
    this.inflight -= n
    if (this.inflight < 0) this.inflight = 0
    while (this.head < this.waiters.length && this.inflight < this.limit) {
      const waiter = this.waiters[this.head]!
      this.waiters[this.head++] = undefined
      if (waiter.withdrawn) continue
      this.inflight++
      waiter.send()
    }
    if (this.head === this.waiters.length) {
      this.waiters = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.waiters.length) {
      this.waiters = this.waiters.slice(this.head)
      this.head = 0
    }
  }
}

interface Waiter {
  readonly send: () => void
  withdrawn: boolean
}

/** A positive integer bound of asks in flight, `fallback` when not given; anything else is a programming error. */
const checkInFlight = (inFlight: number | undefined, fallback: number): number => {
  if (inFlight === undefined) return fallback > 0 ? fallback : 1024
  if (!Number.isInteger(inFlight) || inFlight < 1) throw new RangeError(`askMany: inFlight must be a positive integer, got ${inFlight}`)
  return inFlight
}

/** `Actor.Ref.askMany` for a ref that has only `ask`: a fiber per ask, as `Effect.forEach` makes them. */
export const askManyOf = (ask: (tag: string, payload: unknown) => Effect.Effect<unknown, unknown>, mailbox: number) =>
  (tag: string, payloads: Iterable<unknown>, options?: { readonly inFlight?: number | undefined }): Effect.Effect<Array<unknown>, unknown> =>
    Effect.suspend(() => Effect.forEach(payloads, (payload) => ask(tag, payload), { concurrency: checkInFlight(options?.inFlight, mailbox) }))

/** What the sending half needs of the thread around it. */
export interface Links {
  /** The outbox towards a peer thread, if connected. */
  readonly outbox: (peer: number) => Outbox | undefined
  /** A cell hosted on this thread. */
  readonly cell: (actorId: number) => Cell | undefined
  /** An ask to `peer` was interrupted: it was sent a Cancel frame (the supervisor may watch it for being stuck). */
  readonly cancelled?: ((peer: number) => void) | undefined
  /**
   * The peer that carries messages for actors on `worker` (default: that worker itself). A thread of a cluster
   * runner reaches its own runner's threads directly and everything else through its main thread.
   */
  readonly route?: ((worker: number) => number) | undefined
  /**
   * The peer that keeps persisted messages (`Actor.Persisted`) in storage, where there is one (a cluster runner's
   * main thread, which sends them as persisted requests, see `Wire.Kind.Keyed`): they go there even for an actor
   * on this thread, so that a key runs once past the actor's own memory of keys, as it does from a client.
   */
  readonly durable?: number | undefined
  /** This thread's trace recorder, when the tier traces (see `Tracing.ts`). */
  readonly trace?: ThreadTrace | undefined
}

/** Why a message passed on with `forwardWith` / `forwardStreamWith` got no reply: its thread's, in one line. */
export const whyUnanswered = (cause: Cause.Cause<WorkerDied | WorkerLost>): string =>
  Option.match(Cause.findErrorOption(cause), { onNone: () => describe(Cause.squash(cause)), onSome: (error) => error.reason })

/** A reply as it came off the wire, not decoded: for a thread that only passes it on (a cluster runner). */
export interface RawReply {
  readonly kind: typeof Kind.Ok | typeof Kind.Err
  /** For `Kind.Err`: 0 = the message's own error, 1 = a runtime error. */
  readonly source: number
  readonly value: unknown
}

/** Whether `tag` is a persisted message of `definition` (its cancelled asks keep their credit, see `cancel`). */
const isPersisted = (definition: Actor.Any, tag: string): boolean => definition.protocol[tag]?.persisted !== undefined

export class Sender {
  private readonly pending = new Requests<Pending>()
  private readonly credits = new Map<number, Credit>()
  private readonly peerOf = new Map<number, number>()
  /** Why a peer is not connected: it died (and may come back) or it is lost for good. */
  private readonly gone = new Map<number, WorkerDied | WorkerLost>()
  private nextReq = 1

  /** Settles asks and returns credit for actors hosted on this very thread. */
  readonly localOrigin: Origin = {
    settle: (reqId, cell, _tag, exit) => {
      if (reqId === 0) return this.credit(cell.id, cell.definition.mailbox).release(1)
      const pending = this.pending.get(reqId)
      if (pending === undefined) return
      this.pending.delete(reqId)
      this.credit(pending.actorId, 0).release(1)
      const copy = pending.copy && pending.call === undefined && Exit.isSuccess(exit)
      pending.resume(copy ? copied(exit.value, cell.definition.name, _tag, "reply") : exit)
    },
    items: (reqId, cell, tag, items) => {
      const pending = this.pending.get(reqId)
      if (pending?.call === undefined) return undefined
      if (!pending.copy) {
        pending.call.push(items)
        return undefined
      }
      const copy = copied(items, cell.definition.name, tag, "stream element")
      if (Exit.isFailure(copy)) return Cause.squash(copy.cause) as MalformedMessage
      pending.call.push(copy.value as ReadonlyArray<unknown>)
      return undefined
    }
  }

  private readonly route: (worker: number) => number
  private readonly trace: ThreadTrace | undefined

  constructor(private readonly self: number, private readonly links: Links) {
    this.route = links.route ?? ((worker) => worker)
    this.trace = links.trace
  }

  private credit(actorId: number, limit: number): Credit {
    let credit = this.credits.get(actorId)
    if (credit === undefined) {
      credit = new Credit(limit > 0 ? limit : 1024)
      this.credits.set(actorId, credit)
    }
    return credit
  }

  /** A typed ref to the actor at `address`, usable from this thread. */
  ref<P extends Actor.Protocol>(definition: Actor.Definition<string, Actor.Codec, P>, address: Actor.Address): Actor.Ref<P> {
    const any = definition as unknown as Actor.Any
    const codec = Codec.forDefinition(any)
    this.peerOf.set(address.id, this.route(address.worker))
    // Resolved once per ref, not per message: the credit of an actor lives as long as this sender.
    const credit = this.credit(address.id, any.mailbox)
    return {
      address,
      // Chosen once per ref: a tier that does not trace pays nothing per ask for tracing.
      ask: (this.trace === undefined
        ? (tag: string, payload: unknown) => this.ask(any, codec, credit, address, tag, payload)
        : (tag: string, payload: unknown) => this.tracedAsk(any, codec, credit, address, tag, payload)) as Actor.Ref<P>["ask"],
      // Traced asks keep their span each: the plain asks of `askMany` would go without one.
      askMany: (this.trace === undefined
        ? (tag: string, payloads: Iterable<unknown>, options?: { readonly inFlight?: number | undefined }) =>
          this.askMany(any, codec, credit, address, tag, payloads, options?.inFlight)
        : askManyOf((tag, payload) => this.tracedAsk(any, codec, credit, address, tag, payload), any.mailbox)) as Actor.Ref<P>["askMany"],
      tell: ((tag: string, payload: unknown) => this.tell(any, codec, credit, address, tag, payload)) as Actor.Ref<P>["tell"],
      stream: ((tag: string, payload: unknown) => this.stream(any, codec, credit, address, tag, payload)) as Actor.Ref<P>["stream"]
    }
  }

  /**
   * A stream message: sent when the stream is run (once there is room in the mailbox), its elements pulled from a
   * `StreamCall`; closing the stream before its end (the consumer stopped or was interrupted) cancels the
   * producer where it runs.
   */
  private stream(
    definition: Actor.Any,
    codec: Codec.ActorCodec,
    credit: Credit,
    address: Actor.Address,
    tag: string,
    payload: unknown
  ): Stream.Stream<unknown, unknown> {
    const buffer = definition.protocol[tag]?.stream?.buffer ?? 1
    return Stream.fromChannel(Channel.fromTransform((_, scope) =>
      Effect.suspend(() => {
        const call = new StreamCall(buffer, (call, count) => this.returnCredit(call, address, count))
        const open = Effect.callback<void>((resume) => {
          const send = () => {
            call.reqId = this.nextReq++
            this.send(definition, address, call.reqId, codec, credit, tag, payload, (exit) => call.finish(exit as Exit.Exit<unknown, unknown>), call)
            resume(Effect.void)
          }
          if (credit.inflight < credit.limit) {
            credit.inflight++
            return send()
          }
          const waiter = credit.wait(send)
          return Effect.sync(() => credit.withdraw(waiter))
        })
        const close = Effect.sync(() => {
          if (call.reqId !== 0 && !call.ended) this.cancel(call.reqId, address, credit)
        })
        return Effect.as(Effect.andThen(Scope.addFinalizer(scope, close), open), call.pull)
      })
    )) as unknown as Stream.Stream<unknown, unknown>
  }

  /** Give the producer of stream `call` credit for `count` more elements. */
  private returnCredit(call: StreamCall, address: Actor.Address, count: number): void {
    const cell = this.links.cell(address.id)
    if (cell !== undefined) return cell.credit(call.reqId, this.localOrigin, count)
    this.links.outbox(this.route(address.worker))?.push(Kind.Credit, call.reqId, address.id, count, 0)
  }

  /** The next elements of stream reply `reqId` arrived: decode them for its consumer. */
  items(reqId: number, encoded: ReadonlyArray<unknown>): void {
    const pending = this.pending.get(reqId)
    const call = pending?.call
    if (call === undefined) return
    const codec = pending!.codec
    if (codec === undefined) return call.push(encoded)
    const decoded: Array<unknown> = new Array(encoded.length)
    try {
      for (let i = 0; i < encoded.length; i++) decoded[i] = codec.decodeSuccess(encoded[i])
    } catch (error) {
      // The stream ends here for its consumer; the producer is told to stop.
      this.settleCancelled(reqId, pending!)
      return call.finish(Exit.fail(new MalformedMessage({ actor: "?", message: pending!.tag, detail: `stream element: ${describe(error)}` })))
    }
    call.push(decoded)
  }

  /** Stop the producer of a stream whose consumer will not take more (a malformed element). */
  private settleCancelled(reqId: number, pending: Pending): void {
    this.pending.delete(reqId)
    this.credits.get(pending.actorId)?.release(1)
    this.links.outbox(pending.peer)?.push(Kind.Cancel, reqId, pending.actorId, 0, 0)
  }

  /**
   * An ask on a traced tier: made inside a span, it runs in a span of its own (`ask Actor.tag`, kind client)
   * whose context travels with the message, so that the handler's span is its child wherever it runs.
   */
  private tracedAsk(
    definition: Actor.Any,
    codec: Codec.ActorCodec,
    credit: Credit,
    address: Actor.Address,
    tag: string,
    payload: unknown
  ): Effect.Effect<unknown, unknown> {
    return Effect.flatMap(Effect.serviceOption(Tracer.ParentSpan), (outer) =>
      Option.isNone(outer)
        ? this.ask(definition, codec, credit, address, tag, payload)
        : Effect.withSpan(
          Effect.flatMap(Effect.serviceOption(Tracer.ParentSpan), (span) =>
            this.ask(definition, codec, credit, address, tag, payload, Option.getOrUndefined(span))),
          `ask ${address.name}.${tag}`,
          // No stack trace per span: capturing one (`new Error`) cost more than the rest of a traced ask.
          {
            kind: "client",
            captureStackTrace: false,
            attributes: { "actorflow.actor": address.name, "actorflow.message": tag, "actorflow.worker": address.worker }
          }
        ))
  }

  private ask(
    definition: Actor.Any,
    codec: Codec.ActorCodec,
    credit: Credit,
    address: Actor.Address,
    tag: string,
    payload: unknown,
    span?: Tracer.AnySpan
  ): Effect.Effect<unknown, unknown> {
    return Effect.callback<unknown, unknown>((resume) => {
      const reqId = this.nextReq++
      // Fast path (room in the mailbox): send now, no closures beyond the cancel hook.
      if (credit.inflight < credit.limit) {
        credit.inflight++
        this.send(definition, address, reqId, codec, credit, tag, payload, resume, undefined, span)
        return Effect.sync(() => this.cancel(reqId, address, credit, isPersisted(definition, tag)))
      }
      let sent = false
      const waiter = credit.wait(() => {
        sent = true
        this.send(definition, address, reqId, codec, credit, tag, payload, resume, undefined, span)
      })
      return Effect.sync(() => (sent ? this.cancel(reqId, address, credit, isPersisted(definition, tag)) : this.withdraw(waiter, address, credit)))
    })
  }

  /**
   * `Actor.Ref.askMany`: the asks of `ask`, sent by one callback each instead of one fiber each. At most
   * `inFlight` are out at a time (each also takes mailbox credit, as an ask does); a reply launches the next.
   */
  private askMany(
    definition: Actor.Any,
    codec: Codec.ActorCodec,
    credit: Credit,
    address: Actor.Address,
    tag: string,
    payloads: Iterable<unknown>,
    inFlight: number | undefined
  ): Effect.Effect<Array<unknown>, unknown> {
    // A bad `inFlight` is a defect of the call, raised when it runs (inside `suspend`), not when it is built.
    return Effect.suspend(() => {
      const limit = checkInFlight(inFlight, definition.mailbox)
      return Effect.callback<Array<unknown>, unknown>((resume) => {
        const items = Array.from(payloads)
        const results = new Array<unknown>(items.length)
        /** Request ids of the asks out (sent, or waiting for mailbox room: then their waiter). */
        const out = new Map<number, Waiter | undefined>()
        let next = 0
        let done = 0
        let over = false
        const finish = (exit: Exit.Exit<Array<unknown>, unknown>) => {
          over = true
          cancelAll()
          resume(exit)
        }
        const cancelAll = () => {
          const persisted = isPersisted(definition, tag)
          for (const [reqId, waiter] of out) {
            if (waiter !== undefined) this.withdraw(waiter, address, credit)
            else this.cancel(reqId, address, credit, persisted)
          }
          out.clear()
        }
        const settled = (reqId: number, index: number, outcome: Exit.Exit<unknown, unknown>) => {
          out.delete(reqId)
          if (over) return
          if (Exit.isFailure(outcome)) return finish(outcome as Exit.Exit<never, unknown>)
          results[index] = outcome.value
          if (++done === items.length) return finish(Exit.succeed(results))
          launch()
        }
        /** Whether `launch` runs: a reply that comes back within it (an actor on this thread) only makes room. */
        let launching = false
        const launch = () => {
          if (launching) return
          launching = true
          while (!over && next < items.length && out.size < limit) {
            const index = next++
            const reqId = this.nextReq++
            // Closures made per ask are passed inline, never named (`const f = () => …`): under tsx (esbuild's
            // keepNames) a named closure costs a defineProperty each time it is made, 15% of this thread's time.
            if (credit.inflight < credit.limit) {
              credit.inflight++
              out.set(reqId, undefined)
              this.send(definition, address, reqId, codec, credit, tag, items[index], (exit) => settled(reqId, index, exit as Exit.Exit<unknown, unknown>))
            } else {
              out.set(reqId, credit.wait(() => {
                out.set(reqId, undefined)
                this.send(definition, address, reqId, codec, credit, tag, items[index], (exit) => settled(reqId, index, exit as Exit.Exit<unknown, unknown>))
              }))
            }
          }
          launching = false
        }
        if (items.length === 0) return resume(Exit.succeed(results))
        launch()
        return Effect.sync(() => {
          over = true
          cancelAll()
        })
      })
    })
  }

  /**
   * An ask interrupted while it waited for mailbox room: it leaves the queue. The messages holding that room
   * have gone unanswered so long that the asker gave up, so the peer is reported like an interrupted ask's
   * (`cancelled`): if it is blocked, nothing else would ever wake the watchdog.
   */
  private withdraw(waiter: Waiter, address: Actor.Address, credit: Credit): void {
    credit.withdraw(waiter)
    if (this.links.cell(address.id) === undefined) this.links.cancelled?.(this.route(address.worker))
  }

  /**
   * An interrupted ask: forget it, return its credit, and stop it where it runs. A persisted message's work goes
   * on where it runs (see `Actor.Persisted`), so its credit is not returned here: the actor acknowledges it as a
   * tell's once that work is done, and asks abandoned with distinct keys cannot fill its mailbox past `mailbox`.
   */
  private cancel(reqId: number, address: Actor.Address, credit: Credit, persisted = false): void {
    const pending = this.pending.get(reqId)
    if (pending === undefined) return
    this.pending.delete(reqId)
    if (!persisted) credit.release(1)
    // Where it went: a cell here, or a peer (a persisted message to a cell here went to `durable`).
    const cell = pending.peer === this.self ? this.links.cell(address.id) : undefined
    if (cell !== undefined) cell.cancel(reqId, this.localOrigin, persisted)
    else {
      const peer = pending.peer
      this.links.outbox(peer)?.push(Kind.Cancel, reqId, address.id, persisted ? 1 : 0, 0)
      this.links.cancelled?.(peer)
    }
  }

  /** Requests awaiting an answer from each peer: asks, and control requests (spawn / stop); for diagnostics. */
  waiting(): Map<number, { asks: number; control: number }> {
    const out = new Map<number, { asks: number; control: number }>()
    for (const [, pending] of this.pending.entries()) {
      const entry = out.get(pending.peer) ?? { asks: 0, control: 0 }
      if (pending.actorId >= 0) entry.asks++
      else entry.control++
      out.set(pending.peer, entry)
    }
    return out
  }

  /** The error for a message to a peer that is not connected: why it went, if known. */
  unreachable(peer: number): WorkerDied | WorkerLost {
    return this.gone.get(peer) ?? new WorkerDied({ worker: peer, reason: "not connected" })
  }

  /** A peer (re)connected. */
  connected(peer: number): void {
    this.gone.delete(peer)
  }

  /** The tier gave up on a peer: messages to it fail with `WorkerLost` from now on. */
  lose(error: WorkerLost): void {
    this.gone.set(error.worker, error)
  }

  private send(
    definition: Actor.Any,
    address: Actor.Address,
    reqId: number,
    codec: Codec.ActorCodec,
    credit: Credit,
    tag: string,
    payload: unknown,
    resume: (effect: Effect.Effect<unknown, unknown>) => void,
    call?: StreamCall,
    span?: Tracer.AnySpan
  ): void {
    const message = codec.messages[tag]
    if (this.trace !== undefined) this.trace.send(address.id, address.name, tag, address.worker, payload)
    // Where storage keeps keys (a cluster runner's thread), a persisted message goes there with its key (see
    // `Links.durable`); elsewhere the hosting cell takes the key itself, and the sender does nothing more.
    const persisted = call === undefined && this.links.durable !== undefined ? definition.protocol[tag]?.persisted : undefined
    const cell = persisted !== undefined ? undefined : this.links.cell(address.id)
    if (cell !== undefined) {
      let local = payload
      if (definition.isolated) {
        const copy = copied(payload, definition.name, tag, "payload")
        if (Exit.isFailure(copy)) {
          credit.release(1)
          return resume(copy)
        }
        local = copy.value
      }
      this.pending.set(reqId, new Pending(resume, undefined, this.self, address.id, definition.isolated, false, tag, call, address.name))
      cell.enqueue(reqId, tag, local, this.localOrigin, span)
      return
    }
    const peer = persisted !== undefined ? this.links.durable! : this.route(address.worker)
    const outbox = this.links.outbox(peer)
    if (outbox === undefined) {
      credit.release(1)
      resume(Exit.fail(this.unreachable(peer)))
      return
    }
    // A key that is not one fails here, as it would in the cell.
    const key = persisted === undefined ? undefined : Persisted.keyOf(address.name, tag, persisted, payload)
    if (key instanceof MalformedMessage) {
      credit.release(1)
      return resume(Exit.fail(key))
    }
    let encoded: unknown
    try {
      encoded = message === undefined ? payload : message.encodePayload(payload, Codec.moving)
    } catch (error) {
      Codec.moved()
      credit.release(1)
      resume(Exit.fail(new MalformedMessage({ actor: address.name, message: tag, detail: describe(error) })))
      return
    }
    this.pending.set(reqId, new Pending(resume, message, peer, address.id, false, false, tag, call, address.name))
    const index = message === undefined ? tag : message.index
    if (key !== undefined) {
      const keyed = span === undefined ? [index, key] : [index, key, span.traceId, span.spanId]
      return outbox.push(Kind.Keyed, reqId, address.id, keyed, encoded, Codec.moved())
    }
    const kind = call === undefined ? Kind.Ask : Kind.Stream
    outbox.push(kind, reqId, address.id, span === undefined ? index : carry(index, span), encoded, Codec.moved())
  }

  private tell(
    definition: Actor.Any,
    codec: Codec.ActorCodec,
    credit: Credit,
    address: Actor.Address,
    tag: string,
    payload: unknown
  ): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      const send = () => {
        if (this.trace !== undefined) this.trace.send(address.id, address.name, tag, address.worker, payload)
        const cell = this.links.cell(address.id)
        if (cell !== undefined) {
          const copy = definition.isolated ? copied(payload, definition.name, tag, "payload") : Exit.succeed(payload)
          // A tell has no one to report to: a payload that cannot be copied is dropped.
          if (Exit.isSuccess(copy)) cell.enqueue(0, tag, copy.value, this.localOrigin)
          else credit.release(1)
        } else {
          const outbox = this.links.outbox(this.route(address.worker))
          const message = codec.messages[tag]
          if (outbox === undefined || message === undefined) {
            credit.release(1)
          } else {
            try {
              const encoded = message.encodePayload(payload, Codec.moving)
              outbox.push(Kind.Tell, 0, address.id, message.index, encoded, Codec.moved())
            } catch {
              // A tell has no one to report to: a payload that does not fit its schema is dropped.
              Codec.moved()
              credit.release(1)
            }
          }
        }
        resume(Effect.void)
      }
      if (credit.inflight < credit.limit) {
        credit.inflight++
        send()
        return
      }
      const waiter = credit.wait(send)
      return Effect.sync(() => credit.withdraw(waiter))
    })
  }

  /**
   * Send a control request (spawn / stop) to a peer and wait for its answer. Given up on before the answer
   * came, it tells the thread around (`cancelled`) like an interrupted ask: a peer that does not answer a spawn
   * may be blocked, and only the watchdog can free it and whatever else waits there.
   */
  request(peer: number, kind: number, actorId: number, body: unknown): Effect.Effect<unknown, unknown> {
    return Effect.callback<unknown, unknown>((resume) => {
      const reqId = this.post(peer, kind, actorId, body, resume)
      return Effect.sync(() => {
        if (this.pending.delete(reqId)) this.links.cancelled?.(peer)
      })
    })
  }

  /**
   * An ask whose payload is already encoded, answered with the reply as it comes off the wire (`RawReply`):
   * for a thread that passes messages on without knowing their protocol (a cluster runner's main thread). The
   * actor's mailbox credit is not counted here: whoever forwards bounds its own messages in flight.
   */
  forward(peer: number, actorId: number, tag: string | number, encoded: unknown): Effect.Effect<RawReply, WorkerDied | WorkerLost> {
    return Effect.callback<RawReply, WorkerDied | WorkerLost>((resume) => {
      const reqId = this.forwardWith(peer, actorId, tag, encoded, resume)
      return Effect.sync(() => this.cancelForward(peer, reqId, actorId))
    })
  }

  /**
   * `forward` without a fiber (a runner passes on thousands a second): `done` hears the reply, or the error;
   * returns the request's id, for `cancelForward`.
   */
  forwardWith(
    peer: number,
    actorId: number,
    tag: string | number,
    encoded: unknown,
    done: (exit: Exit.Exit<RawReply, WorkerDied | WorkerLost>) => void
  ): number {
    return this.forwarded(peer, Kind.Ask, actorId, tag, encoded, done, undefined)
  }

  /**
   * `forwardWith` for a stream message: `items` hears each batch of its elements as they come (still encoded),
   * `done` its end. Its producer goes as far as the credit passed on by `forwardCredit`.
   */
  forwardStreamWith(
    peer: number,
    actorId: number,
    tag: string | number,
    encoded: unknown,
    items: (encoded: ReadonlyArray<unknown>) => void,
    done: (exit: Exit.Exit<RawReply, WorkerDied | WorkerLost>) => void
  ): number {
    return this.forwarded(peer, Kind.Stream, actorId, tag, encoded, done, { push: items, finish: () => {} })
  }

  /** Pass on credit for `count` more elements of a stream forwarded with `forwardStreamWith` (not ended yet). */
  forwardCredit(peer: number, reqId: number, actorId: number, count: number): void {
    if (this.pending.get(reqId) !== undefined) this.links.outbox(peer)?.push(Kind.Credit, reqId, actorId, count, 0)
  }

  private forwarded(
    peer: number,
    kind: number,
    actorId: number,
    tag: string | number,
    encoded: unknown,
    done: (exit: Exit.Exit<RawReply, WorkerDied | WorkerLost>) => void,
    call: ItemSink | undefined
  ): number {
    const outbox = this.links.outbox(peer)
    if (outbox === undefined) {
      done(Exit.fail(this.unreachable(peer)))
      return -1
    }
    const reqId = this.nextReq++
    this.pending.set(reqId, new Pending(done as Pending["resume"], undefined, peer, -1, false, true, "", call))
    outbox.push(kind, reqId, actorId, tag, encoded)
    return reqId
  }

  /** Withdraw a `forwardWith` ask that has not been answered: its thread is told to interrupt it, and `done` hears nothing. */
  cancelForward(peer: number, reqId: number, actorId: number): void {
    if (!this.pending.delete(reqId)) return
    this.links.outbox(peer)?.push(Kind.Cancel, reqId, actorId, 0, 0)
    this.links.cancelled?.(peer)
  }

  /** A tell whose payload is already encoded (see `forward`); false when `peer` is not connected. */
  forwardTell(peer: number, actorId: number, tag: string | number, encoded: unknown): boolean {
    const outbox = this.links.outbox(peer)
    outbox?.push(Kind.Tell, 0, actorId, tag, encoded)
    return outbox !== undefined
  }

  /** `request` without a fiber: `done` hears the answer (for many stops at once). */
  post(peer: number, kind: number, actorId: number, body: unknown, done: (exit: Exit.Exit<unknown, unknown>) => void): number {
    const outbox = this.links.outbox(peer)
    if (outbox === undefined) {
      done(Exit.fail(this.unreachable(peer)))
      return 0
    }
    const reqId = this.nextReq++
    this.pending.set(reqId, new Pending(done as (effect: Effect.Effect<unknown, unknown>) => void, undefined, peer, -1, false))
    outbox.push(kind, reqId, actorId, body, 0)
    return reqId
  }

  /** A reply (`Kind.Ok` / `Kind.Err`) arrived: decode it and resume its ask. */
  settle(reqId: number, kind: number, source: number, value: unknown): void {
    const pending = this.pending.get(reqId)
    if (pending === undefined) return
    this.pending.delete(reqId)
    if (pending.actorId >= 0) this.credits.get(pending.actorId)?.release(1)
    if (pending.raw) return pending.resume(Exit.succeed({ kind, source, value }))
    const codec = pending.codec
    try {
      if (kind === Kind.Ok) {
        pending.resume(Exit.succeed(codec === undefined || pending.call !== undefined ? value : codec.decodeSuccess(value)))
      } else if (source === 1 || codec === undefined) {
        pending.resume(Exit.fail(Codec.runtimeError.decode(value)))
      } else {
        pending.resume(Exit.fail(codec.decodeError(value)))
      }
    } catch (error) {
      pending.resume(Exit.fail(new MalformedMessage({ actor: "?", message: "reply", detail: describe(error) })))
    }
  }

  /** Tells were handled: their mailbox credit comes back. */
  acknowledge(actorId: number, count: number): void {
    this.credits.get(actorId)?.release(count)
  }

  /** A frame of ours that structured clone refused: fail its own message only. */
  unsendable(frame: ReadonlyArray<unknown>, detail: string): void {
    const [kind, reqId, actorId] = frame as [number, number, number]
    if (kind === Kind.Tell) {
      this.credits.get(actorId)?.release(1)
      return
    }
    const pending = this.pending.get(reqId)
    if (pending === undefined) return
    this.pending.delete(reqId)
    if (pending.actorId >= 0) this.credits.get(pending.actorId)?.release(1)
    pending.resume(Exit.fail(new MalformedMessage({ actor: pending.actor || `#${actorId}`, message: pending.tag || String(frame[3]), detail })))
  }

  /** A peer is gone: every ask waiting on it fails with `WorkerDied`; its actors' credit is returned. */
  disconnect(peer: number, reason: string): void {
    const died = new WorkerDied({ worker: peer, reason })
    if (!this.gone.has(peer)) this.gone.set(peer, died)
    const error = Exit.fail(died)
    for (const [reqId, pending] of this.pending.entries()) {
      if (pending.peer === peer) {
        this.pending.delete(reqId)
        pending.resume(error)
      }
    }
    for (const [actorId, credit] of this.credits) {
      if (this.peerOf.get(actorId) === peer) credit.release(credit.inflight)
    }
  }
}

/** A structured-clone copy, or the `MalformedMessage` that says why there is none. */
const copied = (value: unknown, actor: string, message: string, what: string): Exit.Exit<unknown, MalformedMessage> => {
  try {
    return Exit.succeed(structuredClone(value))
  } catch (error) {
    return Exit.fail(new MalformedMessage({ actor, message, detail: `${what} cannot be copied: ${describe(error)}` }))
  }
}
