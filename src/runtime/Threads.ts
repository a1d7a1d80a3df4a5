/**
 * The Threads tier: actors live on N worker threads (default: one per core),
 * talk to the main thread and to each other over MessagePorts, and are
 * supervised.
 *
 * Supervision: when a worker dies (process.exit, an uncaught throw, resource
 * limits) only the asks it held fail, with `WorkerDied`; the worker is restarted
 * with exponential backoff and its actors are spawned again from their init
 * parameters, under the same addresses. Closing the layer's scope terminates
 * every worker and waits until each has exited.
 */
import { Deferred, Effect, Layer } from "effect"
import * as Os from "node:os"
import { MessageChannel, Worker } from "node:worker_threads"
import type { ResourceLimits } from "node:worker_threads"
import type * as Actor from "./Actor.ts"
import { SpawnFailed, describe } from "./ActorError.ts"
import { ActorSystem } from "./ActorSystem.ts"
import type { Service } from "./ActorSystem.ts"
import * as Codec from "./transport/Codec.ts"
import * as Retry from "./Retry.ts"
import { Router } from "./transport/Router.ts"
import { Kind } from "./transport/Wire.ts"
import type { Control, SpawnSpec } from "./transport/Wire.ts"
import * as ThreadSlots from "./shared/ThreadSlots.ts"
import * as WorkerBundle from "./transport/WorkerBundle.ts"
import { MAIN } from "./transport/worker.ts"
import type { WorkerData } from "./transport/worker.ts"

export interface Options {
  /** Number of worker threads; default: available cores. */
  readonly workers?: number
  /** V8 heap limits for each worker (a worker exceeding them dies and is restarted). */
  readonly resourceLimits?: ResourceLimits
  /** First restart delay; doubles per consecutive death up to `maxBackoffMs`. */
  readonly backoffMs?: number
  readonly maxBackoffMs?: number
  /** Batch messages per destination (default true); turn off only to measure what batching saves. */
  readonly batching?: boolean
}

interface Slot {
  readonly index: number
  worker: Worker | undefined
  startedAt: number
  deaths: number
  reason: string | undefined
  /** Actors placed here, so they can be spawned again after a restart. */
  readonly actors: Map<number, SpawnSpec>
  exited: Deferred.Deferred<void>
  /** Done while a worker runs here; replaced when it dies, done again once it is restarted. */
  up: Deferred.Deferred<void>
}

/** How long stopping an actor waits for its worker to confirm. */
const STOP_TIMEOUT_MS = 2_000

/** Live Threads instances, so tests can check that none outlive their scope. */
const live = new Set<Worker>()
export const liveWorkers = (): number => live.size

