/**
 * Effect Cluster as the Cluster tier runs it: sharding over sockets (plain TCP or mutual TLS), shard and runner
 * coordination in Postgres (`@effect/sql-pg`), and the timings that move a dead runner's shards within 5 s.
 *
 * The socket transport has no authentication of its own, so TLS is assembled here from its parts, as
 * `NodeClusterSocket.layer` assembles plain TCP: the runner server is `NodeSocketServer.layerTls` asking for and
 * checking client certificates, and every outgoing connection (client to runner, runner to runner, health
 * pings) is `NodeSocket.makeTls` with the cluster's certificate. Peers are trusted for holding a certificate
 * of the cluster's CA; host names are not checked, since runners are addressed by IP.
 */
import * as NodeCrypto from "@effect/platform-node/NodeCrypto"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import * as RunnerAddress from "effect/cluster/RunnerAddress"
import * as RunnerHealth from "effect/cluster/RunnerHealth"
import * as Runners from "effect/cluster/Runners"
import * as RunnerStorage from "effect/cluster/RunnerStorage"
import type * as Sharding from "effect/cluster/Sharding"
import * as ShardingConfig from "effect/cluster/ShardingConfig"
import * as SocketRunner from "effect/cluster/SocketRunner"
import * as SqlMessageStorage from "effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "effect/cluster/SqlRunnerStorage"
import * as RpcClient from "effect/rpc/RpcClient"
import * as RpcSerialization from "effect/rpc/RpcSerialization"
import { Socket } from "effect/socket/Socket"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Fs from "node:fs"
import * as Net from "node:net"
import type { ConnectionFile, Endpoint, Tls } from "./ConnectionFile.ts"
import * as Protocol from "./Protocol.ts"

/**
 * Failover timings (measured here: a SIGKILLed runner's shards move in 2–4.4 s). A runner must renew its shard
 * locks within min(refresh, expiration / 3) = 1 s, which is why no computation runs on a runner's main thread.
 */
export const FAILOVER = {
  shardLockExpiration: Duration.seconds(3),
  shardLockRefreshInterval: Duration.seconds(1),
  refreshAssignmentsInterval: Duration.millis(500),
  runnerHealthCheckInterval: Duration.seconds(1),
  sendRetryInterval: Duration.millis(100),
  entityMessagePollInterval: Duration.millis(500),
  entityReplyPollInterval: Duration.millis(100),
  entityTerminationTimeout: Duration.seconds(2)
} as const

/** How long a client's batching entity on a runner may stay idle (its client gone) before the runner drops it. */
export const MUX_MAX_IDLE = Duration.minutes(30)

/** A runner's place in the cluster: its slot, where it listens and the address others reach it at. */
export interface Role {
  readonly slot: number
  readonly listen: Endpoint
  readonly advertise: Endpoint
}

export const shardingConfig = (file: ConnectionFile, role: Role | undefined): Partial<ShardingConfig.ShardingConfig["Service"]> => ({
  runnerAddress: role === undefined ? Option.none() : Option.some(RunnerAddress.make(role.advertise.host, role.advertise.port)),
  runnerListenAddress: role === undefined ? Option.none() : Option.some(RunnerAddress.make(role.listen.host, role.listen.port)),
  availableShardGroups: Protocol.groups(file.layout.runners),
  assignedShardGroups: role === undefined ? [] : [Protocol.AUTO_GROUP, Protocol.groupOf(role.slot)],
  shardsPerGroup: file.layout.shardsPerGroup,
  entityMaxIdleTime: MUX_MAX_IDLE,
  ...FAILOVER
})

/** The PEM material of a TLS section, read once. */
const pem = (tls: Tls) => ({
  ca: Fs.readFileSync(tls.ca),
  cert: Fs.readFileSync(tls.cert),
  key: Fs.readFileSync(tls.key)
})

/** Outgoing connections to runners: plain TCP, or TLS with the cluster's certificate. */
const clientProtocol = (tls: Tls | undefined): Layer.Layer<Runners.RpcClientProtocol, never, RpcSerialization.RpcSerialization> =>
  Layer.effect(Runners.RpcClientProtocol)(
    Effect.gen(function*() {
      const serialization = yield* RpcSerialization.RpcSerialization
      const material = tls === undefined ? undefined : pem(tls)
      return {
        codecFor: serialization.codecFor,
        make: Effect.fnUntraced(function*(address) {
          const socket = yield* (material === undefined
            ? NodeSocket.makeNet({ openTimeout: 1000, timeout: 5500, host: address.host, port: address.port, noDelay: true })
            : NodeSocket.makeTls({
              openTimeout: 1000,
              // TLS over a TCP socket of ours, to turn Nagle's algorithm off on it too.
              socket: Net.connect({ host: address.host, port: address.port, noDelay: true }),
              ...material,
              checkServerIdentity: () => undefined
            }))
          return yield* RpcClient.makeProtocolSocket().pipe(
            Effect.provideService(Socket, socket),
            Effect.provideService(RpcSerialization.RpcSerialization, serialization)
          )
        }, Effect.orDie)
      }
    })
  )

/**
 * The runner's listening socket: plain TCP, or TLS that requires and checks a client certificate. Both ends turn
 * Nagle's algorithm off: a batch and its reply are small writes, which it would hold for the peer's delayed
 * acknowledgement (40 ms here).
 */
const server = (listen: Endpoint, tls: Tls | undefined) =>
  tls === undefined
    ? NodeSocketServer.layer({ host: listen.host, port: listen.port, noDelay: true })
    : NodeSocketServer.layerTls({ host: listen.host, port: listen.port, noDelay: true, ...pem(tls), requestCert: true, rejectUnauthorized: true })

/** The Postgres client, from a URL. */
export const postgres = (url: string): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError> =>
  PgClient.layer({ url: Redacted.make(url), connectTimeout: Duration.seconds(5), maxConnections: 8 })

/**
 * Sharding for a runner (`role` given: it listens and holds its slot's shard group and the shared one) or for a
 * client (no role: it only sends). Runner storage stays available, for health and status.
 */
export const sharding = (file: ConnectionFile, role: Role | undefined) => {
  const serialization = RpcSerialization.layerSchemaBinary()
  const protocol = clientProtocol(file.tls)
  const transport: Layer.Layer<Sharding.Sharding | Runners.Runners, never, any> = role === undefined
    ? Layer.provide(SocketRunner.layerClientOnly, protocol)
    : Layer.provide(SocketRunner.layer, [server(role.listen, file.tls), protocol]).pipe(
      Layer.provide(RunnerHealth.layerPing.pipe(Layer.provide(Runners.layerRpc), Layer.provide(protocol)))
    ) as any
  return transport.pipe(
    Layer.provideMerge(SqlMessageStorage.layer.pipe(Layer.provide(NodeCrypto.layerDigest))),
    Layer.provideMerge(Layer.orDie(SqlRunnerStorage.layer)),
    Layer.provide(ShardingConfig.layer(shardingConfig(file, role))),
    Layer.provide(serialization),
    Layer.provideMerge(postgres(file.postgres.url))
  ) as Layer.Layer<
    Sharding.Sharding | Runners.Runners | RunnerStorage.RunnerStorage | PgClient.PgClient | SqlClient.SqlClient,
    unknown
  >
}

/** Runner storage alone, for looking at a cluster without joining it (`cluster.ts status`). */
export const storage = (file: ConnectionFile) =>
  Layer.orDie(SqlRunnerStorage.layer).pipe(
    Layer.provide(ShardingConfig.layer(shardingConfig(file, undefined))),
    Layer.provide(postgres(file.postgres.url))
  )
