/**
 * The runner side of the batching entity (`Protocol.MuxEntity`): one per client, holding the replies that
 * client has not collected yet.
 *
 * A `Frames` request's batches are handled in the order of their `seq` (one that comes early waits for those
 * before it), synchronously: an ask is passed, still encoded, to the thread that hosts its actor (an actor this
 * runner does not host is answered `ActorStopped`, which tells the spawner to start it again), a tell is passed
 * on and its mailbox credit returned (a tell for an actor not started yet waits for it, see `Hosted`), a cancel
 * interrupts its ask. A stream message is passed on as an ask is; its elements come back with the replies as
 * they come, and the client consumer's credit goes on to the thread, so the producer runs no further ahead of
 * the consumer than on threads.
 *
 * Replies ride back on the requests themselves (one Effect Cluster request costs far more CPU than the frames
 * it carries): the runner holds at most one request open. It answers it with every reply it has as soon as
 * there are any (after the current turn, so that replies arriving together leave together), at once when the
 * next request comes (which is then held instead), when none of the client's asks is running any more, or after
 * `POLL_MS`. The client may so have two requests in flight and is never kept from sending (see `Mux.ts`).
 *
 * It also answers `Ship`: a module's bundle, made in this runner's own cache for its threads.
 */
import { Effect, Exit } from "effect"
import { ActorStopped, MalformedMessage, WorkerDied } from "../../ActorError.ts"
import type { WorkerLost } from "../../ActorError.ts"
import { CodeUnavailable } from "../../Code.ts"
import * as Codec from "../Codec.ts"
import { whyUnanswered } from "../Sender.ts"
import type { RawReply } from "../Sender.ts"
import * as Layout from "../Layout.ts"
import type * as Tier from "../threads/Tier.ts"
import { Kind, forEachFrame } from "../Wire.ts"
import type { Hosted } from "./Hosted.ts"
import * as Protocol from "./Protocol.ts"
import * as Transport from "./Transport.ts"
import * as Version from "./Version.ts"

/** The longest a request is held with nothing to return. */
const POLL_MS = 5000

const NOTHING = Protocol.pack([])

