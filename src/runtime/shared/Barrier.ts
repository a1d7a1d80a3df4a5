/**
 * A reusable barrier for a fixed number of parties (threads), for kernels that advance in lockstep:
 * no party leaves step t's barrier before all have arrived at it.
 *
 * It counts generations: the last party to arrive resets the count and bumps the generation word, on which
 * the others sleep. Each thread registers its `ThreadSlots` slot as a member when it first arrives (or at
 * `join()`); a member marked dead breaks the barrier, so a dead worker never hangs the others.
 * A broken barrier stays broken (like Java's `CyclicBarrier`): every wait then fails with `BarrierBroken`.
 * It breaks when a member dies, when a waiting party times out (that party gets `BarrierTimeout`, the others
 * `BarrierBroken`), and when an Effect waiter is interrupted after arriving: an arrival cannot be taken back.
 *
 * `barrier.wait(ms)` blocks (workers only) and throws those errors; `Barrier.wait(barrier, { timeout })` is the
 * Effect, on any thread, and waits with `Atomics.waitAsync`.
 */
import { Duration, Effect, Schema } from "effect"
import * as Futex from "./Futex.ts"
import * as Postable from "./Postable.ts"
import { ThreadSlots } from "../index.ts"

export class BarrierTimeout extends Schema.TaggedError<BarrierTimeout>()("BarrierTimeout", {
  barrier: Schema.String,
  timeoutMillis: Schema.Number
}) {}

export class BarrierBroken extends Schema.TaggedError<BarrierBroken>()("BarrierBroken", {
  barrier: Schema.String,
  reason: Schema.Literals(["party-died", "party-timed-out", "party-interrupted"]),
  /** The slot of the party that died, timed out or was interrupted. */
  slot: Schema.Number
}) {}

/** The postable description of a barrier (see `Postable.schema`). */
export const HandleSchema = Postable.schema("Barrier", { name: Schema.String, parties: Schema.Number, registry: Schema.Number })
export type Handle = typeof HandleSchema.Type

// Int32 words: arrivals in this generation, the generation, the broken word ((slot + 1) << 2 | reason, or 0),
// then one member word per party (slot + 1, or 0 while free).
const COUNT = 0
const GENERATION = 1
const BROKEN = 2
const MEMBERS = 3

const reasons = [undefined, "party-died", "party-timed-out", "party-interrupted"] as const
const PARTY_DIED = 1
const PARTY_TIMED_OUT = 2
const PARTY_INTERRUPTED = 3

const PASSED = 0
const WAITING = 1
const IS_BROKEN = 2

/** Bytes a barrier for `parties` occupies (4-aligned). */
export const byteSize = (parties: number): number => (MEMBERS + parties) * 4

export class Barrier {
  readonly words: Int32Array<SharedArrayBuffer>
  readonly slots: ThreadSlots.ThreadSlots
  private joined = false

  constructor(readonly handle: Handle) {
    this.slots = ThreadSlots.current()
    if (handle.registry !== this.slots.id) {
      throw new Error(`Barrier ${handle.name}: made under another ThreadSlots registry than this thread's`)
    }
    this.words = new Int32Array(handle.buffer, handle.byteOffset, MEMBERS + handle.parties)
  }

  get name(): string {
    return this.handle.name
  }

  get parties(): number {
    return this.handle.parties
  }

  isBroken(): boolean {
    return Atomics.load(this.words, BROKEN) !== 0
  }

  /**
   * Registers this thread as a party. Arriving does it too; joining earlier also covers a thread that dies
   * before its first arrival.
   */
  join(): void {
    if (this.joined) return
    const me = this.slots.self + 1
    for (let i = 0; i < this.parties; i++) {
      const m = Atomics.compareExchange(this.words, MEMBERS + i, 0, me)
      if (m === 0 || m === me) {
        this.joined = true
        return
      }
    }
    throw new Error(`Barrier ${this.name}: more than ${this.parties} threads take part`)
  }

  /**
   * Blocks until all parties have arrived; returns this party's arrival index (`parties - 1` for the party
   * that released the others). Throws `BarrierBroken` or `BarrierTimeout`. Workers only.
   */
  wait(timeoutMillis = Infinity): number {
    Futex.assertMayBlock(`Barrier ${this.name}: wait()`)
    const generation = Atomics.load(this.words, GENERATION)
    const epoch = this.slots.epoch()
    const index = this.arrive()
    if (index < 0) throw this.brokenError()
    if (index === this.parties - 1) return index
    const deadline = performance.now() + timeoutMillis
    for (;;) {
      const status = this.poll(generation, epoch)
      if (status === PASSED) return index
      if (status === IS_BROKEN) throw this.brokenError()
      const remaining = deadline - performance.now()
      if (remaining <= 0) {
        if (this.breakUnless(generation, PARTY_TIMED_OUT)) throw new BarrierTimeout({ barrier: this.name, timeoutMillis })
        return index
      }
      Futex.waitSlice(this.words, GENERATION, generation, remaining)
    }
  }

