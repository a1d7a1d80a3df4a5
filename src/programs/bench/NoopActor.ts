/**
 * The benchmark's no-op actor: replies with its payload, to measure what one
 * ask costs through the framework; `once` is the same as a persisted message (its payload is its key); `pid`
 * says which process it lives in (on the Cluster tier, which runner).
 */
import { Effect, Schema } from "effect"
import { Actor } from "../../runtime/index.ts"

export const Noop = Actor.make("Noop", {
  module: import.meta.url,
  init: Schema.Struct({}),
  protocol: {
    noop: Actor.message({ payload: Schema.Number, success: Schema.Number }),
    once: Actor.message({ payload: Schema.String, success: Schema.String, persisted: { key: (key) => key } }),
    pid: Actor.message({ payload: Schema.Void, success: Schema.Number })
  },
  behaviour: () =>
    Effect.succeed({ noop: (n) => Effect.succeed(n), once: (key) => Effect.succeed(key), pid: () => Effect.sync(() => process.pid) })
})
