/**
 * The wire protocol between threads: flat frames batched into one postMessage.
 *
 * Every frame is five slots `[kind, a, b, c, d]`. Frames queued while the thread is busy are flushed together
 * by one `setImmediate`, after the current turn's callbacks and microtasks (a microtask flush would send one
 * frame per resumed fiber, since Effect resumes fibers across microtasks). This automatic batching is what lets
 * one-message-per-sample work run at hundreds of thousands of messages per second.
 */

import type { TransferListItem } from "node:worker_threads"
import type { Shipped } from "../Code.ts"

export const Kind = {
  /** [ASK, reqId, actorId, tag, payload] */
  Ask: 0,
  /** [TELL, 0, actorId, tag, payload] */
  Tell: 1,
  /** [OK, reqId, 0, 0, value] */
  Ok: 2,
  /** [ERR, reqId, origin (0 = message's own error, 1 = runtime error), 0, encoded] */
  Err: 3,
  /** [CANCEL, reqId, actorId, 0, 0] */
  Cancel: 4,
  /** [ACK, 0, actorId, count, 0]: tells handled, returns mailbox credit */
  Ack: 5,
  /** [SPAWN, reqId, actorId, SpawnSpec, 0] */
  Spawn: 6,
  /** [STOP, reqId, actorId, 0, 0] */
  Stop: 7
} as const

export const FRAME = 5

/** What a spawn request carries: the definition, shipped by the tier, and its encoded init parameters. */
export interface SpawnSpec {
  readonly code: Shipped
  readonly init: unknown
  /**
   * The worker the actor's address names, when it is not the thread's own index: a cluster runner's threads
   * are numbered across the cluster, and an actor placed by shard has no fixed worker (-1).
   */
  readonly worker?: number
}

/** Control messages, sent outside batches (they carry transferables). */
export type Control =
  | { readonly _tag: "Connect"; readonly worker: number; readonly port: import("node:worker_threads").MessagePort }
  | { readonly _tag: "PeerDied"; readonly worker: number; readonly reason: string }
  /** A liveness probe: the worker answers `{ _tag: "Pong", seq }` as soon as its event loop turns. */
  | { readonly _tag: "Ping"; readonly seq: number }

/** Sends one batch of frames; `transfer` lists the buffers that move with it (see `Outbox.push`). */
export type Post = (batch: Array<unknown>, transfer?: ReadonlyArray<TransferListItem>) => void

/** Collects frames for one destination and posts them as one batch once the thread goes idle. */
export class Outbox {
  private frames: Array<unknown> = []
  /** Buffers that move with the frames queued (transferred, not copied), and the frame each belongs to. */
  private moved: Array<TransferListItem> = []
  private movedBy: Array<number> = []
  private scheduled = false
  private readonly flushBound = () => this.flush()

  /**
   * `batching: false` posts every frame on its own: the chapter's one-message-per-task cost.
   * `unsendable` hears of each frame that cannot be posted (a value structured clone refuses),
   * so that only that frame's message fails, not the batch it was in.
   */
  constructor(
    private readonly post: Post,
    private readonly batching = true,
    private readonly unsendable: (frame: Array<unknown>, error: unknown) => void = () => {}
  ) {}

  /** Queue one frame; `transfer` are buffers its payload moves (detached here once the batch is posted). */
  push(kind: number, a: unknown, b: unknown, c: unknown, d: unknown, transfer?: ReadonlyArray<TransferListItem>): void {
    if (transfer !== undefined && transfer.length > 0) {
      const frame = this.frames.length
      for (let i = 0; i < transfer.length; i++) {
        this.moved.push(transfer[i]!)
        this.movedBy.push(frame)
      }
    }
    this.frames.push(kind, a, b, c, d)
    if (!this.batching) return this.flush()
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.flushBound)
    }
  }

  flush(): void {
    this.scheduled = false
    if (this.frames.length === 0) return
    const batch = this.frames
    const moved = this.moved
    const movedBy = this.movedBy
    this.frames = []
    if (moved.length > 0) {
      this.moved = []
      this.movedBy = []
    }
    try {
      this.post(batch, moved.length > 0 ? moved : undefined)
    } catch {
      // Some frame holds a value that cannot be cloned (or moved): send the rest one by one, each with its own
      // buffers only, and report the culprits. A culprit's buffers move nowhere: they stay with the sender.
      for (let i = 0; i < batch.length; i += FRAME) {
        const frame = batch.slice(i, i + FRAME)
        const own = moved.filter((_, k) => movedBy[k] === i)
        try {
          this.post(frame, own.length > 0 ? own : undefined)
        } catch (error) {
          this.unsendable(frame, error)
        }
      }
    }
  }
}
