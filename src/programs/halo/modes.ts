/**
 * The halo model's modes, as Effects over whichever tier is provided: `serial` (the cell-list reference in this
 * thread), `messages` (one `ParticleRegion` actor per region, exchanging step-stamped halo tells directly with its
 * neighbours; runs on Local and on Threads) and `shared` (one `SharedRegions` group per worker, exchanging
 * through shared arrays and an Atomics barrier; Threads only). All give the serial result, bit for bit.
 * Shared by `halo.ts`, the benchmark and the tests.
 *
 * A mode is prepared once (actors spawned and warm) and then runs any number of initial states, so timings
 * measure the computation (including handing the particles out and collecting them), not the start-up.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as Exchange from "../../actors/halo/exchange.ts"
import * as Halo from "../../actors/halo/index.ts"
import type { Envelope, Grid, HaloParams, HaloState, RunResult, Trace } from "../../actors/halo/index.ts"
import { ParticleRegion } from "../../actors/halo/ParticleRegion.ts"
import * as Schemas from "../../actors/halo/Schemas.ts"
import { SharedRegions } from "../../actors/halo/SharedRegions.ts"
import { Group } from "../../runtime/collectives/index.ts"
import { ActorSystem, Partition } from "../../runtime/index.ts"
import { ActorError } from "../../runtime/index.ts"
import { Barrier } from "../../runtime/shared/index.ts"

export const MODES = ["serial", "messages", "shared"] as const
export type Mode = (typeof MODES)[number]

/** What a run is: the model (its `steps` too) and the region grid. */
export interface Setup {
  readonly params: HaloParams
  readonly grid: Grid
}

export interface Outcome {
  readonly state: HaloState
  readonly seconds: number
  /** Envelopes between distinct regions (messages, or blocks published to shared arrays), and their bytes. */
  readonly messages: number
  readonly bytes: number
  /** Of the messages, those between regions on different workers (worker-to-worker channels). */
  readonly crossWorkerMessages: number
  /** Time spent in the region kernels, summed over regions (the whole run for serial). */
  readonly computeSeconds: number
  /** Time regions spent waiting for their neighbours (messages or the barrier), summed over regions. */
  readonly waitSeconds: number
  /** The busiest region's kernel time: with one region per worker, the floor under `seconds`. */
  readonly maxComputeSeconds: number
  /** Per step, particles owned and their id fingerprint summed over regions (traced runs only). */
  readonly trace?: Trace
  /**
   * The final state's kinetic energy, summed per region in id order and over the regions' rank tree
   * (`Energy.byRegions`): the messages mode's last allreduce, computed afterwards by the others.
   */
  readonly kineticEnergy: number
  /** Per step 0..steps, from the regions' allreduce (messages mode with `energy`). */
  readonly energy?: Float64Array
}

/**
 * Communication per unit of computation: the worker time not spent in the region kernels (sending and receiving
 * halos, encoding them, waiting for neighbours, handing the particles out and collecting them, idle) over the time
 * spent in them. Derived, not measured directly: the kernels' time is measured inside the regions
 * (`computeSeconds`), the rest is `workers × seconds` (the wall-clock capacity of the workers used) minus that.
 * Regions' own `waitSeconds` cannot stand in for it once several regions share a worker: a region waiting for
 * its neighbour overlaps another region computing on the same thread.
 */
export const commRatio = (outcome: Outcome, workers: number): number =>
  Math.max(0, workers * outcome.seconds - outcome.computeSeconds) / outcome.computeSeconds

export type RunError = Schemas.HaloError | ActorError.ActorError | Barrier.BarrierBroken | Barrier.BarrierTimeout

export interface Runner {
  readonly mode: Mode
  /** Threads the regions run on (1 for serial and on the Local tier). */
  readonly workers: number
  /** The state after `steps` steps from `initial` (left untouched). */
  readonly run: (initial: HaloState, options?: RunOptions) => Effect.Effect<Outcome, RunError>
}

export interface RunOptions {
  /** Steps to run (default: the setup's `params.steps`), e.g. a short warm-up first. */
  readonly steps?: number
  /** Also fingerprint the particles owned at every step (see `Outcome.trace`). */
  readonly trace?: boolean
  /** Int32 words, one per region, where each region stores the steps it has done (for a progress line). */
  readonly progress?: SharedArrayBuffer
  /** Messages mode: allreduce the kinetic energy every step (see `Outcome.energy`). */
  readonly energy?: boolean
}

