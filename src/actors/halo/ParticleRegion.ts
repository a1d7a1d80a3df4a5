/**
 * `ParticleRegion`: one rectangle of the halo model's periodic box, as an actor. Regions are actors, boundaries
 * are messages: every step a region sends each neighbour (the distinct regions of its 3 × 3 periodic
 * neighbourhood) one step-stamped `halo` tell holding the particles that cross into it and the ones within the
 * cutoff of its border, receives one from each, and advances (see region.ts for the kernel).
 *
 * How a run goes: the main thread spawns the regions, then asks each `run` with the addresses of all regions
 * and its initial particles. `run` is an interleaved ask: it sends the step-0 envelopes and then waits, without
 * holding the mailbox, until the region has done every step; meanwhile `halo` tells drive the steps, going
 * directly region to region (`context.connect`: worker-to-worker channels on Threads, in-process on Local).
 *
 * Why it cannot run ahead: envelopes are kept in an inbox keyed by step, and step t runs only once the inbox of
 * step t holds one envelope from every neighbour (its own included); a region computes nothing else.
 *
 * Why it cannot deadlock: handlers never wait for a reply, and a tell waits only when the target's mailbox is
 * full. A region sends its step-s envelope only after finishing step s-1, which needed the receiver's step-(s-1)
 * envelope, sent after the receiver finished step s-2: so at most two envelopes (steps s-1 and s) from one sender
 * are ever unconsumed at one receiver, at most 2 × 9 over its neighbours, and the mailbox holds `MAILBOX` > that.
 * Tells therefore never wait, whatever the placement (same worker, other workers, over-decomposed).
 */
import { Deferred, Effect, Schema } from "effect"
import { Comm, Reducer } from "../../runtime/collectives/index.ts"
import { Actor, ActorError } from "../../runtime/index.ts"
import * as Accounting from "./accounting.ts"
import * as Energy from "./energy.ts"
import * as Params from "./params.ts"
import * as Region from "./region.ts"
import * as Schemas from "./Schemas.ts"

const Int = Schema.Number.check(Schema.isInt())

/** Two unconsumed envelopes per neighbour (9 at most, itself included), plus `run`, with room to spare. */
export const MAILBOX = 32

const Init = Schema.Struct({ params: Schemas.Model, grid: Schemas.Grid, region: Int })

const protocol = {
  /**
   * Run `steps` steps from `owned` (this region's initial particles, sorted by id), exchanging with the regions
   * at `peers` (indexed by region). Replies with the final particles once every step is done. `epoch` numbers
   * runs (increasing): envelopes of an earlier run are dropped.
   */
  run: Actor.message({
    payload: Schema.Struct({
      epoch: Int,
      peers: Schema.Array(Actor.AddressSchema),
      owned: Schemas.Particles,
      steps: Int,
      trace: Schema.Boolean,
      /** Optional Int32 words, one per region: this region stores the number of steps it has done. */
      progress: Schema.optional(Schema.instanceOf(SharedArrayBuffer)),
      /**
       * Optional: this region's place in the regions' collective group (rank = region). Every step, before
       * advancing, the regions then allreduce their kinetic energy (see energy.ts); the result has it per step.
       */
      comm: Schema.optional(Comm.Member)
    }),
    success: Schemas.RunResult,
    error: Schemas.HaloError,
    interleave: true
  }),
  /** One step-stamped envelope from a neighbour (one-way). */
  halo: Actor.message({ payload: Schema.Struct({ epoch: Int, envelope: Schemas.Envelope }) })
}

type Protocol = typeof protocol

