// Outbox schema, versioned with SQLite's user_version so upgrades are explicit.
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

const migrations: ReadonlyArray<string> = [
  // 1: the outbox rows and the consumed positions they cover
  `CREATE TABLE outbox (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     event_id TEXT NOT NULL UNIQUE,
     order_id TEXT NOT NULL,
     topic TEXT NOT NULL,
     msg_key TEXT NOT NULL,
     payload BLOB NOT NULL,
     headers TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     published_at INTEGER
   );
   CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;
   CREATE INDEX outbox_order ON outbox (order_id);
   CREATE TABLE consumed (
     topic TEXT NOT NULL,
     partition INTEGER NOT NULL,
     next_offset TEXT NOT NULL,
     PRIMARY KEY (topic, partition)
   );`,
  // 2: event ids of pruned rows, so a command replayed after its row was pruned (e.g. the
  // stream-processor re-emitting identical commands after a crash) cannot publish again
  `CREATE TABLE published_ids (
     event_id TEXT PRIMARY KEY,
     published_at INTEGER NOT NULL
   ) WITHOUT ROWID;
   CREATE INDEX published_ids_age ON published_ids (published_at);`
]

export const migrate = (sql: SqlClient.SqlClient) =>
  Effect.gen(function*() {
    const [row] = yield* sql<{ user_version: number }>`PRAGMA user_version`
    const current = row?.user_version ?? 0
    for (let version = current; version < migrations.length; version++) {
      yield* Effect.forEach(
        migrations[version]!.split(";").map((s) => s.trim()).filter((s) => s.length > 0),
        (statement) => sql.unsafe(statement),
        { discard: true }
      ).pipe(
        Effect.zipRight(sql.unsafe(`PRAGMA user_version = ${version + 1}`)),
        sql.withTransaction
      )
    }
  })
