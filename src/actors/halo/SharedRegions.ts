/**
 * `SharedRegions`: the shared-memory variant of the halo model. One actor per worker runs a group of regions in
 * lockstep with the other workers' groups: each step, every region reads its neighbours' envelopes from shared
 * arrays (exchange.ts), advances with the same kernel as `ParticleRegion`, publishes its own, and
 * then every worker waits at one Atomics barrier. No messages move during a run; its `run` ask is one blocking
 * loop on the worker.
 *
 * Stopping is decided together, so nobody waits at a barrier the others have left: a group whose region failed
 * (a particle moving too far), or that sees the run cancelled by the main thread, proposes "stop after barrier
 * b" before arriving at b, and every group asks after b (see exchange.ts). A worker that dies breaks the
 * barrier: the others fail with `BarrierBroken` instead of hanging.
 */
import { Effect, Schema } from "effect"
import { Actor } from "../../runtime/index.ts"
import { Barrier } from "../../runtime/shared/index.ts"
import * as Accounting from "./accounting.ts"
import * as Exchange from "./exchange.ts"
import * as Params from "./params.ts"
import * as Region from "./region.ts"
import * as Schemas from "./Schemas.ts"

const Int = Schema.Number.check(Schema.isInt())

const Outcome = Schema.Struct({ aborted: Schema.Boolean, results: Schema.Array(Schemas.RunResult) })
type Outcome = typeof Outcome.Type

/** A region failed, or a worker died (the barrier broke) or never came. */
const RunError = Schema.Union([Schemas.HaloError, Barrier.BarrierBroken, Barrier.BarrierTimeout])
type RunError = typeof RunError.Type
const isBarrierError = Schema.is(Schema.Union([Barrier.BarrierBroken, Barrier.BarrierTimeout]))

export const SharedRegions = Actor.make("SharedRegions", {
  module: import.meta.url,
  init: Schema.Struct({}),
  protocol: {
    /**
     * Run `steps` steps of `regions` (with their initial particles `owned`, sorted by id) in lockstep with the
     * groups of the other workers. `aborted`: another group failed, or the run was cancelled.
     */
    run: Actor.message({
      payload: Schema.Struct({
        params: Schemas.Model,
        grid: Schemas.Grid,
        /** 0 for exactly one group: it resets the pool counters. */
        group: Int,
        regions: Schema.Array(Int),
        owned: Schema.Array(Schemas.Particles),
        steps: Int,
        exchange: Schemas.ExchangeBuffers,
        barrier: Barrier.HandleSchema,
        trace: Schema.Boolean,
        /** Optional Int32 words, one per region: steps done so far. */
        progress: Schema.optional(Schema.instanceOf(SharedArrayBuffer))
      }),
      success: Outcome,
      error: RunError
    })
  },
  warmUp: Accounting.warmUpRegionKernels,
  behaviour: (_init, context) =>
    Effect.sync(() => {
      const workspaces = new Map<number, Region.RegionWorkspace>()
      return {
        run: (input) =>
          Effect.suspend((): Effect.Effect<Outcome, RunError> => {
            const { grid, group, regions, steps } = input
            const issue = Params.validateSetup({ ...input.params, steps }, grid)
            if (issue !== undefined) return Effect.fail(Schemas.haloError(issue))
            const g = Params.makeGeometry({ ...input.params, steps }, grid)
            const exchange = Exchange.open(input.exchange, g)
            const barrier = Barrier.fromHandle(input.barrier)
            const wss = regions.map((r) => {
              let ws = workspaces.get(r)
              if (ws === undefined) workspaces.set(r, ws = new Region.RegionWorkspace({ reuseOwnEnvelope: true }))
              return ws
            })
            const own: Array<Schemas.Envelope | undefined> = regions.map(() => undefined)
            const traces = regions.map(() => (input.trace ? Accounting.makeTrace(steps) : undefined))
            const stats = regions.map((region) => ({
              region,
              worker: context.worker,
              messages: 0,
              bytes: 0,
              crossWorkerMessages: 0,
              computeMs: 0,
              waitMs: 0
            }))
            let failure: Schemas.HaloError | undefined
            const progress = input.progress ? new Int32Array(input.progress) : undefined

            /** Publishes a region's outbox for the next stamp, keeping its own envelope. */
            const publish = (i: number, outbox: ReadonlyArray<Schemas.Envelope>) => {
              for (const e of outbox) {
                if (e.to === regions[i]) {
                  own[i] = e
                  continue
                }
                exchange.publish(e)
                stats[i]!.messages++
                stats[i]!.bytes += Accounting.envelopeBytes(e)
                if (!regions.includes(e.to)) stats[i]!.crossWorkerMessages++
              }
            }
            /** Arrives at barrier `b` (after stamp b is published); true if everybody stops there. */
            const sync = (b: number): boolean => {
              exchange.proposeStop(b, failure !== undefined)
              const started = performance.now()
              barrier.wait()
              // The group waits once for all its regions: counted on its first.
              stats[0]!.waitMs += performance.now() - started
              return exchange.stopsAfter(b)
            }

            const loop = (): ReadonlyArray<Schemas.RunResult> | undefined => {
              // Stamp 0: every region's initial distribution.
              regions.forEach((region, i) => {
                if (failure !== undefined) return
                const started = performance.now()
                const res = Region.distribute(g, region, input.owned[i]!, 0, wss[i])
                stats[i]!.computeMs += performance.now() - started
                if (res._tag === "Invalid") failure = Schemas.haloError(res.issue)
                else publish(i, res.outbox)
              })
              if (sync(0)) return undefined
              for (let t = 0; t < steps; t++) {
                if (group === 0) exchange.reset(t & 1)
                for (let i = 0; i < regions.length && failure === undefined; i++) {
                  const region = regions[i]!
                  const inbox = exchange.inbox(region, t, own[i]!)
                  const trace = traces[i]
                  if (trace) Accounting.traceInto(trace, t, inbox.map((e) => e.migrants))
                  const started = performance.now()
                  const res = Region.advanceRegion(g, region, t, inbox, wss[i])
                  stats[i]!.computeMs += performance.now() - started
                  if (res._tag === "Invalid") failure = Schemas.haloError(res.issue)
                  else publish(i, res.outbox)
                }
                if (progress) for (const region of regions) Atomics.store(progress, region, t + 1)
                if (sync(t + 1)) return undefined
              }
              // The last stamp: own particles plus the migrants published to each region, copied out.
              return regions.map((region, i): Schemas.RunResult => {
                const owned = exchange.inbox(region, steps, own[i]!).map((e) => Region.copyParticles(e.migrants))
                const trace = traces[i]
                if (trace) Accounting.traceInto(trace, steps, owned)
                return { region, owned, stats: stats[i]!, ...(trace ? { trace } : {}) }
              })
            }

            let results: ReadonlyArray<Schemas.RunResult> | undefined
            try {
              results = loop()
            } catch (error) {
              // A broken barrier (a worker died) or a timeout is typed; anything else thrown is a bug.
              if (isBarrierError(error)) return Effect.fail(error)
              return Effect.die(error)
            }
            if (failure !== undefined) return Effect.fail(failure)
            return Effect.succeed({ aborted: results === undefined, results: results ?? [] })
          })
      }
    })
})
