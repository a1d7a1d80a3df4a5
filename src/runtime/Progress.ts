/**
 * Progress of a parallel run, read while it runs, and a bar for it on a terminal.
 *
 * A `Meter` is what a caller hands to a map (`pool.map(task, items, { progress: meter })`, and the engines' maps
 * keep one each) and reads at any time: items done out of items in all (`total` is `undefined` while an endless or
 * unsized input is still being read), never going back, ending exactly at the total.
 *
 * It moves with no messages. Items are counted as their chunk's reply comes back and, where workers share memory
 * with the caller (Local, Threads), also while a chunk still runs: each chunk in flight owns one `Int32` slot of a
 * `SharedArrayBuffer` that its worker stores "items of this chunk done" into (`Slot`, `store`); the meter adds the
 * slots of the chunks not back yet. Where they do not (Cluster), only replies count. A task can report finer
 * progress of its own (`reporter().add(n)`, in its units) into the meter's `work` counter, a shared 64-bit cell.
 * Without a meter nothing of this happens: no slot travels, no worker stores anything.
 *
 * `track` draws the bar on stderr — `label [#####.....] 45.0% 1.2k / 4k, 410/s, 3.2 s left` — once a run has taken
 * more than a second, redrawn five times a second; silent when stderr is not a terminal or when turned off (a
 * program's `--json`). Our own renderer, not a progress library: a dozen lines that redraw one line, where
 * cli-progress and friends bring their own option sets and terminal handling for what this needs.
 *
 * ```ts
 * const meter = Progress.meter()
 * const squares = yield* pool.map(square, items, { progress: meter }).pipe(Progress.withBar("squares", meter))
 * ```
 */
import { Effect, Schema } from "effect"
import type { Scope } from "effect"

/** Items done out of items in all; `total` is undefined while it is not known yet (an input still being read). */
export interface Snapshot {
  readonly done: number
  readonly total: number | undefined
}

/** A running chunk's progress slot, as it travels in a message: a worker stores its chunk's items done there. */
export const SlotSchema = Schema.Struct({ buffer: Schema.instanceOf(SharedArrayBuffer), index: Schema.Number })
export type Slot = typeof SlotSchema.Type

/** Bytes before the slots: the `work` counter (one BigInt64). */
const WORK_BYTES = 8

/** Where a worker stores how many items of its chunk are done: a view on the slot, revived once per chunk. */
export interface SlotView {
  readonly cells: Int32Array
  readonly index: number
  readonly work: BigInt64Array
}

/** Revive a slot received in a message (once per chunk; then `store` per item, a plain typed-array write). */
export const view = (slot: Slot): SlotView => ({
  cells: new Int32Array(slot.buffer, WORK_BYTES),
  index: slot.index,
  work: new BigInt64Array(slot.buffer, 0, 1)
})

/** Items of this chunk done so far (stored, not added: an attempt run again starts its count afresh). */
export const store = (slot: SlotView, done: number): void => {
  Atomics.store(slot.cells, slot.index, done)
}

/** What a task bumps to report progress of its own, in its own units. */
export interface Reporter {
  readonly add: (n: number) => void
}

const silent: Reporter = { add: () => {} }
let current: Reporter = silent

/**
 * Inside a pool task: the reporter of the map it runs for — `add(n)` bumps the meter's `work` counter on the
 * caller's side with no message — or one that does nothing (the map has no meter, or its worker shares no
 * memory with the caller). Call it in the task's synchronous part (at its top) and keep it for its loop.
 */
export const reporter = (): Reporter => current

/** @internal Runners: make `to` the current reporter while a task's synchronous part runs; returns the one before. */
export const enter = (to: Reporter): Reporter => {
  const outer = current
  current = to
  return outer
}

/** A reporter that adds to a slot's `work` counter. */
export const workReporter = (slot: SlotView): Reporter => ({
  add: (n) => {
    Atomics.add(slot.work, 0, BigInt(n))
  }
})

/**
 * Progress of one map at a time (a meter given to a second map starts again from zero). The map side calls
 * `start`, `slot` / `release` around each chunk, `complete` as replies come back and `finish` at its end; the
 * reading side calls `snapshot` (or `work`), from the thread that runs the map.
 */
export class Meter {
  private completed = 0
  private shown = 0
  private size: number | undefined = undefined
  private read = 0
  private buffer: SharedArrayBuffer | undefined
  private cells: Int32Array | undefined
  private workCell: BigInt64Array | undefined
  /** Slot index -> items of the chunk that holds it (0: free). */
  private lengths: Array<number> = []
  private free: Array<number> = []

  /** Start a map of `total` items (undefined: not known until the input ends); `slots`: chunks in flight at most. */
  start(total: number | undefined, slots: number): void {
    this.completed = 0
    this.shown = 0
    this.read = 0
    this.size = total
    const bytes = WORK_BYTES + 4 * Math.max(1, slots)
    if (this.buffer === undefined || this.buffer.byteLength < bytes) {
      this.buffer = new SharedArrayBuffer(bytes)
      this.workCell = new BigInt64Array(this.buffer, 0, 1)
    }
    this.cells = new Int32Array(this.buffer, WORK_BYTES, Math.max(1, slots))
    this.cells.fill(0)
    Atomics.store(this.workCell!, 0, 0n)
    this.lengths = new Array<number>(this.cells.length).fill(0)
    this.free = []
    // No slots asked for (workers that share no memory): every chunk counts on its reply.
    for (let i = slots - 1; i >= 0; i--) this.free.push(i)
  }

