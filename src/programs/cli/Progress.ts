/**
 * Progress on a terminal: once a run has taken more than a second, a line on stderr shows a bar, how far it got,
 * the rate and the time left, redrawn a few times a second. Silent when stderr is not a terminal or when the
 * caller turns it off (`--json`), so piped and JSON output stay clean.
 *
 * What it reads is up to the caller: a plain count the main thread bumps as replies arrive, or a shared counter
 * (Atomics) that workers bump from inside a long task, which moves with no messages at all (π does this).
 * Our own renderer, not a progress library: a dozen lines that redraw one line, where cli-progress and friends
 * bring their own option sets and terminal handling for what these programs need.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { si } from "./Table.ts"

const BAR = 20

/** One progress line: `label [#####.....] 45.0% 1.2G / 4G, 410M/s, 3.2 s left`. */
export const render = (label: string, done: number, total: number, seconds: number): string => {
  const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0
  const filled = Math.round(fraction * BAR)
  const rate = seconds > 0 ? done / seconds : 0
  const left = rate > 0 && total > 0 ? Math.max(0, total - done) / rate : undefined
  const percent = total > 0 ? `${(100 * fraction).toFixed(1)}%` : "?"
  return `${label} [${"#".repeat(filled)}${".".repeat(BAR - filled)}] ${percent} ${si(done)} / ${si(total)}, ` +
    `${si(rate)}/s, ${left === undefined ? "?" : left.toFixed(1)} s left`
}

/**
 * Show `label` with done / total (and `detail`, if given, e.g. a running estimate) while the surrounding scope is
 * open: on a terminal, unless `enabled` is false.
 */
export const track = (
  label: string,
  progress: () => { done: number; total: number },
  options: { readonly enabled?: boolean; readonly detail?: () => string } = {}
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (!process.stderr.isTTY || options.enabled === false) return
    const started = performance.now()
    let shown = false
    const timer = setInterval(() => {
      const seconds = (performance.now() - started) / 1000
      if (seconds < 1) return
      const { done, total } = progress()
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
