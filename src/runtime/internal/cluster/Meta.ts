/**
 * What the launcher records in the cluster's Postgres for every other process to check: the shard layout and
 * the code version. Every process of a cluster must agree on shards per group and the shard groups; a
 * connection file edited by hand, or one left from an earlier cluster on the same database, would otherwise
 * make runners and clients compute different shards for one actor. They are refused with one line instead.
 */
import { Effect, Schema } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import { describe } from "../../ActorError.ts"
import type { ConnectionFile } from "./ConnectionFile.ts"

const TABLE = "actorflow_cluster"

/** This process's view of the cluster differs from the one its launcher recorded. */
export class LayoutMismatch extends Schema.TaggedError<LayoutMismatch>()("LayoutMismatch", { message: Schema.String }) {}

export const isLayoutMismatch = (u: unknown): u is LayoutMismatch => u instanceof LayoutMismatch

const layoutOf = (file: ConnectionFile) =>
  `${file.layout.runners} runners × ${file.layout.threads} threads, ${file.layout.shardsPerGroup} shards per group`

const ensure = (sql: SqlClient) =>
  sql.unsafe(`CREATE TABLE IF NOT EXISTS ${TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`)

/** Record `file`'s layout and version as the cluster's (the launcher, at start). */
export const record = (file: ConnectionFile) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    yield* ensure(sql)
    for (const [key, value] of [["layout", layoutOf(file)], ["version", file.version]] as const) {
      yield* sql.unsafe(`INSERT INTO ${TABLE} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, [key, value])
    }
  }).pipe(Effect.mapError((error) => new LayoutMismatch({ message: `cannot record the cluster's layout in Postgres: ${describe(error)}` })))

/** Check `file` against what the launcher recorded. */
export const check = (file: ConnectionFile) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    yield* ensure(sql)
    const rows = yield* sql.unsafe<{ key: string; value: string }>(`SELECT key, value FROM ${TABLE}`)
    const recorded = new Map(rows.map((row) => [row.key, row.value]))
    const layout = recorded.get("layout")
    if (layout === undefined) return
    if (layout !== layoutOf(file)) {
      return yield* new LayoutMismatch({
        message: `the connection file's shard layout (${layoutOf(file)}) differs from the cluster's (${layout}): use the file its launcher wrote`
      })
    }
  }).pipe(Effect.catchIf((error) => !(error instanceof LayoutMismatch), (error) =>
    Effect.fail(new LayoutMismatch({ message: `cannot read the cluster's layout from Postgres: ${describe(error)}` }))
  ))
