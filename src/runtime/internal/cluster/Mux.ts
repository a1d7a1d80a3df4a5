/**
 * The client side of the batching entity (`Protocol.MuxEntity`, served by `MuxServer.ts`): a thread's Router,
 * whose peers are the runner slots, over Effect Cluster instead of MessagePorts.
 *
 * One Effect Cluster request per message costs 80–200 µs of CPU on each side (measured here), which caps asks
 * at a few thousand a second. So the messages of pinned actors go as the Threads tier sends them between
 * threads: frames queued while the client is busy leave together, one `Frames` request per runner at a time
 * (which also keeps them in order), and one `Replies` request per runner is always waiting for the replies.
 * Everything else (encoding with the protocol's Schemas, mailbox credit, decoding replies, cancellation) is the
 * Router's, as on threads.
 *
 * A runner seen down is disconnected (its asks fail with `WorkerDied`, naming its first worker) and
 * reconnected once it is back, through a fresh entity there; `rejoined` hears of it, so that the spawner can
 * start its actors again.
 */
import { Cause, Effect } from "effect"
import type { Fiber, Scope } from "effect"
import { describe } from "../../ActorError.ts"
import { Router } from "../Router.ts"
import type { Health } from "./Health.ts"
import * as Protocol from "./Protocol.ts"

export type Client = (entityId: string) => {
  readonly Frames: (payload: { readonly batches: ReadonlyArray<Uint8Array> }) => Effect.Effect<void, unknown>
  readonly Replies: () => Effect.Effect<Uint8Array, unknown>
}

/** This process as a peer (it hosts no actors), and where actors placed by shard would go (nowhere: not here). */
const SELF = -2
const NOWHERE = -3

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
    const router = new Router(SELF, { route: (worker) => (worker < 0 ? NOWHERE : peerOf(Math.floor(worker / threads))) })
    const sessions = new Map<number, Fiber.Fiber<void, never>>()

    const open = (slot: number): void => {
      const peer = peerOf(slot)
      const entity = client(Protocol.muxId(slot, nonce))
      /** Packed batches not sent yet. Packing happens in `post`, so that a frame that cannot be packed fails its
       * own message only (the Router's outbox then posts frame by frame, and reports the culprit). */
      let queue: Array<Uint8Array> = []
      let wake: (() => void) | undefined
      router.connect(peer, (frames) => {
        queue.push(Protocol.pack(frames))
        wake?.()
      })
      const send = Effect.forever(Effect.gen(function*() {
        if (queue.length === 0) {
          yield* Effect.callback<void>((resume) => {
            wake = () => {
              wake = undefined
              resume(Effect.void)
            }
            return Effect.sync(() => {
              wake = undefined
            })
          })
        }
        const batches = queue
        queue = []
        yield* entity.Frames({ batches })
      }))
      const poll = Effect.forever(Effect.flatMap(entity.Replies(), (bytes) =>
        Effect.sync(() => {
          const frames = Protocol.unpack(bytes) as Array<unknown>
          if (frames.length > 0) router.receive(peer, frames)
        })))
      const session = Effect.all([send, poll], { concurrency: 2, discard: true }).pipe(
        Effect.catchCause((cause) =>
          Effect.sync(() => {
            if (Cause.hasInterruptsOnly(cause)) return
            // The connection failed while the runner looked up: fail what it held, and start afresh.
            sessions.delete(slot)
            router.disconnect(peer, `the connection to runner ${slot} failed: ${describe(Cause.squash(cause))}`)
            if (health.isUp(slot)) open(slot)
          })
        )
      )
      sessions.set(slot, Effect.runFork(session as Effect.Effect<void>))
    }

    const close = (slot: number, reason: string): void => {
      sessions.get(slot)?.interruptUnsafe()
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
