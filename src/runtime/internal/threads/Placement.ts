/**
 * Placement: which worker an actor lives on, and the record of what lives where, so that the actors of a
 * restarted worker can be spawned again there, under the same addresses.
 *
 * An explicit `{ worker: k }` means worker k modulo the worker count (negative k counts from the end); without
 * it, actors go to the workers in turn.
 */
import type { SpawnSpec } from "../Wire.ts"

export class Placement {
  private placed = 0
  /** Per worker: the actors placed there, by id. */
  private readonly actors: ReadonlyArray<Map<number, SpawnSpec>>

  constructor(readonly workers: number) {
    this.actors = Array.from({ length: workers }, () => new Map())
  }

  /** The worker for a new actor. */
  choose(requested: number | undefined): number {
    const k = requested ?? this.placed++
    return ((k % this.workers) + this.workers) % this.workers
  }

  record(worker: number, actorId: number, spec: SpawnSpec): void {
    this.actors[worker]!.set(actorId, spec)
  }

  forget(worker: number, actorId: number): void {
    this.actors[worker]!.delete(actorId)
  }

  /** The actors living on `worker`, to spawn again after a restart. */
  on(worker: number): ReadonlyMap<number, SpawnSpec> {
    return this.actors[worker]!
  }
}
