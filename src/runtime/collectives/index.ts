/**
 * Collectives for groups of actors — `broadcast`, `reduce`, `allreduce`, `allgather`, `scan`, `barrier` — over a
 * fixed tree of logical ranks, so results are the same bits at any worker count and placement; built on the
 * public actor API (`../index.ts`) and so on any tier.
 */
export * as Comm from "./Comm.ts"
export * as Endpoint from "./Endpoint.ts"
export * as Errors from "./Errors.ts"
export * as Group from "./Group.ts"
export * as Reducer from "./Reducer.ts"
export * as Tree from "./Tree.ts"
