/**
 * The entry of every worker thread: a router that hosts actors, connected to the
 * main thread and, by direct channels, to every other worker.
 *
 * Actor modules arrive as bundles built by the main thread; the worker imports
 * them, finds the definition by module and name, decodes the init parameters
 * with the definition's Schema and builds the cell.
 */
import { Effect } from "effect"
import { parentPort, workerData } from "node:worker_threads"
import * as Actor from "../Actor.ts"
import { SpawnFailed } from "../ActorError.ts"
import { Cell } from "./Cell.ts"
import * as Codec from "./Codec.ts"
import * as ModuleLoader from "./ModuleLoader.ts"
import { Router } from "./Router.ts"
import * as ThreadSlots from "../shared/ThreadSlots.ts"
import type { Control, SpawnSpec } from "./Wire.ts"

/** Index of the main thread as a peer. */
export const MAIN = -1

export interface WorkerData {
  readonly index: number
  readonly batching: boolean
  /** The process's thread-slot table and this worker's slot in it (see shared/ThreadSlots.ts). */
  readonly slots: ThreadSlots.Handle
  readonly slot: number
}

export const start = (): void => {
  const port = parentPort!
  const { batching, index, slot, slots } = workerData as WorkerData
  ThreadSlots.attach(slots, slot)
  const spawn = (actorId: number, spec: SpawnSpec): Effect.Effect<Cell, unknown> =>
    Effect.gen(function*() {
      yield* Effect.tryPromise(() => ModuleLoader.load(spec.bundle))
      const definition = Actor.lookup(spec.module, spec.name)
      if (definition === undefined) {
        return yield* new SpawnFailed({ actor: spec.name, detail: `no actor named ${spec.name} in ${spec.module}` })
      }
      const init = yield* Effect.try({
        try: () => Codec.forDefinition(definition).init.decode(spec.init),
        catch: (error) => new SpawnFailed({ actor: spec.name, detail: `init: ${Codec.issue(error)}` })
      })
      const address: Actor.Address = { id: actorId, name: spec.name, worker: index }
      return yield* Cell.make(actorId, definition, init, { self: address, worker: index, connect })
    })

  const router: Router = new Router(index, { spawn, batching })
  const connect: Actor.Context["connect"] = (definition, address) => router.ref(definition, address)

  router.connect(MAIN, (frames) => port.postMessage(frames))
  port.on("message", (message: Array<unknown> | Control) => {
    if (Array.isArray(message)) return router.receive(MAIN, message)
    switch (message._tag) {
      case "Connect": {
        const peer = message.worker
        const channel = message.port
        router.connect(peer, (frames) => channel.postMessage(frames))
        channel.on("message", (frames: Array<unknown>) => router.receive(peer, frames))
        return
      }
      case "PeerDied":
        return router.disconnect(message.worker, message.reason)
    }
  })
  port.postMessage({ _tag: "Ready" })
}
