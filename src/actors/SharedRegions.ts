/**
 * `SharedRegions`: the shared-memory variant of the halo model. One actor per worker runs a group of regions in
 * lockstep with the other workers' groups: each step, every region reads its neighbours' envelopes from shared
 * arrays (src/actors/halo/exchange.ts), advances with the same kernel as `ParticleRegion`, publishes its own, and
 * then every worker waits at one Atomics barrier. No messages move during a run; its `run` ask is one blocking
 * loop on the worker.
 *
 * Stopping is decided together, so nobody waits at a barrier the others have left: a region that fails (a
 * particle moving too far), or a worker that sees the cancel word set by the main thread, writes "stop after
 * barrier b" into the abort word before arriving at b (first writer wins), and every worker reads it after b.
 * A worker that dies breaks the barrier: the others fail with `BarrierBroken` instead of hanging.
 */
import { Effect, Schema } from "effect"
import * as Actor from "../runtime/Actor.ts"
import { BarrierBroken, BarrierTimeout, fromHandle, HandleSchema } from "../runtime/shared/Barrier.ts"
import { envelopeBytes, makeTrace, traceInto, warmUpRegionKernels } from "./halo/accounting.ts"
import { ABORT, CANCEL, copyParticles, Exchange } from "./halo/exchange.ts"
import type { Envelope } from "./halo/index.ts"
import { advanceRegion, distribute, makeGeometry, RegionWorkspace, validateSetup } from "./halo/index.ts"
import { GridSchema, HaloError, haloError, ParamsSchema, ParticlesSchema } from "./HaloWire.ts"
import { RunResultSchema } from "./ParticleRegion.ts"
import type { RunResult } from "./ParticleRegion.ts"

const Int = Schema.Number.check(Schema.isInt())
const Shared = Schema.instanceOf(SharedArrayBuffer)

export const ExchangeSchema = Schema.Struct({
  n: Int,
  regions: Int,
  migrantCapacity: Int,
  haloCapacity: Int,
  control: Shared,
  table: Shared,
  migIds: Shared,
  migX: Shared,
  migY: Shared,
  migVx: Shared,
  migVy: Shared,
  haloIds: Shared,
  haloX: Shared,
  haloY: Shared
})

const OutcomeSchema = Schema.Struct({ aborted: Schema.Boolean, results: Schema.Array(RunResultSchema) })
type Outcome = typeof OutcomeSchema.Type
const RunErrorSchema = Schema.Union([HaloError, BarrierBroken, BarrierTimeout])
type RunError = HaloError | BarrierBroken | BarrierTimeout

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
        params: ParamsSchema,
        grid: GridSchema,
        /** 0 for exactly one group: it resets the pool counters. */
        group: Int,
        regions: Schema.Array(Int),
        owned: Schema.Array(ParticlesSchema),
        steps: Int,
        exchange: ExchangeSchema,
        barrier: HandleSchema,
        trace: Schema.Boolean,
        /** Optional Int32 words, one per region: steps done so far. */
        progress: Schema.optional(Schema.instanceOf(SharedArrayBuffer))
      }),
      success: OutcomeSchema,
      error: RunErrorSchema
    })
  },
  behaviour: (_init, context) =>
    Effect.sync(() => {
      warmUpRegionKernels()
      const workspaces = new Map<number, RegionWorkspace>()
      return {
        run: (input) =>
          Effect.suspend((): Effect.Effect<Outcome, RunError> => {
            const { grid, group, regions, steps } = input
            const issue = validateSetup({ ...input.params, steps }, grid)
            if (issue !== undefined) return Effect.fail(haloError(issue))
            const g = makeGeometry({ ...input.params, steps }, grid)
            const exchange = new Exchange(input.exchange, g)
            const barrier = fromHandle(input.barrier)
            const control = exchange.control
            const wss = regions.map((r) => {
              let ws = workspaces.get(r)
              if (ws === undefined) workspaces.set(r, ws = new RegionWorkspace({ reuseOwnEnvelope: true }))
              return ws
            })
            const own: Array<Envelope | undefined> = regions.map(() => undefined)
            const traces = regions.map(() => (input.trace ? makeTrace(steps) : undefined))
            const stats = regions.map((region) => ({
              region,
              worker: context.worker,
              messages: 0,
              bytes: 0,
              crossWorkerMessages: 0,
              computeMs: 0,
              waitMs: 0
            }))
            let failure: HaloError | undefined
            const progress = input.progress ? new Int32Array(input.progress) : undefined

            /** Publishes a region's outbox for the next stamp, keeping its own envelope. */
            const publish = (i: number, outbox: ReadonlyArray<Envelope>) => {
              for (const e of outbox) {
                if (e.to === regions[i]) {
                  own[i] = e
                  continue
                }
                exchange.publish(e)
                stats[i]!.messages++
                stats[i]!.bytes += envelopeBytes(e)
                if (!regions.includes(e.to)) stats[i]!.crossWorkerMessages++
              }
            }
            /** Arrives at barrier `b` (after stamp b is published); true if everybody stops there. */
            const sync = (b: number): boolean => {
              if (failure !== undefined || Atomics.load(control, CANCEL) !== 0) {
                Atomics.compareExchange(control, ABORT, 0, b + 1)
              }
              const started = performance.now()
              barrier.wait()
              // The group waits once for all its regions: counted on its first.
              stats[0]!.waitMs += performance.now() - started
              const abort = Atomics.load(control, ABORT)
              return abort !== 0 && abort <= b + 1
            }

            const loop = (): ReadonlyArray<RunResult> | undefined => {
              // Stamp 0: every region's initial distribution.
              regions.forEach((region, i) => {
                if (failure !== undefined) return
                const started = performance.now()
                const res = distribute(g, region, input.owned[i]!, 0, wss[i])
                stats[i]!.computeMs += performance.now() - started
                if (res._tag === "Invalid") failure = haloError(res.issue)
                else publish(i, res.outbox)
              })
              if (sync(0)) return undefined
              for (let t = 0; t < steps; t++) {
                if (group === 0) exchange.reset(t & 1)
                for (let i = 0; i < regions.length && failure === undefined; i++) {
                  const region = regions[i]!
                  const inbox = exchange.inbox(region, t, own[i]!)
                  const trace = traces[i]
                  if (trace) traceInto(trace, t, inbox.map((e) => e.migrants))
                  const started = performance.now()
                  const res = advanceRegion(g, region, t, inbox, wss[i])
                  stats[i]!.computeMs += performance.now() - started
                  if (res._tag === "Invalid") failure = haloError(res.issue)
                  else publish(i, res.outbox)
                }
                if (progress) for (const region of regions) Atomics.store(progress, region, t + 1)
                if (sync(t + 1)) return undefined
              }
              // The last stamp: own particles plus the migrants published to each region, copied out.
              return regions.map((region, i): RunResult => {
                const owned = exchange.inbox(region, steps, own[i]!).map((e) => copyParticles(e.migrants))
                const trace = traces[i]
                if (trace) traceInto(trace, steps, owned)
                return { region, owned, stats: stats[i]!, ...(trace ? { trace } : {}) }
              })
            }

            let results: ReadonlyArray<RunResult> | undefined
            try {
              results = loop()
            } catch (error) {
              // A broken barrier (a worker died) or a timeout is typed; anything else thrown is a bug.
              if (error instanceof BarrierBroken || error instanceof BarrierTimeout) return Effect.fail(error)
              return Effect.die(error)
            }
            if (failure !== undefined) return Effect.fail(failure)
            return Effect.succeed({ aborted: results === undefined, results: results ?? [] })
          })
      }
    })
})
