/**
 * The registry of threads that take part in shared-memory synchronisation, and of which of them are dead.
 *
 * Every thread that locks a `Mutex` or waits at a `Barrier` has a small integer *id*: locks record their
 * owner's id in the lock word, barriers record their parties' ids. The registry is one `SharedArrayBuffer`
 * holding one word per slot (its generation and its state: free / alive / dead) and an epoch counter that
 * changes on every death. Waiters wait in bounded slices; after each slice they look whether the id they
 * depend on is dead, and fail with a typed error instead of hanging.
 *
 * Slots are reused, so a long-lived process that starts and restarts threads forever never runs out, but never
 * in a way that could make a dead owner look alive: an id is `generation × capacity + slot`, a reused slot gets
 * the next generation, and an id counts as alive only while its slot is alive *in that generation*. A lock
 * still held by a dead thread therefore stays dead-owned however often its slot is reused. Ids stay below
 * 2^29 (they are packed into lock and barrier words), so each slot has `generations()` lives; a slot that used
 * them all is retired. With the default 1024 slots that is about 5·10^8 thread starts per process.
 *
 * How the runtime wires it (all on the main thread, which is always id 0):
 * 1. before spawning a worker: `const id = ThreadSlots.allocate()`, and pass
 *    `{ slots: ThreadSlots.current().handle, slot: id }` to the worker (e.g. in `workerData`);
 * 2. first thing in the worker, before reviving any Mutex or Barrier handle: `ThreadSlots.attach(slots, id)`;
 * 3. on the worker's `"exit"` event (emitted after `process.exit`, an uncaught throw, out of memory and
 *    `terminate()` alike): `ThreadSlots.markDead(id)`. `ThreadSlots.watch(worker, id)` does exactly this.
 */
import { Schema } from "effect"
import { isMainThread } from "node:worker_threads"

export interface Handle {
  readonly _tag: "ThreadSlots"
  readonly buffer: SharedArrayBuffer
}

/** Every slot is alive, or every slot has used all its generations: no thread can be registered now. */
export class ThreadSlotsExhausted extends Schema.TaggedError<ThreadSlotsExhausted>()("ThreadSlotsExhausted", {
  capacity: Schema.Number,
  alive: Schema.Number
}) {}

// Layout of the Int32 words: a header, then one word per slot, (generation << 2) | state.
const ID = 0
const EPOCH = 1
const CURSOR = 2
const CAPACITY = 3
const HEADER = 4

const FREE = 0
const ALIVE = 1
const DEAD = 2

/** Ids are packed into lock words as `(id + 1) << 2`, so they stay below this. */
const ID_LIMIT = 2 ** 29

/** The id of the main thread in every registry. */
export const mainSlot = 0

export class ThreadSlots {
  /** The words of the registry (header + slot words). */
  readonly words: Int32Array<SharedArrayBuffer>
  /** This thread's id. */
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

  /** How many lives each slot has before it is retired. */
  generations(): number {
    return Math.floor(ID_LIMIT / this.capacity)
  }

  /** Changes whenever an id is marked dead. */
  epoch(): number {
    return Atomics.load(this.words, EPOCH)
  }

  /** The word an id's thread would have while alive. */
  private aliveWord(id: number): number {
    return (Math.floor(id / this.capacity) << 2) | ALIVE
  }

  private wordOf(id: number): number {
    return Atomics.load(this.words, HEADER + (id % this.capacity))
  }

  /** True once the thread of `id` has died (and also once its slot has been reused by a later thread). */
  isDead(id: number): boolean {
    const word = this.wordOf(id)
    return word !== this.aliveWord(id) && !(word === FREE && id < this.capacity)
  }

  isAlive(id: number): boolean {
    return this.wordOf(id) === this.aliveWord(id)
  }

  /** Threads registered and alive now (the main thread included). */
  alive(): number {
    let n = 0
    for (let s = 0; s < this.capacity; s++) if ((Atomics.load(this.words, HEADER + s) & 3) === ALIVE) n++
    return n
  }

  /** The address waiters can `Atomics.wait` / `waitAsync` on to learn of deaths at once. */
  get epochIndex(): number {
    return EPOCH
  }
}

