/**
 * The hosting half of a thread's router: the actors (cells) living on this thread, and the answers to the
 * asks, tells, cancels, spawns and stops that peers send them.
 *
 * An incoming message is decoded with its protocol's Schemas before its cell sees it; one that does not fit is
 * answered with `MalformedMessage` and never reaches a handler. Replies go back on the outbox of the peer that
 * asked (a `PortOrigin` per peer). Frames for an actor whose spawn is still in progress wait, in order, until it
 * is up; an ask cancelled while it waits there is dropped, as a queued one is from a mailbox (else it would run
 * after its asker gave up on it — and a handler that never yields would then block the worker unwatched, its
 * asker's interrupt long answered).
 */
import { Effect, Exit } from "effect"
import type { Tracer } from "effect"
import { ActorDefect, ActorStopped, MalformedMessage, describe, isActorError, isSpawnFailed } from "../ActorError.ts"
import type { ActorError, SpawnFailed } from "../ActorError.ts"
import type { Cell, Origin } from "./Cell.ts"
import * as Codec from "./Codec.ts"
import { parentOf } from "./Tracing.ts"
import type { Carried } from "./Tracing.ts"
import { Kind } from "./Wire.ts"
import type { Outbox, SpawnSpec } from "./Wire.ts"

/** A peer thread whose asks are answered on its outbox. */
export class PortOrigin implements Origin {
  constructor(readonly outbox: Outbox) {}
  settle(reqId: number, cell: Cell, tag: string, exit: Exit.Exit<unknown, unknown>): void {
    if (reqId === 0) {
      this.outbox.push(Kind.Ack, 0, cell.id, 1, 0)
      return
    }
    const codec = Codec.forDefinition(cell.definition).messages[tag]
    if (Exit.isSuccess(exit)) {
      try {
        // A stream's end carries nothing: its elements went ahead in ITEMS frames.
        if (codec === undefined || codec.stream) return this.outbox.push(Kind.Ok, reqId, 0, 0, codec === undefined ? exit.value : undefined)
        const encoded = codec.encodeSuccess(exit.value, Codec.moving)
        this.outbox.push(Kind.Ok, reqId, 0, 0, encoded, Codec.moved())
      } catch (error) {
        Codec.moved()
        this.runtimeError(reqId, new MalformedMessage({ actor: cell.definition.name, message: tag, detail: `reply: ${describe(error)}` }))
      }
      return
    }
    const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
    if (failure === undefined) {
      this.runtimeError(reqId, new ActorDefect({ actor: cell.definition.name, message: tag, detail: "interrupted" }))
      return
    }
    const error = failure.error
    if (isActorError(error)) {
      this.runtimeError(reqId, error)
      return
    }
    try {
      const encoded = codec!.encodeError(error, Codec.moving)
      this.outbox.push(Kind.Err, reqId, 0, 0, encoded, Codec.moved())
    } catch (thrown) {
      Codec.moved()
      this.runtimeError(reqId, new ActorDefect({ actor: cell.definition.name, message: tag, detail: `undeclared error: ${describe(error)} (${describe(thrown)})` }))
    }
  }
  items(reqId: number, cell: Cell, tag: string, items: ReadonlyArray<unknown>): ActorError | undefined {
    const codec = Codec.forDefinition(cell.definition).messages[tag]!
    const encoded: Array<unknown> = new Array(items.length)
    try {
      for (let i = 0; i < items.length; i++) encoded[i] = codec.encodeSuccess(items[i], Codec.moving)
    } catch (error) {
      Codec.moved()
      return new MalformedMessage({ actor: cell.definition.name, message: tag, detail: `stream element: ${describe(error)}` })
    }
    this.outbox.push(Kind.Items, reqId, cell.id, 0, encoded, Codec.moved())
    return undefined
  }
  runtimeError(reqId: number, error: ActorError | SpawnFailed): void {
    this.outbox.push(Kind.Err, reqId, 1, 0, Codec.runtimeError.encode(error))
  }
  /** Pass on a stream's elements that another process produced, still encoded (see `Forwarder`). */
  relayItems(reqId: number, actorId: number, encoded: ReadonlyArray<unknown>): void {
    this.outbox.push(Kind.Items, reqId, actorId, 0, encoded)
  }
  /** Pass on a reply that another process produced, as it came (see `Forwarder`). */
  reply(reqId: number, kind: number, source: number, value: unknown): void {
    this.outbox.push(kind, reqId, source, 0, value)
  }
  /** Answer a control request (spawn, stop). */
  done(reqId: number): void {
    this.outbox.push(Kind.Ok, reqId, 0, 0, undefined)
  }
  /** Return the credit of a tell that will not be handled. */
  acknowledge(actorId: number): void {
    this.outbox.push(Kind.Ack, 0, actorId, 1, 0)
  }
}

/** Builds a cell for a spawn request arriving from a peer (worker threads only). */
export type Spawner = (actorId: number, spec: SpawnSpec) => Effect.Effect<Cell, unknown>

/**
 * Takes asks, tells and stream messages for actors that live in another process (a cluster runner's main
 * thread, which hosts no actors and passes its threads' messages for remote actors on). Replies go back with
 * `PortOrigin.reply` for asks and at a stream's end, `PortOrigin.relayItems` for its elements, and
 * `PortOrigin.acknowledge` for tells; the asking consumer's credit comes with `credit`.
 */
