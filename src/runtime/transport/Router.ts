/**
 * The message router of one thread: the actors it hosts, the asks it is waiting
 * on, and one batched outbox per peer thread.
 *
 * Every thread that takes part runs one: the main thread (which hosts no actors
 * on the Threads tier), each worker (whose peers are the main thread and the
 * other workers, over direct worker-to-worker channels), and the Local tier
 * (a single router whose actors are all in-process). An ask to an actor hosted
 * here skips the codec entirely; one that crosses a thread is encoded, batched,
 * decoded on arrival and answered on the port it came from.
 */
import { Effect, Exit } from "effect"
import type * as Actor from "../Actor.ts"
import { ActorDefect, ActorStopped, MalformedMessage, WorkerDied, describe } from "../ActorError.ts"
import type { ActorError } from "../ActorError.ts"
import { Cell } from "./Cell.ts"
import type { Origin } from "./Cell.ts"
import * as Codec from "./Codec.ts"
import { Kind, Outbox } from "./Wire.ts"
import type { SpawnSpec } from "./Wire.ts"

interface Pending {
  readonly resume: (effect: Effect.Effect<unknown, unknown>) => void
  readonly codec: Codec.MessageCodec | undefined
  readonly peer: number
  readonly actorId: number
}

/** Mailbox credit for one target actor, as seen from this thread. */
class Credit {
  inflight = 0
  readonly waiters: Array<() => void> = []
  constructor(readonly limit: number) {}
  release(n: number): void {
    this.inflight -= n
    if (this.inflight < 0) this.inflight = 0
    while (this.waiters.length > 0 && this.inflight < this.limit) {
      this.inflight++
      this.waiters.shift()!()
    }
  }
}

/** A thread that answers asks arriving on one port. */
class PortOrigin implements Origin {
  constructor(readonly outbox: Outbox) {}
  settle(reqId: number, cell: Cell, tag: string, exit: Exit.Exit<unknown, unknown>): void {
    if (reqId === 0) {
      this.outbox.push(Kind.Ack, 0, cell.id, 1, 0)
      return
    }
    const codec = Codec.forDefinition(cell.definition).messages[tag]
    if (Exit.isSuccess(exit)) {
      try {
        this.outbox.push(Kind.Ok, reqId, 0, 0, codec ? codec.encodeSuccess(exit.value) : exit.value)
      } catch (error) {
        this.runtimeError(reqId, new MalformedMessage({ actor: cell.definition.name, message: tag, detail: `reply: ${Codec.issue(error)}` }))
      }
      return
    }
    const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
    if (failure === undefined) {
      this.runtimeError(reqId, new ActorDefect({ actor: cell.definition.name, message: tag, detail: "interrupted" }))
      return
    }
    const error = failure.error
    if (isRuntimeError(error)) {
      this.runtimeError(reqId, error)
      return
    }
    try {
      this.outbox.push(Kind.Err, reqId, 0, 0, codec!.encodeError(error))
    } catch (thrown) {
      this.runtimeError(reqId, new ActorDefect({ actor: cell.definition.name, message: tag, detail: `undeclared error: ${describe(error)} (${Codec.issue(thrown)})` }))
    }
  }
  runtimeError(reqId: number, error: ActorError): void {
    this.outbox.push(Kind.Err, reqId, 1, 0, Codec.runtimeError.encode(error))
  }
}

const runtimeTags = new Set(["WorkerDied", "MalformedMessage", "ActorDefect", "ActorStopped"])
const isRuntimeError = (u: unknown): u is ActorError =>
  typeof u === "object" && u !== null && runtimeTags.has((u as { _tag?: string })._tag ?? "")

export interface Hooks {
  /** Build a cell for a spawn request arriving from a peer (workers only). */
  readonly spawn?: (actorId: number, spec: SpawnSpec) => Effect.Effect<Cell, unknown>
  /** Batch frames per destination (default); off only to show what batching saves. */
  readonly batching?: boolean
}