  /** `n` more items were read from an input of unknown size. */
  readItems(n: number): void {
    this.read += n
  }

  /** A slot for a chunk of `length` items about to be sent (undefined when all are taken: it counts on reply only). */
  slot(length: number): Slot | undefined {
    const index = this.free.pop()
    if (index === undefined) return undefined
    this.lengths[index] = length
    Atomics.store(this.cells!, index, 0)
    return { buffer: this.buffer!, index }
  }

  /** A chunk's slot is no longer in use (its chunk came back or failed). */
  release(slot: Slot | undefined): void {
    if (slot === undefined || this.lengths[slot.index] === 0) return
    this.lengths[slot.index] = 0
    Atomics.store(this.cells!, slot.index, 0)
    this.free.push(slot.index)
  }

  /** `length` items came back (and their chunk's slot, if any, is released). */
  complete(length: number, slot?: Slot): void {
    this.completed += length
    this.release(slot)
  }

  /** The input was read to its end: an unknown total becomes the items read. */
  finish(): void {
    if (this.size === undefined) this.size = this.read
  }

  /** Items done (replies in, plus items inside running chunks) out of the total; never less than the last reading. */
  readonly snapshot = (): Snapshot => {
    let inside = 0
    const cells = this.cells
    if (cells !== undefined) {
      for (let i = 0; i < cells.length; i++) {
        const length = this.lengths[i]!
        if (length > 0) inside += Math.min(length, Atomics.load(cells, i))
      }
    }
    let done = this.completed + inside
    if (this.size !== undefined) done = Math.min(done, this.size)
    if (done > this.shown) this.shown = done
    return { done: this.shown, total: this.size }
  }

  /** `snapshot` as a handle's progress: while the total is unknown, the items read so far stand for it. */
  readonly counted = (): { done: number; total: number } => {
    const { done, total } = this.snapshot()
    return { done, total: total ?? this.read }
  }

  /** What the tasks reported with `reporter().add` (their own units), so far. */
  readonly work = (): number => (this.workCell === undefined ? 0 : Number(Atomics.load(this.workCell, 0)))
}

/** A meter to give to a map and read while it runs. */
export const meter = (): Meter => new Meter()

const BAR = 20

/** Numbers with an SI suffix: 1.20k, 410M. */
export const si = (x: number): string => {
  if (!Number.isFinite(x)) return String(x)
  const units = ["", "k", "M", "G", "T"]
  let i = 0
  while (Math.abs(x) >= 1000 && i < units.length - 1) {
    x /= 1000
    i++
  }
  return `${x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0)}${units[i]}`
}

/**
 * One progress line: `label [#####.....] 45.0% 1.2G / 4G, 410M/s, 3.2 s left`; with an unknown total,
 * `label [?] 1.2k / ?, 410/s` (no share, no time left).
 */
export const render = (label: string, done: number, total: number | undefined, seconds: number): string => {
  const rate = seconds > 0 ? done / seconds : 0
  if (total === undefined) return `${label} [?] ${si(done)} / ? (total not known yet), ${si(rate)}/s`
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0
  const filled = Math.round(fraction * BAR)
  const left = rate > 0 && total > 0 ? Math.max(0, total - done) / rate : undefined
  const percent = total > 0 ? `${(100 * fraction).toFixed(1)}%` : "?"
  return `${label} [${"#".repeat(filled)}${".".repeat(BAR - filled)}] ${percent} ${si(done)} / ${si(total)}, ` +
    `${si(rate)}/s, ${left === undefined ? "?" : left.toFixed(1)} s left`
}

/** What `track` reads: a function giving done / total, or a meter. */
export type Source = (() => Snapshot) | Meter

export interface TrackOptions {
  /** False: draw nothing (a program's `--json`). Default true: draw on a terminal. */
  readonly enabled?: boolean
  /** Something to add after the bar, e.g. a running estimate. */
  readonly detail?: () => string
}

/**
 * Show `label` with done / total while the surrounding scope is open: on a terminal (stderr a TTY) once a second
 * has passed, unless `enabled` is false. The line is cleared when the scope closes.
 */
export const track = (label: string, source: Source, options: TrackOptions = {}): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (!process.stderr.isTTY || options.enabled === false) return
    const read = typeof source === "function" ? source : source.snapshot
    const started = performance.now()
    let shown = false
    const timer = setInterval(() => {
      const seconds = (performance.now() - started) / 1000
      if (seconds < 1) return
      const { done, total } = read()
      const more = options.detail === undefined ? "" : ` ${options.detail()}`
      process.stderr.write(`\r${render(label, done, total, seconds)}${more} \x1b[K`)
      shown = true
    }, 200)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        clearInterval(timer)
        if (shown) process.stderr.write("\r\x1b[K")
      })
    )
  })

/** Run `effect` with the bar of `source` shown while it runs (see `track`). */
export const withBar = (label: string, source: Source, options: TrackOptions = {}) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.scoped(Effect.andThen(track(label, source, options), effect))
