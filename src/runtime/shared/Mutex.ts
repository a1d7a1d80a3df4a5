/**
 * A mutual-exclusion lock over one shared Int32 word: the chapter's `multiprocessing.Lock` for worker threads.
 *
 * The word is 0 when free; when held it is `(ownerSlot + 1) << 1`, plus 1 when other threads may be asleep
 * on it (the three-state futex of Drepper's "Futexes are tricky", with the owner folded into the word, so that
 * acquiring and recording the owner are one atomic step: a thread cannot die between the two).
 * Uncontended `lock` / `unlock` are one `compareExchange` each; only contention sleeps.
 *
 * Two APIs:
 * - methods, synchronous, for kernel code in workers: `lock()`, `unlock()`, `tryLock()`, `lockTimeout(ms)`.
 *   The blocking ones (`lock`, `lockTimeout`) throw on the main thread, whose event loop must never block.
 * - module functions returning Effects, on any thread: `withLock(mutex, effect, { timeout })`, `acquire`.
 *   They wait with `Atomics.waitAsync`, so another fiber of the same thread can hold the lock meanwhile.
 *
 * When the owner's thread dies holding the lock (its slot marked dead in `ThreadSlots`), waiters fail with
 * `LockOwnerDied` within one wait slice. The lock is not taken over silently: the data it protects may be
 * half-updated. `recover()` takes it over explicitly, like `pthread_mutex_consistent` on a robust mutex.
 */
import { Duration, Effect, Schema } from "effect"
import type { Scope } from "effect"
import * as Futex from "./Futex.ts"
import * as Postable from "./Postable.ts"
import { ThreadSlots } from "../index.ts"

export class LockTimeout extends Schema.TaggedError<LockTimeout>()("LockTimeout", {
  lock: Schema.String,
  timeoutMillis: Schema.Number
}) {}

export class LockOwnerDied extends Schema.TaggedError<LockOwnerDied>()("LockOwnerDied", {
  lock: Schema.String,
  ownerSlot: Schema.Number
}) {}

/** The postable description of a mutex (see `Postable.schema`); `registry` is the `ThreadSlots` id, since owner slots only mean something within one registry. */
export const HandleSchema = Postable.schema("Mutex", { name: Schema.String, registry: Schema.Number })
export type Handle = typeof HandleSchema.Type

/** Outcome of a timed synchronous acquire. */
export type LockStatus = "acquired" | "timed-out" | "owner-died"

export interface LockOptions {
  /** Give up with `LockTimeout` after this long (default: wait for ever, or until the owner dies). */
  readonly timeout?: Duration.Input | undefined
}

/** Bytes a mutex occupies (one Int32 word, 4-byte aligned). */
export const byteSize = 4

const WAITERS = 1
const ACQUIRED = -1
const OWNER_DIED = -2

const ownerOf = (word: number): number => (word >>> 1) - 1

export class Mutex {
  readonly word: Int32Array<SharedArrayBuffer>
  readonly slots: ThreadSlots.ThreadSlots
  /** This thread's "held, no waiters" word. */
  private readonly mine: number
  /** The dead owner found by the last `probe` that returned OWNER_DIED. */
  deadOwner = -1
  /**
   * The fiber of this thread that took the lock through the Effect API, while it holds it. The lock word only
   * knows threads; this tells a fiber re-entering its own lock (a certain deadlock) from another fiber's wait.
   */
  holderFiber = -1

  constructor(readonly handle: Handle) {
    this.slots = ThreadSlots.current()
    if (handle.registry !== this.slots.id) {
      throw new Error(`Mutex ${handle.name}: made under another ThreadSlots registry than this thread's`)
    }
    this.word = new Int32Array(handle.buffer, handle.byteOffset, 1)
    this.mine = (this.slots.self + 1) << 1
  }

  get name(): string {
    return this.handle.name
  }

  /** The slot of the holding thread, or undefined when free. */
  owner(): number | undefined {
    const c = Atomics.load(this.word, 0)
    return c === 0 ? undefined : ownerOf(c)
  }

  tryLock(): boolean {
    return Atomics.compareExchange(this.word, 0, 0, this.mine) === 0
  }

  /** Blocks until acquired. Throws `LockOwnerDied` if the holder's thread dies; not reentrant. Workers only. */
  lock(): void {
    if (Atomics.compareExchange(this.word, 0, 0, this.mine) === 0) return
    if (this.lockSlow(Infinity) !== "acquired") {
      throw new LockOwnerDied({ lock: this.name, ownerSlot: this.deadOwner })
    }
  }

  /** Blocks at most `millis`; reports the outcome instead of throwing. Workers only. */
  lockTimeout(millis: number): LockStatus {
    if (Atomics.compareExchange(this.word, 0, 0, this.mine) === 0) return "acquired"
    return this.lockSlow(millis)
  }

  unlock(): void {
    this.holderFiber = -1
    const c = Atomics.compareExchange(this.word, 0, this.mine, 0)
    if (c === this.mine) return
    if (c !== (this.mine | WAITERS)) {
      throw new Error(`Mutex ${this.name}: unlock by slot ${this.slots.self}, but the owner is ${c === 0 ? "nobody" : ownerOf(c)}`)
    }
    Atomics.store(this.word, 0, 0)
    Atomics.notify(this.word, 0, 1)
  }

  /**
   * Takes over a lock whose owner's thread is dead; true if this thread now holds it. The caller is then
   * responsible for bringing the protected data back to a consistent state.
   */
  recover(): boolean {
    const c = Atomics.load(this.word, 0)
    if (c === 0 || !this.slots.isDead(ownerOf(c))) return false
    return Atomics.compareExchange(this.word, 0, c, this.mine | WAITERS) === c
  }