export interface Forwarder {
  /** `key`: a persisted message's (see `Kind.Keyed`). */
  readonly deliver: (origin: PortOrigin, reqId: number, actorId: number, tag: string | number, encoded: unknown, stream: boolean, key: string | undefined) => void
  readonly credit: (origin: PortOrigin, reqId: number, count: number) => void
  readonly cancel: (origin: PortOrigin, reqId: number, actorId: number) => void
}

/** A frame for an actor still being spawned; `replay` is gone once its ask was cancelled. */
interface Waiting {
  readonly origin: PortOrigin
  readonly reqId: number
  replay: (() => void) | undefined
}

export class Host {
  readonly cells = new Map<number, Cell>()
  /** Frames for actors whose spawn is still in progress, in order. */
  private readonly spawning = new Map<number, Array<Waiting>>()

  constructor(private readonly spawner: Spawner | undefined, private readonly forwarder?: Forwarder) {}

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

  /**
   * An ask (`reqId` > 0), a tell (`reqId` 0) or, with `stream`, a stream message for a hosted actor; `tag` is the
   * message's tag or its index — or, for an ask made inside a span on a traced tier, `[tag, traceId, spanId]`.
   */
  deliver(origin: PortOrigin, reqId: number, actorId: number, tag: string | number | Carried, encoded: unknown, stream = false, key?: string): void {
    const cell = this.cells.get(actorId)
    if (cell === undefined) {
      const backlog = this.spawning.get(actorId)
      if (backlog !== undefined) {
        backlog.push({ origin, reqId, replay: () => this.deliver(origin, reqId, actorId, tag, encoded, stream, key) })
        return
      }
      // The span context does not travel on to other processes (the Cluster tier does not trace).
      if (this.forwarder !== undefined) return this.forwarder.deliver(origin, reqId, actorId, typeof tag === "object" ? tag[0] : tag, encoded, stream, key)
      if (reqId !== 0) origin.runtimeError(reqId, new ActorStopped({ actor: `#${actorId}` }))
      else origin.acknowledge(actorId)
      return
    }
    const codec = Codec.forDefinition(cell.definition)
    let parent: Tracer.AnySpan | undefined
    if (typeof tag !== "number" && typeof tag !== "string") {
      parent = parentOf(tag)
      tag = tag[0]
    }
    const name = typeof tag === "number" ? codec.tags[tag] ?? String(tag) : tag
    const message = codec.messages[name]
    let payload: unknown
    try {
      if (message === undefined) throw new Error("unknown message tag")
      if (message.stream !== stream) {
        throw new Error(stream ? "not a stream message: use ask or tell" : "a stream message: use ref.stream")
      }
      payload = message.decodePayload(encoded)
    } catch (error) {
      if (reqId === 0) return origin.acknowledge(actorId)
      const detail = message === undefined ? "unknown message tag" : describe(error)
      return origin.runtimeError(reqId, new MalformedMessage({ actor: cell.definition.name, message: name, detail }))
    }
    cell.enqueue(reqId, name, payload, origin, parent)
  }

  /** The asker of stream message `reqId` took `count` more elements. */
  credit(origin: PortOrigin, reqId: number, actorId: number, count: number): void {
    const cell = this.cells.get(actorId)
    if (cell !== undefined) return cell.credit(reqId, origin, count)
    this.forwarder?.credit(origin, reqId, count)
  }

  /** An ask its asker gave up; `acknowledge`: a persisted message whose asker waits for its credit (see `Cell.cancel`). */
  cancel(origin: PortOrigin, reqId: number, actorId: number, acknowledge = false): void {
    const cell = this.cells.get(actorId)
    if (cell !== undefined) return cell.cancel(reqId, origin, acknowledge)
    const backlog = this.spawning.get(actorId)
    if (backlog !== undefined) {
      const waiting = backlog.find((w) => w.reqId === reqId && w.origin === origin)
      if (waiting !== undefined) waiting.replay = undefined
    } else {
      this.forwarder?.cancel(origin, reqId, actorId)
    }
    // Not running here (dropped before it started, or gone on to another process): its credit comes back now.
    if (acknowledge) origin.acknowledge(actorId)
  }

  spawn(origin: PortOrigin, reqId: number, actorId: number, spec: SpawnSpec): void {
    const spawner = this.spawner
    if (spawner === undefined) {
      origin.runtimeError(reqId, new ActorDefect({ actor: spec.code.name, message: "spawn", detail: "this thread hosts no actors" }))
      return
    }
    this.spawning.set(actorId, [])
    Effect.runFork(spawner(actorId, spec)).addObserver((exit) => {
      const backlog = this.spawning.get(actorId) ?? []
      this.spawning.delete(actorId)
      if (Exit.isSuccess(exit)) {
        this.host(exit.value)
        origin.done(reqId)
      } else {
        const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
        // A SpawnFailed already says why, for the user: it crosses as it is, not described inside a defect.
        if (failure !== undefined && isSpawnFailed(failure.error)) origin.runtimeError(reqId, failure.error)
        else {
          const detail = failure ? describe(failure.error) : describe(exit.cause)
          origin.runtimeError(reqId, new ActorDefect({ actor: spec.code.name, message: "spawn", detail }))
        }
      }
      for (const waiting of backlog) waiting.replay?.()
    })
  }

  stop(origin: PortOrigin, reqId: number, actorId: number): void {
    Effect.runFork(this.unhost(actorId)).addObserver(() => origin.done(reqId))
  }
}
