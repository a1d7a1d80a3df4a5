/**
 * The fault-injection soak: runs every kind of work the framework does (π, pool maps, pipelines, particles,
 * halo regions, both engine views) in a loop on one long-lived Threads tier while a seeded schedule injects
 * faults — `process.exit`, uncaught throws, heap-limit kills, handlers that never yield, and Ctrl-C-like
 * interrupts of a run — and counts what happened. A completed run must equal its serial reference, a failed one
 * must fail with a typed error, and no run may hang (each has a deadline). The same seed replays the same
 * schedule (which work, which fault, when, on which worker); timings differ from run to run, so outcomes may too.
 *
 *   npm run soak -- --seed 7 --seconds 60
 *   npm run soak -- --cycles 10000          create and close a 2-worker tier 10,000 times, memory as it goes
 */
import { Cause, Console, Context, Effect, Exit, Fiber, Layer, Option, Predicate, Scope } from "effect"
import { Command, Flag } from "effect/cli"
import { ActorError, ActorSystem, Threads } from "../runtime/index.ts"
import * as Flags from "./cli/Flags.ts"
import * as Main from "./cli/Main.ts"
import * as Table from "./cli/Table.ts"
import { Saboteur } from "./soak/Saboteur.ts"
import type { Fault } from "./soak/Saboteur.ts"
import { plan } from "./soak/Schedule.ts"
import { WORKLOADS } from "./soak/workloads.ts"

/** A run's deadline: far beyond any healthy run (well under a second) plus its recoveries. */
const DEADLINE_MS = 30_000

interface Counts {
  runs: number
  ok: number
  wrong: number
  failedTyped: number
  failedUntyped: number
  interrupted: number
  hangs: number
  faults: Record<string, number>
  errors: Record<string, number>
  restarts: number
  tiers: number
  notes: Array<string>
}

const tierOptions = (workers: number): Threads.Options => ({
  workers,
  // A small heap, so that the heap-limit fault is quick; a short watchdog, so that a stuck handler is too.
  resourceLimits: { maxOldGenerationSizeMb: 192, maxYoungGenerationSizeMb: 32 },
  stuckAfterMs: 500,
  backoffMs: 20
})

/** A tier with a saboteur on every worker. */
const makeTier = (workers: number) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(Threads.layer(tierOptions(workers)), scope)
    const system = Context.get(context, ActorSystem.ActorSystem)
    const saboteurs = yield* Effect.forEach(
      Array.from({ length: workers }, (_, k) => k),
      (k) => ActorSystem.spawn(Saboteur, {}, { worker: k })
    ).pipe(Effect.provide(context), Scope.provide(scope))
    return { scope, context, system, saboteurs }
  })

type Tier = Effect.Success<ReturnType<typeof makeTier>>

/** Inject one fault; true if it really struck. */
const inject = (tier: Tier, fault: Fault, worker: number): Effect.Effect<boolean> => {
  const saboteur = tier.saboteurs[worker]!
  if (!tier.system.isUp(worker)) return Effect.succeed(false)
  if (fault === "stuck") {
    // Blocked: the ask times out, its interrupt goes unanswered, and the watchdog must replace the worker.
    return Effect.map(Effect.exit(Effect.timeout(saboteur.ask("strike", "stuck"), "50 millis")), Exit.isFailure)
  }
  return Effect.map(Effect.exit(saboteur.ask("strike", fault)), (exit) =>
    fault === "throw" ? Exit.isSuccess(exit) : Exit.isFailure(exit) && ActorError.isWorkerDied(Cause.squash(exit.cause)))
}

const tagOf = (error: unknown): string | undefined =>
  Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ? error._tag : undefined

