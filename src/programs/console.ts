/**
 * An interactive session with engines, as in IPython: starts the engines, then a REPL with a client whose views
 * return promises (with the result handle's methods on them), so a person can explore with `await`.
 *
 *   npx tsx src/programs/console.ts --engines 4
 *   > rc.ids
 *   > await dview.apply((x) => x * x, 2)
 *   > const r = lview.map((x) => x + 1, range(1e5)); r.progress(); (await r).length
 *   > const s = lview.map(slow, range(1e4)); await s.waitInteractive(); (await s).length    (a bar while it runs)
 *   npx tsx src/programs/console.ts --eval "await dview.apply((x) => x * x, 2)" --json
 *
 * What a task writes on its engine is printed before its value, each line prefixed with the engine
 * (`[stdout:0] ...`; on stderr under `--json`).
 *
 * In the session: `rc` (the client), `dview` (all engines), `lview` (load-balanced), `Remote` (`Remote.fn`,
 * `Remote.module`, `Remote.reference`), `Dependency`, `particles` (the particle kernels as an engine module:
 * `await dview.syncImports({ particles })`), `range(n)`.
 */
import { Cause, Console, Effect, Exit, Layer, ManagedRuntime, Option, Schema, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import * as Os from "node:os"
import * as Repl from "node:repl"
import * as Util from "node:util"
import * as Vm from "node:vm"
import * as particleKernels from "../actors/particles/index.ts"
import { Client, Dependency, Remote } from "../runtime/engines/index.ts"
import { Output } from "../runtime/index.ts"
import type { Trace } from "../runtime/index.ts"
import type { AsyncResult, DirectView, LoadBalancedView, Selection } from "../runtime/engines/index.ts"
import * as Flags from "./cli/Flags.ts"
import * as Main from "./cli/Main.ts"
import * as Tier from "./cli/Tier.ts"
import * as TraceFile from "./cli/TraceFile.ts"

type Run = <A, E>(effect: Effect.Effect<A, E>) => Promise<A>

/**
 * A result as a promise, with the handle's methods: `ready()`, `progress()`, `waitInteractive()` (a progress bar on
 * the terminal until it is done, IPython's `wait_interactive`), `elapsed()`, `metadata()`, `abort()`, `interrupt()`.
 */
export interface PromiseResult<A> extends Promise<A> {
  readonly ready: () => boolean
  readonly progress: () => { readonly done: number; readonly total: number }
  readonly waitInteractive: () => Promise<boolean>
  readonly elapsed: () => number
  readonly metadata: () => ReadonlyArray<unknown>
  readonly abort: () => Promise<void>
  readonly interrupt: () => Promise<void>
}

/** Results not settled yet: Ctrl-C in the REPL interrupts them, inside the engines too. */
const outstanding = new Set<AsyncResult.AsyncResult<unknown, unknown>>()

const promiseResult = <A>(run: Run, submit: Effect.Effect<AsyncResult.AsyncResult<A, unknown>, unknown>): PromiseResult<A> => {
  let handle: AsyncResult.AsyncResult<A, unknown> | undefined
  const submitted = run(submit).then((h) => {
    outstanding.add(h)
    return (handle = h)
  })
  // What the tasks wrote shows before their value, prefixed with the engine (`[stdout:0] ...`), as `%px` does.
  const value = submitted.then((h) => run(Effect.ensuring(h, h.displayOutputs())))
  void value.then(
    () => handle && outstanding.delete(handle),
    () => handle && outstanding.delete(handle)
  )
  // A result nobody awaits must not take the session down when it fails.
  value.catch(() => {})
  return Object.assign(value, {
    ready: () => handle?.isReady() ?? false,
    progress: () => handle?.progress() ?? { done: 0, total: 0 },
    waitInteractive: () => submitted.then((h) => run(h.waitInteractive())),
    elapsed: () => handle?.elapsed() ?? 0,
    metadata: () => handle?.metadata() ?? [],
    abort: () => submitted.then((h) => run(h.abort)),
    interrupt: () => submitted.then((h) => run(h.interrupt))
  })
}

/** Wrap every operation of an Effect-returning view so it returns a `PromiseResult`. */
const promiseDirect = (run: Run, view: DirectView.DirectView) => {
  const wrap = <Args extends Array<any>, A>(f: (...args: Args) => Effect.Effect<AsyncResult.AsyncResult<A, any>, any>) =>
  (...args: Args) => promiseResult(run, f(...args))
  return {
    targets: view.targets,
    execute: wrap(view.execute),
    apply: wrap(view.apply as (...args: Array<any>) => DirectView.Submit<Array<unknown>>),
    map: wrap(view.map),
    push: wrap(view.push),
    pull: wrap(view.pull as (names: string | ReadonlyArray<string>) => DirectView.Submit<Array<unknown>>),
    set: wrap(view.set),
    get: wrap(view.get),
    scatter: wrap(view.scatter),
    gather: wrap(view.gather),
    syncImports: wrap(view.syncImports),
    keys: wrap(view.keys),
    clear: wrap(view.clear),
    info: wrap(view.info),
    remote: (fn: Remote.Callable<Remote.AnyFunction>) => wrap(view.remote(fn)),
    parallel: (fn: Remote.Callable<Remote.AnyFunction>) => {
      const p = view.parallel(fn)
      return Object.assign(wrap(p), { map: wrap(p.map) })
    }
  }
}

const promiseBalanced = (run: Run, view: LoadBalancedView.LoadBalancedView): unknown => ({
  targets: view.targets,
  flags: view.flags,
  with: (flags: LoadBalancedView.Flags) => promiseBalanced(run, view.with(flags)),
  apply: (fn: Remote.Callable<Remote.AnyFunction>, ...args: Array<any>) => promiseResult(run, view.apply(fn, ...args)),
  map: (fn: Remote.Callable<Remote.AnyFunction>, items: Iterable<unknown>, options?: LoadBalancedView.MapOptions) =>
    promiseResult(run, view.map(fn, items, options)),
  /** Results as an async iterable: `for await (const y of lview.imap(f, xs)) ...` */
  imap: (fn: Remote.Callable<Remote.AnyFunction>, items: Iterable<unknown>, options?: LoadBalancedView.MapOptions) =>
    Stream.toAsyncIterable(view.imap(fn, items, options) as Stream.Stream<unknown, unknown>)
})

/** The client with promise-returning views. */
export const promiseClient = (run: Run, client: Client.Shape) => ({
  ids: client.ids,
  where: client.where,
  view: (selection?: Selection.Selection) => promiseDirect(run, Effect.runSync(Effect.orDie(client.view(selection)))),
  loadBalanced: (flags?: LoadBalancedView.Flags & { readonly targets?: Selection.Selection }) =>
    promiseBalanced(run, Effect.runSync(Effect.orDie(client.loadBalanced(flags)))),
  info: () => promiseResult(run, client.info),
  queueStatus: () => client.queueStatus()
})

const range = (n: number): Array<number> => Array.from({ length: n }, (_, i) => i)

/** What the session sees. */
const sessionContext = (run: Run, client: Client.Shape): Record<string, unknown> => {
  const rc = promiseClient(run, client)
  return {
    rc,
    dview: rc.view(),
    lview: rc.loadBalanced(),
    Remote,
    Dependency,
    particles: Remote.module(new URL("../actors/particles/index.ts", import.meta.url).href, particleKernels),
    range
  }
}

const BANNER = (ids: ReadonlyArray<number>) =>
  `Actorflow engines ${JSON.stringify(ids)} are up. In scope: rc, dview (all engines), lview (load-balanced), ` +
  `Remote, Dependency, particles, range.\nTry: await dview.apply((x) => x * x, 2)   or   .help   (.exit or Ctrl-D to stop)`

const flags = {
  engines: Flag.Int("engines").pipe(
    Flag.withSchema(Schema.Finite.check(Schema.isInt(), Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(64))),
    Flag.withDefault(Os.availableParallelism()),
    Flag.withDescription("engines to start (default: one per core)")
  ),
  eval: Flag.String("eval").pipe(Flag.optional, Flag.withDescription("evaluate this expression (await allowed), print its value and exit")),
  cluster: Flags.cluster(),
  inspectWorkers: Tier.inspectFlag(),
  trace: TraceFile.flag(),
  json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("with --eval: print the value as one JSON line"))
}

