/**
 * The message router of one thread: its sending half (`Sender`) and its hosting half (`Host`), joined to the
 * peer threads by one batched outbox each.
 *
 * Every thread that takes part runs one: the main thread (which hosts no actors on the Threads tier), each
 * worker (whose peers are the main thread and the other workers, over direct worker-to-worker channels), and
 * the Local tier (a single router whose actors are all in-process). Incoming batches are split by frame kind:
 * replies and acknowledgements go to the sender, everything addressed to an actor to the host.
 */
import type { Effect } from "effect"
import type * as Actor from "../Actor.ts"
import { MalformedMessage, describe } from "../ActorError.ts"
import { Host, PortOrigin } from "./Host.ts"
import type { Forwarder, Spawner } from "./Host.ts"
import { Sender } from "./Sender.ts"
import type { Carried, ThreadTrace } from "./Tracing.ts"
import { Kind, Outbox, forEachFrame } from "./Wire.ts"
import type { Batching, Post, SpawnSpec } from "./Wire.ts"

export interface Options {
  /** Build cells for spawn requests from peers (worker threads only). */
  readonly spawn?: Spawner
  /** An ask to `peer` was interrupted (see `Sender.Links.cancelled`). */
  readonly cancelled?: (peer: number) => void
  /** How frames are batched per destination (default `"adaptive"`, see `Wire.Batching`). */
  readonly batching?: Batching
  /** Which peer carries messages for actors on a worker (see `Sender.Links.route`). */
  readonly route?: (worker: number) => number
  /** Passes on messages for actors that live in another process (see `Host.Forwarder`). */
  readonly forward?: Forwarder
  /** Where persisted messages go, for actors on this thread too (see `Sender.Links.durable`). */
  readonly durable?: number
  /** This thread's trace recorder, when the tier traces (see `Tracing.ts`). */
  readonly trace?: ThreadTrace
}

export class Router {
  readonly host: Host
  readonly sender: Sender
  private readonly outboxes = new Map<number, Outbox>()
  private readonly origins = new Map<number, PortOrigin>()

  constructor(readonly self: number, private readonly options: Options = {}) {
    this.host = new Host(options.spawn, options.forward)
    this.sender = new Sender(self, {
      outbox: (peer) => this.outboxes.get(peer),
      cell: (actorId) => this.host.cells.get(actorId),
      cancelled: options.cancelled,
      route: options.route,
      durable: options.durable,
      trace: options.trace
    })
  }

  /** Attach a peer thread: `post` sends a batch there (with the buffers it moves); incoming batches go to `receive`. */
  connect(peer: number, post: Post): void {
    const outbox = new Outbox(post, this.options.batching ?? "adaptive", (frame, error) => this.unsendable(peer, frame, error))
    this.outboxes.set(peer, outbox)
    this.origins.set(peer, new PortOrigin(outbox))
    this.sender.connected(peer)
  }

  /** A peer is gone: asks waiting on it fail with `WorkerDied`. */
  disconnect(peer: number, reason: string): void {
    this.outboxes.delete(peer)
    this.origins.delete(peer)
    this.sender.disconnect(peer, reason)
  }

  /** A typed ref to the actor at `address`, usable from this thread. */
  ref<P extends Actor.Protocol>(definition: Actor.Definition<string, Actor.Codec, P>, address: Actor.Address): Actor.Ref<P> {
    return this.sender.ref(definition, address)
  }

  /** Send a control request (spawn / stop) to a peer and wait for its answer. */
  request(peer: number, kind: typeof Kind.Spawn, actorId: number, body: SpawnSpec): Effect.Effect<unknown, unknown>
  request(peer: number, kind: typeof Kind.Stop, actorId: number, body: 0): Effect.Effect<unknown, unknown>
  request(peer: number, kind: number, actorId: number, body: unknown): Effect.Effect<unknown, unknown> {
    return this.sender.request(peer, kind, actorId, body)
  }

  /** A frame structured clone refused: fail its own message only. */
  private unsendable(peer: number, frame: Array<unknown>, error: unknown): void {
    const detail = `cannot be sent between threads: ${describe(error)}`
    const kind = frame[0]
    if (kind === Kind.Ok || kind === Kind.Err) {
      this.origins.get(peer)?.runtimeError(frame[1] as number, new MalformedMessage({ actor: "?", message: "reply", detail }))
    } else if (kind === Kind.Items) {
      // A stream's elements that cannot be sent end the stream for its asker, and stop its producer here.
      const origin = this.origins.get(peer)
      if (origin === undefined) return
      origin.runtimeError(frame[1] as number, new MalformedMessage({ actor: "?", message: "stream element", detail }))
      this.host.cancel(origin, frame[1] as number, frame[2] as number)
    } else {
      this.sender.unsendable(frame, detail)
    }
  }

  /** Handle one batch of frames arriving from `peer` (packed, or a plain frame array: see `Wire`). */
  receive(peer: number, batch: Array<unknown>): void {
    const origin = this.origins.get(peer)
    forEachFrame(batch, (kind, reqId, actorId, c, d) => {
      switch (kind) {
        case Kind.Ok:
        case Kind.Err:
          this.sender.settle(reqId, kind, actorId, d)
          break
        case Kind.Ack:
          this.sender.acknowledge(actorId, c as number)
          break
        case Kind.Ask:
        case Kind.Tell:
          if (origin !== undefined) this.host.deliver(origin, reqId, actorId, c as string | number | Carried, d)
          break
        case Kind.Stream:
          if (origin !== undefined) this.host.deliver(origin, reqId, actorId, c as string | number, d, true)
          break
        case Kind.Keyed: {
          if (origin === undefined) break
          const keyed = c as readonly [string | number, string, string?, string?]
          const tag: string | number | Carried = keyed.length === 4 ? [keyed[0], keyed[2]!, keyed[3]!] : keyed[0]
          this.host.deliver(origin, reqId, actorId, tag, d, false, keyed[1])
          break
        }
        case Kind.Items:
          this.sender.items(reqId, d as Array<unknown>)
          break
        case Kind.Credit:
          if (origin !== undefined) this.host.credit(origin, reqId, actorId, c as number)
          break
        case Kind.Cancel:
          if (origin !== undefined) this.host.cancel(origin, reqId, actorId, c === 1)
          break
        case Kind.Spawn:
          if (origin !== undefined) this.host.spawn(origin, reqId, actorId, c as SpawnSpec)
          break
        case Kind.Stop:
          if (origin !== undefined) this.host.stop(origin, reqId, actorId)
          break
      }
    })
  }
}
