/**
 * The controller: the client-side hub between views and engines, IPython's
 * controller and task scheduler in one.
 *
 * Each engine has a FIFO queue here and at most `depth` messages in flight to
 * it, so tasks wait on the client, where they can still be aborted, and
 * operations of one view reach an engine in the order they were made. Tasks
 * pinned to an engine (direct views) go straight to its queue; load-balanced
 * tasks wait until their dependencies are met and an engine has fewer than
 * `hwm` tasks outstanding, then the scheduler picks one. A failed
 * load-balanced task is resubmitted on an engine that has not failed it yet,
 * up to its `retries`; once every engine it may run on has failed it, it fails
 * with `NoEngineLeft`. An engine that died is left alone until it answers again.
 *
 * `abort` withdraws a task wherever it is: waiting or queued here, or waiting
 * in its engine behind another task (the engine is asked); a task already
 * running says so ("running"), never silently.
 *
 * Namespace replay: `push`, `imports` and `execute` calls made with `replay`
 * are recorded per engine once they succeed. Tasks to an engine with such a
 * record carry the engine incarnation last seen; an engine that restarted
 * since (its worker died) refuses them unrun (`Restarted`), and the controller
 * sends it the record again, in order, before those tasks — so the next task
 * finds the names it expects instead of failing with a `NameError`.
 *
 * The controller only talks to `Actor.Ref`s of engines, so it does not care
 * where they live.
 */
import { Cause, Deferred, Effect, Exit, Predicate } from "effect"
import type { Fiber } from "effect"
import { ActorError } from "../index.ts"
import type { Actor, ActorSystem, Code } from "../index.ts"
import { findUncloneable } from "./Cloneable.ts"
import * as Dependency from "./Dependency.ts"
import type { Engine, Reply } from "./Engine.ts"
import { now } from "./Engine.ts"
import {
  DependencyTimeout,
  describeFailure,
  EngineDied,
  ImpossibleDependency,
  isEngineDied,
  isRemoteError,
  isRestarted,
  isTaskAborted,
  NoEngineLeft,
  NotCloneable,
  NotShippable,
  RemoteError,
  TaskAborted
} from "./Errors.ts"
import type { TaskFailure } from "./Errors.ts"
import type * as Remote from "./Remote.ts"
import type * as Scheduler from "./Scheduler.ts"
import * as TaskRecord from "./TaskRecord.ts"

type Protocol = typeof Engine.protocol
export type Tag = keyof Protocol & string
export type EngineRef = Actor.Ref<Protocol>

export interface Options {
  /** Load-balanced tasks an engine may hold (queued here + in flight) before the scheduler skips it (default 2). */
  readonly hwm?: number
  /** Messages in flight to one engine at once (default 2: one running, one waiting in its mailbox). */
  readonly depth?: number
}

/** A submitted task: call `cancel` to withdraw it (queued) or interrupt it (running). */
export interface Ticket {
  readonly cancel: () => void
}

/** A submitted task as an Effect to await. */
export interface Pending extends Ticket {
  readonly await: Effect.Effect<Reply, TaskFailure>
}

/** What a load-balanced task asks for. */
export interface Balanced {
  readonly tag: Tag
  readonly payload: object
  readonly scheduler: Scheduler.Scheduler
  readonly retries: number
  readonly targets: ReadonlyArray<number>
  readonly after: Dependency.Dependency | undefined
  readonly follow: Dependency.Dependency | undefined
  /** ms to wait for dependencies before failing with `DependencyTimeout` (0 = forever). */
  readonly timeout: number
}

/** How `abort` found a task: withdrawn, already running on its engine, or already done. */
export type AbortOutcome = "aborted" | "running" | "done"

interface Job {
  readonly task: TaskRecord.TaskRecord
  readonly tag: Tag
  readonly payload: object
  readonly done: (exit: Exit.Exit<Reply, TaskFailure>) => void
  /** Record the call for replay on this engine once it succeeds. */
  readonly replay: boolean
  /** Order of submission to its engine (refused jobs go back in this order). */
  readonly seq: number
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  settled: boolean
}

interface Slot {
  readonly id: number
  readonly ref: EngineRef
  readonly queue: Array<Job>
  inflight: number
  down: boolean
  /** The engine's incarnation, from its last reply. */
  incarnation: number | undefined
  /** Calls to send again after a restart, in order. */
  readonly log: Array<{ readonly tag: Tag; readonly payload: object }>
  /** Sending the log again: the queue waits. */
  replaying: boolean
}

