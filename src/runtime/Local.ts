/**
 * The Local tier: every actor is a cell in the calling thread, driven by fibers.
 *
 * Nothing is encoded, and nothing is copied unless an actor asks to be `isolated`; messages are handled in a
 * fixed order, so this tier is the serial reference the parallel tiers are compared against. Code needs no
 * shipping here: the modules that define it are already loaded in this thread.
 */
import { Effect, Layer } from "effect"
import type { Scope } from "effect"
import type * as Actor from "./Actor.ts"
import { SpawnFailed, describe } from "./ActorError.ts"
import { ActorSystem } from "./ActorSystem.ts"
import type { Service } from "./ActorSystem.ts"
import * as Capture from "./internal/Capture.ts"
import { Cell } from "./internal/Cell.ts"
import * as Output from "./Output.ts"
import { Router } from "./internal/Router.ts"
import type { ThreadTrace } from "./internal/Tracing.ts"
import type { Recorder } from "./Trace.ts"

export interface Options {
  /** Record handler runs, sends, mailbox waits and spans into this recorder (see `Trace.ts`); off when omitted. */
  readonly trace?: Recorder
}

/**
 * The tier, with options: its scope holds the patch of this thread's output (see Output.ts), and its close hands
 * the last trace records to the recorder.
 */
export const makeWith = (options: Options): Effect.Effect<Service, never, Scope.Scope> => Effect.gen(function*() {
  // Handlers' output goes to the sink, attributed (`[stdout:local Actor.tag]`); the patch of this thread's
  // console and streams lasts as long as the tier (see Output.ts).
  const sink = yield* Output.CurrentSink
  const channel: Capture.Channel = {
    where: "local",
    write: (stream, origin, text) => sink.write(stream === 0 ? "stdout" : "stderr", origin, text)
  }
  yield* Effect.acquireRelease(Effect.sync(() => Capture.install()), () => Effect.sync(Capture.uninstall))
  const recorder = options.trace
  const trace: ThreadTrace | undefined = recorder?.mainThread()
  if (trace !== undefined) yield* Effect.addFinalizer(() => Effect.sync(() => recorder!.add(trace.take(true))))
  const router = new Router(0, trace ? { trace } : {})
  let nextId = 1
  const connect: Actor.Context["connect"] = (definition, address) => router.ref(definition, address)
  const spawn: Service["spawn"] = (definition, init) =>
    Effect.gen(function*() {
      const id = nextId++
      const address: Actor.Address = { id, name: definition.name, worker: 0 }
      const cell = yield* Cell.make(id, definition as unknown as Actor.Any, init, { self: address, worker: 0, connect }, channel, trace).pipe(
        Effect.mapError((error) => new SpawnFailed({ actor: definition.name, detail: describe(error) }))
      )
      router.host.host(cell)
      yield* Effect.addFinalizer(() => router.host.unhost(id))
      return router.ref(definition, address)
    })
  return {
    workers: 1,
    concurrent: false,
    description: "the calling thread (Local)",
    spawn,
    connect,
    ship: ({ module, name }) => Effect.succeed({ module, name, via: "" }),
    restarts: () => 0,
    isUp: () => true,
    awaitUp: () => Effect.void,
    ready: Effect.void,
    recycle: () => Effect.succeed(false)
  }
})

export const make: Effect.Effect<Service, never, Scope.Scope> = makeWith({})

export const layer: Layer.Layer<ActorSystem> = Layer.effect(ActorSystem, make)

/** The tier as a Layer, with options (a trace recorder). */
export const layerWith = (options: Options): Layer.Layer<ActorSystem> => Layer.effect(ActorSystem, makeWith(options))
