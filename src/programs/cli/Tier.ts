/**
 * The tier a program runs on, chosen by its flags: worker threads by default, or the cluster a connection file
 * names (`--cluster FILE`, written by `cluster.ts start`). Programs take the Layer and never ask which it is.
 */
import { Option } from "effect"
import type { Layer } from "effect"
import * as Cluster from "../../runtime/Cluster.ts"
import type { ActorError, ActorSystem } from "../../runtime/index.ts"
import { Threads } from "../../runtime/index.ts"

export type Tier = Layer.Layer<ActorSystem.ActorSystem, ActorError.WorkerLost | Cluster.ClusterUnavailable>

export const layer = (cluster: Option.Option<string>, threads: Threads.Options): Tier =>
  Option.match(cluster, {
    onNone: () => Threads.layer(threads),
    onSome: (file) => Cluster.layer({ file })
  })
