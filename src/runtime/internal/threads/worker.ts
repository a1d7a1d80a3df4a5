/**
 * The entry of every worker thread: a router that hosts actors, connected to the main thread and, by direct
 * channels, to every other worker.
 *
 * A spawn request names its definition as shipped code; the worker resolves it through `Code` (loading the
 * module's bundle on first use), decodes the init parameters with the definition's Schema and builds the cell.
 *
 * What user code writes on the thread (console, process.stdout / stderr) is posted to the main thread as
 * `Output` messages, attributed to the handler run that wrote it (see Capture.ts), before that run's reply.
 *
 * The thread starts as this module is evaluated, when its `workerData` says it is one of ours: so whichever file
 * holds the runtime can be a worker's entry — the base bundle, or the output file of a user's own bundle.
 */
import { Effect } from "effect"
import { isMainThread, parentPort, workerData } from "node:worker_threads"
import * as Actor from "../../Actor.ts"
import { SpawnFailed, oneLine } from "../../ActorError.ts"
import * as Code from "../../Code.ts"
import * as ThreadSlots from "../../ThreadSlots.ts"
import * as Capture from "../Capture.ts"
import { Cell } from "../Cell.ts"
import * as Codec from "../Codec.ts"
import * as Layout from "../Layout.ts"
import { Router } from "../Router.ts"
import { ThreadTrace } from "../Tracing.ts"
import * as Inspector from "./Inspector.ts"
import * as ScriptBoot from "./ScriptBoot.ts"
import type { Flush } from "../Tracing.ts"
import type { Control, SpawnSpec } from "../Wire.ts"

/** Index of the main thread as a peer. */
export const MAIN = -1

export interface WorkerData {
  /** Marks a thread this runtime started (any other worker that loads this module is left alone). */
  readonly actorflow: true
  /** The base bundle this thread runs as a script, and its code cache (read by `ScriptBoot`'s loader, not here). */
  readonly script?: ScriptBoot.Script
  readonly index: number
  readonly batching: boolean
  /** The process's bundle cache (`Layout.cacheDir`), where `Code.Shipped.via` names bundles. */
  readonly cacheDir: string
  /** The process's thread-slot table and this worker's slot in it (see ThreadSlots.ts). */
  readonly slots: ThreadSlots.Handle
  readonly slot: number
  /**
   * On a cluster runner: this runner's threads are workers `first` .. `first + count - 1` of the cluster. They
   * reach each other directly and every other actor through the runner's main thread, which passes it on.
   */
  readonly cluster?: { readonly first: number; readonly count: number }
  /** Record handler runs, sends and spans, and post them to the main thread in batches (see Tracing.ts). */
  readonly trace?: boolean
  /** Open the inspector on this worker as it boots (see Inspector.ts). */
  readonly inspect?: Inspector.Settings
}

export const start = (): void => {
  const port = parentPort!
  const { batching, cacheDir, cluster, index, slot, slots } = workerData as WorkerData
  Layout.useCacheDir(cacheDir)
  const trace = (workerData as WorkerData).trace === true ? new ThreadTrace(index, (batch) => port.postMessage(batch, [batch.records.buffer])) : undefined
  ThreadSlots.attach(slots, slot)
  const first = cluster?.first ?? 0
  const worker = first + index
  // What user code writes here goes to the main thread, attributed to its run, or to this worker outside any.
  const output: Capture.Channel = {
    where: `w${worker}`,
    write: (stream, origin, text) => port.postMessage({ _tag: "Output", stream, origin, text } satisfies Capture.Message)
  }
  Capture.install(new Capture.Forwarded(output.where, output, false))
  // After the capture, so that where it listens is written as this worker's; before anything user code runs.
  const inspect = (workerData as WorkerData).inspect
  if (inspect !== undefined) Inspector.open(inspect)
  const route = cluster === undefined
    ? undefined
    : (k: number) => (k >= first && k < first + cluster.count ? k - first : MAIN)
  const spawn = (actorId: number, spec: SpawnSpec): Effect.Effect<Cell, unknown> =>
    Effect.gen(function*() {
      // The code's own reason, as the spawn's error: it names the module, and a user reads it as it is.
      const definition = yield* Code.resolve(spec.code, Actor.isDefinition, "actor definition").pipe(
        Effect.mapError((error) => new SpawnFailed({ actor: spec.code.name, detail: error.detail }))
      )
      const init = yield* Effect.try({
        try: () => Codec.forDefinition(definition).init.decode(spec.init),
        catch: (error) => new SpawnFailed({ actor: spec.code.name, detail: `init: ${oneLine(error instanceof Error ? error.message : String(error))}` })
      })
      const address: Actor.Address = { id: actorId, name: spec.code.name, worker: spec.worker ?? worker }
      return yield* Cell.make(actorId, definition, init, { self: address, worker, connect }, output, trace)
    })

  // On a cluster runner, persisted messages go through its main thread to Effect Cluster's storage, which keeps
  // their keys for good (see `Sender.Links.durable`).
  const router: Router = new Router(index, {
    spawn,
    batching: batching ? "adaptive" : "off",
    ...(route ? { route, durable: MAIN } : {}),
    ...(trace ? { trace } : {})
  })
  const connect: Actor.Context["connect"] = (definition, address) => router.ref(definition, address)

  router.connect(MAIN, (frames, transfer) => port.postMessage(frames, transfer))
  port.on("message", (message: Array<unknown> | Control | Flush) => {
    if (Array.isArray(message)) return router.receive(MAIN, message)
    switch (message._tag) {
      case "Connect": {
        const peer = message.worker
        const channel = message.port
        router.connect(peer, (frames, transfer) => channel.postMessage(frames, transfer))
        channel.on("message", (frames: Array<unknown>) => router.receive(peer, frames))
        return
      }
      case "PeerDied":
        return router.disconnect(message.worker, message.reason)
      case "Ping":
        return port.postMessage({ _tag: "Pong", seq: message.seq })
      case "TraceFlush":
        const batch = (trace ?? new ThreadTrace(index, () => {})).take(true)
        return port.postMessage(batch, [batch.records.buffer])
    }
  })
  // Ready once the module loader is set up (see `ScriptBoot.primeImports`), which is also after the rest of the
  // file holding the runtime has run: this runs as that file is evaluated, and the runtime's modules after this
  // one took 17–23 ms more here, time in which a worker that said it was ready did not answer.
  // Only then can it answer pings: the supervisor does not judge it stuck before this (see Supervisor.ts).
  void ScriptBoot.primeImports(cacheDir).then((primed) => {
    ScriptBoot.noteReady(primed)
    port.postMessage({ _tag: "Ready" })
  })
}

/** Set on a thread once its router started: see below. */
const STARTED = "__actorflow_worker_started"

// Once per thread: a module bundle that carries its own copy of this file (a module that imports it, which the
// base bundle does not share) would otherwise start a second router on the same port, answering every ask for
// an actor it does not host with ActorStopped.
if (!isMainThread && (workerData as Partial<WorkerData> | null)?.actorflow === true && !(globalThis as { [STARTED]?: true })[STARTED]) {
  ;(globalThis as { [STARTED]?: true })[STARTED] = true
  start()
}
