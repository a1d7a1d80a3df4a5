/**
 * The client: starts a set of engines on whatever tier the `ActorSystem`
 * provides (one per worker by default, so one per core on `Threads.layer()`),
 * lists their `ids`, and hands out views — IPython's `Client` with its
 * controller and engines.
 *
 * ```ts
 * const program = Effect.gen(function*() {
 *   const client = yield* Client.Client
 *   client.ids                                  // [0, 1]
 *   const dview = yield* client.view()          // all engines; view(0), view({ step: 2 }) ...
 *   const lview = yield* client.loadBalanced()
 * })
 * program.pipe(Effect.provide(Client.layer().pipe(Layer.provide(Threads.layer()))))
 * ```
 *
 * Closing the client's scope stops its engines and fails whatever still waits.
 */
import { Context, Effect, Layer, Scope } from "effect"
import { ActorSystem } from "../index.ts"
import type { ActorError } from "../index.ts"
import { Controller } from "./Controller.ts"
import type { Options as ControllerOptions } from "./Controller.ts"
import type * as AsyncResult from "./AsyncResult.ts"
import * as DirectView from "./DirectView.ts"
import { Engine } from "./Engine.ts"
import type { Info } from "./Engine.ts"
import type { NoSuchEngine } from "./Errors.ts"
import * as LoadBalancedView from "./LoadBalancedView.ts"
import * as Selection from "./Selection.ts"

export interface Options extends ControllerOptions {
  /** Number of engines (default: one per worker of the tier). Engine i lives on worker i mod workers. */
  readonly engines?: number
}

export interface Shape extends Iterable<DirectView.DirectView<"one">> {
  /** Engine ids, 0..n-1. */
  readonly ids: ReadonlyArray<number>
  /** Where the engines live, in a few words (the tier's `description`). */
  readonly where: string
  /**
   * A direct view of some engines (default all): `view([0, 2])`, `view({ step: 2 })`, `view({ start: -1 })`; a
   * view of one engine by number, `view(0)` (IPython's `rc[0]`), gives bare values instead of one per engine.
   */
  readonly view: {
    (selection: number): Effect.Effect<DirectView.DirectView<"one">, NoSuchEngine>
    (selection?: Selection.Selection): Effect.Effect<DirectView.DirectView<"many">, NoSuchEngine>
  }
  /** Submit the tasks of `result` again (IPython's `client.resubmit`): a new result. */
  readonly resubmit: <A, E, I>(result: AsyncResult.AsyncResult<A, E, I>) => Effect.Effect<AsyncResult.AsyncResult<A, E, I>>
  /** A load-balanced view over some engines (default all), with flags. */
  readonly loadBalanced: (
    flags?: LoadBalancedView.Flags & { readonly targets?: Selection.Selection }
  ) => Effect.Effect<LoadBalancedView.LoadBalancedView, NoSuchEngine>
  /** Where each engine runs (worker index, thread id, process id). */
  readonly info: DirectView.SubmitEach<"many", Info>
  /** Per engine: tasks queued on the client, messages in flight, whether it is down (restarting). */
  readonly queueStatus: () => ReadonlyArray<{ readonly engine: number; readonly queued: number; readonly inflight: number; readonly down: boolean }>
}

export class Client extends Context.Service<Client, Shape>()("actorflow/runtime/engines/Client") {}

export const make = (options: Options = {}): Effect.Effect<Shape, ActorError.SpawnFailed, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const system = yield* ActorSystem.ActorSystem
    const count = options.engines ?? system.workers
    if (!Number.isInteger(count) || count < 1) {
      return yield* Effect.die(new RangeError(`engines must be a positive integer, got ${count}`))
    }
    const refs = yield* Effect.forEach(
      Array.from({ length: count }, (_, id) => id),
      (id) => system.spawn(Engine, { id }, { worker: id }),
      { concurrency: "unbounded" }
    )
    const controller = new Controller(refs, system, options)
    const scope = yield* Scope.make()
    // Waiting tasks fail before the engines go; results still running are interrupted with the scope.
    yield* Effect.addFinalizer((exit) => Effect.andThen(Effect.sync(() => controller.close()), Scope.close(scope, exit)))

    const ids = controller.ids
    const view = ((selection?: Selection.Selection) =>
      Effect.suspend(() => {
        const targets = Selection.resolve(ids, selection)
        return Array.isArray(targets)
          ? Effect.succeed(DirectView.make(controller, targets, scope, typeof selection === "number" ? "one" : "many"))
          : Effect.fail(targets)
      })) as Shape["view"]

    const all = DirectView.make(controller, ids, scope)
    return {
      ids,
      where: system.description,
      view,
      loadBalanced: (flags = {}) =>
        Effect.suspend(() => {
          const { targets: selection, ...rest } = flags
          const targets = Selection.resolve(ids, selection)
          return Array.isArray(targets) ? Effect.succeed(LoadBalancedView.make(controller, targets, scope, rest)) : Effect.fail(targets)
        }),
      info: all.info(),
      queueStatus: () => controller.status(),
      resubmit: (result) => result.resubmit,
      // `for (const engine of client)`: a view of each engine, in id order (IPython's iteration over a client).
      [Symbol.iterator]: () => ids.map((id) => DirectView.make(controller, [id], scope, "one"))[Symbol.iterator]()
    } satisfies Shape
  })

/** The client as a Layer over the tier's `ActorSystem`. */
export const layer = (options: Options = {}): Layer.Layer<Client, ActorError.SpawnFailed, ActorSystem.ActorSystem> =>
  Layer.effect(Client, make(options))
