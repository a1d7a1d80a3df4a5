/**
 * Runner processes on this machine, as a launcher starts them: each runs `main.ts` (from a bundle, which boots
 * in about a second where tsx takes three to five; under tsx if it cannot be built), given its options as JSON, with its stdin a pipe that only this process holds (it exits when the pipe closes, that is when this
 * process is gone) and in a process group of its own (a Ctrl-C at the terminal reaches the launcher, which then
 * stops the runners in order, not everything at once). Their stderr is kept for the error that says why one
 * did not start; with `ACTORFLOW_RUNNER_LOGS=1` it is also copied to ours.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as ChildProcess from "node:child_process"
import { createRequire } from "node:module"
import { pathToFileURL } from "node:url"
import * as Layout from "../Layout.ts"
import * as WorkerBundle from "../threads/WorkerBundle.ts"
import type * as Runner from "./Runner.ts"
import { RunnerRefused } from "./Runner.ts"
const READY_TIMEOUT_MS = 60_000
const STOP_TIMEOUT_MS = 8_000

/** A runner process started on this machine. @inline */
export interface RunnerProcess {
  readonly slot: number
  readonly pid: number
  /** host:port it listens at. */
  readonly address: string
  /** Kill it at once (SIGKILL), as a crash would. */
  readonly kill: () => void
  readonly exited: () => boolean
}

/** The last lines a runner wrote to stderr, for the error that says why it did not start. */
const tail = (text: string) => text.trim().split("\n").slice(-3).join(" | ")

/** Start a runner and wait until it has joined; it is stopped (SIGTERM, then SIGKILL) when the scope closes. */
export const start = (options: Runner.Options): Effect.Effect<RunnerProcess, RunnerRefused, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.flatMap(entry, (program) => spawn(program, options)),
    ({ child }) => stop(child)
  ).pipe(Effect.map(({ child: _, ...runner }) => runner))

/**
 * How to start `main`: its bundle; else its compiled file as it is (installed from npm), or tsx and the source (this
 * checkout; tsx found by path, so that a runner starts from any working directory). A user's own bundle holds no
 * runner entry: runners start from an installed Actorflow.
 */
const entry = Effect.flatMap(
  Effect.sync(() => (Layout.form === "bundled" ? undefined : Layout.runtimeFile("internal/cluster/main"))),
  (main) =>
    main === undefined
      ? Effect.fail(new RunnerRefused({ message: "runners cannot start from inside a bundle: start them from an installed actorflow (npm install actorflow)" }))
      : Effect.promise(() =>
        WorkerBundle.programBundle(main).then((bundle) => [bundle], () =>
          Layout.form === "dist" ? [main] : ["--import", pathToFileURL(createRequire(main).resolve("tsx")).href, main])
      )
)

const spawn = (program: ReadonlyArray<string>, options: Runner.Options) =>
  Effect.callback<RunnerProcess & { readonly child: ChildProcess.ChildProcess }, RunnerRefused>((resume) => {
    const child = ChildProcess.spawn(process.execPath, [...program, JSON.stringify(options)], {
      stdio: ["pipe", "pipe", "pipe"],
      detached: true
    })
    let stdout = ""
    let stderr = ""
    let settled = false
    const fail = (message: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      child.kill("SIGKILL")
      resume(Effect.fail(new RunnerRefused({ message })))
    }
    const timer = setTimeout(() => fail(`runner ${options.slot} did not join within ${READY_TIMEOUT_MS / 1000} s: ${tail(stderr)}`), READY_TIMEOUT_MS)
    child.stderr!.on("data", (chunk) => {
      stderr = (stderr + String(chunk)).slice(-4096)
      if (process.env.ACTORFLOW_RUNNER_LOGS) process.stderr.write(chunk)
    })
    child.stdout!.on("data", (chunk) => {
      stdout += String(chunk)
      let newline: number
      while ((newline = stdout.indexOf("\n")) >= 0) {
        const line = stdout.slice(0, newline)
        stdout = stdout.slice(newline + 1)
        if (!line.startsWith("{\"ready\"")) continue
        const message = JSON.parse(line) as { ready: boolean; address?: string; error?: string }
        if (!message.ready) return fail(message.error ?? `runner ${options.slot} refused to start`)
        if (settled) return
        settled = true
        clearTimeout(timer)
        resume(Effect.succeed({
          slot: options.slot,
          pid: child.pid!,
          address: message.address!,
          child,
          kill: () => child.kill("SIGKILL"),
          exited: () => child.exitCode !== null || child.signalCode !== null
        }))
      }
    })
    child.once("error", (error) => fail(`cannot start runner ${options.slot}: ${error.message}`))
    child.once("exit", (code, signal) => fail(`runner ${options.slot} exited (${signal ?? code}) before joining: ${tail(stderr)}`))
    return Effect.sync(() => {
      if (!settled) {
        settled = true
        clearTimeout(timer)
        child.kill("SIGKILL")
      }
    })
  })

/** Ask a process to stop (SIGTERM), and kill it if it has not exited within `STOP_TIMEOUT_MS`. */
export const stop = (child: ChildProcess.ChildProcess): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const done = () => {
      child.stdin?.destroy()
      resume(Effect.void)
    }
    if (child.exitCode !== null || child.signalCode !== null) return done()
    const force = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS)
    child.once("exit", () => {
      clearTimeout(force)
      done()
    })
    child.kill("SIGTERM")
  })
