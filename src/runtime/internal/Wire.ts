/**
 * The wire protocol between threads: flat frames batched into one postMessage.
 *
 * Every frame is five slots `[kind, a, b, c, d]`. Frames queued while the thread is busy are flushed together
 * by one `setImmediate`, after the current turn's callbacks and microtasks (a microtask flush would send one
 * frame per resumed fiber, since Effect resumes fibers across microtasks). This automatic batching is what lets
 * one-message-per-sample work run at hundreds of thousands of messages per second.
 *
 * A batch of more than a few frames travels packed (`pack`): every slot that holds a number goes into one
 * `Float64Array`, which structured clone copies as one block of bytes, and only the other values (payloads that
 * are not numbers, spawn specs) are cloned one by one beside it; a small batch travels as it is (`forPosting`). Message tags travel as their index in the protocol, so a message whose payload
 * and reply are numbers crosses as numbers only. `Router.receive` takes packed batches and plain frame arrays
 * (which the Cluster tier's batching entity sends) alike.
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
  Stop: 7,
  /**
   * [STREAM, reqId, actorId, tag, payload]: a stream message. The producer starts with the message's `buffer`
   * of credit; elements come back in ITEMS frames, the end as OK (value undefined) or ERR, as for an ask.
   */
  Stream: 8,
  /** [ITEMS, reqId, actorId, 0, elements]: the next elements of a stream reply, encoded, in order */
  Items: 9,
  /** [CREDIT, reqId, actorId, count, 0]: the asker's consumer took `count` more elements of a stream reply */
  Credit: 10,
  /**
   * [KEYED, reqId, actorId, [tag, key] or [tag, key, traceId, spanId], payload]: an ask of a persisted message
   * (`Actor.Persisted`) with its key, taken by the sender: from a cluster runner's thread to its main thread,
   * which sends it on as a persisted request, deduplicated by key in Effect Cluster's storage (see
   * `Sender.Links.durable`). Other threads send persisted messages as asks, their cells taking the keys.
   */
  Keyed: 11
} as const

export const FRAME = 5

/**
 * A packed batch: `[slots, others]`. `slots` holds five numbers per frame; the kind slot's bits `C_OTHER` and
 * `D_OTHER` say that slot c or d is not a number but the index of its value in `others`.
 */
export type Packed = [slots: Float64Array, others: Array<unknown>]

const C_OTHER = 16
const D_OTHER = 32
const KIND = 15

/** Pack frames `[from, to)` of a flat frame array for posting. */
export const pack = (frames: ReadonlyArray<unknown>, from = 0, to = frames.length): Packed => {
  const slots = new Float64Array(to - from)
  const others: Array<unknown> = []
  for (let i = from, j = 0; i < to; i += FRAME, j += FRAME) {
    let kind = frames[i] as number
    const c = frames[i + 3]
    const d = frames[i + 4]
    slots[j + 1] = frames[i + 1] as number
    slots[j + 2] = frames[i + 2] as number
    if (typeof c === "number") slots[j + 3] = c
    else {
      kind |= C_OTHER
      slots[j + 3] = others.length
      others.push(c)
    }
    if (typeof d === "number") slots[j + 4] = d
    else {
      kind |= D_OTHER
      slots[j + 4] = others.length
      others.push(d)
    }
    slots[j] = kind
  }
  return [slots, others]
}

/**
 * Batches of up to this many frames travel as the plain frame array. Packing pays from about 16 frames on (a
 * round trip between two threads, measured here: 1 frame 40 µs plain / 44 µs packed, 8 frames 52 / 53, 16
 * frames 64 / 53, 256 frames 441 / 76); below that a fresh `Float64Array` per batch costs more than it saves,
 * and a lone ask's round trip is the case that pays it (1 in flight: ~23k asks/s plain, ~18k packed).
 */
export const PLAIN_FRAMES = 8

/** The batch as it is posted: packed (see `pack`) unless it is small enough to travel plain. */
export const forPosting = (frames: Array<unknown>): Array<unknown> | Packed =>
  frames.length <= PLAIN_FRAMES * FRAME ? frames : pack(frames)

/** Whether a batch is packed (else it is a plain flat frame array). */
export const isPacked = (batch: ReadonlyArray<unknown>): batch is Packed => batch[0] instanceof Float64Array

