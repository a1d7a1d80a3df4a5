/**
 * The actors a runner hosts, by id, and the thread each lives on; and the tells that came for an actor that is
 * not hosted yet.
 *
 * After a runner restarts, the spawner starts its pinned actors again from their init parameters (`Cluster.ts`),
 * and an ask that arrives before that is answered `ActorStopped` and resent once the actor is back. A tell has no
 * answer to resend on, so it waits here instead, in order, until the actor is started (then it is delivered
 * before any later message) or `HOLD_MS` pass without that (then it is dropped, as a tell to a stopped actor
 * is). Either way its mailbox credit goes back to the sender only then, so what waits is bounded by the
 * senders' credit, and one timer per waiting actor bounds how long.
 */

/** How long tells wait for their actor to be started on this runner. */
export const HOLD_MS = 30_000

interface Waiting {
  readonly deliveries: Array<(thread: number | undefined) => void>
  readonly timer: ReturnType<typeof setTimeout>
}

export class Hosted {
  private readonly threads = new Map<number, number>()
  private readonly waiting = new Map<number, Waiting>()

  /** The thread that hosts actor `id`, or undefined. */
  get(id: number): number | undefined {
    return this.threads.get(id)
  }

  /** Actor `id` now lives on `thread`: the tells that waited for it are delivered, in order. */
  set(id: number, thread: number): void {
    this.threads.set(id, thread)
    this.release(id, thread)
  }

  delete(id: number): void {
    this.threads.delete(id)
  }

  /**
   * Deliver to actor `id`'s thread now, or once the actor is started here; `deliver(undefined)` when it is not
   * within `HOLD_MS` (the caller drops the message). Later deliveries to a waiting actor wait behind earlier ones.
   */
  whenHosted(id: number, deliver: (thread: number | undefined) => void): void {
    const thread = this.threads.get(id)
    if (thread !== undefined) return deliver(thread)
    let waiting = this.waiting.get(id)
    if (waiting === undefined) {
      const timer = setTimeout(() => this.release(id, undefined), HOLD_MS)
      // A runner that is otherwise done must not stay up for a tell nobody will start an actor for.
      timer.unref()
      waiting = { deliveries: [], timer }
      this.waiting.set(id, waiting)
    }
    waiting.deliveries.push(deliver)
  }

  /** Gives up on every waiting tell (the runner is closing). */
  clear(): void {
    for (const id of [...this.waiting.keys()]) this.release(id, undefined)
  }

  private release(id: number, thread: number | undefined): void {
    const waiting = this.waiting.get(id)
    if (waiting === undefined) return
    this.waiting.delete(id)
    clearTimeout(waiting.timer)
    for (const deliver of waiting.deliveries) deliver(thread)
  }
}
