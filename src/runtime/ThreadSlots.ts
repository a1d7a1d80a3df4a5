/**
 * The registry of threads that take part in shared-memory synchronisation, and of which of them are dead.
 *
 * Every thread that locks a `Mutex` or waits at a `Barrier` has a small integer *slot*: locks record their
 * owner's slot in the lock word, barriers record their parties' slots. The registry is one `SharedArrayBuffer`
 * holding one state word per slot (unallocated / alive / dead) and an epoch counter that changes on every death.
 * Waiters wait in bounded slices; after each slice they look whether the slot they depend on is dead, and fail
 * with a typed error instead of hanging.
 *
 * Slots are never reused: a lock still owned by a dead slot can then never look alive again.
 *
 * How the runtime wires it (all on the main thread, which is always slot 0):
 * 1. before spawning a worker: `const slot = ThreadSlots.allocate()`, and pass
 *    `{ slots: ThreadSlots.current().handle, slot }` to the worker (e.g. in `workerData`);
 * 2. first thing in the worker, before reviving any Mutex or Barrier handle: `ThreadSlots.attach(slots, slot)`;
 * 3. on the worker's `"exit"` event (emitted after `process.exit`, an uncaught throw, out of memory and
 *    `terminate()` alike): `ThreadSlots.markDead(slot)`. `ThreadSlots.watch(worker, slot)` does exactly this.
 */
import { isMainThread } from "node:worker_threads"

export interface Handle {
  readonly _tag: "ThreadSlots"
  readonly buffer: SharedArrayBuffer
}

// Layout of the Int32 words: a header, then one state word per slot.
const ID = 0
const EPOCH = 1
const NEXT = 2
const CAPACITY = 3
const HEADER = 4

// A state word is 0 until its slot is allocated.
const ALIVE = 1
const DEAD = 2

/** The slot of the main thread in every registry. */
export const mainSlot = 0

export class ThreadSlots {
  /** The words of the registry (header + states). */
  readonly words: Int32Array<SharedArrayBuffer>
  /** This thread's slot. */
  readonly self: number
  /** A random number shared by all threads of the registry; primitives carry it to detect a wrong registry. */
  readonly id: number

  constructor(readonly handle: Handle, self: number) {
    this.words = new Int32Array(handle.buffer)
    this.self = self
    this.id = Atomics.load(this.words, ID)
  }

  get capacity(): number {
    return this.words[CAPACITY]!
  }

  /** Changes whenever a slot is marked dead. */
  epoch(): number {
    return Atomics.load(this.words, EPOCH)
  }

  isDead(slot: number): boolean {
    return Atomics.load(this.words, HEADER + slot) === DEAD
  }

  isAlive(slot: number): boolean {
    return Atomics.load(this.words, HEADER + slot) === ALIVE
  }

  /** The address waiters can `Atomics.wait` / `waitAsync` on to learn of deaths at once. */
  get epochIndex(): number {
    return EPOCH
  }
}

/** A new registry with room for `capacity` slots over the process lifetime (slot 0, the caller, is alive). */
export const make = (options?: { readonly capacity?: number }): ThreadSlots => {
  const capacity = options?.capacity ?? 1024
  const words = new Int32Array(new SharedArrayBuffer((HEADER + capacity) * 4))
  // Non-zero so that an all-zero buffer is never mistaken for a registry.
  words[ID] = 1 + Math.floor(Math.random() * 0x7ffffffe)
  words[NEXT] = 1
  words[CAPACITY] = capacity
  words[HEADER + mainSlot] = ALIVE
  return new ThreadSlots({ _tag: "ThreadSlots", buffer: words.buffer }, mainSlot)
}

let current_: ThreadSlots | undefined

/**
 * The registry this thread takes part in. On the main thread it is created on first use (slot 0);
 * a worker must have called `attach` first.
 */
export const current = (): ThreadSlots => {
  if (current_ !== undefined) return current_
  if (isMainThread) return (current_ = make())
  throw new Error(
    "ThreadSlots: this worker is not attached; call ThreadSlots.attach(handle, slot) at worker start, " +
      "with the handle and a slot allocated by the main thread"
  )
}

/** Makes `slots` the main thread's registry (e.g. one with another capacity). Call it before any primitive exists. */
export const install = (slots: ThreadSlots): ThreadSlots => (current_ = slots)

/** Joins this worker to a registry under `slot`, which must come from `allocate`. Call once at worker start. */
export const attach = (handle: Handle, slot: number): ThreadSlots => {
  const slots = new ThreadSlots(handle, slot)
  if (!Number.isInteger(slot) || slot <= mainSlot || slot >= slots.capacity || !slots.isAlive(slot)) {
    throw new Error(`ThreadSlots.attach: slot ${slot} was not allocated, or is dead`)
  }
  return (current_ = slots)
}

/** A fresh slot for a thread about to be spawned (alive from now on). Throws when the registry is full. */
export const allocate = (slots: ThreadSlots = current()): number => {
  const slot = Atomics.add(slots.words, NEXT, 1)
  if (slot >= slots.capacity) {
    throw new Error(`ThreadSlots.allocate: all ${slots.capacity} slots are used (slots are never reused)`)
  }
  Atomics.store(slots.words, HEADER + slot, ALIVE)
  return slot
}

/**
 * Records that the thread of `slot` is gone, and wakes whoever watches the epoch. Idempotent.
 * Waiters on locks and barriers notice within one wait slice (`Futex.sliceMillis`).
 */
export const markDead = (slot: number, slots: ThreadSlots = current()): void => {
  if (slot === mainSlot) throw new Error("ThreadSlots.markDead: the main thread cannot be marked dead")
  if (Atomics.exchange(slots.words, HEADER + slot, DEAD) === DEAD) return
  // The state is written before the epoch moves: whoever sees the new epoch also sees the dead slot.
  Atomics.add(slots.words, EPOCH, 1)
  Atomics.notify(slots.words, EPOCH)
}

/** Marks `slot` dead when `worker` exits, however it exits. */
export const watch = (
  worker: { once(event: "exit", listener: (code: number) => void): unknown },
  slot: number,
  slots: ThreadSlots = current()
): void => {
  worker.once("exit", () => markDead(slot, slots))
}
