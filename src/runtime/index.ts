/**
 * Actorflow's public runtime: actors, the service every tier provides, the tiers, and how code reaches workers.
 *
 * ```ts
 * import { Actor, ActorSystem, Threads } from "actorflow"      // in this checkout: "./src/runtime/index.ts"
 * ```
 *
 * Where a new tier goes, and what it must implement: a tier is a module beside `Local` and `Threads` whose Layer
 * provides `ActorSystem.ActorSystem` (see `ActorSystem.Service`): `spawn` and `connect` actors, and `ship` code —
 * answer how a module named by `Code` reaches the workers that will resolve it. Everything else (pools, loops,
 * engines, shared memory) is written against this file alone and runs on any tier unchanged.
 *
 * Internals (message routing, cells, the wire, worker bundles, supervision) live in `internal/` and are not
 * part of this face.
 */
export * as Actor from "./Actor.ts"
export * as ActorError from "./ActorError.ts"
export * as ActorSystem from "./ActorSystem.ts"
export * as Balancer from "./Balancer.ts"
export * as Code from "./Code.ts"
export * as Handle from "./Handle.ts"
export * as Local from "./Local.ts"
export * as Output from "./Output.ts"
export * as Partition from "./Partition.ts"
export * as Progress from "./Progress.ts"
export * as Retry from "./Retry.ts"
export * as ThreadSlots from "./ThreadSlots.ts"
export * as Threads from "./Threads.ts"
export * as Trace from "./Trace.ts"
export * as Transfer from "./Transfer.ts"