export class Router {
  readonly cells = new Map<number, Cell>()
  private readonly pending = new Map<number, Pending>()
  private readonly credits = new Map<number, Credit>()
  private readonly outboxes = new Map<number, Outbox>()
  private readonly origins = new Map<number, PortOrigin>()
  private nextReq = 1
  /** Settles asks and returns credit for actors hosted on this very thread. */
  private readonly localOrigin: Origin = {
    settle: (reqId, cell, _tag, exit) => {
      if (reqId === 0) return this.credit(cell.id, cell.definition.mailbox).release(1)
      const pending = this.pending.get(reqId)
      if (pending === undefined) return
      this.pending.delete(reqId)
      this.credit(pending.actorId, 0).release(1)
      pending.resume(exit)
    }
  }

  constructor(readonly self: number, private readonly hooks: Hooks = {}) {}

  /** Attach a peer thread: `post` sends a batch there; incoming batches go to `receive`. */
  connect(peer: number, post: (frames: Array<unknown>) => void): void {
    const outbox = new Outbox(post, this.hooks.batching ?? true, (frame, error) => this.unsendable(peer, frame, error))
    this.outboxes.set(peer, outbox)
    this.origins.set(peer, new PortOrigin(outbox))
  }

  /** A frame structured clone refused: fail its own message only. */
  private unsendable(peer: number, frame: Array<unknown>, error: unknown): void {
    const [kind, reqId, actorId] = frame as [number, number, number]
    const detail = `cannot be sent between threads: ${Codec.issue(error)}`
    switch (kind) {
      case Kind.Ask:
      case Kind.Spawn: {
        const pending = this.pending.get(reqId)
        if (pending === undefined) return
        this.pending.delete(reqId)
        if (pending.actorId >= 0) this.credits.get(pending.actorId)?.release(1)
        pending.resume(Exit.fail(new MalformedMessage({ actor: `#${actorId}`, message: String(frame[3]), detail })))
        return
      }
      case Kind.Tell:
        this.credits.get(actorId)?.release(1)
        return
      case Kind.Ok:
      case Kind.Err:
        this.origins.get(peer)?.runtimeError(reqId, new MalformedMessage({ actor: "?", message: "reply", detail }))
        return
    }
  }

  /** A peer is gone: every ask waiting on it fails with `WorkerDied`; its credit is returned. */
  disconnect(peer: number, reason: string): void {
    this.outboxes.delete(peer)
    this.origins.delete(peer)
    const error = Exit.fail(new WorkerDied({ worker: peer, reason }))
    for (const [reqId, pending] of this.pending) {
      if (pending.peer === peer) {
        this.pending.delete(reqId)
        pending.resume(error)
      }
    }
    for (const [actorId, credit] of this.credits) {
      if (this.peerOf.get(actorId) === peer) credit.release(credit.inflight)
    }
  }

