/**
 * Supervision of a fixed set of worker threads: start each, notice when one dies or is stuck, restart it after
 * a backoff, give up on one that keeps dying, and terminate them all when the tier closes.
 *
 * - Backoff: the first restart of a worker waits `backoffMs`, each further consecutive death doubles the wait up
 *   to `maxBackoffMs`; a worker that lived longer than `STABLE_MS` starts again from `backoffMs`.
 * - Intensity: at most `maxRestarts` restarts of one worker within `restartWindowMs`. One more death and the tier
 *   gives up on that worker for good: it is *lost*, and whatever waits for it fails with `WorkerLost`.
 * - Recycling: a worker replaced on request (`recycle`, between a pool's tasks) is started again at once; it is
 *   not a death, so it neither waits a backoff nor counts towards the intensity.
 * - Stuck workers: a worker whose event loop does not turn for `stuckAfterMs` after it was asked to interrupt
 *   or stop something (`suspect`) is blocked in a synchronous call that ignores interruption; it is terminated
 *   and restarted like a crashed one, which fails only the messages it held. A thread still booting (loading
 *   its bundle, synchronously, before it can answer anything: a second or more on a loaded machine) is not
 *   judged until it says it is ready; it is pinged then.
 *
 * What a worker is (its entry, its data) and what follows a start, a death or a loss (routing, the mesh,
 * re-spawning actors) is the caller's, through `Hooks`; the supervisor only keeps the lifecycle.
 */
import { Deferred, Effect } from "effect"
import type { Worker } from "node:worker_threads"
import { WorkerLost, describe } from "../../ActorError.ts"

/** How dead workers are restarted, and when a stuck one is replaced. @inline */
export interface Policy {
  /** First restart delay in ms (default 50); doubles per consecutive death up to `maxBackoffMs` (default 5000). */
  readonly backoffMs?: number
  readonly maxBackoffMs?: number
  /** Restarts of one worker allowed within `restartWindowMs` before the tier gives up on it (default 10). */
  readonly maxRestarts?: number
  /** The window of `maxRestarts`, in ms (default 30000). */
  readonly restartWindowMs?: number
  /** How long an interrupted or stopped worker may leave its event loop blocked before it is terminated (default 2000 ms). */
  readonly stuckAfterMs?: number
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
  /** Times of the restarts within the intensity window. */
  restarts: Array<number>
  /** Why the current thread failed, when its "error" event (or the watchdog) said so. */
  reason: string | undefined
  /** Set once the tier gave up on this worker. */
  lost: WorkerLost | undefined
  /** Done when the current thread exits. */
  exited: Deferred.Deferred<void>
  /** Done once the current thread said it is ready, or exited before that (waiters then look again). */
  booted: Deferred.Deferred<void>
  /** Done while a thread runs here; replaced when it dies, done again once it is restarted, failed once lost. */
  up: Deferred.Deferred<void, WorkerLost>
  /** Set while the thread is being replaced on request (`recycle`): its exit is not a death. */
  recycling: boolean
  /**
   * A liveness probe in flight: the ping's number, the timer that declares the worker stuck, and whether the
   * worker was suspected again meanwhile (then its answer may predate what made us suspect it: probe again).
   */
  probe: { readonly seq: number; readonly timer: ReturnType<typeof setTimeout>; again: boolean } | undefined
  /** Whether the current thread said it is ready (booted); until then a suspicion waits in `suspectOnReady`. */
  ready: boolean
  suspectOnReady: boolean
}

export interface Hooks {
  /** Create the thread for `slot` (it starts running at once); may throw (no thread id left, bad options). */
  readonly boot: (slot: Slot) => Worker
  /** A thread started in `slot` (first start or restart); `slot.up` is done right after. */
  readonly started: (slot: Slot) => void
  /** The thread of `slot` exited; `reason` says why. Called before any restart is scheduled. */
  readonly died: (slot: Slot, reason: string) => void
  /** The tier gave up on `slot`: it will not be restarted. */
  readonly lost: (slot: Slot, error: WorkerLost) => void
}

/** The control messages of the liveness probe. */
export interface Ping {
  readonly _tag: "Ping"
  readonly seq: number
}
export interface Pong {
  readonly _tag: "Pong"
  readonly seq: number
}
/** A thread's first message, once it can answer pings. */
export interface Ready {
  readonly _tag: "Ready"
}

export class Supervisor {
  readonly slots: ReadonlyArray<Slot>
  private closing = false
  private restartCount = 0
  private seq = 0
  private readonly backoff: number
  private readonly maxBackoff: number
  private readonly maxRestarts: number
  private readonly window: number
  private readonly stuckAfter: number
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()