interface Waiting {
  readonly task: TaskRecord.TaskRecord
  readonly request: Balanced
  readonly done: (exit: Exit.Exit<Reply, TaskFailure>) => void
  readonly excluded: Set<number>
  timer: ReturnType<typeof setTimeout> | undefined
  depsMet: boolean
  job: Job | undefined
  cancelled: boolean
  /** The last attempt's failure, for `NoEngineLeft`. */
  last: TaskFailure | undefined
}

type Done = (exit: Exit.Exit<Reply, TaskFailure>) => void

/** Task ids of replayed calls (the engine needs an id for its turn; nobody aborts these). */
const REPLAY_TASK = -1

export class Controller {
  readonly ids: ReadonlyArray<number>
  private readonly slots: Array<Slot>
  private readonly waiting: Array<Waiting> = []
  private readonly hwm: number
  private readonly depth: number
  private readonly shipped = new Map<string, Code.Shipped>()
  private scheduling = false
  private again = false
  private closed = false
  private seq = 0

  constructor(
    refs: ReadonlyArray<EngineRef>,
    private readonly system: ActorSystem.Service,
    options: Options = {}
  ) {
    this.slots = refs.map((ref, id) => ({ id, ref, queue: [], inflight: 0, down: false, incarnation: undefined, log: [], replaying: false }))
    this.ids = this.slots.map((slot) => slot.id)
    this.hwm = options.hwm ?? 2
    this.depth = options.depth ?? 2
  }

  /** Whether engines see the caller's memory, so a map's chunks can carry progress slots (see `Progress`). */
  get sharedMemory(): boolean {
    return this.system.sharedMemory !== false
  }

  /** A new task record for an operation. */
  task(label: string): TaskRecord.TaskRecord {
    return TaskRecord.make(label, now())
  }

  /** The wire form of a function: by source as it is, by reference shipped to the engines' workers. */
  wireSpec(fn: Remote.RemoteFunction<Remote.AnyFunction>): Effect.Effect<Remote.WireSpec, NotShippable> {
    const spec = fn.spec
    if (spec.kind === "source") return Effect.succeed(spec)
    return Effect.map(this.ship(spec), (shipped) => ({ kind: "module" as const, ...shipped }))
  }

  /** Ship a module's code to the engines (once per module and name); `name` "*" for a whole module. */
  ship(code: Code.Locator): Effect.Effect<Code.Shipped, NotShippable> {
    const cached = this.shipped.get(`${code.module}#${code.name}`)
    if (cached !== undefined) return Effect.succeed(cached)
    return this.system.ship(code).pipe(
      Effect.tap((shipped) => Effect.sync(() => this.shipped.set(`${code.module}#${code.name}`, shipped))),
      Effect.mapError((error) => new NotShippable({ function: code.name, captured: [], message: error.detail }))
    )
  }

  /** Per engine: tasks queued here, messages in flight, and whether it is down (died, not answering yet). */
  status(): ReadonlyArray<{ readonly engine: number; readonly queued: number; readonly inflight: number; readonly down: boolean }> {
    return this.slots.map((slot) => ({ engine: slot.id, queued: slot.queue.length, inflight: slot.inflight, down: slot.down }))
  }

  /** Calls recorded for replay on each engine. */
  replayLog(engine: number): number {
    return this.slots[engine]!.log.length
  }

  /** Load-balanced tasks still waiting for dependencies or a free engine. */
  pending(): number {
    return this.waiting.length
  }

  /** Queue a task on one engine (`replay`: record it for replay after a restart once it succeeded). */
  send(task: TaskRecord.TaskRecord, engine: number, tag: Tag, payload: object, done: Done, replay = false): Ticket {
    const slot = this.slots[engine]!
    const bad = findUncloneable(payload, "")
    if (bad !== undefined) {
      this.finish(task, Exit.fail(new NotCloneable({ path: bad.path || "$", message: `cannot send ${bad.kind} to an engine (at ${bad.path || "the value itself"})` })), done)
      return { cancel: () => {} }
    }
    const job: Job = { task, tag, payload, done, replay, seq: this.seq++, fiber: undefined, settled: false }
    this.enqueue(slot, job)
    return { cancel: () => this.cancelJob(slot, job) }
  }

