/**
 * Progress on a terminal: once a run has taken more than a second, a line on
 * stderr shows how far it got, redrawn a few times a second. Silent when stderr
 * is not a terminal, so piped and `--json` output stay clean.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { si } from "./Table.ts"

/** Show `label` with done / total (and `detail`, if given) while the surrounding scope is open. */
export const track = (
  label: string,
  progress: () => { done: number; total: number },
  detail?: () => string
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (!process.stderr.isTTY) return
    const started = performance.now()
    let shown = false
    const timer = setInterval(() => {
      const seconds = (performance.now() - started) / 1000
      if (seconds < 1) return
      const { done, total } = progress()
      const percent = total > 0 ? ((100 * done) / total).toFixed(1) : "?"
      const more = detail === undefined ? "" : ` ${detail()}`
      process.stderr.write(`\r${label}: ${percent}% (${si(done)} / ${si(total)}) ${seconds.toFixed(1)} s${more} `)
      shown = true
    }, 200)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        clearInterval(timer)
        if (shown) process.stderr.write("\r\x1b[K")
      })
    )
  })
