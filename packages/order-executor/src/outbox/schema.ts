// Outbox schema, versioned with SQLite's user_version so upgrades are explicit
// (@trading/platform/SqliteMigrations runs them, each in its own transaction).
import * as SqliteMigrations from "@trading/platform/SqliteMigrations"
import type Database from "better-sqlite3"
import * as EventWire from "../internal/eventWire.js"

/**
 * Time buckets of the order lookup index: `created_at >> BUCKET_SHIFT` (64 ms). Small enough
 * that a batch's entries land in the last few pages of the index (about 640 rows a bucket at
 * 10,000 orders/s); a lookup by order id alone walks the buckets (Outbox.findByOrderId).
 */
export const BUCKET_SHIFT = 6

// v3 (ADR 0085): every index of the write path grows at its end, and publishing writes one
// row per relay round instead of rewriting every row it published.
// - outbox: rows by seq; the idempotency key (registry_index, event_id), a new order's
//   registry index being the newest; order lookups by (time bucket, order id). Event ids
//   and order ids are hashes: an index on either alone made each insert dirty a page of it
//   somewhere in the file.
// - published_through: the relay publishes in seq order, so what is published is a
//   watermark: every row with seq <= MAX(through_seq) is. One row per publish round, with
//   its time; a row's publish time is that of the first round at or above its seq.
// - published_ahead: rows above the watermark that the relay's scan found on the topic
//   (published before a crash, ADR 0081); the watermark moves over them.
// - published_keys: the keys of pruned rows, remembered (published_ids holds the event ids
//   pruned before version 3 and empties as they expire).
const v3Tables = [
  `CREATE TABLE outbox_v3 (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     registry_index INTEGER NOT NULL,
     event_id TEXT NOT NULL,
     order_id TEXT NOT NULL,
     bucket INTEGER NOT NULL,
     topic TEXT NOT NULL,
     msg_key TEXT NOT NULL,
     payload BLOB NOT NULL,
     headers TEXT NOT NULL,
     created_at INTEGER NOT NULL
   )`,
  `CREATE TABLE published_through (
     through_seq INTEGER PRIMARY KEY,
     published_at INTEGER NOT NULL
   )`,
  "CREATE INDEX published_through_time ON published_through (published_at)",
  `CREATE TABLE published_ahead (
     seq INTEGER PRIMARY KEY,
     published_at INTEGER NOT NULL
   )`,
  `CREATE TABLE published_keys (
     registry_index INTEGER NOT NULL,
     event_id TEXT NOT NULL,
     published_at INTEGER NOT NULL,
     PRIMARY KEY (registry_index, event_id)
   ) WITHOUT ROWID`,
  "CREATE INDEX published_keys_age ON published_keys (published_at)"
]

const v3Indexes = [
  "CREATE UNIQUE INDEX outbox_key ON outbox (registry_index, event_id)",
  "CREATE INDEX outbox_order ON outbox (bucket, order_id)"
]

const copyChunk = 10_000

const toV3: SqliteMigrations.Migration = (db: Database.Database) => {
  for (const statement of v3Tables) db.exec(statement)
  // the watermark: every row below the first unpublished one is published
  const firstPending = db.prepare("SELECT MIN(seq) AS seq FROM outbox WHERE published_at IS NULL").get() as {
    seq: number | null
  }
  const last = db.prepare("SELECT MAX(seq) AS seq FROM outbox").get() as { seq: number | null }
  const through = firstPending.seq !== null ? firstPending.seq - 1 : last.seq ?? 0
  // rows are copied with their registry index, read from their payload (OrderEvent.registry_index)
  const select = db.prepare("SELECT seq, payload, published_at FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?")
  const copy = db.prepare(
    `INSERT INTO outbox_v3 (seq, registry_index, event_id, order_id, bucket, topic, msg_key, payload, headers,
       created_at)
     SELECT o.seq, json_extract(k.value, '$[1]'), o.event_id, o.order_id, o.created_at >> ${BUCKET_SHIFT}, o.topic,
       o.msg_key, o.payload, o.headers, o.created_at
     FROM json_each(?) AS k JOIN outbox AS o ON o.seq = json_extract(k.value, '$[0]')`
  )
  const round = db.prepare("INSERT INTO published_through (through_seq, published_at) VALUES (?, ?)")
  // publish times as rounds: runs of rows below the watermark, at the running maximum of
  // their times (a later time only prunes later)
  let runTime = -1
  let runEnd = 0
  for (let after = 0;;) {
    const rows = select.all(after, copyChunk) as Array<
      { seq: number; payload: Uint8Array; published_at: number | null }
    >
    if (rows.length === 0) break
    copy.run(JSON.stringify(rows.map((r) => [r.seq, EventWire.eventKeyOf(r.payload)?.registryIndex ?? 0])))
    for (const row of rows) {
      if (row.seq > through) break
      const time = Math.max(runTime, row.published_at ?? 0)
      if (time !== runTime && runTime >= 0) round.run(runEnd, runTime)
      runTime = time
      runEnd = row.seq
    }
    after = rows[rows.length - 1]!.seq
  }
  if (through > 0) round.run(through, Math.max(runTime, 0))
  db.exec(
    `INSERT INTO published_ahead (seq, published_at)
     SELECT seq, published_at FROM outbox WHERE seq > ${through} AND published_at IS NOT NULL`
  )
  // keep the sequence where it was, so no seq is ever handed out twice
  const sequence = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").get() as
    | { seq: number }
    | undefined
  db.exec("DROP TABLE outbox")
  db.exec("ALTER TABLE outbox_v3 RENAME TO outbox")
  db.exec("DELETE FROM sqlite_sequence WHERE name = 'outbox'")
  db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)").run(sequence?.seq ?? 0)
  for (const statement of v3Indexes) db.exec(statement)
}

const migrations: ReadonlyArray<SqliteMigrations.Migration> = [
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
   CREATE INDEX published_ids_age ON published_ids (published_at);`,
  // 3: see above
  toV3
]

/** The schema version this build writes. */
export const version = migrations.length

/** Brings the file's schema to `target` (default: this build's), one transaction per migration. */
export const migrate = (db: Database.Database, target: number = migrations.length): void =>
  SqliteMigrations.migrate(db, migrations, { file: "outbox", owner: "executor" }, target)
