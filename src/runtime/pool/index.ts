/**
 * Pools, processes, tasks and pipelines — the `multiprocessing` counterpart, built on the public actor API
 * (`../index.ts`) and so on any tier: `import { Pool, Task } from "actorflow/pool"`.
 */
export * as Pipeline from "./Pipeline.ts"
export * as Pool from "./Pool.ts"
export * as Process from "./Process.ts"
export * as Task from "./Task.ts"
export * as TaskRunner from "./TaskRunner.ts"
export * as Feed from "./Feed.ts"
export * as Workers from "./Workers.ts"