  /** Submit a load-balanced task. */
  balance(task: TaskRecord.TaskRecord, request: Balanced, done: Done): Ticket {
    const bad = findUncloneable(request.payload, "")
    if (bad !== undefined) {
      this.finish(task, Exit.fail(new NotCloneable({ path: bad.path || "$", message: `cannot send ${bad.kind} to an engine (at ${bad.path || "the value itself"})` })), done)
      return { cancel: () => {} }
    }
    const waiting: Waiting = { task, request, done, excluded: new Set(), timer: undefined, depsMet: false, job: undefined, cancelled: false, last: undefined }
    task.status = "pending"
    this.withdrawable(waiting)
    if (request.timeout > 0 && (request.after !== undefined || request.follow !== undefined)) {
      waiting.timer = setTimeout(() => {
        waiting.timer = undefined
        if (!waiting.depsMet && this.unwait(waiting)) {
          this.finish(task, Exit.fail(new DependencyTimeout({ task: task.id, timeout: request.timeout })), done)
        }
      }, request.timeout)
    }
    this.waiting.push(waiting)
    this.schedule()
    return {
      cancel: () => {
        waiting.cancelled = true
        if (this.unwait(waiting)) {
          task.status = "aborted"
          task.abort = undefined
        } else if (waiting.job !== undefined) {
          const job = waiting.job
          this.cancelJob(this.slots[job.task.engine]!, job)
        }
      }
    }
  }

  /**
   * Submit now (synchronously) and get the Effect that awaits the outcome, so submissions made one after another
   * reach their engines in that order, whatever order their awaiting fibers run in. Interrupting the Effect, or
   * calling `cancel`, withdraws or interrupts the task.
   */
  submit(task: TaskRecord.TaskRecord, engine: number, tag: Tag, payload: object, replay = false): Pending {
    return this.makePending((done) => this.send(task, engine, tag, payload, done, replay))
  }

  /** `submit` for a load-balanced task. */
  submitBalanced(task: TaskRecord.TaskRecord, request: Balanced): Pending {
    return this.makePending((done) => this.balance(task, request, done))
  }

  private makePending(submit: (done: Done) => Ticket): Pending {
    const deferred = Deferred.makeUnsafe<Reply, TaskFailure>()
    const ticket = submit((exit) => Deferred.doneUnsafe(deferred, exit))
    return { await: Effect.onInterrupt(Deferred.await(deferred), () => Effect.sync(ticket.cancel)), cancel: ticket.cancel }
  }

  /**
   * Withdraw a task wherever it is: "aborted" if it had not started (it fails with `TaskAborted`), "running" if
   * it runs on its engine (it goes on), "done" if it had finished.
   */
  abort(task: TaskRecord.TaskRecord): Effect.Effect<AbortOutcome> {
    return Effect.suspend(() => {
      if (task.abort !== undefined) {
        task.abort()
        return Effect.succeed("aborted" as const)
      }
      const remote = task.abortRemote
      if (remote === undefined) return Effect.succeed(TaskRecord.isDone(task) ? "done" as const : "running" as const)
      return Effect.map(remote(), (answer) => (answer === "unknown" ? "done" as const : answer))
    })
  }

  /** Re-check waiting tasks (called when anything finished). */
  readonly notify = (): void => this.schedule()

  /** Stop: waiting tasks are dropped, probes end. */
  close(): void {
    this.closed = true
    for (const waiting of this.waiting.splice(0)) {
      if (waiting.timer !== undefined) clearTimeout(waiting.timer)
      waiting.task.abort = undefined
      this.finish(waiting.task, Exit.fail(new TaskAborted({ task: waiting.task.id })), waiting.done, "aborted")
    }
  }

  private load(engine: number): number {
    const slot = this.slots[engine]!
    return slot.queue.length + slot.inflight
  }

  private unwait(waiting: Waiting): boolean {
    const i = this.waiting.indexOf(waiting)
    if (i < 0) return false
    this.waiting.splice(i, 1)
    if (waiting.timer !== undefined) clearTimeout(waiting.timer)
    waiting.timer = undefined
    return true
  }

