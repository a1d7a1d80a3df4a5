/**
 * The soak's fault schedule: for each run, which work, which fault (or none), on which worker and how long into
 * the run — a pure function of (seed, run index), drawn from the counter-based generator, so that a seed
 * replays the same schedule.
 */
import { uniform } from "../../actors/rng.ts"
import { FAULTS } from "./Saboteur.ts"
import type { Fault } from "./Saboteur.ts"
import { WORKLOADS } from "./workloads.ts"

/** What a scheduled fault can be: one of the saboteur's, an interrupt of the run, or none. */
type Planned = Fault | "interrupt" | "none"

/** One run of the schedule: a pure function of (seed, run index). */
export interface Plan {
  readonly run: number
  readonly workload: string
  readonly fault: Planned
  readonly worker: number
  readonly delayMs: number
}

const KINDS: ReadonlyArray<Planned> = [...FAULTS, "interrupt"]

/** A run's draws: uniform numbers keyed by (seed, run, draw), so a seed replays the same schedule. */
const drawsOf = (seed: number, run: number) => {
  let k = 0
  return () => uniform(seed, run * 1024 + k++)
}

export const plan = (seed: number, run: number, workers: number, faultRate: number): { plan: Plan; draw: () => number } => {
  const draw = drawsOf(seed, run)
  const workload = WORKLOADS[Math.floor(draw() * WORKLOADS.length)]!
  const fault = draw() < faultRate ? KINDS[Math.floor(draw() * KINDS.length)]! : "none"
  const worker = Math.floor(draw() * workers)
  const delayMs = Math.floor(draw() * 400)
  return { plan: { run, workload: workload.name, fault, worker, delayMs }, draw }
}