export const make = (options: Options = {}) =>
  Effect.gen(function*() {
    const count = options.workers ?? Os.availableParallelism()
    if (!Number.isInteger(count) || count < 1) {
      return yield* Effect.die(new RangeError(`workers must be a positive integer, got ${count}`))
    }
    const basePath = yield* Effect.promise(() => WorkerBundle.baseBundle())
    const batching = options.batching ?? true
    const router = new Router(MAIN, { batching })
    const backoff = options.backoffMs ?? 50
    const maxBackoff = options.maxBackoffMs ?? 5_000
    let closing = false
    let nextId = 1
    let placed = 0
    let restarts = 0

    const slots: Array<Slot> = Array.from({ length: count }, (_, index) => ({
      index,
      worker: undefined,
      startedAt: 0,
      deaths: 0,
      reason: undefined,
      actors: new Map(),
      exited: Deferred.makeUnsafe<void>(),
      up: Deferred.makeUnsafe<void>()
    }))

    const post = (slot: Slot, message: unknown, transfer?: Array<unknown>) =>
      slot.worker?.postMessage(message, transfer as never)

    /** Give the worker in `slot` a direct channel to every other live worker. */
    const mesh = (slot: Slot) => {
      for (const other of slots) {
        if (other === slot || other.worker === undefined) continue
        const { port1, port2 } = new MessageChannel()
        post(slot, { _tag: "Connect", worker: other.index, port: port1 } satisfies Control, [port1 as never])
        post(other, { _tag: "Connect", worker: slot.index, port: port2 } satisfies Control, [port2 as never])
      }
    }

    const start = (slot: Slot) => {
      // Every worker gets a fresh thread slot: locks and barriers held by a dead worker report it.
      const threadSlot = ThreadSlots.allocate()
      const worker = new Worker(basePath, {
        workerData: { index: slot.index, batching, slots: ThreadSlots.current().handle, slot: threadSlot } satisfies WorkerData,
        // Workers load a plain bundle: inheriting a TypeScript loader from the parent only slows their boot.
        execArgv: [],
        ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}),
        stdout: false,
        stderr: false
      })
      ThreadSlots.watch(worker, threadSlot)
      slot.worker = worker
      slot.startedAt = Date.now()
      slot.reason = undefined
      slot.exited = Deferred.makeUnsafe<void>()
      live.add(worker)
      router.connect(slot.index, (frames) => worker.postMessage(frames))
      worker.on("message", (message: Array<unknown> | { _tag: string }) => {
        if (Array.isArray(message)) router.receive(slot.index, message)
      })
      worker.on("error", (error) => {
        slot.reason = describe(error)
      })
      worker.on("exit", (code) => onExit(slot, worker, code))
      // Only once connected: a spawn waiting for this worker may resume synchronously, and sends at once.
      Deferred.doneUnsafe(slot.up, Effect.void)
      // Actors that lived here before a restart come back under the same addresses.
      for (const [actorId, spec] of slot.actors) {
        Effect.runFork(Effect.ignore(router.request(slot.index, Kind.Spawn, actorId, spec)))
      }
    }

    const onExit = (slot: Slot, worker: Worker, code: number) => {
      live.delete(worker)
      if (slot.worker !== worker) return
      slot.worker = undefined
      slot.up = Deferred.makeUnsafe<void>()
      const reason = slot.reason ?? (closing ? "terminated" : `exited with code ${code}`)
      router.disconnect(slot.index, reason)
      for (const other of slots) {
        if (other !== slot) post(other, { _tag: "PeerDied", worker: slot.index, reason } satisfies Control)
      }
      Deferred.doneUnsafe(slot.exited, Effect.void)
      if (closing) return
      restarts++
      // A worker that lived long enough starts its backoff from scratch.
      if (Date.now() - slot.startedAt > 10_000) slot.deaths = 0
      const delay = Math.min(maxBackoff, backoff * 2 ** slot.deaths)
      slot.deaths++
      setTimeout(() => {
        if (closing) return
        start(slot)
        mesh(slot)
      }, delay)
    }

    for (const slot of slots) start(slot)
    for (let i = 0; i < slots.length; i++) {
      for (let j = i + 1; j < slots.length; j++) {
        const { port1, port2 } = new MessageChannel()
        post(slots[i]!, { _tag: "Connect", worker: j, port: port1 } satisfies Control, [port1 as never])
        post(slots[j]!, { _tag: "Connect", worker: i, port: port2 } satisfies Control, [port2 as never])
      }
    }

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closing = true
        const running = slots.filter((slot) => slot.worker !== undefined)
        for (const slot of running) void slot.worker!.terminate()
        yield* Effect.forEach(running, (slot) => Deferred.await(slot.exited), { discard: true })
      })
    )

    const connect: Service["connect"] = (definition, address) => router.ref(definition, address)

    const spawn: Service["spawn"] = (definition, init, spawnOptions) =>
      Effect.gen(function*() {
        const any = definition as unknown as Actor.Any
        const fail = (detail: string) => new SpawnFailed({ actor: definition.name, detail })
        const encodedInit = yield* Effect.try({
          try: () => Codec.forDefinition(any).init.encode(init),
          catch: (error) => fail(`init: ${Codec.issue(error)}`)
        })
        const bundle = WorkerBundle.isRuntimeModule(definition.module)
          ? ""
          : yield* Effect.tryPromise({
            try: () => WorkerBundle.moduleBundle(definition.module),
            catch: (error) => fail(`cannot bundle ${definition.module}: ${describe(error)}`)
          })
        const worker = ((spawnOptions?.worker ?? placed++) % count + count) % count
        const id = nextId++
        const spec: SpawnSpec = { module: definition.module, name: definition.name, bundle, init: encodedInit }
        const slot = slots[worker]!
        // A worker being restarted takes new actors once it is back.
        // A worker that dies mid-spawn is restarted; the spawn then simply happens on its successor.
        const attempt = Effect.andThen(Deferred.await(slot.up), Effect.suspend(() => router.request(worker, Kind.Spawn, id, spec)))
        yield* Retry.onWorkerDeath(attempt, { times: 3 }).pipe(Effect.mapError((error) => fail(describe(error))))
        slot.actors.set(id, spec)
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            slot.actors.delete(id)
            // Bounded: a worker stuck in a long synchronous call cannot answer, and closing the scope must not
            // hang on it (the layer's own close terminates such a worker).
            return closing ? Effect.void : Effect.ignore(Effect.timeoutOption(router.request(worker, Kind.Stop, id, 0), STOP_TIMEOUT_MS))
          })
        )
        return router.ref(definition, { id, name: definition.name, worker })
      })

    const service: Service = {
      tier: "threads",
      workers: count,
      spawn,
      connect,
      restarts: () => restarts
    }
    return service
  })

export const layer = (options: Options = {}): Layer.Layer<ActorSystem> => Layer.effect(ActorSystem, make(options))
