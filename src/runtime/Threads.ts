/**
 * The Threads tier: actors live on N worker threads (default: one per core), talk to the main thread and to
 * each other over MessagePorts, and are supervised.
 *
 * The service joins four parts, each in `internal/threads/`: a `Supervisor` (start, restart with backoff,
 * terminate), the `Mesh` (a direct channel between every two workers), `Placement` (which worker an actor
 * goes to, and what lives where) and the bundles workers load (`WorkerBundle`): the base bundle holds Effect
 * and this runtime, and `ship` builds one small bundle per user module. `Tier` puts them together.
 *
 * When a worker dies (process.exit, an uncaught throw, resource limits) only the asks it held fail, with
 * `WorkerDied`; it is restarted and its actors are spawned again from their init parameters, under the same
 * addresses. Closing the layer's scope terminates every worker and waits until each has exited.
 */
import { Effect, Layer } from "effect"
import type { WorkerLost } from "./ActorError.ts"
import { ActorSystem } from "./ActorSystem.ts"
import * as Tier from "./internal/threads/Tier.ts"

export type Options = Tier.Options

/** Live worker threads of every Threads instance, so tests can check that none outlive their scope. */
export const liveWorkers = Tier.liveWorkers

export const make = (options: Options = {}) => Effect.map(Tier.make(options), (tier) => tier.service)

/** The tier as a Layer; it fails with `WorkerLost` when a worker cannot be started at all. */
export const layer = (options: Options = {}): Layer.Layer<ActorSystem, WorkerLost> => Layer.effect(ActorSystem, make(options))