export const layer = (tier: Tier.Tier, slot: number, threads: number, hosted: Hosted) =>
  Protocol.MuxEntity.toLayer(
    Effect.gen(function*() {
      let replies: Array<unknown> = []
      /** The client's asks being answered on a thread here, by the client's request id. */
      const running = new Map<number, { readonly thread: number; readonly forwarded: number; readonly actorId: number }>()
      /** Answers the request held open, if any, with every reply so far. */
      let held: (() => void) | undefined
      let scheduled = false
      const answerSoon = () => {
        if (held === undefined || scheduled) return
        scheduled = true
        setImmediate(() => {
          scheduled = false
          held?.()
        })
      }
      const push = (kind: number, a: unknown, b: unknown, c: unknown, d: unknown) => {
        replies.push(kind, a, b, c, d)
        answerSoon()
      }
      const runtimeError = (reqId: number, error: ActorStopped | WorkerDied | MalformedMessage) => push(Kind.Err, reqId, 1, 0, Codec.runtimeError.encode(error))
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const reqId of [...running.keys()]) cancel(reqId)
        })
      )

      /** An ask or a stream message: its elements, then its end, go back as they would to a thread of the client's. */
      const ask = (reqId: number, actorId: number, tag: string | number, body: unknown, stream: boolean) => {
        const thread = hosted.get(actorId)
        if (thread === undefined) return runtimeError(reqId, new ActorStopped({ actor: `#${actorId}` }))
        // No fiber per ask: the thread's answer comes to a callback, and a cancel withdraws the ask by its id there.
        const done = (exit: Exit.Exit<RawReply, WorkerDied | WorkerLost>) => {
          running.delete(reqId)
          if (Exit.isSuccess(exit)) return push(exit.value.kind, reqId, exit.value.source, 0, exit.value.value)
          runtimeError(reqId, new WorkerDied({ worker: slot * threads + thread, reason: whyUnanswered(exit.cause) }))
        }
        const sender = tier.router.sender
        const forwarded = stream
          ? sender.forwardStreamWith(thread, actorId, tag, body, (items) => push(Kind.Items, reqId, actorId, 0, items), done)
          : sender.forwardWith(thread, actorId, tag, body, done)
        if (forwarded >= 0) running.set(reqId, { thread, forwarded, actorId })
      }

      const cancel = (reqId: number) => {
        const ask = running.get(reqId)
        if (ask === undefined) return
        running.delete(reqId)
        tier.router.sender.cancelForward(ask.thread, ask.forwarded, ask.actorId)
        // The client wants no reply, but may be waiting to hear that nothing runs any more.
        if (running.size === 0) answerSoon()
      }

      /** One batch of frames from the client (packed, see `Wire`), in order. */
      const handle = (batch: Array<unknown>) =>
        forEachFrame(batch, (kind, reqId, actorId, tag, body) => {
          switch (kind) {
            case Kind.Ask:
            case Kind.Stream:
              ask(reqId, actorId, tag as string | number, body, kind === Kind.Stream)
              break
            case Kind.Credit: {
              // The client's consumer took more elements: its credit goes on to the producer's thread.
              const relayed = running.get(reqId)
              if (relayed !== undefined) tier.router.sender.forwardCredit(relayed.thread, relayed.forwarded, actorId, tag as number)
              break
            }
            case Kind.Tell:
              hosted.whenHosted(actorId, (thread) => {
                if (thread !== undefined) tier.router.sender.forwardTell(thread, actorId, tag as string | number, body)
                push(Kind.Ack, 0, actorId, 1, 0)
              })
              break
            case Kind.Cancel:
              cancel(reqId)
              // A persisted message's asker keeps its credit until told (see `Sender.cancel`): tell it now.
              if (tag === 1) push(Kind.Ack, 0, actorId, 1, 0)
              break
          }
        })

      /** The client's session, the next `seq` to handle in it, and the requests that came before their turn. */
      let session = -1
      let next = 0
      const early = new Map<number, ReadonlyArray<Uint8Array>>()
      const handleInOrder = (payload: { readonly session: number; readonly seq: number; readonly batches: ReadonlyArray<Uint8Array> }) => {
        if (payload.session > session) {
          // A new session (the client reconnected), or a runner that starts afresh in the middle of one.
          session = payload.session
          next = payload.seq
          early.clear()
        }
        if (payload.seq < next) {
          for (const batch of payload.batches) handle(Protocol.unpack(batch) as Array<unknown>)
          return
        }
        early.set(payload.seq, payload.batches)
        let batches: ReadonlyArray<Uint8Array> | undefined
        while ((batches = early.get(next)) !== undefined) {
          early.delete(next++)
          for (const batch of batches) handle(Protocol.unpack(batch) as Array<unknown>)
        }
      }

      return Protocol.MuxEntity.of({
        Ship: ({ payload }) =>
          Effect.suspend(() => {
            const module = Layout.localModule(payload.module)
            const differs = Version.moduleDiffers(module, payload.digest, `runner ${slot}`)
            if (differs !== undefined) return Effect.fail(new CodeUnavailable({ module, name: payload.name, stage: "ship", detail: differs }))
            return Effect.map(tier.service.ship({ module, name: payload.name }), (shipped) => shipped.via)
          }),
        Frames: ({ payload }) =>
          Effect.callback<Protocol.Exchanged>((resume) => {
            // A request of a session the client has closed carries nothing it still wants.
            if (payload.session < session) return resume(Effect.succeed({ replies: NOTHING, running: 0 }))
            handleInOrder(payload)
            held?.()
            const answer = () => {
              clearTimeout(timer)
              held = undefined
              const out = replies
              replies = []
              resume(Effect.succeed({ replies: out.length === 0 ? NOTHING : Protocol.pack(out), running: running.size }))
            }
            const timer = setTimeout(answer, POLL_MS)
            held = answer
            if (replies.length > 0 || running.size === 0) answerSoon()
            return Effect.sync(() => {
              clearTimeout(timer)
              if (held === answer) held = undefined
            })
          })
      })
    }),
    { concurrency: "unbounded", mailboxCapacity: "unbounded", maxIdleTime: Transport.MUX_MAX_IDLE }
  )
