/**
 * The soak's fault injector: an actor placed on every worker that, when asked, kills its worker the way real
 * failures do — `process.exit`, an uncaught throw from a timer, running out of heap (the tier's resource
 * limits), or blocking its event loop in a call that never yields (which the supervisor's watchdog must catch).
 */
import { Effect, Schema } from "effect"
import { Actor } from "../../runtime/index.ts"

export const FAULTS = ["exit", "throw", "oom", "stuck"] as const
export type Fault = (typeof FAULTS)[number]

export const Saboteur = Actor.make("Saboteur", {
  module: import.meta.url,
  init: Schema.Struct({}),
  protocol: {
    strike: Actor.message({ payload: Schema.Literals(FAULTS) })
  },
  behaviour: () =>
    Effect.succeed({
      strike: (fault) =>
        Effect.sync(() => {
          switch (fault) {
            case "exit":
              return process.exit(70)
            case "throw":
              setTimeout(() => {
                throw new Error("soak: an uncaught throw")
              }, 0)
              return
            case "oom": {
              const hog: Array<Array<number>> = []
              for (;;) hog.push(new Array(1 << 20).fill(1))
            }
            case "stuck": {
              const end = Date.now() + 120_000
              while (Date.now() < end) { /* blocked, never yields */ }
              return
            }
          }
        })
    })
})
