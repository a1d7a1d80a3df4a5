/**
 * The entry of a runner process that a launcher (or `Cluster.start`) started: its options arrive as one JSON
 * argument, its logs go to stderr, and it prints one line `{"ready":...}` on stdout once it has joined.
 *
 * It ends when its launcher goes, however the launcher went: the launcher holds the other end of its stdin,
 * which closes when the launcher exits, even by SIGKILL. It then closes gracefully if it can, and exits at
 * once if that takes longer than `ORPHAN_GRACE_MS` (the launcher's Postgres may be gone with it).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Effect, Logger, References } from "effect"
import { describe } from "../../ActorError.ts"
import * as Runner from "./Runner.ts"

const ORPHAN_GRACE_MS = 3000

const options = JSON.parse(process.argv[2] ?? "{}") as Runner.Options

process.stdin.on("data", () => {})
process.stdin.once("close", () => {
  setTimeout(() => process.exit(3), ORPHAN_GRACE_MS).unref()
  process.kill(process.pid, "SIGTERM")
})

const program = Effect.gen(function*() {
  const address = yield* Runner.run(options)
  process.stdout.write(JSON.stringify({ ready: true, slot: options.slot, address: `${address.host}:${address.port}`, pid: process.pid }) + "\n")
  return yield* Effect.never
}).pipe(
  Effect.scoped,
  Effect.catch((error) =>
    Effect.sync(() => {
      process.stdout.write(JSON.stringify({ ready: false, slot: options.slot, error: Runner.isRunnerRefused(error) ? error.message : describe(error) }) + "\n")
      process.exitCode = 1
    })
  ),
  Effect.provide(Logger.layer([Logger.withConsoleError(Logger.formatLogFmt)])),
  Effect.provideService(References.MinimumLogLevel, "Warn")
)

NodeRuntime.runMain(program, { disableErrorReporting: true })