/** Calls `frame` for every frame of a batch, packed or plain, in order. */
export const forEachFrame = (
  batch: ReadonlyArray<unknown>,
  frame: (kind: number, a: number, b: number, c: unknown, d: unknown) => void
): void => {
  if (isPacked(batch)) {
    const [slots, others] = batch
    for (let j = 0; j < slots.length; j += FRAME) {
      const bits = slots[j]!
      frame(
        bits & KIND,
        slots[j + 1]!,
        slots[j + 2]!,
        bits & C_OTHER ? others[slots[j + 3]!] : slots[j + 3],
        bits & D_OTHER ? others[slots[j + 4]!] : slots[j + 4]
      )
    }
    return
  }
  for (let i = 0; i < batch.length; i += FRAME) {
    frame(batch[i] as number, batch[i + 1] as number, batch[i + 2] as number, batch[i + 3], batch[i + 4])
  }
}

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

/**
 * Whether a transfer-list item can be moved: not an ArrayBuffer that is detached (or empty, which Node 20 cannot
 * tell apart; an empty buffer has nothing to move). Node posts a detached buffer's transfer without complaint
 * and the receiver drops the whole message ('messageerror'): such buffers must not reach `postMessage`.
 */
const movable = (item: TransferListItem): boolean => !(item instanceof ArrayBuffer && item.byteLength === 0)

/**
 * How an outbox sends. `"off"`: every frame alone (the chapter's one message per task, to measure what batching
 * saves). `"turn"`: what a turn queued, together, once the turn ends. `"adaptive"`: as `"turn"` while batches
 * leave every turn, but the first frame after an idle turn at once, so that one ask at a time waits for no turn
 * of the event loop (measured here: a no-op ask's round trip 45 → 37 µs, a moved 10 MB array's 61 → 52 µs, and
 * no loss at 64 in flight). `"turn"` is for a post that costs far more than a frame (a request between processes).
 */
export type Batching = "off" | "turn" | "adaptive"

/** Sends one batch (packed, see `pack`); `transfer` lists the buffers that move with it (see `Outbox.push`). */
export type Post = (batch: Array<unknown>, transfer?: ReadonlyArray<TransferListItem>) => void

/** Collects frames for one destination and posts them as one batch once the thread goes idle. */
export class Outbox {
  private frames: Array<unknown> = []
  /** Buffers that move with the frames queued (transferred, not copied), and the frame each belongs to. */
  private moved: Array<TransferListItem> = []
  private movedBy: Array<number> = []
  private scheduled = false
  /** `"adaptive"`: whether a batch left in the last turn (then frames wait for the turn's end). */
  private busy = false
  private readonly tickBound = () => this.tick()

  /**
   * `unsendable` hears of each frame that cannot be posted (a value structured clone refuses),
   * so that only that frame's message fails, not the batch it was in.
   */
  constructor(
    private readonly post: Post,
    private readonly batching: Batching = "adaptive",
    private readonly unsendable: (frame: Array<unknown>, error: unknown) => void = () => {}
  ) {}

  /** Queue one frame; `transfer` are buffers its payload moves (detached here once the batch is posted). */
  push(kind: number, a: unknown, b: unknown, c: unknown, d: unknown, transfer?: ReadonlyArray<TransferListItem>): void {
    if (transfer !== undefined && transfer.length > 0) {
      const frame = this.frames.length
      for (let i = 0; i < transfer.length; i++) {
        if (!movable(transfer[i]!)) continue
        this.moved.push(transfer[i]!)
        this.movedBy.push(frame)
      }
    }
    this.frames.push(kind, a, b, c, d)
    if (this.batching === "off") return this.flush()
    if (!this.busy && this.batching === "adaptive") {
      // The first frame after an idle turn goes at once: one ask at a time waits for no turn of the event loop.
      this.busy = true
      this.flush()
    }
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(this.tickBound)
    }
  }

  /** After the turn: posts what queued up in it, and stays busy while every turn has frames to post. */
  private tick(): void {
    this.scheduled = false
    if (this.frames.length === 0) {
      this.busy = false
      return
    }
    this.flush()
    this.scheduled = true
    setImmediate(this.tickBound)
  }

  flush(): void {
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
      this.post(forPosting(batch), moved.length > 0 ? moved : undefined)
    } catch {
      // Some frame holds a value that cannot be cloned (or moved): send the rest one by one, each with its own
      // buffers only, and report the culprits. A culprit's buffers move nowhere: they stay with the sender.
      for (let i = 0; i < batch.length; i += FRAME) {
        const frame = batch.slice(i, i + FRAME)
        // A buffer an earlier frame moved (the same buffer sent twice) is detached by now: left out, its frame's
        // clone fails and only that message fails.
        const own = moved.filter((item, k) => movedBy[k] === i && movable(item))
        try {
          this.post(forPosting(frame), own.length > 0 ? own : undefined)
        } catch (error) {
          this.unsendable(frame, error)
        }
      }
    }
  }
}