/** Checks the setup: a bad parameter or a cutoff wider than a region is a `HaloError` naming what to change. */
export const validate = (setup: Setup): Effect.Effect<void, Schemas.HaloError> => {
  const issue = Halo.validateSetup(setup.params, setup.grid)
  return issue === undefined ? Effect.void : Effect.fail(Schemas.haloError(issue))
}

const modelOf = ({ steps: _steps, ...model }: HaloParams): Schemas.Model => model

/** Reassembles the global state from the regions' final particles; a lost or doubled id is a `HaloError`. */
const assemble = (n: number, steps: number, results: ReadonlyArray<RunResult>): Effect.Effect<HaloState, Schemas.HaloError> => {
  const envelopes: Array<Envelope> = []
  const noHalo = Halo.emptyParticles()
  for (const result of results) {
    for (const migrants of result.owned) {
      envelopes.push({ from: result.region, to: result.region, step: steps, migrants, halo: noHalo })
    }
  }
  const out = Halo.gather(n, envelopes)
  return out._tag === "Gathered" ? Effect.succeed(out.state) : Effect.fail(Schemas.haloError(out.issue))
}

const summarise = (results: ReadonlyArray<RunResult>, steps: number) => {
  let messages = 0
  let bytes = 0
  let crossWorkerMessages = 0
  let computeMs = 0
  let waitMs = 0
  let maxComputeMs = 0
  let trace: Trace | undefined
  for (const { stats, trace: own } of results) {
    messages += stats.messages
    bytes += stats.bytes
    crossWorkerMessages += stats.crossWorkerMessages
    computeMs += stats.computeMs
    waitMs += stats.waitMs
    maxComputeMs = Math.max(maxComputeMs, stats.computeMs)
    if (own) Halo.addTrace(trace ??= Halo.makeTrace(steps), own)
  }
  return {
    messages,
    bytes,
    crossWorkerMessages,
    computeSeconds: computeMs / 1000,
    waitSeconds: waitMs / 1000,
    maxComputeSeconds: maxComputeMs / 1000,
    ...(trace ? { trace } : {})
  }
}

/** The cell-list reference in this thread. */
/** How long the serial reference runs before it lets the thread handle anything else (an interrupt). */
const SLICE_MS = 10

export const serial = (setup: Setup): Effect.Effect<Runner, Schemas.HaloError> =>
  Effect.gen(function*() {
    yield* validate({ params: setup.params, grid: { px: 1, py: 1 } })
    Halo.simulateSerial({ ...setup.params, n: Math.min(setup.params.n, 2000), steps: 3 })
    return {
      mode: "serial",
      workers: 1,
      run: (initial, options) =>
        Effect.gen(function*() {
          const started = performance.now()
          const { params } = setup
          const state = Halo.cloneState(initial)
          const physics = Halo.physicsOf(params)
          const workspace = new Halo.SerialWorkspace(params.n, params.L, params.rc)
          // Every region's word gets the steps done, as the regions of the other modes store theirs.
          const words = options?.progress === undefined ? undefined : new Int32Array(options.progress)
          // Steps on this thread, giving it back every ~10 ms: an interrupt (Ctrl-C) lands between two steps.
          let sliceStart = performance.now()
          for (let t = 0, steps = options?.steps ?? params.steps; t < steps; t++) {
            Halo.stepSerial(state, physics, workspace)
            words?.fill(t + 1)
            if (performance.now() - sliceStart > SLICE_MS) {
              yield* Effect.yieldNow
              sliceStart = performance.now()
            }
          }
          const seconds = (performance.now() - started) / 1000
          return {
            state,
            seconds,
            kineticEnergy: Halo.Energy.byRegions(Halo.makeGeometry(params, setup.grid), state),
            messages: 0,
            bytes: 0,
            crossWorkerMessages: 0,
            computeSeconds: seconds,
            waitSeconds: 0,
            maxComputeSeconds: seconds
          }
        })
    } satisfies Runner
  })

