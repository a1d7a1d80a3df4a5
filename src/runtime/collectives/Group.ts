/**
 * Groups: a set of members with logical ranks 0..size-1 that take part in collectives together — regions of a
 * domain, samplers, engines. `make` starts one endpoint per rank (on the worker you choose for it: put it where
 * the member lives, so the member's calls stay on its thread) and wires them; each member then joins with its
 * `Member` (`Comm.join`), received in its init parameters or in a message.
 *
 * ```ts
 * const group = yield* Group.make({ size: regions, worker: (rank) => rank % system.workers })
 * const refs = yield* Effect.forEach(group.members, (member, rank) =>
 *   ActorSystem.spawn(Region, { member }, { worker: group.workers[rank] }))
 * ```
 *
 * Custom reducers whose module the members' workers do not load anyway are listed in `reducers`, so that their
 * code is shipped to every endpoint; the built-in ones (`Reducer.sum`, ...) need nothing. Endpoints stop with the
 * scope. A group whose member's worker dies is broken for good (see `Endpoint`): make a new one.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { ActorSystem } from "../index.ts"
import type { ActorError } from "../index.ts"
import type { Member } from "./Comm.ts"
import { Endpoint } from "./Endpoint.ts"
import { ReducerUnavailable } from "./Errors.ts"
import type * as Reducer from "./Reducer.ts"

export interface Options {
  readonly size: number
  /** The worker of rank r's endpoint (default r mod the tier's workers, where `spawnMany` puts copy r). */
  readonly worker?: (rank: number) => number
  /** Reducers to ship to every endpoint (those defined in modules the members' workers may not load). */
  readonly reducers?: ReadonlyArray<Reducer.Any>
}

export interface Group {
  readonly size: number
  /** What each rank joins with (`Comm.join`), indexed by rank. */
  readonly members: ReadonlyArray<Member>
  /** The worker of each rank's endpoint, indexed by rank. */
  readonly workers: ReadonlyArray<number>
}

export const make = (
  options: Options
): Effect.Effect<Group, ActorError.SpawnFailed | ActorError.ActorError | ReducerUnavailable, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const { size } = options
    if (!Number.isInteger(size) || size < 1) return yield* Effect.die(new RangeError(`a group's size must be a positive integer, got ${size}`))
    const system = yield* ActorSystem.ActorSystem
    const reducers = yield* Effect.forEach(options.reducers ?? [], (reducer) =>
      Effect.mapError(system.ship(reducer), (error) => new ReducerUnavailable({ reducer: reducer.name, detail: error.detail })))
    const ranks = Array.from({ length: size }, (_, rank) => rank)
    const workers = ranks.map((rank) => {
      const worker = options.worker?.(rank) ?? rank
      return ((worker % system.workers) + system.workers) % system.workers
    })
    const endpoints = yield* Effect.forEach(ranks, (rank) =>
      system.spawn(Endpoint, { rank, size, reducers }, { worker: workers[rank]! }), { concurrency: "unbounded" })
    const incarnations = yield* Effect.forEach(endpoints, (endpoint) => endpoint.ask("hello", undefined), { concurrency: "unbounded" })
    const peers = endpoints.map((endpoint, rank) => ({ address: endpoint.address, incarnation: incarnations[rank]! }))
    yield* Effect.forEach(endpoints, (endpoint) => endpoint.ask("wire", { peers }), { concurrency: "unbounded", discard: true })
    return {
      size,
      members: endpoints.map((endpoint, rank) => ({ rank, size, endpoint: endpoint.address })),
      workers
    }
  })
