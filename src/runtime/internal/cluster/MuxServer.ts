/**
 * The runner side of the batching entity (`Protocol.MuxEntity`): one per client, holding the replies that
 * client has not collected yet.
 *
 * A `Frames` batch is handled in order, synchronously: an ask is passed, still encoded, to the thread that
 * hosts its actor (an actor this runner does not host is answered `ActorStopped`, which tells the spawner to
 * start it again), a tell is passed on and its mailbox credit returned at once, a cancel interrupts its ask.
 * Replies wait in one flat array of frames until `Replies` collects them, which it does as soon as there are
 * any (after the current turn, so that replies arriving together leave together), or after `POLL_MS` with none.
 */
import { Effect, Exit } from "effect"
import type { Fiber } from "effect"
import { ActorStopped, MalformedMessage, WorkerDied } from "../../ActorError.ts"
import * as Codec from "../Codec.ts"
import type * as Tier from "../threads/Tier.ts"
import { Kind, forEachFrame } from "../Wire.ts"
import * as Protocol from "./Protocol.ts"
import * as Transport from "./Transport.ts"

/** The longest a `Replies` request waits with nothing to return. */
const POLL_MS = 5000

export const layer = (tier: Tier.Tier, slot: number, threads: number, hosted: ReadonlyMap<number, number>) =>
  Protocol.MuxEntity.toLayer(
    Effect.gen(function*() {
      let replies: Array<unknown> = []
      let collect: (() => void) | undefined
      let scheduled = false
      const running = new Map<number, Fiber.Fiber<unknown, unknown>>()
      const push = (kind: number, a: unknown, b: unknown, c: unknown, d: unknown) => {
        replies.push(kind, a, b, c, d)
        if (collect !== undefined && !scheduled) {
          scheduled = true
          setImmediate(() => {
            scheduled = false
            collect?.()
          })
        }
      }
      const runtimeError = (reqId: number, error: ActorStopped | WorkerDied | MalformedMessage) => push(Kind.Err, reqId, 1, 0, Codec.runtimeError.encode(error))
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const fiber of running.values()) fiber.interruptUnsafe()
        })
      )

      const ask = (reqId: number, actorId: number, tag: string | number, body: unknown) => {
        const thread = hosted.get(actorId)
        if (thread === undefined) return runtimeError(reqId, new ActorStopped({ actor: `#${actorId}` }))
        const fiber = Effect.runFork(tier.router.sender.forward(thread, actorId, tag, body))
        running.set(reqId, fiber)
        fiber.addObserver((exit) => {
          running.delete(reqId)
          if (Exit.isSuccess(exit)) return push(exit.value.kind, reqId, exit.value.source, 0, exit.value.value)
          const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
          if (failure !== undefined) {
            runtimeError(reqId, new WorkerDied({ worker: slot * threads + thread, reason: (failure.error as WorkerDied).reason }))
          }
        })
      }

      /** One batch of frames from the client (packed, see `Wire`), in order. */
      const handle = (batch: Array<unknown>) =>
        forEachFrame(batch, (kind, reqId, actorId, tag, body) => {
          switch (kind) {
            case Kind.Ask:
              ask(reqId, actorId, tag as string | number, body)
              break
            case Kind.Tell: {
              const thread = hosted.get(actorId)
              if (thread !== undefined) tier.router.sender.forwardTell(thread, actorId, tag as string | number, body)
              push(Kind.Ack, 0, actorId, 1, 0)
              break
            }
            case Kind.Cancel:
              running.get(reqId)?.interruptUnsafe()
              break
            case Kind.Stream:
              runtimeError(reqId, new MalformedMessage({ actor: `#${actorId}`, message: String(tag), detail: Protocol.STREAMS_UNSUPPORTED }))
              break
          }
        })

      return Protocol.MuxEntity.of({
        Frames: ({ payload }) =>
          Effect.sync(() => {
            for (const batch of payload.batches) handle(Protocol.unpack(batch) as Array<unknown>)
          }),
        Replies: () =>
          Effect.callback<Uint8Array>((resume) => {
            const deliver = () => {
              clearTimeout(timer)
              collect = undefined
              const out = replies
              replies = []
              resume(Effect.succeed(Protocol.pack(out)))
            }
            const timer = setTimeout(deliver, POLL_MS)
            if (replies.length > 0) return deliver()
            collect = deliver
            return Effect.sync(() => {
              clearTimeout(timer)
              if (collect === deliver) collect = undefined
            })
          })
      })
    }),
    { concurrency: "unbounded", mailboxCapacity: "unbounded", maxIdleTime: Transport.MUX_MAX_IDLE }
  )