  /** A waiting load-balanced task can be withdrawn here. */
  private withdrawable(waiting: Waiting): void {
    waiting.task.abort = () => {
      if (this.unwait(waiting)) this.finish(waiting.task, Exit.fail(new TaskAborted({ task: waiting.task.id })), waiting.done, "aborted")
    }
  }

  private finish(task: TaskRecord.TaskRecord, exit: Exit.Exit<Reply, TaskFailure>, done: Done, status?: TaskRecord.Status): void {
    task.abort = undefined
    task.abortRemote = undefined
    task.received = now()
    if (Exit.isSuccess(exit)) {
      task.status = "succeeded"
      task.started = exit.value.started
      task.completed = exit.value.completed
      task.stdout = exit.value.stdout ?? ""
      task.stderr = exit.value.stderr ?? ""
    } else {
      const failure = Cause.findErrorOption(exit.cause)
      task.failure = failure._tag === "Some" ? failure.value : undefined
      task.status = status ?? (isTaskAborted(task.failure) ? "aborted" : "failed")
      task.stdout = isRemoteError(task.failure) ? task.failure.stdout ?? "" : ""
      task.stderr = isRemoteError(task.failure) ? task.failure.stderr ?? "" : ""
    }
    done(exit)
    this.schedule()
  }

  private enqueue(slot: Slot, job: Job): void {
    const task = job.task
    task.status = "queued"
    task.engine = slot.id
    task.abortRemote = undefined
    task.abort = () => {
      const i = slot.queue.indexOf(job)
      if (i < 0) return
      slot.queue.splice(i, 1)
      job.settled = true
      this.finish(task, Exit.fail(new TaskAborted({ task: task.id })), job.done, "aborted")
    }
    // A job refused by a restarted engine goes back where it was, ahead of later ones.
    let at = slot.queue.length
    while (at > 0 && slot.queue[at - 1]!.seq > job.seq) at--
    slot.queue.splice(at, 0, job)
    this.pump(slot)
  }

  private pump(slot: Slot): void {
    if (slot.replaying) return
    if (slot.log.length > 0 && slot.queue.length > 0 && !this.system.isUp(slot.ref.address.worker)) this.markDown(slot)
    // An engine with a replay record that is down keeps its tasks until it answers again, then gets its record.
    if (slot.down && slot.log.length > 0) return
    while (slot.inflight < this.depth && slot.queue.length > 0) this.dispatch(slot, slot.queue.shift()!)
  }

  /** The message of a job: its task id, and the incarnation expected where a replay record exists. */
  private message(slot: Slot, job: Job): object {
    const expect = slot.log.length > 0 && slot.incarnation !== undefined ? { expect: slot.incarnation } : {}
    return { ...job.payload, task: job.task.id, ...expect }
  }

  private dispatch(slot: Slot, job: Job): void {
    const task = job.task
    task.abort = undefined
    task.status = "running"
    task.attempts++
    task.tried.push(slot.id)
    slot.inflight++
    const ask = slot.ref.ask as (tag: Tag, payload: unknown) => Effect.Effect<unknown, unknown>
    task.abortRemote = () => ask("abort", { task: task.id }).pipe(
      Effect.map((answer) => answer as "aborted" | "running" | "unknown"),
      // An engine that does not answer (it died) does not run the task either.
      Effect.orElseSucceed(() => "unknown" as const)
    )
    const fiber = Effect.runFork(ask(job.tag, this.message(slot, job)))
    job.fiber = fiber
    fiber.addObserver((exit) => {
      slot.inflight--
      job.fiber = undefined
      if (!job.settled) {
        const refused = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
        if (refused?._tag === "Some" && isRestarted(refused.value) && !this.closed) {
          // The engine restarted since its record was made: give it its namespace back, then this task.
          task.attempts--
          task.tried.pop()
          slot.incarnation = undefined
          // Replaying first: the job must wait in the queue until the record is back, not go out again at once.
          this.replay(slot)
          this.enqueue(slot, job)
          return
        }
        job.settled = true
        const outcome = this.outcome(slot, job.tag, exit)
        if (Exit.isSuccess(outcome)) {
          slot.incarnation = outcome.value.incarnation
          if (job.replay) slot.log.push({ tag: job.tag, payload: job.payload })
        }
        if (Exit.isFailure(outcome) && Cause.hasInterruptsOnly(outcome.cause)) {
          task.status = "aborted"
          task.abortRemote = undefined
          task.received = now()
          job.done(outcome)
        } else {
          this.finish(task, outcome, job.done)
        }
      }
      this.pump(slot)
      this.schedule()
    })
  }

