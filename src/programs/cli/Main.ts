/**
 * Runs a program's command line: parses flags with `effect/cli`, turns a user
 * mistake into one line on stderr and exit code 2 (no help dump, no stack
 * trace), and lets Ctrl-C interrupt the program so every worker is stopped. Under `--json`, what user code writes
 * on workers goes to stderr (see `Output`), so stdout stays parseable.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect, Predicate } from "effect"
import { ActorError, Output } from "../../runtime/index.ts"
import { CliError, CliOutput, Command } from "effect/cli"

/** Help only when asked for: a mistake gets one line (below), not the whole help text. */
const quietPresenter = CliOutput.layerPresenter({
  present: (event) =>
    event._tag === "Help" && event.reason === "Implicit" ? Effect.void : CliOutput.defaultPresenter.present(event)
})

/**
 * A reader that left (`… --json | head -1`): the program stops as on Ctrl-C (its workers and processes stopped),
 * instead of dying of an EPIPE with a stack trace; what it still writes goes nowhere.
 */
const stopWhenStdoutCloses = (): void => {
  let stopping = false
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error
    if (stopping) return
    stopping = true
    process.kill(process.pid, "SIGINT")
  })
}

export const run = <Name extends string, Input, E, R extends NodeServices.NodeServices>(
  command: Command.Command<Name, Input, {}, E, R>
): void => {
  stopWhenStdoutCloses()
  const args = process.argv.slice(2)
  const program = Command.runWith(command, { version: "0.1.0", renderErrors: false })(args).pipe(
    // Under --json stdout carries JSON only: what user code writes on workers goes to stderr, prefixed.
    Output.withSink(args.includes("--json") ? Output.stderr : Output.console),
    Effect.catchIf((error): error is CliError.ShowHelp => CliError.isCliError(error) && error._tag === "ShowHelp", (help) =>
      Effect.sync(() => {
        if (help.errors.length === 0) return
        const first = help.errors[0]!
        const line = ActorError.oneLine(first.message ?? String(first))
        process.stderr.write(`${command.name}: ${line} (see --help)\n`)
        process.exitCode = 2
      })),
    Effect.catch((error) =>
      Effect.sync(() => {
        // A program's typed errors carry a message written for the user; anything else is described.
        // (The runtime's own errors name a message tag in `message`: describe those whole.)
        const message = Predicate.hasProperty(error, "message") && !ActorError.isActorError(error) && !ActorError.isSpawnFailed(error)
          ? ActorError.oneLine(String(error.message))
          : ActorError.describe(error)
        process.stderr.write(`${command.name}: ${message}\n`)
        process.exitCode = 1
      })),
    Effect.provide(quietPresenter),
    Effect.provide(NodeServices.layer)
  ) as Effect.Effect<void, never, never>
  NodeRuntime.runMain(program, { disableErrorReporting: true })
}
