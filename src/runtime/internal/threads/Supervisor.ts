/**
 * Supervision of a fixed set of worker threads: start each, notice when one dies, restart it after a backoff,
 * and terminate them all when the tier closes.
 *
 * Restart policy: the first restart of a worker waits `backoffMs`, each further consecutive death doubles the
 * wait up to `maxBackoffMs`; a worker that lived longer than `STABLE_MS` starts again from `backoffMs`. What a
 * worker is (its entry, its data) and what follows a start or a death (routing, the mesh, re-spawning actors)
 * is the caller's, through `Hooks`; the supervisor only keeps the lifecycle.
 */
import { Deferred, Effect } from "effect"
import type { Worker } from "node:worker_threads"
import { describe } from "../../ActorError.ts"

export interface Policy {
  /** First restart delay; doubles per consecutive death up to `maxBackoffMs`. */
  readonly backoffMs?: number
  readonly maxBackoffMs?: number
}

/** A worker alive this long counts as stable: its next death restarts it after the first delay again. */
export const STABLE_MS = 10_000

/** One supervised worker position (0..count-1); its thread changes with every restart. */
export interface Slot {
  readonly index: number
  /** The running thread, if any. */
  worker: Worker | undefined
  startedAt: number
  /** Consecutive deaths, for the backoff. */
  deaths: number
  /** Why the current thread failed, when its "error" event said so. */
  reason: string | undefined
  /** Done when the current thread exits. */
  exited: Deferred.Deferred<void>
  /** Done while a thread runs here; replaced when it dies, done again once it is restarted. */
  up: Deferred.Deferred<void>
}

export interface Hooks {
  /** Create the thread for `slot` (it starts running at once). */
  readonly boot: (slot: Slot) => Worker
  /** A thread started in `slot` (first start or restart); `slot.up` is done right after. */
  readonly started: (slot: Slot) => void
  /** The thread of `slot` exited; `reason` says why. Called before any restart is scheduled. */
  readonly died: (slot: Slot, reason: string) => void
}

export class Supervisor {
  readonly slots: ReadonlyArray<Slot>
  private closing = false
  private restartCount = 0
  private readonly backoff: number
  private readonly maxBackoff: number
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()

  constructor(count: number, policy: Policy, private readonly hooks: Hooks) {
    this.backoff = policy.backoffMs ?? 50
    this.maxBackoff = policy.maxBackoffMs ?? 5_000
    this.slots = Array.from({ length: count }, (_, index) => ({
      index,
      worker: undefined,
      startedAt: 0,
      deaths: 0,
      reason: undefined,
      exited: Deferred.makeUnsafe<void>(),
      up: Deferred.makeUnsafe<void>()
    }))
  }

  /** Workers restarted so far. */
  restarts(): number {
    return this.restartCount
  }

  /** Start every worker (once). */
  startAll(): void {
    for (const slot of this.slots) this.start(slot)
  }

  private start(slot: Slot): void {
    const worker = this.hooks.boot(slot)
    slot.worker = worker
    slot.startedAt = Date.now()
    slot.reason = undefined
    slot.exited = Deferred.makeUnsafe<void>()
    worker.on("error", (error) => {
      slot.reason = describe(error)
    })
    worker.on("exit", (code) => this.onExit(slot, worker, code))
    this.hooks.started(slot)
    // Only once the caller's routing knows the worker: a spawn waiting for this slot may resume at once, and send.
    Deferred.doneUnsafe(slot.up, Effect.void)
  }

  private onExit(slot: Slot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return
    slot.worker = undefined
    slot.up = Deferred.makeUnsafe<void>()
    const reason = slot.reason ?? (this.closing ? "terminated" : `exited with code ${code}`)
    this.hooks.died(slot, reason)
    Deferred.doneUnsafe(slot.exited, Effect.void)
    if (this.closing) return
    this.restartCount++
    if (Date.now() - slot.startedAt > STABLE_MS) slot.deaths = 0
    const delay = Math.min(this.maxBackoff, this.backoff * 2 ** slot.deaths)
    slot.deaths++
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (!this.closing) this.start(slot)
    }, delay)
    this.timers.add(timer)
  }

  /** Whether the supervisor is shutting down (no more restarts). */
  get isClosing(): boolean {
    return this.closing
  }

  /** Terminate every worker and wait until each has exited; no restart follows. */
  readonly close: Effect.Effect<void> = Effect.suspend(() => {
    this.closing = true
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    const running = this.slots.filter((slot) => slot.worker !== undefined)
    for (const slot of running) void slot.worker!.terminate()
    return Effect.forEach(running, (slot) => Deferred.await(slot.exited), { discard: true })
  })
}
