/**
 * Stream messages to actors placed by shard, at both ends of their Effect Cluster stream request
 * (`Protocol.StreamMessage`).
 *
 * On the runner (`relay`), the elements coming off the hosting thread become the parts of the reply, its end
 * the last part. Effect Cluster's own acknowledgements only say that a part reached the client's queue, not
 * that its consumer took it; so the producer's credit comes from the client (`withCredit`): elements the
 * consumer has taken are returned with a `Credit` request, half a buffer at a time, as the Threads tier does
 * (`Sender`'s `StreamCall`). The producer so runs no further ahead of a consumer in another process than its
 * `buffer`. A consumer that stops (or a client that goes away) ends the request, which closes the stream here
 * and withdraws the message from the thread, where the producer's finalizer runs.
 */
import { Cause, Channel, Effect, Exit, Scope, Stream } from "effect"
import type * as Arr from "effect/Array"
import { creditDue, whyUnanswered } from "../Sender.ts"
import type { Sender } from "../Sender.ts"
import * as Protocol from "./Protocol.ts"

type Resume = (effect: Effect.Effect<Arr.NonEmptyReadonlyArray<Protocol.StreamPart>, Cause.Done>) => void

/** The streams a runner relays for one actor, by the key their client chose: where their credit goes. */
export type Credits = Map<string, (count: number) => void>

export const relay = (options: {
  readonly sender: Sender
  readonly thread: number
  readonly actorId: number
  readonly tag: string | number
  readonly encoded: unknown
  readonly key: string
  readonly credits: Credits
  /** The end of a stream whose thread failed (it died, it was recycled): a runtime error, as a reply. */
  readonly died: (reason: string) => Protocol.Reply
}): Stream.Stream<Protocol.StreamPart> =>
  Stream.fromChannel(Channel.fromTransform((_, scope) =>
    Effect.suspend(() => {
      const { actorId, credits, key, sender, thread } = options
      /** Elements off the thread not sent yet, the end once it came, and whether it was sent. */
      let items: Array<unknown> = []
      let end: Protocol.Reply | undefined
      let ended = false
      let waiter: Resume | undefined

      const take = (resume: Resume): void => {
        const parts: Array<Protocol.StreamPart> = []
        if (items.length > 0) {
          parts.push({ items: Protocol.pack(items), end: null })
          items = []
        }
        if (end !== undefined) {
          parts.push({ items: null, end })
          ended = true
        }
        resume(Exit.succeed(parts as unknown as Arr.NonEmptyReadonlyArray<Protocol.StreamPart>))
      }
      const wake = () => {
        const resume = waiter
        if (resume === undefined) return
        waiter = undefined
        take(resume)
      }

      const forwarded = sender.forwardStreamWith(thread, actorId, options.tag, options.encoded, (batch) => {
        for (let i = 0; i < batch.length; i++) items.push(batch[i])
        wake()
      }, (exit) => {
        credits.delete(key)
        end = Exit.isSuccess(exit)
          ? { kind: exit.value.kind, source: exit.value.source, value: Protocol.pack(exit.value.value) }
          : options.died(whyUnanswered(exit.cause))
        wake()
      })
      if (forwarded >= 0) credits.set(key, (count) => sender.forwardCredit(thread, forwarded, actorId, count))

      const pull = Effect.callback<Arr.NonEmptyReadonlyArray<Protocol.StreamPart>, Cause.Done>((resume) => {
        if (ended) return resume(Cause.done())
        if (items.length > 0 || end !== undefined) return take(resume)
        waiter = resume
        return Effect.sync(() => {
          waiter = undefined
        })
      })
      const close = Effect.sync(() => {
        credits.delete(key)
        if (end === undefined && forwarded >= 0) sender.cancelForward(thread, forwarded, actorId)
      })
      return Effect.as(Scope.addFinalizer(scope, close), pull)
    })
  ))

/** What opens a stream request: an entity client's `Credit`. */
export interface CreditClient {
  readonly Credit: (payload: { key: string; count: number }, options: { readonly discard: true }) => Effect.Effect<void, unknown>
}

/**
 * Names this process's stream requests (a key unique across the cluster: a random start, then a count), each
 * with how to return its consumer's credit to the producer's runner (a `Credit` request, not waited for).
 */
export const keys = () => {
  const nonce = Math.floor(Math.random() * 2 ** 44).toString(36)
  let next = 0
  return (entity: CreditClient) => {
    const key = `${nonce}-${next++}`
    const give = (count: number): void => void Effect.runFork(Effect.ignore(entity.Credit({ key, count }, { discard: true })))
    return { key, give }
  }
}

/**
 * The client's side: `elements` as its consumer takes them, returning what it took to the producer with `give`
 * (half a buffer at a time). A chunk handed out counts as taken when the consumer pulls again.
 */
export const withCredit = <A, E>(elements: Stream.Stream<A, E>, buffer: number, give: (count: number) => void): Stream.Stream<A, E> =>
  Stream.transformPull(elements, (pull) =>
    Effect.sync(() => {
      let handed = 0
      let owed = 0
      return Effect.suspend(() => {
        owed += handed
        handed = 0
        if (creditDue(owed, buffer)) {
          give(owed)
          owed = 0
        }
        return Effect.map(pull, (chunk) => {
          handed = chunk.length
          return chunk
        })
      })
    }))
