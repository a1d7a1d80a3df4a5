/**
 * The chapter's lost-update race, as three kernels that add `k` to one shared Int32 counter:
 * unguarded (loses updates under contention), under a `Mutex`, and with `Atomics.add`.
 *
 * Plain module-level functions taking postable handles, so that any worker can run them on the same counter.
 * They must run on worker threads (the locked one blocks); the counter is an `AtomicCounter` cell.
 */
import type { AtomicCounter } from "../../runtime/shared/index.ts"
import { Mutex } from "../../runtime/shared/index.ts"

/**
 * `counter += 1`, k times, with no guard: a read then a write, so increments of other threads that land in
 * between are overwritten. The read and the write are `Atomics.load` / `Atomics.store`, which the JIT may
 * neither merge across iterations nor keep in a register: every iteration really goes to shared memory, and
 * the losses measured are those of the race, not of an optimisation.
 */
export const incrementUnguarded = (counter: AtomicCounter.Handle, k: number): void => {
  const cell = new Int32Array(counter.buffer, counter.byteOffset, 1)
  for (let i = 0; i < k; i++) {
    const value = Atomics.load(cell, 0)
    Atomics.store(cell, 0, value + 1)
  }
}

/** `counter += 1`, k times, each under the mutex: exact, and the slowest. */
export const incrementLocked = (counter: AtomicCounter.Handle, mutex: Mutex.Handle, k: number): void => {
  const cell = new Int32Array(counter.buffer, counter.byteOffset, 1)
  const lock = Mutex.fromHandle(mutex)
  for (let i = 0; i < k; i++) {
    lock.lock()
    cell[0]!++
    lock.unlock()
  }
}

/** `counter += 1`, k times, with `Atomics.add`: exact and lock-free. */
export const incrementAtomic = (counter: AtomicCounter.Handle, k: number): void => {
  const cell = new Int32Array(counter.buffer, counter.byteOffset, 1)
  for (let i = 0; i < k; i++) Atomics.add(cell, 0, 1)
}