  /**
   * Counts this party in; returns its arrival index, or -1 if the barrier is (or just got) broken.
   * The caller reads the generation and the epoch before, so that what happens after is seen by `poll`.
   * @internal
   */
  arrive(): number {
    const words = this.words
    if (Atomics.load(words, BROKEN) !== 0) return -1
    this.join()
    const dead = this.deadMember()
    if (dead >= 0) {
      this.break(PARTY_DIED, dead)
      return -1
    }
    const index = Atomics.add(words, COUNT, 1)
    if (index === this.parties - 1) {
      // Reset before releasing: a released party may arrive at the next generation at once.
      Atomics.store(words, COUNT, 0)
      Atomics.add(words, GENERATION, 1)
      Atomics.notify(words, GENERATION)
    }
    return index
  }

  /** @internal */
  poll(generation: number, epoch: number): number {
    if (Atomics.load(this.words, GENERATION) !== generation) return PASSED
    if (Atomics.load(this.words, BROKEN) !== 0) return IS_BROKEN
    if (this.slots.epoch() !== epoch) {
      // Someone died since this party arrived: was it one of ours?
      const dead = this.deadMember()
      if (dead >= 0) return this.breakUnless(generation, PARTY_DIED, dead) ? IS_BROKEN : PASSED
    }
    return WAITING
  }

  /** Breaks the barrier, unless `generation` has passed meanwhile; true if it broke (or was broken). @internal */
  breakUnless(generation: number, reason: number, slot = this.slots.self): boolean {
    if (Atomics.load(this.words, GENERATION) !== generation) return false
    this.break(reason, slot)
    return true
  }

  /** @internal */
  brokenError(): BarrierBroken {
    const word = Atomics.load(this.words, BROKEN)
    return new BarrierBroken({ barrier: this.name, reason: reasons[word & 3]!, slot: (word >>> 2) - 1 })
  }

  private break(reason: number, slot: number): void {
    // One word for reason and culprit, so that the first breaker's story is the one everybody reads.
    Atomics.compareExchange(this.words, BROKEN, 0, ((slot + 1) << 2) | reason)
    Atomics.notify(this.words, GENERATION)
  }

  private deadMember(): number {
    for (let i = 0; i < this.parties; i++) {
      const m = Atomics.load(this.words, MEMBERS + i)
      if (m === 0) return -1
      if (this.slots.isDead(m - 1)) return m - 1
    }
    return -1
  }
}

/** A new barrier for `parties` threads, in its own buffer or at `byteOffset` (4-aligned, zeroed) of a given one. */
export const make = (parties: number, options?: {
  readonly name?: string
  readonly buffer?: SharedArrayBuffer
  readonly byteOffset?: number
}): Barrier => {
  if (!Number.isInteger(parties) || parties < 1) throw new RangeError(`Barrier: parties must be >= 1, got ${parties}`)
  return new Barrier({
    _tag: "Barrier",
    name: options?.name ?? "barrier",
    parties,
    buffer: options?.buffer ?? new SharedArrayBuffer(byteSize(parties)),
    byteOffset: options?.byteOffset ?? 0,
    registry: ThreadSlots.current().id
  })
}

/** Revives a handle received from another thread. */
export const fromHandle = (handle: Handle): Barrier => new Barrier(handle)

/**
 * Arrives and waits, without blocking the thread; succeeds with the arrival index. Interrupting it after
 * arrival breaks the barrier (reason "party-interrupted").
 */
export const wait = Effect.fnUntraced(function*(
  barrier: Barrier,
  options?: { readonly timeout?: Duration.Input | undefined }
): Effect.fn.Return<number, BarrierBroken | BarrierTimeout> {
  const timeoutMillis = options?.timeout === undefined ? Infinity : Duration.toMillis(options.timeout)
  const generation = Atomics.load(barrier.words, GENERATION)
  const epoch = barrier.slots.epoch()
  const index = barrier.arrive()
  if (index < 0) return yield* barrier.brokenError()
  if (index === barrier.parties - 1) return index
  const deadline = performance.now() + timeoutMillis
  for (;;) {
    const status = barrier.poll(generation, epoch)
    if (status === PASSED) return index
    if (status === IS_BROKEN) return yield* barrier.brokenError()
    const remaining = deadline - performance.now()
    if (remaining <= 0) {
      if (barrier.breakUnless(generation, PARTY_TIMED_OUT)) {
        return yield* new BarrierTimeout({ barrier: barrier.name, timeoutMillis })
      }
      return index
    }
    yield* Futex.waitAsync(barrier.words, GENERATION, generation, remaining, false).pipe(
      Effect.onInterrupt(() => Effect.sync(() => barrier.breakUnless(generation, PARTY_INTERRUPTED)))
    )
  }
})