  /** Send an engine its replay record again, in order; then its queue goes on. */
  private replay(slot: Slot): void {
    if (slot.replaying) return
    slot.replaying = true
    const ask = slot.ref.ask as (tag: Tag, payload: unknown) => Effect.Effect<unknown, unknown>
    const resend = Effect.forEach(slot.log, (call) => ask(call.tag, { ...call.payload, task: REPLAY_TASK }), { discard: false })
    Effect.runFork(resend).addObserver((exit) => {
      slot.replaying = false
      if (Exit.isSuccess(exit)) {
        const last = exit.value.at(-1) as Reply | undefined
        if (last !== undefined) slot.incarnation = last.incarnation
      } else if (!this.closed) {
        // The engine died again while being replayed: its tasks will be refused again, and the record resent.
        this.markDown(slot)
      }
      this.pump(slot)
    })
  }

  /** An ask's exit as a task outcome: runtime errors become `EngineDied` or `RemoteError`. */
  private outcome(slot: Slot, tag: Tag, exit: Exit.Exit<unknown, unknown>): Exit.Exit<Reply, TaskFailure> {
    if (Exit.isSuccess(exit)) {
      const value = exit.value as Reply
      if (tag === "info" || tag === "ping") {
        const t = now()
        return Exit.succeed({ value, started: t, completed: t, incarnation: slot.incarnation ?? 0 })
      }
      return Exit.succeed(value)
    }
    const failure = Cause.findErrorOption(exit.cause)
    if (failure._tag === "None") {
      if (Cause.hasInterruptsOnly(exit.cause)) return exit as Exit.Exit<never, never>
      const defect = Cause.squash(exit.cause)
      return Exit.fail(new RemoteError({ engine: slot.id, error: "Defect", message: ActorError.describe(defect), stack: ActorError.trace(defect) }))
    }
    const error = failure.value
    if (isRemoteError(error) || isTaskAborted(error)) return Exit.fail(error)
    if (ActorError.isWorkerDied(error) || ActorError.isWorkerLost(error)) {
      const lost = ActorError.isWorkerLost(error)
      if (lost) slot.down = true
      else this.markDown(slot)
      return Exit.fail(new EngineDied({ engine: slot.id, reason: this.deathReason(slot, error.reason, lost) }))
    }
    const kind = Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ? error._tag : "Error"
    // An engine's own defect (ActorDefect) carries the stack its thread captured.
    const stack = Predicate.hasProperty(error, "stack") && typeof error.stack === "string" && ActorError.isActorDefect(error) ? error.stack : ""
    return Exit.fail(new RemoteError({ engine: slot.id, error: kind, message: ActorError.describe(error), stack }))
  }

  /** Why an engine died, saying which other engines shared its worker (they died with it). */
  private deathReason(slot: Slot, reason: string, lost: boolean): string {
    const worker = slot.ref.address.worker
    const sharing = this.slots.filter((other) => other.ref.address.worker === worker).map((other) => other.id)
    const shared = sharing.length > 1 ? `; engines ${sharing.join(", ")} share worker ${worker} and went with it` : ""
    return `${reason}${shared}${lost ? "; the worker is lost for good (it will not restart)" : ""}`
  }

  private cancelJob(slot: Slot, job: Job): void {
    if (job.settled) return
    const i = slot.queue.indexOf(job)
    if (i >= 0) {
      slot.queue.splice(i, 1)
      job.settled = true
      job.task.abort = undefined
      job.task.status = "aborted"
      return
    }
    job.fiber?.interruptUnsafe()
  }

  /** An engine died: the scheduler avoids it until it answers a ping again (it is restarted by its tier). */
  private markDown(slot: Slot): void {
    if (slot.down || this.closed) return
    slot.down = true
    let delay = 25
    const probe = () => {
      if (this.closed) return
      Effect.runFork(slot.ref.ask("ping", undefined)).addObserver((exit) => {
        if (Exit.isSuccess(exit)) {
          slot.down = false
          this.pump(slot)
          this.schedule()
        } else if (!this.closed) {
          delay = Math.min(1000, delay * 2)
          setTimeout(probe, delay)
        }
      })
    }
    setTimeout(probe, delay)
  }

