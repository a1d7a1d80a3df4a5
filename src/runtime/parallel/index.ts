/**
 * Loops over shared typed arrays on the worker pool: `parallelFor` with static / dynamic / guided schedules and
 * deterministic reductions, over module-level kernels: `import { Kernel, ParallelFor } from "actorflow/parallel"`.
 */
export * as Kernel from "./Kernel.ts"
export * as KernelRunner from "./KernelRunner.ts"
export * as ParallelFor from "./ParallelFor.ts"
export * as Reduction from "./Reduction.ts"
export * as Schedule from "./Schedule.ts"
