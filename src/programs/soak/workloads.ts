/**
 * What the soak runs: small versions of every kind of work the framework does — π over actors and over a
 * pipeline, a pool map, particles scattered over actors, halo regions exchanging messages, and both engine
 * views — each with its own serial reference, computed in this thread by other code than the run's.
 *
 * A run's sizes are drawn from the soak's seeded generator, so a seed replays the same runs; each finishes in
 * well under a second on 2 workers when nothing goes wrong.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import { checksum as haloChecksum, boxForDensity, initialState, simulateSerial } from "../../actors/halo/index.ts"
import { checksum as particleChecksum, cloneParticles, evolveRange, randomParticles } from "../../actors/particles/index.ts"
import { countHits } from "../../actors/pi/kernel.ts"
import { Client, Remote } from "../../runtime/engines/index.ts"
import type { ActorSystem } from "../../runtime/index.ts"
import { Pool } from "../../runtime/pool/index.ts"
import * as HaloModes from "../halo/modes.ts"
import * as ParticleModes from "../particles/modes.ts"
import * as PiModes from "../pi/modes.ts"
import { collatz, collatzSteps } from "./tasks.ts"

/** What a finished run is compared on. */
export interface Check {
  readonly equal: boolean
  readonly what: string
}

export interface Workload {
  readonly name: string
  /** One run; `draw()` gives seeded numbers in [0, 1) for its sizes. */
  readonly run: (draw: () => number) => Effect.Effect<Check, unknown, ActorSystem.ActorSystem | Scope.Scope>
}

const between = (draw: () => number, lo: number, hi: number) => lo + Math.floor(draw() * (hi - lo + 1))

const same = <A>(what: string, actual: A, expected: A): Check => ({
  equal: JSON.stringify(actual) === JSON.stringify(expected),
  what: `${what}: ${JSON.stringify(actual)} vs serial ${JSON.stringify(expected)}`.slice(0, 200)
})

const pi = (mode: "actors" | "pipeline"): Workload => ({
  name: `pi-${mode}`,
  run: (draw) =>
    Effect.gen(function*() {
      const samples = between(draw, 4, 40) * 1_000_000
      const seed = between(draw, 0, 1000)
      const chunk = between(draw, 1, 8) * 500_000
      const hits = yield* PiModes.run(mode, { samples, seed, chunk })
      return same("hits", hits, countHits(seed, 0, samples))
    })
})

const poolMap: Workload = {
  name: "pool-map",
  run: (draw) =>
    Effect.gen(function*() {
      const n = between(draw, 1000, 20_000)
      const items = Array.from({ length: n }, (_, i) => i + 1)
      const pool = yield* Pool.make()
      const out = yield* pool.map(collatz, items, { retries: 6 })
      return same("collatz steps (sum)", out.reduce((a, b) => a + b, 0), items.map(collatzSteps).reduce((a, b) => a + b, 0))
    })
}

const particles: Workload = {
  name: "particles-distributed",
  run: (draw) =>
    Effect.gen(function*() {
      const n = between(draw, 200, 2000)
      const nsteps = between(draw, 200, 2000)
      const initial = randomParticles(n, between(draw, 0, 1000))
      const runner = yield* ParticleModes.distributed()
      const out = yield* runner.evolve(initial, nsteps)
      const reference = cloneParticles(initial)
      evolveRange(reference.x, reference.y, reference.w, 0, n, nsteps)
      return same("checksum", particleChecksum(out.x, out.y), particleChecksum(reference.x, reference.y))
    })
}

const halo: Workload = {
  name: "halo-messages",
  run: (draw) =>
    Effect.gen(function*() {
      const n = between(draw, 300, 1500)
      const params = { n, L: boxForDensity(n, 1, 12), rc: 1, k: 1, dt: 0.01, steps: between(draw, 5, 30), seed: between(draw, 0, 1000) }
      const setup = { params, grid: { px: 1, py: 2 } }
      const initial = initialState(params)
      const runner = yield* HaloModes.prepare("messages", setup)
      const outcome = yield* runner.run(initial)
      return same("checksum", haloChecksum(outcome.state), haloChecksum(simulateSerial(params, initial)))
    })
}

const engines = (view: "direct" | "balanced"): Workload => ({
  name: `engines-${view}`,
  run: (draw) =>
    Effect.gen(function*() {
      const n = between(draw, 100, 3000)
      const items = Array.from({ length: n }, (_, i) => i)
      const client = yield* Client.make()
      const cube = Remote.fn((x: number) => x * x * x, { name: "cube" })
      const out = view === "direct"
        ? yield* Effect.flatten((yield* client.view()).map(cube, items))
        : yield* Effect.flatten((yield* client.loadBalanced({ retries: 6 })).map(cube, items))
      return same("cubes (sum)", (out as Array<number>).reduce((a, b) => a + b, 0), items.reduce((a, x) => a + x * x * x, 0))
    })
})

export const WORKLOADS: ReadonlyArray<Workload> = [
  pi("actors"),
  pi("pipeline"),
  poolMap,
  particles,
  halo,
  engines("direct"),
  engines("balanced")
]
