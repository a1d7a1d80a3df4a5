/**
 * The client side of the batching entity (`Protocol.MuxEntity`, served by `MuxServer.ts`): a thread's Router,
 * whose peers are the runner slots, over Effect Cluster instead of MessagePorts.
 *
 * One Effect Cluster request per message costs 80–200 µs of CPU on each side (measured here), which caps asks
 * at a few thousand a second. So the messages of pinned actors go as the Threads tier sends them between
 * threads: frames queued while the client is busy leave together in one `Frames` request, and the replies come
 * back as its answer. Since a request costs far more than the frames it carries, requests are few: at most two
 * in flight per runner (the runner holds one open until it has replies, and answers it when the next comes, so
 * that sending never waits for a reply), numbered so that the runner handles them in order, and a request with
 * no frames only while the runner still runs asks of ours (its answer told us so). Everything else (encoding
 * with the protocol's Schemas, mailbox credit, decoding replies, cancellation) is the Router's, as on threads.
 *
 * A runner seen down is disconnected (its asks fail with `WorkerDied`, naming its first worker) and
 * reconnected once it is back, through a fresh entity there; `rejoined` hears of it, so that the spawner can
 * start its actors again.
 */
import { Cause, Effect, Exit } from "effect"
import type { Fiber, Scope } from "effect"
import { Router } from "../Router.ts"
import type { Health } from "./Health.ts"
import * as Protocol from "./Protocol.ts"

export type Client = (entityId: string) => {
  readonly Frames: (payload: {
    readonly session: number
    readonly seq: number
    readonly batches: ReadonlyArray<Uint8Array>
  }) => Effect.Effect<Protocol.Exchanged, unknown>
}

/** This process as a peer (it hosts no actors), and where actors placed by shard would go (nowhere: not here). */
const SELF = -2
const NOWHERE = -3

/** Requests in flight to one runner at most: one it holds open for replies, one on its way with frames. */
const IN_FLIGHT = 2

/** A connection to one runner: its requests in flight, ended when the runner goes down or the client closes. */
interface Session {
  readonly close: () => void
}

export const make = (options: {
  readonly client: Client
  readonly health: Health
  readonly runners: number
  readonly threads: number
  readonly rejoined: (slot: number) => void
}): Effect.Effect<Router, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { client, health, runners, threads } = options
    const nonce = Math.floor(Math.random() * 2 ** 44)
    const peerOf = (slot: number) => slot * threads
    // A request costs far more than a frame: frames leave once per turn, never one at once ahead of the rest.
    const router = new Router(SELF, { batching: "turn", route: (worker) => (worker < 0 ? NOWHERE : peerOf(Math.floor(worker / threads))) })
    const sessions = new Map<number, Session>()
    let sessionCount = 0

    const open = (slot: number): void => {
      const peer = peerOf(slot)
      const entity = client(Protocol.muxId(slot, nonce))
      const id = sessionCount++
      let seq = 0
      /** Packed batches not sent yet. Packing happens in `post`, so that a frame that cannot be packed fails its
       * own message only (the Router's outbox then posts frame by frame, and reports the culprit). */
      let queue: Array<Uint8Array> = []
      /** Whether the runner, when it last answered, still ran asks of ours (whose replies need a request to ride on). */
      let awaiting = false
      const inFlight = new Set<Fiber.Fiber<Protocol.Exchanged, unknown>>()
      let closed = false
      const session: Session = {
        close: () => {
          closed = true
          for (const fiber of inFlight) fiber.interruptUnsafe()
          inFlight.clear()
        }
      }
      const failed = (cause: Cause.Cause<unknown>) => {
        // The connection failed while the runner looked up: fail what it held, and start afresh.
        session.close()
        sessions.delete(slot)
        router.disconnect(peer, `the connection to runner ${slot} failed: ${Protocol.whyEnded(cause)}`)
        if (health.isUp(slot)) open(slot)
      }
      const send = () => {
        const batches = queue
        queue = []
        const fiber = Effect.runFork(entity.Frames({ session: id, seq: seq++, batches }))
        inFlight.add(fiber)
        fiber.addObserver((exit) => {
          if (!inFlight.delete(fiber) || closed || sessions.get(slot) !== session) return
          // Only this session interrupts its requests (when it closes); an interrupt that came back from the runner
          // (its shards moved, or it is closing) ended the entity that held the replies of our asks: start afresh.
          if (Exit.isFailure(exit)) return failed(exit.cause)
          awaiting = exit.value.running > 0
          try {
            const frames = Protocol.unpack(exit.value.replies) as Array<unknown>
            if (frames.length > 0) router.receive(peer, frames)
          } catch (error) {
            return failed(Cause.die(error))
          }
          pump()
        })
      }
      /** Send what is queued while fewer than `IN_FLIGHT` requests are out, and keep one out while replies are due. */
      const pump = () => {
        if (queue.length > 0 ? inFlight.size < IN_FLIGHT : inFlight.size === 0 && awaiting) send()
      }
      router.connect(peer, (frames) => {
        queue.push(Protocol.pack(frames))
        pump()
      })
      sessions.set(slot, session)
    }

    const close = (slot: number, reason: string): void => {
      sessions.get(slot)?.close()
      sessions.delete(slot)
      router.disconnect(peerOf(slot), reason)
    }

    for (let slot = 0; slot < runners; slot++) if (health.isUp(slot)) open(slot)
    health.onChange((slot, up) => {
      if (!up) return close(slot, "its runner is down")
      if (sessions.has(slot)) return
      open(slot)
      options.rejoined(slot)
    })
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const slot of [...sessions.keys()]) close(slot, "the client closed")
      })
    )
    return router
  })
