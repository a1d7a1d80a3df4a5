/**
 * Waiting on a shared Int32 word, in bounded slices: blocking (`Atomics.wait`, for kernel code in workers)
 * or as an Effect (`Atomics.waitAsync`, which never blocks the event loop).
 *
 * Every wait is cut into slices of at most `sliceMillis`, so that a waiter regularly looks whether the thread
 * it waits for has died: no wake-up from a dead thread is ever needed for progress.
 */
import { Effect } from "effect"
import { isMainThread } from "node:worker_threads"

/** Longest single sleep of a waiter; bounds how late a death is noticed. */
export const sliceMillis = 10

/** Sleeps while `view[index] === expected`, at most `millis` (capped to one slice). */
export const waitSlice = (view: Int32Array<SharedArrayBuffer>, index: number, expected: number, millis: number) => {
  Atomics.wait(view, index, expected, millis < sliceMillis ? millis : sliceMillis)
}

type WaitAsync = (
  view: Int32Array<SharedArrayBuffer>,
  index: number,
  expected: number,
  timeout: number
) => { async: false; value: "not-equal" | "timed-out" } | { async: true; value: Promise<"ok" | "timed-out"> }

// Typed locally: `Atomics.waitAsync` is ES2024 and the project compiles against the ES2023 lib.
const atomicsWaitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync

/**
 * Suspends the fiber while `view[index] === expected`, at most `millis` (capped to one slice), without blocking
 * the thread. Interruptible.
 *
 * `forwardWake`: for words woken one waiter at a time (`Atomics.notify(.., 1)`): if the fiber is interrupted
 * and the abandoned wait later consumes a wake-up, pass that wake-up on, so that no other waiter misses it.
 */
export const waitAsync = (
  view: Int32Array<SharedArrayBuffer>,
  index: number,
  expected: number,
  millis: number,
  forwardWake: boolean
): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const result = atomicsWaitAsync(view, index, expected, millis < sliceMillis ? millis : sliceMillis)
    if (!result.async) return resume(Effect.void)
    let abandoned = false
    result.value.then((outcome) => {
      if (!abandoned) resume(Effect.void)
      else if (forwardWake && outcome === "ok") Atomics.notify(view, index, 1)
    })
    return Effect.sync(() => {
      abandoned = true
    })
  })

/** Throws if called on the main thread, where a blocking wait would freeze the event loop. */
export const assertMayBlock = (what: string): void => {
  if (isMainThread) {
    throw new Error(`${what} blocks the thread; on the main thread use its Effect form, which waits with Atomics.waitAsync`)
  }
}