const soak = (options: { readonly seed: number; readonly seconds: number; readonly workers: number; readonly faultRate: number }) =>
  Effect.gen(function*() {
    const counts: Counts = {
      runs: 0, ok: 0, wrong: 0, failedTyped: 0, failedUntyped: 0, interrupted: 0, hangs: 0,
      faults: {}, errors: {}, restarts: 0, tiers: 1, notes: []
    }
    let tier = yield* makeTier(options.workers)
    const retire = Effect.gen(function*() {
      counts.restarts += tier.system.restarts()
      yield* Scope.close(tier.scope, Exit.void)
    })
    const started = performance.now()
    for (let run = 0; performance.now() - started < options.seconds * 1000; run++) {
      const { draw, plan: p } = plan(options.seed, run, options.workers, options.faultRate)
      const workload = WORKLOADS.find((w) => w.name === p.workload)!
      counts.runs++
      const fiber = yield* Effect.forkDetach(Effect.scoped(workload.run(draw)).pipe(Effect.provide(tier.context)))
      if (p.fault !== "none") {
        const fault = p.fault
        yield* Effect.forkDetach(Effect.gen(function*() {
          yield* Effect.sleep(p.delayMs)
          const struck = fault === "interrupt"
            ? (yield* Fiber.interrupt(fiber), true)
            : yield* inject(tier, fault, p.worker)
          if (struck) counts.faults[fault] = (counts.faults[fault] ?? 0) + 1
        }))
      }
      const exit = yield* Effect.timeoutOption(Fiber.await(fiber), DEADLINE_MS)
      if (Option.isNone(exit)) {
        counts.hangs++
        counts.notes.push(`run ${run} (${p.workload}, fault ${p.fault}) did not settle in ${DEADLINE_MS / 1000} s`)
        yield* Effect.timeoutOption(Fiber.interrupt(fiber), 5_000)
      } else if (Exit.isSuccess(exit.value)) {
        if (exit.value.value.equal) counts.ok++
        else {
          counts.wrong++
          counts.notes.push(`run ${run} (${p.workload}): ${exit.value.value.what}`)
        }
      } else if (Cause.hasInterruptsOnly(exit.value.cause)) {
        counts.interrupted++
      } else {
        const failure = Cause.findErrorOption(exit.value.cause)
        const tag = failure._tag === "Some" ? tagOf(failure.value) : undefined
        if (tag !== undefined) {
          counts.failedTyped++
          counts.errors[tag] = (counts.errors[tag] ?? 0) + 1
        } else {
          counts.failedUntyped++
          counts.notes.push(`run ${run} (${p.workload}, fault ${p.fault}): ${ActorError.describe(Cause.squash(exit.value.cause))}`)
        }
      }
      // A worker the tier gave up on (too many restarts) does not come back: start a fresh tier.
      const lost = tier.saboteurs.some((_, k) => !tier.system.isUp(k)) &&
        (yield* Effect.exit(Effect.timeoutOption(Effect.forEach(tier.saboteurs, (_, k) => tier.system.awaitUp(k)), 3_000)))
      if (lost !== false && (Exit.isFailure(lost) || Option.isNone(lost.value))) {
        yield* retire
        tier = yield* makeTier(options.workers)
        counts.tiers++
      }
    }
    yield* retire
    return { seed: options.seed, seconds: (performance.now() - started) / 1000, workers: options.workers, ...counts }
  })