/** A new registry of `capacity` slots (id 0, the caller, is alive). */
export const make = (options?: { readonly capacity?: number }): ThreadSlots => {
  const capacity = options?.capacity ?? 1024
  if (!Number.isInteger(capacity) || capacity < 2 || capacity > ID_LIMIT / 2) {
    throw new RangeError(`ThreadSlots capacity must be an integer from 2 to ${ID_LIMIT / 2}, got ${capacity}`)
  }
  const words = new Int32Array(new SharedArrayBuffer((HEADER + capacity) * 4))
  // Non-zero so that an all-zero buffer is never mistaken for a registry.
  words[ID] = 1 + Math.floor(Math.random() * 0x7ffffffe)
  words[CAPACITY] = capacity
  words[HEADER + mainSlot] = ALIVE
  return new ThreadSlots({ _tag: "ThreadSlots", buffer: words.buffer }, mainSlot)
}

let current_: ThreadSlots | undefined

/**
 * The registry this thread takes part in. On the main thread it is created on first use (id 0);
 * a worker must have called `attach` first.
 */
export const current = (): ThreadSlots => {
  if (current_ !== undefined) return current_
  if (isMainThread) return (current_ = make())
  throw new Error(
    "ThreadSlots: this worker is not attached; call ThreadSlots.attach(handle, id) at worker start, " +
      "with the handle and an id allocated by the main thread"
  )
}

/** Makes `slots` the main thread's registry (e.g. one with another capacity). Call it before any primitive exists. */
export const install = (slots: ThreadSlots): ThreadSlots => (current_ = slots)

/** Joins this worker to a registry under `id`, which must come from `allocate`. Call once at worker start. */
export const attach = (handle: Handle, id: number): ThreadSlots => {
  const slots = new ThreadSlots(handle, id)
  if (!Number.isInteger(id) || id <= mainSlot || !slots.isAlive(id)) {
    throw new Error(`ThreadSlots.attach: id ${id} was not allocated, or is dead`)
  }
  return (current_ = slots)
}

/**
 * An id for a thread about to be spawned (alive from now on): a free slot, or a dead one in its next
 * generation, taken in turn so that a slot rests as long as possible before it is reused. Throws
 * `ThreadSlotsExhausted` when every slot is alive or retired.
 */
export const allocate = (slots: ThreadSlots = current()): number => {
  const capacity = slots.capacity
  const generations = slots.generations()
  const start = Atomics.load(slots.words, CURSOR)
  for (let k = 0; k < capacity - 1; k++) {
    const slot = 1 + ((start + k) % (capacity - 1))
    const word = Atomics.load(slots.words, HEADER + slot)
    const state = word & 3
    const generation = state === FREE ? 0 : (word >>> 2) + 1
    if (state === ALIVE || generation >= generations) continue
    if (Atomics.compareExchange(slots.words, HEADER + slot, word, (generation << 2) | ALIVE) !== word) continue
    Atomics.store(slots.words, CURSOR, slot)
    return generation * capacity + slot
  }
  throw new ThreadSlotsExhausted({ capacity, alive: slots.alive() })
}

/**
 * Records that the thread of `id` is gone, and wakes whoever watches the epoch. Idempotent (and a no-op for an
 * id whose slot was already reused). Waiters on locks and barriers notice within one wait slice.
 */
export const markDead = (id: number, slots: ThreadSlots = current()): void => {
  if (id === mainSlot) throw new Error("ThreadSlots.markDead: the main thread cannot be marked dead")
  const alive = (Math.floor(id / slots.capacity) << 2) | ALIVE
  const dead = (alive & ~3) | DEAD
  if (Atomics.compareExchange(slots.words, HEADER + (id % slots.capacity), alive, dead) !== alive) return
  // The state is written before the epoch moves: whoever sees the new epoch also sees the dead id.
  Atomics.add(slots.words, EPOCH, 1)
  Atomics.notify(slots.words, EPOCH)
}

/** Marks `id` dead when `worker` exits, however it exits. */
export const watch = (
  worker: { once(event: "exit", listener: (code: number) => void): unknown },
  slot: number,
  slots: ThreadSlots = current()
): void => {
  worker.once("exit", () => markDead(slot, slots))
}
