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

  /**
   * The worker for a new actor: the requested one (modulo the count), or the next in turn that `usable` accepts
   * (any, if none does).
   */
  choose(requested: number | undefined, usable: (worker: number) => boolean = () => true): number {
    const wrap = (k: number) => ((k % this.workers) + this.workers) % this.workers
    if (requested !== undefined) return wrap(requested)
    for (let tries = 0; tries < this.workers; tries++) {
      const worker = wrap(this.placed++)
      if (usable(worker)) return worker
    }
    return wrap(this.placed++)
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