  constructor(count: number, policy: Policy, private readonly hooks: Hooks) {
    this.backoff = policy.backoffMs ?? 50
    this.maxBackoff = policy.maxBackoffMs ?? 5_000
    this.maxRestarts = policy.maxRestarts ?? 10
    this.window = policy.restartWindowMs ?? 30_000
    this.stuckAfter = policy.stuckAfterMs ?? 2_000
    this.slots = Array.from({ length: count }, (_, index) => ({
      index,
      worker: undefined,
      startedAt: 0,
      deaths: 0,
      restarts: [],
      reason: undefined,
      lost: undefined,
      ready: false,
      suspectOnReady: false,
      exited: Deferred.makeUnsafe<void>(),
      booted: Deferred.makeUnsafe<void>(),
      up: Deferred.makeUnsafe<void, WorkerLost>(),
      recycling: false,
      probe: undefined
    }))
  }

  /** Workers restarted so far. */
  restarts(): number {
    return this.restartCount
  }

  /** Start every worker; fails (having started none of the rest) if one cannot be started. */
  readonly startAll: Effect.Effect<void, WorkerLost> = Effect.suspend(() => {
    for (const slot of this.slots) {
      const error = this.start(slot)
      if (error !== undefined) return Effect.fail(new WorkerLost({ worker: slot.index, reason: `could not start: ${error}` }))
    }
    return Effect.void
  })

  /** Start a thread in `slot`; the reason if it could not be created. */
  private start(slot: Slot): string | undefined {
    let worker: Worker
    try {
      worker = this.hooks.boot(slot)
    } catch (error) {
      return describe(error)
    }
    slot.worker = worker
    slot.startedAt = Date.now()
    slot.reason = undefined
    slot.ready = false
    slot.suspectOnReady = false
    slot.exited = Deferred.makeUnsafe<void>()
    slot.booted = Deferred.makeUnsafe<void>()
    worker.on("error", (error) => {
      slot.reason ??= describe(error)
    })
    worker.on("message", (message: unknown) => {
      const tag = (message as Pong | Ready | undefined)?._tag
      if (tag === "Pong") this.answered(slot, (message as Pong).seq)
      else if (tag === "Ready" && slot.worker === worker) this.readied(slot)
    })
    worker.on("exit", (code) => this.onExit(slot, worker, code))
    this.hooks.started(slot)
    // Only once the caller's routing knows the worker: a spawn waiting for this slot may resume at once, and send.
    Deferred.doneUnsafe(slot.up, Effect.void)
    return undefined
  }

  private onExit(slot: Slot, worker: Worker, code: number): void {
    if (slot.worker !== worker) return
    slot.worker = undefined
    this.clearProbe(slot)
    slot.up = Deferred.makeUnsafe<void, WorkerLost>()
    const recycled = slot.recycling
    slot.recycling = false
    const reason = recycled ? "recycled (replaced by a fresh thread between tasks)" : slot.reason ?? (this.closing ? "terminated" : `exited with code ${code}`)
    this.hooks.died(slot, reason)
    Deferred.doneUnsafe(slot.exited, Effect.void)
    Deferred.doneUnsafe(slot.booted, Effect.void)
    if (this.closing) return
    if (!recycled) return this.restartLater(slot, reason)
    const failed = this.start(slot)
    if (failed !== undefined) this.restartLater(slot, `could not start: ${failed}`)
  }

  /**
   * Replace the thread of worker `index` with a fresh one (see the module doc); done once the new one is up. A
   * worker that is down is waited for first; one the tier gave up on fails with `WorkerLost`.
   */
  recycle(index: number): Effect.Effect<void, WorkerLost> {
    return Effect.andThen(this.awaitUp(index), Effect.suspend(() => {
      const slot = this.slots[index]!
      const worker = slot.worker
      if (worker === undefined || this.closing) return this.awaitUp(index)
      const exited = slot.exited
      if (!slot.recycling) {
        slot.recycling = true
        this.clearProbe(slot)
        void worker.terminate()
      }
      return Effect.andThen(Deferred.await(exited), this.awaitUp(index))
    }))
  }

