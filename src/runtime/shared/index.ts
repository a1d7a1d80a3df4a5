/**
 * The shared-memory tier's primitives over `SharedArrayBuffer`: each one is described by a postable handle and
 * revived with `fromHandle` on any thread. `ThreadSlots` must be wired by the runtime (see its module comment).
 * `import { Mutex, SharedArray } from "actorflow/shared"`.
 */
export * as AtomicCounter from "./AtomicCounter.ts"
export * as Barrier from "./Barrier.ts"
export * as Mutex from "./Mutex.ts"
export * as SharedArray from "./SharedArray.ts"
export * as SharedRef from "./SharedRef.ts"
export * as WideCounter from "./WideCounter.ts"