const command = Command.make("console", flags, (options) =>
  Effect.gen(function*() {
    const recorder = yield* TraceFile.recorder(options.trace, options.cluster)
    yield* session(options, recorder)
    // After the session's output: a trace that cannot be written costs one line.
    yield* TraceFile.write(options.trace, recorder, { quiet: options.json })
  })).pipe(Command.withDescription("An interactive session with engines: a REPL with a client and promise-returning views"))

const session = (
  options: {
    readonly engines: number
    readonly eval: Option.Option<string>
    readonly cluster: Option.Option<string>
    readonly inspectWorkers: boolean
    readonly json: boolean
  },
  recorder: Trace.Recorder | undefined
) =>
  Effect.scoped(Effect.gen(function*() {
    const workers = Math.min(options.engines, Os.availableParallelism())
    // The session runs in a runtime of its own: it gets the program's output sink (stderr under --json).
    const sink = Layer.succeed(Output.CurrentSink, yield* Output.CurrentSink)
    const tier = Tier.layer(options.cluster, { workers, inspect: options.inspectWorkers, ...TraceFile.option(recorder) })
    const runtime = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ManagedRuntime.make(Client.layer({ engines: options.engines }).pipe(Layer.provide(tier), Layer.provideMerge(sink)))
      ),
      (runtime) => Effect.promise(() => runtime.dispose())
    )
    const client = yield* Effect.promise(() => runtime.runPromise(Client.Client.use(Effect.succeed)))
    const run: Run = (effect) => runtime.runPromise(effect)
    const context = sessionContext(run, client)

    if (options.eval._tag === "Some") {
      const code = options.eval.value
      const sandbox = Vm.createContext({ ...context, console, process, setTimeout, performance })
      const evaluated = yield* Effect.exit(Effect.tryPromise({
        try: () => Vm.runInContext(`(async () => (${code}\n))()`, sandbox) as Promise<unknown>,
        catch: (error) => error instanceof Error ? `${error.name}: ${error.message}` : String(error)
      }))
      if (Exit.isFailure(evaluated)) {
        // The whole message, not its first line: a CompositeError lists one line per engine.
        const failure = Cause.findErrorOption(evaluated.cause)
        process.stderr.write(`console: ${failure._tag === "Some" ? failure.value : Cause.pretty(evaluated.cause)}\n`)
        process.exitCode = 1
        return
      }
      const value = evaluated.value
      if (options.json) return yield* Console.log(JSON.stringify({ eval: code, value: jsonSafe(value) }))
      return yield* Console.log(Util.inspect(value, { depth: 4, colors: process.stdout.isTTY }))
    }

    yield* Console.log(BANNER(client.ids))
    yield* Effect.callback<void>((resume) => {
      // Ctrl-C while an `await` runs ends the wait (the REPL stays usable) and interrupts what it waited for.
      const server = Repl.start({ prompt: "engines> ", useGlobal: false, breakEvalOnSigint: true })
      Object.assign(server.context, context)
      server.on("SIGINT", () => {
        for (const result of outstanding) void run(result.interrupt)
      })
      server.on("exit", () => resume(Effect.void))
    })
  }))

/** Typed arrays and Maps as plain JSON. */
const jsonSafe = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value, (_, v) => (ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v instanceof Map ? Object.fromEntries(v) : v)) ?? "null")

Main.run(command)
