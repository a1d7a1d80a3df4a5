/**
 * The benchmark's array echo: replies with the `Float64Array` it was sent, moved (transferred) both ways or
 * copied both ways, to measure a large array's round trip through the framework against raw `postMessage`.
 */
import { Effect, Schema } from "effect"
import { Actor, Transfer } from "../../runtime/index.ts"

export const Mover = Actor.make("BenchMover", {
  module: import.meta.url,
  init: Schema.Struct({}),
  protocol: {
    moved: Actor.message({ payload: Transfer.Float64Array, success: Transfer.Float64Array }),
    copied: Actor.message({ payload: Schema.instanceOf(Float64Array), success: Schema.instanceOf(Float64Array) })
  },
  behaviour: () => Effect.succeed({ moved: (data) => Effect.succeed(data), copied: (data) => Effect.succeed(data) })
})
