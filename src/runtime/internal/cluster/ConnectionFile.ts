/**
 * The connection file: everything a client or a runner needs to join a cluster, written by the launcher
 * (`cluster.ts start`) and read by `Cluster.layer({ file })` and `cluster.ts runner` / `status` / `stop`.
 *
 * It holds the Postgres URL (with its password: the file is written readable by its owner only), the shard
 * layout every process must share, each runner slot's address, the TLS material's paths when the cluster
 * speaks mutual TLS, the code version the runners run, and the launcher's pid.
 */
import { Effect, Schema } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { describe, oneLine } from "../../ActorError.ts"

/** What every process of one cluster must agree on. */
export const Layout = Schema.Struct({
  /** Runner slots (each one process hosting `threads` worker threads). */
  runners: Schema.Int.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(255)),
  threads: Schema.Int.check(Schema.isGreaterThan(0)),
  /** Effect Cluster's shards per shard group. */
  shardsPerGroup: Schema.Int.check(Schema.isGreaterThan(0))
})
export type Layout = typeof Layout.Type

export const Endpoint = Schema.Struct({ host: Schema.String, port: Schema.Int })
export type Endpoint = typeof Endpoint.Type

export const Tls = Schema.Struct({
  /** PEM files: the cluster's CA, and the certificate and key every process presents. */
  ca: Schema.String,
  cert: Schema.String,
  key: Schema.String
})
export type Tls = typeof Tls.Type

export const ConnectionFile = Schema.Struct({
  actorflowCluster: Schema.Literal(1),
  /** The runtime's code version (see `Version.ts`): a runner or client with another one is refused. */
  version: Schema.String,
  /** The launcher's process id (`stop` signals it); null when the runners were started by other means. */
  launcher: Schema.NullOr(Schema.Int),
  postgres: Schema.Struct({ url: Schema.String, embedded: Schema.Boolean }),
  layout: Layout,
  /** Slot r's address, as the other processes reach it. */
  runners: Schema.Array(Endpoint),
  tls: Schema.optional(Tls)
})
/** A connection file's contents. @inline */
export type ConnectionFile = typeof ConnectionFile.Type

/** The connection file cannot be read, does not parse, or does not fit the schema. */
export class ConnectionFileInvalid extends Schema.TaggedError<ConnectionFileInvalid>()("ConnectionFileInvalid", {
  file: Schema.String,
  message: Schema.String
}) {}

export const isConnectionFileInvalid = (u: unknown): u is ConnectionFileInvalid =>
  Schema.is(ConnectionFileInvalid)(u)

const decode = Schema.decodeUnknownSync(ConnectionFile)

export const read = (file: string): Effect.Effect<ConnectionFile, ConnectionFileInvalid> =>
  Effect.try({
    try: () => {
      if (!Fs.existsSync(file)) throw new Error("no such file (`cluster.ts start` writes one)")
      const text = Fs.readFileSync(file, "utf8")
      const parsed = decode(JSON.parse(text))
      if (parsed.runners.length !== parsed.layout.runners) {
        throw new Error(`it lists ${parsed.runners.length} runner addresses for ${parsed.layout.runners} slots`)
      }
      return parsed
    },
    catch: (error) => new ConnectionFileInvalid({ file, message: `connection file ${file}: ${error instanceof Error ? oneLine(error.message) : describe(error)}` })
  })

/** Write the file atomically, readable by its owner only (it holds the database password). */
export const write = (file: string, contents: ConnectionFile): void => {
  Fs.mkdirSync(Path.dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  Fs.writeFileSync(tmp, JSON.stringify(contents, null, 2) + "\n", { mode: 0o600 })
  Fs.renameSync(tmp, file)
}
