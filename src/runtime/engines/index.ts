/**
 * Engines and views, the IPython parallel counterpart: one namespace per
 * concept, `import { Client, Remote } from "actorflow/engines"`.
 */
export * as AsyncResult from "./AsyncResult.ts"
export * as Client from "./Client.ts"
export * as CompositeError from "./CompositeError.ts"
export * as Dependency from "./Dependency.ts"
export * as DirectView from "./DirectView.ts"
export * as Engine from "./Engine.ts"
export * as Errors from "./Errors.ts"
export * as LoadBalancedView from "./LoadBalancedView.ts"
export * as Partition from "./Partition.ts"
export * as Remote from "./Remote.ts"
export * as Scheduler from "./Scheduler.ts"
export * as Selection from "./Selection.ts"
export * as TaskRecord from "./TaskRecord.ts"