/** Create and close a 2-worker tier `n` times in this process, with the memory in use as it goes. */
const cycles = (n: number) =>
  Effect.gen(function*() {
    const samples: Array<{ cycle: number; rssMb: number; heapMb: number; seconds: number }> = []
    const started = performance.now()
    const sample = (cycle: number) => {
      // With `node --expose-gc`, measure what is live after a full collection, not what is merely not collected yet.
      ;(globalThis as { gc?: () => void }).gc?.()
      const memory = process.memoryUsage()
      const taken = { cycle, rssMb: memory.rss / 2 ** 20, heapMb: memory.heapUsed / 2 ** 20, seconds: (performance.now() - started) / 1000 }
      samples.push(taken)
      // As it goes, on stderr (stdout stays one table or one JSON object): a long run shows its trend before it ends.
      process.stderr.write(`cycle ${cycle}: rss ${taken.rssMb.toFixed(1)} MB, heap ${taken.heapMb.toFixed(1)} MB, ${taken.seconds.toFixed(0)} s\n`)
    }
    for (let cycle = 0; cycle < n; cycle++) {
      if (cycle % Math.max(1, Math.floor(n / 20)) === 0) sample(cycle)
      yield* Effect.scoped(Effect.flatMap(ActorSystem.spawn(Saboteur, {}, { worker: 1 }), () => Effect.void)).pipe(
        Effect.provide(Threads.layer({ workers: 2 }))
      )
    }
    sample(n)
    return { cycles: n, liveWorkers: Threads.liveWorkers(), samples }
  })

const command = Command.make(
  "soak",
  {
    seed: Flags.seed(1, "seed of the fault schedule"),
    seconds: Flag.Finite("seconds").pipe(
      Flag.withSchema(Flags.PositiveInt),
      Flag.withDefault(60),
      Flag.withDescription("how long to keep starting runs")
    ),
    workers: Flags.workers("worker threads of the soak's tier (default: cores)", 16),
    faultRate: Flag.Finite("fault-rate").pipe(Flag.withDefault(0.7), Flag.withDescription("share of runs that get a fault (0..1)")),
    cycles: Flag.Finite("cycles").pipe(
      Flag.withSchema(Flags.PositiveInt),
      Flag.optional,
      Flag.withDescription("instead: create and close a 2-worker tier this many times, reporting memory")
    ),
    json: Flags.json("one JSON object on stdout")
  },
  (options) =>
    Effect.gen(function*() {
      if (Option.isSome(options.cycles)) {
        const out = yield* cycles(options.cycles.value)
        if (options.json) return yield* Console.log(JSON.stringify(out))
        return yield* Console.log(Table.format([
          { header: "cycle", cell: (s: (typeof out.samples)[number]) => String(s.cycle), right: true },
          { header: "rss MB", cell: (s) => s.rssMb.toFixed(1), right: true },
          { header: "heap MB", cell: (s) => s.heapMb.toFixed(1), right: true },
          { header: "seconds", cell: (s) => s.seconds.toFixed(1), right: true }
        ], out.samples))
      }
      const faultRate = Math.min(1, Math.max(0, options.faultRate))
      const out = yield* soak({ seed: options.seed, seconds: options.seconds, workers: options.workers, faultRate })
      if (options.json) yield* Console.log(JSON.stringify(out))
      else {
        yield* Console.log(Table.format([
          { header: "figure", cell: (r: readonly [string, string]) => r[0] },
          { header: "value", cell: (r) => r[1], right: true }
        ], [
          ["seed", String(out.seed)],
          ["seconds", out.seconds.toFixed(1)],
          ["runs", String(out.runs)],
          ["equal to serial", String(out.ok)],
          ["failed, typed", `${out.failedTyped} ${JSON.stringify(out.errors)}`],
          ["interrupted (by the schedule)", String(out.interrupted)],
          ["faults injected", `${Object.values(out.faults).reduce((a, b) => a + b, 0)} ${JSON.stringify(out.faults)}`],
          ["worker restarts", String(out.restarts)],
          ["tiers (rebuilt after a lost worker)", String(out.tiers)],
          ["hangs (must be 0)", String(out.hangs)],
          ["wrong results (must be 0)", String(out.wrong)],
          ["untyped failures (must be 0)", String(out.failedUntyped)]
        ]))
        for (const note of out.notes.slice(0, 20)) yield* Console.log(`  ${note}`)
      }
      if (out.hangs + out.wrong + out.failedUntyped > 0) process.exitCode = 1
    })
).pipe(Command.withDescription("Fault-injection soak: every kind of work, seeded faults, no hangs, no wrong results"))

Main.run(command)
