/**
 * The cluster launcher, `ipcluster`'s counterpart: start a cluster of runner processes on this machine (with an
 * embedded Postgres unless given one), look at it, stop it, or add a runner from another machine.
 *
 *   npx tsx src/programs/cluster.ts start -n 4                  # 2 runners × 2 threads, .actorflow/cluster.json
 *   npx tsx src/programs/cluster.ts status [--json]
 *   npx tsx src/programs/pi.ts --cluster .actorflow/cluster.json
 *   npx tsx src/programs/cluster.ts stop                        # or Ctrl-C where it runs
 *   npx tsx src/programs/cluster.ts runner --slot 1 --listen 0.0.0.0:7001 --advertise 10.0.0.2:7001
 *
 * `start` stays in the foreground while the cluster runs, restarts a runner that dies (it rejoins and takes
 * its shards back), and on Ctrl-C or `stop` stops the runners, then Postgres, and removes the connection file.
 * If it is killed outright, the runners and Postgres notice and exit on their own.
 */
import { Console, Duration, Effect, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import * as Path from "node:path"
import * as Cluster from "../runtime/Cluster.ts"
import * as Flags from "./cli/Flags.ts"
import * as Main from "./cli/Main.ts"
import * as Table from "./cli/Table.ts"

const DEFAULT_FILE = Path.join(".actorflow", "cluster.json")

/** How often the launcher looks for runners that died, and how many restarts it allows in all. */
const SUPERVISE_MS = 500
const MAX_RESTARTS = 20

class LauncherError extends Schema.TaggedError<LauncherError>()("LauncherError", { message: Schema.String }) {}

const file = Flag.String("file").pipe(Flag.withDefault(DEFAULT_FILE), Flag.withDescription("the connection file"))

const Endpoint = Schema.String.pipe(
  Schema.check(Schema.makeFilter((s: string) => /^[^\s]+:\d{1,5}$/.test(s) || "expected host:port, e.g. 0.0.0.0:7001"))
)
const endpoint = (text: string) => {
  const at = text.lastIndexOf(":")
  return { host: text.slice(0, at), port: Number(text.slice(at + 1)) }
}

/** A Postgres URL from the usual `PG*` variables, when PGHOST is set. */
const fromEnvironment = (): string | undefined => {
  const env = process.env
  if (env.PGHOST === undefined) return undefined
  const user = encodeURIComponent(env.PGUSER ?? "postgres")
  const password = env.PGPASSWORD === undefined ? "" : `:${encodeURIComponent(env.PGPASSWORD)}`
  return `postgres://${user}${password}@${env.PGHOST}:${env.PGPORT ?? "5432"}/${env.PGDATABASE ?? "postgres"}`
}

/** A retention (`--keep-replies`): a number and a unit, or `forever`. */
const KEEP = /^(?:forever|\d+(?:\.\d+)?[smhd])$/
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
const keepOf = (text: string): Duration.Duration =>
  text === "forever" ? Duration.infinity : Duration.millis(Number(text.slice(0, -1)) * UNIT_MS[text.slice(-1) as keyof typeof UNIT_MS])

const start = Command.make("start", {
  workers: Flag.Int("workers").pipe(
    Flag.withAlias("n"),
    Flag.withSchema(Flags.PositiveInt),
    Flag.optional,
    Flag.withDescription("worker threads in all (default: runners × threads)")
  ),
  runners: Flag.Int("runners").pipe(Flag.withSchema(Flags.PositiveInt.check(Schema.isLessThanOrEqualTo(255))), Flag.optional, Flag.withDescription("runner processes (default 2)")),
  threads: Flag.Int("threads").pipe(Flag.withSchema(Flags.PositiveInt), Flag.optional, Flag.withDescription("worker threads per runner (default: workers / runners, else 1)")),
  file,
  dir: Flag.String("dir").pipe(Flag.optional, Flag.withDescription("the folder the cluster owns (default: the connection file's folder)")),
  pg: Flag.String("pg").pipe(Flag.optional, Flag.withDescription("a Postgres URL (or PGHOST and friends) instead of an embedded server")),
  tls: Flag.Boolean("tls").pipe(Flag.withDefault(false), Flag.withDescription("mutual TLS between runners and clients (a throwaway CA)")),
  host: Flag.String("host").pipe(Flag.withDefault("127.0.0.1"), Flag.withDescription("the address runners listen on")),
  insecure: Flag.Boolean("insecure").pipe(Flag.withDefault(false), Flag.withDescription("allow a non-loopback --host without --tls")),
  keepReplies: Flag.String("keep-replies").pipe(
    Flag.withSchema(Schema.String.check(Schema.isPattern(KEEP))),
    Flag.withDefault("7d"),
    Flag.withDescription("how long persisted messages' replies are kept once done: 45s, 30m, 12h, 7d, or forever")
  ),
  json: Flags.json("one JSON object on stdout once the cluster is up")
}, (options) =>
  Effect.gen(function*() {
    const runners = Option.getOrElse(options.runners, () => Math.min(2, Option.getOrElse(options.workers, () => 2)))
    const threads = Option.getOrElse(options.threads, () => Option.match(options.workers, { onNone: () => 1, onSome: (n) => Math.ceil(n / runners) }))
    const pg = Option.getOrUndefined(options.pg) ?? fromEnvironment()
    const started = yield* Cluster.start({
      runners,
      threads,
      file: options.file,
      dir: Option.getOrElse(options.dir, () => Path.dirname(options.file)),
      launcher: process.pid,
      host: options.host,
      tls: options.tls,
      insecure: options.insecure,
      keepReplies: keepOf(options.keepReplies),
      ...(pg === undefined ? {} : { pg })
    })
    const postgres = started.connection().postgres.embedded ? "embedded" : "given"
    if (options.json) {
      yield* Console.log(JSON.stringify({
        file: started.file,
        runners: started.runners().map((r) => ({ slot: r.slot, address: r.address, pid: r.pid })),
        threads,
        postgres,
        tls: options.tls
      }))
    } else {
      yield* Console.log(`cluster of ${runners} runner${runners === 1 ? "" : "s"} × ${threads} thread${threads === 1 ? "" : "s"} is up (${postgres} Postgres${options.tls ? ", mutual TLS" : ""}); Ctrl-C or \`cluster.ts stop\` stops it`)
      yield* Console.log(started.file)
    }
    // Supervise: a runner that died is started again; it rejoins and takes its shard group back.
    let restarts = 0
    for (;;) {
      yield* Effect.sleep(SUPERVISE_MS)
      for (const runner of started.runners()) {
        if (!runner.exited()) continue
        if (restarts++ >= MAX_RESTARTS) return yield* new LauncherError({ message: `runners died ${MAX_RESTARTS} times; stopping the cluster` })
        yield* Console.error(`runner ${runner.slot} exited; starting it again`)
        yield* Effect.catch(started.restart(runner.slot), (error) => Console.error(`runner ${runner.slot} did not come back: ${error.message}`))
      }
    }
  }).pipe(Effect.scoped)).pipe(Command.withDescription("start a cluster on this machine and keep it running until Ctrl-C or `stop`"))

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const stop = Command.make("stop", { file }, (options) =>
  Effect.gen(function*() {
    const connection = yield* Cluster.read(options.file)
    const pid = connection.launcher
    if (pid === null || !alive(pid)) {
      return yield* new LauncherError({ message: `no launcher of ${options.file} is running${pid === null ? "" : ` (pid ${pid} is gone)`}` })
    }
    process.kill(pid, "SIGTERM")
    for (let waited = 0; alive(pid); waited += 100) {
      if (waited > 30_000) return yield* new LauncherError({ message: `the launcher (pid ${pid}) did not stop within 30 s` })
      yield* Effect.sleep(100)
    }
    yield* Console.log(`stopped the cluster of ${options.file}`)
  })).pipe(Command.withDescription("stop the cluster a connection file names (its launcher stops the runners and Postgres)"))

const status = Command.make("status", { file, json: Flags.json("one JSON object per runner slot") }, (options) =>
  Effect.gen(function*() {
    const connection = yield* Cluster.read(options.file)
    const slots = yield* Cluster.status(options.file)
    const rows = slots.map((slot) => ({ ...slot, threads: connection.layout.threads }))
    if (options.json) return yield* Table.json(rows)
    yield* Console.log(Table.format([
      { header: "slot", cell: (r) => String(r.slot), right: true },
      { header: "address", cell: (r) => r.address ?? "-" },
      { header: "threads", cell: (r) => String(r.threads), right: true },
      { header: "health", cell: (r) => (r.up ? "up" : "down") }
    ], rows))
  })).pipe(Command.withDescription("list the runner slots of a cluster and whether each is up"))

const runner = Command.make("runner", {
  file,
  slot: Flag.Int("slot").pipe(Flag.withDescription("the runner slot to serve (0-based)")),
  listen: Flag.String("listen").pipe(Flag.withSchema(Endpoint), Flag.optional, Flag.withDescription("host:port to listen at (default: the slot's address in the file)")),
  advertise: Flag.String("advertise").pipe(Flag.withSchema(Endpoint), Flag.optional, Flag.withDescription("host:port others reach this runner at (default: --listen)")),
  insecure: Flag.Boolean("insecure").pipe(Flag.withDefault(false), Flag.withDescription("allow a non-loopback --listen without TLS"))
}, (options) =>
  Effect.gen(function*() {
    const address = yield* Cluster.runner({
      file: options.file,
      slot: options.slot,
      listen: Option.getOrUndefined(Option.map(options.listen, endpoint)),
      advertise: Option.getOrUndefined(Option.map(options.advertise, endpoint)),
      insecure: options.insecure
    })
    yield* Console.log(`runner ${options.slot} joined the cluster of ${options.file} at ${address.host}:${address.port}; Ctrl-C stops it`)
    return yield* Effect.never
  }).pipe(Effect.scoped)).pipe(Command.withDescription("serve one runner slot of an existing cluster (e.g. on another machine with the same checkout)"))

const command = Command.make("cluster").pipe(
  Command.withSubcommands([start, status, stop, runner]),
  Command.withDescription("start, inspect and stop a cluster of Actorflow runners (Effect Cluster + Postgres)")
)

Main.run(command)