export const ParticleRegion: Actor.Definition<"ParticleRegion", typeof Init, Protocol> = Actor.make("ParticleRegion", {
  module: import.meta.url,
  init: Init,
  mailbox: MAILBOX,
  protocol,
  warmUp: Accounting.warmUpRegionKernels,
  behaviour: ({ grid, params, region }, context) =>
    Effect.gen(function*() {
      const setup = Params.validateSetup({ ...params, steps: 0 }, grid)
      if (setup !== undefined) return yield* Schemas.haloError(setup)
      const g: Params.Geometry = Params.makeGeometry({ ...params, steps: 0 }, grid)
      const targets = g.targets[region]!
      const nt = targets.length
      // The region's own envelope stays in the workspace (see `reuseOwnEnvelope`): it never leaves this actor.
      const ws = new Region.RegionWorkspace({ reuseOwnEnvelope: true })

      type Ref = Actor.Ref<Protocol>
      let epoch = -1
      let steps = 0
      /** The step whose envelopes are being collected (the next one to run); `steps` means "collecting the end". */
      let step = 0
      let failed = false
      let done = Deferred.makeUnsafe<Schemas.RunResult, Schemas.HaloError>()
      let peers: Array<Ref | undefined> = []
      let inbox = new Map<number, Array<Schemas.Envelope>>()
      /** Envelopes of a later run that arrived before its `run` (step 0 only). */
      let early: Array<{ epoch: number; envelope: Schemas.Envelope }> = []
      let trace: Schemas.Trace | undefined
      let progress: Int32Array | undefined
      let comm: Comm.Comm | undefined
      let energy: Float64Array | undefined
      const stats = { messages: 0, bytes: 0, crossWorkerMessages: 0, computeMs: 0, waitMs: 0 }
      /** When the region last ran out of work (its inbox incomplete), for `waitMs`. */
      let idleSince = 0

      const fail = (issue: Schemas.HaloIssue) => {
        failed = true
        Deferred.doneUnsafe(done, Effect.fail(Schemas.haloError(issue)))
      }
      const mismatch = (message: string) =>
        fail({ _tag: "InboxMismatch", region, step, message: `region ${region}, step ${step}: ${message}` })

      /** Keeps `e` for its step; false (and the run failed) if it does not fit the protocol. */
      const store = (e: Schemas.Envelope): boolean => {
        const t = targets.indexOf(e.from)
        if (e.to !== region || t < 0 || !(e.step === step || e.step === step + 1) || e.step > steps) {
          mismatch(`unexpected envelope from ${e.from} to ${e.to} for step ${e.step}`)
          return false
        }
        let box = inbox.get(e.step)
        if (box === undefined) inbox.set(e.step, box = [])
        if (box.some((other) => other.from === e.from)) {
          mismatch(`a second envelope from ${e.from} for step ${e.step}`)
          return false
        }
        box.push(e)
        return true
      }

      /** Sends the envelopes of one step: its own is kept, the others go to their regions. */
      const send = (outbox: ReadonlyArray<Schemas.Envelope>) =>
        Effect.forEach(outbox, (e) => {
          if (e.to === region) {
            store(e)
            return Effect.void
          }
          stats.messages++
          stats.bytes += Accounting.envelopeBytes(e)
          const peer = peers[e.to]!
          if (peer.address.worker !== context.worker) stats.crossWorkerMessages++
          return peer.tell("halo", { epoch, envelope: e })
        }, { discard: true })

      const complete = (t: number) => inbox.get(t)?.length === nt

      const finish = () => {
        const box = inbox.get(steps)!
        inbox.delete(steps)
        // Copies: the region's own batch is a view of its workspace, reused by the next run.
        const owned = box.map((e) => e.from === region ? Region.copyParticles(e.migrants) : e.migrants)
        if (trace) Accounting.traceInto(trace, steps, owned)
        Deferred.doneUnsafe(done, Effect.succeed({
          region,
          owned,
          stats: { region, worker: context.worker, ...stats },
          ...(trace ? { trace } : {}),
          ...(energy ? { energy } : {})
        }))
      }

      /**
       * With a group: the total kinetic energy at step `t` (this region's owned particles, its inbox's migrants,
       * summed in id order, then allreduced). The run fails with `GroupFailed` if the group does.
       */
      const energyAt = (t: number, box: ReadonlyArray<Schemas.Envelope>): Effect.Effect<void> =>
        comm === undefined || energy === undefined ? Effect.void : Effect.matchEffect(
          comm.allreduce(Reducer.sum, Energy.kineticInIdOrder(box.map((e) => e.migrants))),
          {
            onSuccess: (total) => Effect.sync(() => void (energy![t] = total)),
            onFailure: (error) => Effect.sync(() =>
              fail({ _tag: "GroupFailed", region, step: t, message: `region ${region}, step ${t}: the energy allreduce failed: ${ActorError.describe(error)}` })
            )
          }
        )

      /** Runs every step whose envelopes are all in; yields before each so other actors and sends get their turn. */
      const runSteps: Effect.Effect<void> = Effect.gen(function*() {
        while (!failed && step < steps && complete(step)) {
          yield* Effect.yieldNow
          if (failed) break
          const box = inbox.get(step)!
          inbox.delete(step)
          if (idleSince > 0) {
            stats.waitMs += performance.now() - idleSince
            idleSince = 0
          }
          if (trace) Accounting.traceInto(trace, step, box.map((e) => e.migrants))
          yield* energyAt(step, box)
          if (failed) break
          const started = performance.now()
          const result = Region.advanceRegion(g, region, step, box, ws)
          stats.computeMs += performance.now() - started
          if (result._tag === "Invalid") return fail(result.issue)
          step++
          if (progress) Atomics.store(progress, region, step)
          yield* send(result.outbox)
        }
        if (!failed && step === steps && complete(steps)) {
          yield* energyAt(steps, inbox.get(steps)!)
          if (!failed) finish()
        } else idleSince = performance.now()
      })
      /**
       * One loop at a time: it runs from a `halo` handler (holding the mailbox) or from `run` (which does not), and
       * envelopes stored meanwhile are picked up by the loop already running.
       */
      let advancing = false
      const advance = Effect.suspend(() => {
        if (advancing) return Effect.void
        advancing = true
        return Effect.ensuring(runSteps, Effect.sync(() => {
          advancing = false
        }))
      })

      return {
        run: (input) =>
          Effect.suspend(() => {
            if (input.epoch <= epoch) {
              return Effect.die(new Error(`ParticleRegion ${region}: run epoch ${input.epoch} after ${epoch}`))
            }
            epoch = input.epoch
            steps = input.steps
            step = 0
            failed = false
            done = Deferred.makeUnsafe<Schemas.RunResult, Schemas.HaloError>()
            inbox = new Map()
            stats.messages = stats.bytes = stats.crossWorkerMessages = stats.computeMs = stats.waitMs = 0
            trace = input.trace ? Accounting.makeTrace(steps) : undefined
            progress = input.progress ? new Int32Array(input.progress) : undefined
            comm = input.comm === undefined ? undefined : Comm.join(context, input.comm, input.epoch)
            energy = comm === undefined ? undefined : new Float64Array(steps + 1)
            peers = input.peers.map((address, r) =>
              r !== region && targets.includes(r) ? context.connect(ParticleRegion, address) : undefined
            )
            const waiting = early.filter((x) => x.epoch === epoch)
            early = early.filter((x) => x.epoch > epoch)
            for (const x of waiting) store(x.envelope)
            const started = performance.now()
            const first = Region.distribute(g, region, input.owned, 0, ws)
            stats.computeMs += performance.now() - started
            idleSince = 0
            if (first._tag === "Invalid") fail(first.issue)
            const current = done
            const run = epoch
            return (first._tag === "Advanced" && !failed ? send(first.outbox) : Effect.void).pipe(
              Effect.andThen(advance),
              Effect.andThen(Deferred.await(current)),
              // An interrupted run stops at the next step boundary (its neighbours then wait, idle, for the next run).
              Effect.onInterrupt(() =>
                Effect.sync(() => {
                  if (epoch === run) failed = true
                })
              )
            )
          }),
        halo: ({ envelope, epoch: from }) => {
          if (from < epoch) return Effect.void
          if (from > epoch) {
            early.push({ epoch: from, envelope })
            return Effect.void
          }
          if (failed || !store(envelope)) return Effect.void
          return complete(step) ? advance : Effect.void
        }
      }
    })
})
