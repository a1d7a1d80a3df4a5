/**
 * The decomposed halo simulation run serially in one thread: every region in a loop, envelopes passed as arrays.
 * It exercises exactly the functions region actors will call (`distribute` for the initial exchange, then
 * `advanceRegion` per step), so matching `simulateSerial` bit for bit is the proof that the region kernels are right.
 */
import { makeGeometry, validateSetup } from "./params.ts"
import { advanceRegion, distribute, gather, partition, RegionWorkspace } from "./region.ts"
import type { Envelope, Grid, HaloIssue, HaloParams } from "./Schemas.ts"
import type { HaloState } from "./state.ts"
import { initialState } from "./state.ts"

export interface DecomposedOptions {
  /** Initial state (default `initialState(p)`). */
  readonly start?: HaloState
  /** Called with every step's envelopes (stamped `step`), 0..steps, before they are consumed (valid during the call). */
  readonly onStep?: (step: number, envelopes: ReadonlyArray<Envelope>) => void
  /**
   * Reorders each region's inbox before it is consumed (tests use it to show arrival order does not matter).
   * Must return the same envelopes.
   */
  readonly reorder?: (inbox: ReadonlyArray<Envelope>) => ReadonlyArray<Envelope>
}

export type DecomposedResult =
  | { readonly _tag: "Done"; readonly state: HaloState }
  | { readonly _tag: "Invalid"; readonly issue: HaloIssue }

export const runDecomposed = (p: HaloParams, grid: Grid, options: DecomposedOptions = {}): DecomposedResult => {
  const setupIssue = validateSetup(p, grid)
  if (setupIssue !== undefined) return { _tag: "Invalid", issue: setupIssue }
  const g = makeGeometry(p, grid)
  const owned = partition(g, options.start ?? initialState(p))
  // Each region's own envelope reuses its workspace: it is consumed by the next step, before being overwritten.
  const workspaces = Array.from({ length: g.regions }, () => new RegionWorkspace({ reuseOwnEnvelope: true }))

  let envelopes: Array<Envelope> = []
  for (let r = 0; r < g.regions; r++) {
    const res = distribute(g, r, owned[r]!, 0, workspaces[r])
    if (res._tag === "Invalid") return res
    envelopes.push(...res.outbox)
  }
  for (let step = 0; step < p.steps; step++) {
    options.onStep?.(step, envelopes)
    const inbox: Array<Array<Envelope>> = Array.from({ length: g.regions }, () => [])
    for (const e of envelopes) inbox[e.to]!.push(e)
    const next: Array<Envelope> = []
    for (let r = 0; r < g.regions; r++) {
      const mine = options.reorder ? options.reorder(inbox[r]!) : inbox[r]!
      const res = advanceRegion(g, r, step, mine, workspaces[r])
      if (res._tag === "Invalid") return res
      next.push(...res.outbox)
    }
    envelopes = next
  }
  options.onStep?.(p.steps, envelopes)
  const out = gather(p.n, envelopes)
  return out._tag === "Gathered" ? { _tag: "Done", state: out.state } : out
}