/** One `ParticleRegion` per region, region r on worker r mod workers. */
export const messages = (setup: Setup): Effect.Effect<Runner, Schemas.HaloError | ActorError.SpawnFailed, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    yield* validate(setup)
    const { grid, params } = setup
    const system = yield* ActorSystem.ActorSystem
    const g = Halo.makeGeometry(params, grid)
    const regions = yield* Effect.forEach(
      Array.from({ length: g.regions }, (_, r) => r),
      (region) => system.spawn(ParticleRegion, { params: modelOf(params), grid, region }, { worker: region % system.workers }),
      { concurrency: "unbounded" }
    )
    const peers = regions.map((ref) => ref.address)
    // The regions' collective group, endpoint r beside region r: the per-step energy allreduce goes through it.
    const group = yield* Group.make({ size: g.regions, worker: (r) => r % system.workers }).pipe(
      Effect.mapError((error) =>
        ActorError.isSpawnFailed(error) ? error : new ActorError.SpawnFailed({ actor: "CollectiveEndpoint", detail: ActorError.describe(error) }))
    )
    let epoch = 0
    return {
      mode: "messages",
      workers: Math.min(system.workers, g.regions),
      run: (initial, options) =>
        Effect.gen(function*() {
          const started = performance.now()
          const steps = options?.steps ?? params.steps
          const owned = Halo.partition(g, initial)
          const run = {
            epoch: ++epoch,
            peers,
            steps,
            trace: options?.trace ?? false,
            ...(options?.progress ? { progress: options.progress } : {})
          }
          const withEnergy = options?.energy ?? false
          const results = yield* Effect.forEach(
            regions,
            (ref, r) => ref.ask("run", { ...run, owned: owned[r]!, ...(withEnergy ? { comm: group.members[r]! } : {}) }),
            { concurrency: "unbounded" }
          )
          const state = yield* assemble(params.n, steps, results)
          const seconds = (performance.now() - started) / 1000
          const energy = results[0]!.energy
          return {
            state,
            seconds,
            kineticEnergy: energy === undefined ? Halo.Energy.byRegions(g, state) : energy[steps]!,
            ...(energy === undefined ? {} : { energy }),
            ...summarise(results, steps)
          }
        })
    } satisfies Runner
  })

/** Contiguous, balanced groups of regions (`Partition.allBounds`), one per worker (fewer if there are fewer regions). */
export const groupsOf = (regions: number, workers: number): Array<Array<number>> =>
  Partition.allBounds(regions, Math.min(regions, workers)).map(([lo, hi]) => Array.from({ length: hi - lo }, (_, k) => lo + k))

/** One `SharedRegions` group per worker, in lockstep over shared arrays and a barrier. Threads only. */
export const shared = (setup: Setup): Effect.Effect<Runner, Schemas.HaloError | ActorError.SpawnFailed, ActorSystem.ActorSystem | Scope.Scope> =>
  Effect.gen(function*() {
    yield* validate(setup)
    const { grid, params } = setup
    const system = yield* ActorSystem.ActorSystem
    if (!system.concurrent) {
      return yield* Effect.die(new Error("the shared mode blocks at barriers: it needs a tier whose workers run concurrently (Threads)"))
    }
    const g = Halo.makeGeometry(params, grid)
    const groups = groupsOf(g.regions, system.workers)
    const actors = yield* Effect.forEach(groups, (_, i) => system.spawn(SharedRegions, {}, { worker: i }), {
      concurrency: "unbounded"
    })
    const pools = Exchange.allocate(g, params.n)
    return {
      mode: "shared",
      workers: groups.length,
      run: (initial, options) =>
        Effect.gen(function*() {
          const started = performance.now()
          const steps = options?.steps ?? params.steps
          const owned = Halo.partition(g, initial)
          // A fresh exchange run (the pools are reused) and barrier per run.
          const exchange = Exchange.forRun(pools)
          const barrier = Barrier.make(groups.length, { name: "halo-steps" })
          const outcomes = yield* Effect.forEach(groups, (regions, i) =>
            actors[i]!.ask("run", {
              params: modelOf(params),
              grid,
              group: i,
              regions,
              owned: regions.map((r) => owned[r]!),
              steps,
              exchange,
              barrier: barrier.handle,
              trace: options?.trace ?? false,
              ...(options?.progress ? { progress: options.progress } : {})
            }), { concurrency: "unbounded" }).pipe(
              Effect.onInterrupt(() => Effect.sync(() => Exchange.cancel(exchange)))
            )
          const results = outcomes.flatMap((outcome) => outcome.results)
          const state = yield* assemble(params.n, steps, results)
          const seconds = (performance.now() - started) / 1000
          return { state, seconds, kineticEnergy: Halo.Energy.byRegions(g, state), ...summarise(results, steps) }
        })
    } satisfies Runner
  })

export const prepare = (mode: Mode, setup: Setup): Effect.Effect<Runner, Schemas.HaloError | ActorError.SpawnFailed, ActorSystem.ActorSystem | Scope.Scope> => {
  switch (mode) {
    case "serial":
      return serial(setup)
    case "messages":
      return messages(setup)
    case "shared":
      return shared(setup)
  }
}