  /** Hand waiting load-balanced tasks to engines, in submission order, as dependencies and capacity allow. */
  private schedule(): void {
    if (this.scheduling) {
      this.again = true
      return
    }
    this.scheduling = true
    try {
      do {
        this.again = false
        this.scheduleOnce()
      } while (this.again)
    } finally {
      this.scheduling = false
    }
  }

  private scheduleOnce(): void {
    let i = 0
    while (i < this.waiting.length) {
      if (!this.slots.some((slot) => !slot.down && this.load(slot.id) < this.hwm)) return
      const waiting = this.waiting[i]!
      const { request, task } = waiting
      let location: ReadonlyArray<number> | undefined
      if (!waiting.depsMet) {
        const after = request.after === undefined ? undefined : Dependency.check(request.after, false)
        const follow = request.follow === undefined ? undefined : Dependency.check(request.follow, true)
        const impossible = after?._tag === "Impossible" ? after : follow?._tag === "Impossible" ? follow : undefined
        if (impossible !== undefined) {
          this.waiting.splice(i, 1)
          if (waiting.timer !== undefined) clearTimeout(waiting.timer)
          this.finishLater(task, new ImpossibleDependency({ task: task.id, reason: impossible.reason }), waiting.done)
          continue
        }
        if (after?._tag === "Waiting" || follow?._tag === "Waiting") {
          i++
          continue
        }
        waiting.depsMet = true
        if (waiting.timer !== undefined) clearTimeout(waiting.timer)
        waiting.timer = undefined
      }
      if (request.follow !== undefined) {
        const follow = Dependency.check(request.follow, true)
        location = follow._tag === "Met" ? follow.engines : undefined
      }
      if (location !== undefined && !location.some((engine) => request.targets.includes(engine))) {
        this.waiting.splice(i, 1)
        this.finishLater(task, new ImpossibleDependency({ task: task.id, reason: `follow: engine ${location.join(", ")} is not among this view's targets` }), waiting.done)
        continue
      }
      // Only engines that have not failed this task: once none is left, it fails rather than loop.
      const open = request.targets.filter((engine) => !waiting.excluded.has(engine) && (location === undefined || location.includes(engine)))
      if (open.length === 0) {
        this.waiting.splice(i, 1)
        const last = waiting.last === undefined ? "no attempt" : `${waiting.last._tag}: ${describeFailure(waiting.last)}`
        this.finishLater(task, new NoEngineLeft({ task: task.id, tried: [...waiting.excluded], last }), waiting.done)
        continue
      }
      const candidates = open.filter((engine) => !this.slots[engine]!.down && this.load(engine) < this.hwm)
      if (candidates.length === 0) {
        i++
        continue
      }
      const engine = request.scheduler.pick(candidates, (e) => this.load(e))
      this.waiting.splice(i, 1)
      this.assign(waiting, engine)
    }
  }

  /** Fail a task outside the scheduling loop (its callbacks may submit more work). */
  private finishLater(task: TaskRecord.TaskRecord, failure: TaskFailure, done: Done): void {
    queueMicrotask(() => this.finish(task, Exit.fail(failure), done))
  }

  private assign(waiting: Waiting, engine: number): void {
    const { request, task } = waiting
    const job: Job = {
      task,
      tag: request.tag,
      payload: request.payload,
      replay: false,
      seq: this.seq++,
      fiber: undefined,
      settled: false,
      done: (exit) => {
        waiting.job = undefined
        if (Exit.isSuccess(exit) || waiting.cancelled) return waiting.done(exit)
        const failure = Cause.findErrorOption(exit.cause)
        const retryable = failure._tag === "Some" && (isRemoteError(failure.value) || isEngineDied(failure.value))
        if (retryable && task.attempts <= request.retries && !this.closed) {
          // Resubmit on an engine that has not failed it; it goes first, ahead of newer tasks.
          waiting.excluded.add(engine)
          waiting.last = failure.value
          task.status = "pending"
          task.failure = undefined
          this.withdrawable(waiting)
          this.waiting.unshift(waiting)
          return
        }
        waiting.done(exit)
      }
    }
    waiting.job = job
    this.enqueue(this.slots[engine]!, job)
  }
}