  /**
   * One non-blocking step of a contended acquire: ACQUIRED, OWNER_DIED, or the word value to sleep on
   * (with the waiters bit set, so that the holder's unlock wakes a sleeper).
   * @internal
   */
  probe(): number {
    const word = this.word
    for (;;) {
      const c = Atomics.load(word, 0)
      if (c === 0) {
        // Once contended, acquire with the waiters bit: other sleepers may exist, and only it makes our unlock wake them.
        if (Atomics.compareExchange(word, 0, 0, this.mine | WAITERS) === 0) return ACQUIRED
        continue
      }
      // (Spinning a while before sleeping measured no gain on the race kernels, 2 cores.)
      const owner = ownerOf(c)
      if (this.slots.isDead(owner)) {
        this.deadOwner = owner
        return OWNER_DIED
      }
      if ((c & WAITERS) !== 0 || Atomics.compareExchange(word, 0, c, c | WAITERS) === c) return c | WAITERS
    }
  }

  private lockSlow(millis: number): LockStatus {
    Futex.assertMayBlock(`Mutex ${this.name}: lock()`)
    const deadline = millis === Infinity ? Infinity : performance.now() + millis
    for (;;) {
      const c = this.probe()
      if (c === ACQUIRED) return "acquired"
      if (c === OWNER_DIED) return "owner-died"
      if (ownerOf(c) === this.slots.self) {
        throw new Error(`Mutex ${this.name}: this thread already holds it (the lock is not reentrant)`)
      }
      const remaining = deadline === Infinity ? Infinity : deadline - performance.now()
      if (remaining <= 0) return "timed-out"
      Futex.waitSlice(this.word, 0, c, remaining)
    }
  }
}

/** A new, free mutex, in its own buffer or at `byteOffset` (4-aligned, zeroed) of a given one. */
export const make = (options?: {
  readonly name?: string
  readonly buffer?: SharedArrayBuffer
  readonly byteOffset?: number
}): Mutex =>
  new Mutex({
    _tag: "Mutex",
    name: options?.name ?? "mutex",
    buffer: options?.buffer ?? new SharedArrayBuffer(byteSize),
    byteOffset: options?.byteOffset ?? 0,
    registry: ThreadSlots.current().id
  })

/** Revives a handle received from another thread. */
export const fromHandle = (handle: Handle): Mutex => new Mutex(handle)

const timeoutMillis = (options: LockOptions | undefined): number =>
  options?.timeout === undefined ? Infinity : Duration.toMillis(options.timeout)

const lockAsync = Effect.fnUntraced(function*(mutex: Mutex, timeoutMillis: number, fiberId: number) {
  const deadline = performance.now() + timeoutMillis
  for (;;) {
    const c = mutex.probe()
    if (c === ACQUIRED) {
      mutex.holderFiber = fiberId
      return
    }
    if (c === OWNER_DIED) return yield* new LockOwnerDied({ lock: mutex.name, ownerSlot: mutex.deadOwner })
    const remaining = deadline - performance.now()
    if (remaining <= 0) return yield* new LockTimeout({ lock: mutex.name, timeoutMillis })
    // Only the sleep is interruptible: whenever interruption lands, this fiber does not hold the lock.
    yield* Effect.interruptible(Futex.waitAsync(mutex.word, 0, c, remaining, true))
  }
})

/**
 * Acquires without blocking the thread. Must run uninterruptibly, paired with `unlock`: prefer `withLock`
 * or `acquire`, which do that.
 */
export const lock = (mutex: Mutex, options?: LockOptions): Effect.Effect<void, LockTimeout | LockOwnerDied> =>
  Effect.withFiber((fiber) => {
    if (mutex.tryLock()) {
      mutex.holderFiber = fiber.id
      return Effect.void
    }
    if (mutex.holderFiber === fiber.id && mutex.owner() === mutex.slots.self) {
      return Effect.die(new Error(`Mutex ${mutex.name}: this fiber already holds it (the lock is not reentrant)`))
    }
    return lockAsync(mutex, timeoutMillis(options), fiber.id)
  })

export const unlock = (mutex: Mutex): Effect.Effect<void> => Effect.sync(() => mutex.unlock())

/** Runs `self` holding the lock; releases it however `self` ends (success, failure, interruption). */
export const withLock: {
  (mutex: Mutex, options?: LockOptions): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | LockTimeout | LockOwnerDied, R>
  <A, E, R>(
    mutex: Mutex,
    self: Effect.Effect<A, E, R>,
    options?: LockOptions
  ): Effect.Effect<A, E | LockTimeout | LockOwnerDied, R>
} = function(
  mutex: Mutex,
  selfOrOptions?: Effect.Effect<unknown, unknown, unknown> | LockOptions,
  options?: LockOptions
): any {
  // Not `dual`: its data-last form passes `self` first, and here the mutex comes first in both forms.
  if (Effect.isEffect(selfOrOptions)) return withLockImpl(mutex, selfOrOptions, options)
  return (self: Effect.Effect<unknown, unknown, unknown>) => withLockImpl(mutex, self, selfOrOptions)
}

const withLockImpl = <A, E, R>(
  mutex: Mutex,
  self: Effect.Effect<A, E, R>,
  options: LockOptions | undefined
): Effect.Effect<A, E | LockTimeout | LockOwnerDied, R> =>
  Effect.acquireUseRelease(lock(mutex, options), () => self, () => unlock(mutex))

/** Holds the lock until the enclosing scope closes. */
export const acquire = (
  mutex: Mutex,
  options?: LockOptions
): Effect.Effect<void, LockTimeout | LockOwnerDied, Scope.Scope> =>
  Effect.acquireRelease(lock(mutex, options), () => unlock(mutex))