  /** Schedule a restart of `slot` after its backoff, or give up on it when it died too often. */
  private restartLater(slot: Slot, reason: string): void {
    const now = Date.now()
    slot.restarts = slot.restarts.filter((t) => now - t < this.window)
    if (slot.restarts.length >= this.maxRestarts) {
      return this.giveUp(
        slot,
        `it died ${slot.restarts.length + 1} times within ${this.window / 1000} s (more than the ${this.maxRestarts} restarts allowed); last: ${reason}`
      )
    }
    slot.restarts.push(now)
    this.restartCount++
    if (now - slot.startedAt > STABLE_MS) slot.deaths = 0
    const delay = Math.min(this.maxBackoff, this.backoff * 2 ** slot.deaths)
    slot.deaths++
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (this.closing) return
      const failed = this.start(slot)
      // A thread that cannot even be created counts as one more death.
      if (failed !== undefined) this.restartLater(slot, `could not start: ${failed}`)
    }, delay)
    this.timers.add(timer)
  }

  private giveUp(slot: Slot, reason: string): void {
    const error = new WorkerLost({ worker: slot.index, reason })
    slot.lost = error
    Deferred.doneUnsafe(slot.up, Effect.fail(error))
    this.hooks.lost(slot, error)
  }

  /** Worker `index`'s state in a few words, for diagnostics. */
  describe(index: number): string {
    const slot = this.slots[index]!
    const state = slot.lost !== undefined
      ? "lost"
      : slot.worker === undefined
      ? "down (restart pending)"
      : slot.ready
      ? `up for ${((Date.now() - slot.startedAt) / 1000).toFixed(1)} s`
      : `booting for ${((Date.now() - slot.startedAt) / 1000).toFixed(1)} s`
    const probe = slot.probe !== undefined ? `, watchdog ping ${slot.probe.seq} in flight${slot.probe.again ? " (suspected again)" : ""}` : ""
    const waiting = slot.suspectOnReady ? ", suspected (ping once ready)" : ""
    return `${state}${probe}${waiting}, ${slot.restarts.length} restart(s) in the window`
  }

  /** Whether worker `index` can take messages now. */
  isUp(index: number): boolean {
    return this.slots[index]?.worker !== undefined
  }

  /** Wait until worker `index` runs (at once if it does); fails with `WorkerLost` once the tier gave up on it. */
  awaitUp(index: number): Effect.Effect<void, WorkerLost> {
    return Effect.suspend(() => Deferred.await(this.slots[index]!.up))
  }

  /** Wait until worker `index` has booted (loaded its runtime and said it is ready), through restarts. */
  awaitReady(index: number): Effect.Effect<void, WorkerLost> {
    return Effect.andThen(this.awaitUp(index), Effect.suspend(() => {
      const slot = this.slots[index]!
      return slot.ready ? Effect.void : Effect.andThen(Deferred.await(slot.booted), this.awaitReady(index))
    }))
  }

  /**
   * Worker `index` was asked to interrupt or stop something: unless its event loop answers a ping within
   * `stuckAfterMs`, it is blocked in a call that ignores interruption, and is terminated (then restarted).
   */
  suspect(index: number): void {
    const slot = this.slots[index]
    const worker = slot?.worker
    if (slot === undefined || worker === undefined || this.closing) return
    if (!slot.ready) {
      slot.suspectOnReady = true
      return
    }
    if (slot.probe !== undefined) {
      // The answer to the ping in flight may already be on its way, sent before the worker took the message
      // that blocks it now: it proves nothing about this interrupt, so a fresh ping follows it.
      slot.probe.again = true
      return
    }
    const seq = ++this.seq
    const timer = setTimeout(() => {
      // Not before the messages already queued here are handled: if this thread was the one blocked (busy main
      // thread), the worker's answer may be waiting behind this timer, and a healthy worker must not be killed.
      setImmediate(() => {
        if (slot.worker !== worker || slot.probe?.seq !== seq) return
        slot.probe = undefined
        slot.reason = `stuck: its event loop did not turn for ${this.stuckAfter} ms after an interrupt or stop (a synchronous call that never yields); terminated`
        void worker.terminate()
      })
    }, this.stuckAfter)
    timer.unref()
    slot.probe = { seq, timer, again: false }
    worker.postMessage({ _tag: "Ping", seq } satisfies Ping)
  }

  private readied(slot: Slot): void {
    slot.ready = true
    Deferred.doneUnsafe(slot.booted, Effect.void)
    if (slot.suspectOnReady) {
      slot.suspectOnReady = false
      this.suspect(slot.index)
    }
  }

  private answered(slot: Slot, seq: number): void {
    if (slot.probe?.seq !== seq) return
    const again = slot.probe.again
    this.clearProbe(slot)
    if (again) this.suspect(slot.index)
  }

  private clearProbe(slot: Slot): void {
    if (slot.probe !== undefined) clearTimeout(slot.probe.timer)
    slot.probe = undefined
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
    for (const slot of running) {
      this.clearProbe(slot)
      void slot.worker!.terminate()
    }
    return Effect.forEach(running, (slot) => Deferred.await(slot.exited), { discard: true })
  })
}