  private readonly peerOf = new Map<number, number>()

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
    this.peerOf.set(address.id, address.worker)
    return {
      address,
      ask: ((tag: string, payload: unknown) => this.ask(any, codec, address, tag, payload)) as Actor.Ref<P>["ask"],
      tell: ((tag: string, payload: unknown) => this.tell(any, codec, address, tag, payload)) as Actor.Ref<P>["tell"]
    }
  }

  private ask(
    definition: Actor.Any,
    codec: Codec.ActorCodec,
    address: Actor.Address,
    tag: string,
    payload: unknown
  ): Effect.Effect<unknown, unknown> {
    return Effect.callback<unknown, unknown>((resume) => {
      const credit = this.credit(address.id, definition.mailbox)
      const reqId = this.nextReq++
      // Fast path (room in the mailbox): send now, no closures beyond the cancel hook.
      if (credit.inflight < credit.limit) {
        credit.inflight++
        this.send(address, reqId, codec, tag, payload, resume)
        return Effect.sync(() => this.cancel(reqId, address, credit))
      }
      let sent = false
      const sendLater = () => {
        sent = true
        this.send(address, reqId, codec, tag, payload, resume)
      }
      credit.waiters.push(sendLater)
      return Effect.sync(() => {
        if (sent) return this.cancel(reqId, address, credit)
        const i = credit.waiters.indexOf(sendLater)
        if (i >= 0) credit.waiters.splice(i, 1)
      })
    })
  }

  /** An interrupted ask: forget it, return its credit, and stop it where it runs. */
  private cancel(reqId: number, address: Actor.Address, credit: Credit): void {
    if (!this.pending.delete(reqId)) return
    credit.release(1)
    const cell = this.cells.get(address.id)
    if (cell !== undefined) cell.cancel(reqId, this.localOrigin)
    else this.outboxes.get(address.worker)?.push(Kind.Cancel, reqId, address.id, 0, 0)
  }


  private send(
    address: Actor.Address,
    reqId: number,
    codec: Codec.ActorCodec,
    tag: string,
    payload: unknown,
    resume: (effect: Effect.Effect<unknown, unknown>) => void
  ): void {
    const message = codec.messages[tag]
    const cell = this.cells.get(address.id)
    if (cell !== undefined) {
      this.pending.set(reqId, { resume, codec: undefined, peer: this.self, actorId: address.id })
      cell.enqueue(reqId, tag, payload, this.localOrigin)
      return
    }
    const outbox = this.outboxes.get(address.worker)
    if (outbox === undefined) {
      this.credit(address.id, 0).release(1)
      resume(Exit.fail(new WorkerDied({ worker: address.worker, reason: "not connected" })))
      return
    }
    let encoded: unknown
    try {
      encoded = message === undefined ? payload : message.encodePayload(payload)
    } catch (error) {
      this.credit(address.id, 0).release(1)
      resume(Exit.fail(new MalformedMessage({ actor: address.name, message: tag, detail: Codec.issue(error) })))
      return
    }
    this.pending.set(reqId, { resume, codec: message, peer: address.worker, actorId: address.id })
    outbox.push(Kind.Ask, reqId, address.id, tag, encoded)
  }

  private tell(
    definition: Actor.Any,
    codec: Codec.ActorCodec,
    address: Actor.Address,
    tag: string,
    payload: unknown
  ): Effect.Effect<void> {
    return Effect.callback<void>((resume) => {
      const credit = this.credit(address.id, definition.mailbox)
      const send = () => {
        const cell = this.cells.get(address.id)
        if (cell !== undefined) {
          cell.enqueue(0, tag, payload, this.localOrigin)
        } else {
          const outbox = this.outboxes.get(address.worker)
          const message = codec.messages[tag]
          if (outbox === undefined || message === undefined) {
            credit.release(1)
          } else {
            try {
              outbox.push(Kind.Tell, 0, address.id, tag, message.encodePayload(payload))
            } catch {
              // A tell has no one to report to: a payload that does not fit its schema is dropped.
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
      credit.waiters.push(send)
      return Effect.sync(() => {
        const i = credit.waiters.indexOf(send)
        if (i >= 0) credit.waiters.splice(i, 1)
      })
    })
  }

  /** Host a cell here. */
  host(cell: Cell): void {
    this.cells.set(cell.id, cell)
  }

  /** Stop and forget a hosted cell. */
  unhost(actorId: number): Effect.Effect<void> {
    const cell = this.cells.get(actorId)
    if (cell === undefined) return Effect.void
    this.cells.delete(actorId)
    return cell.stop()
  }

  /** Send a control request (spawn / stop) to a peer and wait for its answer. */
  request(peer: number, kind: number, actorId: number, body: unknown): Effect.Effect<unknown, unknown> {
    return Effect.callback<unknown, unknown>((resume) => {
      const outbox = this.outboxes.get(peer)
      if (outbox === undefined) {
        resume(Exit.fail(new WorkerDied({ worker: peer, reason: "not connected" })))
        return
      }
      const reqId = this.nextReq++
      this.pending.set(reqId, { resume, codec: undefined, peer, actorId: -1 })
      outbox.push(kind, reqId, actorId, body, 0)
      return Effect.sync(() => {
        this.pending.delete(reqId)
      })
    })
  }

  /** Handle one batch of frames arriving from `peer`. */
  receive(peer: number, frames: Array<unknown>): void {
    const origin = this.origins.get(peer)
    for (let i = 0; i < frames.length; i += 5) {
      const kind = frames[i] as number
      switch (kind) {
        case Kind.Ok:
        case Kind.Err:
          this.settle(frames[i + 1] as number, kind, frames[i + 2] as number, frames[i + 4])
          break
        case Kind.Ask:
        case Kind.Tell:
          if (origin !== undefined) {
            this.deliver(origin, frames[i + 1] as number, frames[i + 2] as number, frames[i + 3] as string, frames[i + 4])
          }
          break
        case Kind.Ack:
          this.credits.get(frames[i + 2] as number)?.release(frames[i + 3] as number)
          break
        case Kind.Cancel:
          if (origin !== undefined) this.cells.get(frames[i + 2] as number)?.cancel(frames[i + 1] as number, origin)
          break
        case Kind.Spawn:
          if (origin !== undefined) this.spawnHere(origin, frames[i + 1] as number, frames[i + 2] as number, frames[i + 3] as SpawnSpec)
          break
        case Kind.Stop:
          if (origin !== undefined) {
            const reqId = frames[i + 1] as number
            Effect.runFork(this.unhost(frames[i + 2] as number)).addObserver(() => origin.outbox.push(Kind.Ok, reqId, 0, 0, undefined))
          }
          break
      }
    }
  }

  private settle(reqId: number, kind: number, source: number, value: unknown): void {
    const pending = this.pending.get(reqId)
    if (pending === undefined) return
    this.pending.delete(reqId)
    if (pending.actorId >= 0) this.credits.get(pending.actorId)?.release(1)
    const codec = pending.codec
    try {
      if (kind === Kind.Ok) {
        pending.resume(Exit.succeed(codec === undefined ? value : codec.decodeSuccess(value)))
      } else if (source === 1 || codec === undefined) {
        pending.resume(Exit.fail(Codec.runtimeError.decode(value)))
      } else {
        pending.resume(Exit.fail(codec.decodeError(value)))
      }
    } catch (error) {
      pending.resume(Exit.fail(new MalformedMessage({ actor: "?", message: "reply", detail: Codec.issue(error) })))
    }
  }

  /** Frames for actors whose spawn is still in progress wait here, in order. */
  private readonly spawning = new Map<number, Array<() => void>>()

  private deliver(origin: PortOrigin, reqId: number, actorId: number, tag: string, encoded: unknown): void {
    const cell = this.cells.get(actorId)
    if (cell === undefined) {
      const backlog = this.spawning.get(actorId)
      if (backlog !== undefined) {
        backlog.push(() => this.deliver(origin, reqId, actorId, tag, encoded))
        return
      }
      if (reqId !== 0) origin.runtimeError(reqId, new ActorStopped({ actor: `#${actorId}` }))
      else origin.outbox.push(Kind.Ack, 0, actorId, 1, 0)
      return
    }
    const message = Codec.forDefinition(cell.definition).messages[tag]
    if (message === undefined) {
      const error = new MalformedMessage({ actor: cell.definition.name, message: String(tag), detail: "unknown message tag" })
      if (reqId !== 0) origin.runtimeError(reqId, error)
      else origin.outbox.push(Kind.Ack, 0, actorId, 1, 0)
      return
    }
    let payload: unknown
    try {
      payload = message.decodePayload(encoded)
    } catch (error) {
      if (reqId !== 0) {
        origin.runtimeError(reqId, new MalformedMessage({ actor: cell.definition.name, message: tag, detail: Codec.issue(error) }))
      } else {
        origin.outbox.push(Kind.Ack, 0, actorId, 1, 0)
      }
      return
    }
    cell.enqueue(reqId, tag, payload, origin)
  }

  private spawnHere(origin: PortOrigin, reqId: number, actorId: number, spec: SpawnSpec): void {
    const spawn = this.hooks.spawn
    if (spawn === undefined) {
      origin.runtimeError(reqId, new ActorDefect({ actor: spec.name, message: "spawn", detail: "this thread hosts no actors" }))
      return
    }
    this.spawning.set(actorId, [])
    Effect.runFork(spawn(actorId, spec)).addObserver((exit) => {
      const backlog = this.spawning.get(actorId) ?? []
      this.spawning.delete(actorId)
      if (Exit.isSuccess(exit)) {
        this.host(exit.value)
        origin.outbox.push(Kind.Ok, reqId, 0, 0, undefined)
      } else {
        const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
        const detail = failure ? describe(failure.error) : describe(exit.cause)
        origin.outbox.push(Kind.Err, reqId, 1, 0, Codec.runtimeError.encode(new ActorDefect({ actor: spec.name, message: "spawn", detail })))
      }
      for (const replay of backlog) replay()
    })
  }
}
