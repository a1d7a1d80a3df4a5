/**
 * The tier a program runs on, chosen by its flags: worker threads by default, or the cluster a connection file
 * names (`--cluster FILE`, written by `cluster.ts start`). Programs take the Layer and never ask which it is.
 * `--inspect-workers` starts the worker threads under the inspector (see the Threads tier's `inspect` option).
 */
import { Effect, Layer, Option, Schema } from "effect"
import { Flag } from "effect/cli"
import * as Cluster from "../../runtime/Cluster.ts"
import type { ActorError } from "../../runtime/index.ts"
import { ActorSystem, Threads } from "../../runtime/index.ts"

/** `--inspect-workers` with `--cluster`: the runners' threads are in other processes. */
export class InspectUnsupported extends Schema.TaggedError<InspectUnsupported>()("InspectUnsupported", {
  message: Schema.String
}) {}

export type Tier = Layer.Layer<ActorSystem.ActorSystem, ActorError.WorkerLost | Cluster.ClusterUnavailable | InspectUnsupported>

/** `--inspect-workers`. */
export const inspectFlag = () =>
  Flag.Boolean("inspect-workers").pipe(
    Flag.withDefault(false),
    Flag.withDescription("start the worker threads under the inspector on 127.0.0.1:9230, 9231, … (attach Chrome DevTools or VS Code)")
  )

/** The tier; `threads` are the worker threads' options (`inspect` from `--inspect-workers`, refused on a cluster). */
export const layer = (cluster: Option.Option<string>, threads: Threads.Options): Tier =>
  Option.match(cluster, {
    onNone: () => Threads.layer(threads),
    onSome: (file) =>
      threads.inspect
        ? Layer.effect(
          ActorSystem.ActorSystem,
          Effect.fail(new InspectUnsupported({ message: "--inspect-workers starts this process's worker threads; a cluster's threads are in its runner processes" }))
        )
        : Cluster.layer({ file })
  })
