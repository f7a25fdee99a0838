// The order-executor's transactional outbox, in SQLite.
//
// Why: recording an outcome in Raft and publishing it to Kafka cannot be one atomic step.
// The executor therefore writes the canonical outcome here *in the same transaction* as the
// consumed position of the command that produced it, and only then commits the Kafka offset.
// A relay publishes rows to `orders.events` afterwards. A crash anywhere leaves either
// nothing (the command is redelivered, Raft returns the same canonical outcome, the insert is
// idempotent by event id) or a durable row that the relay will publish.
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { migrate } from "./schema.js"

/** One message waiting to be published. `eventId` is the idempotency key. */
export interface OutboxMessage {
  readonly eventId: string
  readonly orderId: string
  readonly topic: string
  readonly key: string
  readonly payload: Uint8Array
  readonly headers: Readonly<Record<string, string>>
}

/** A row as stored: the message plus its outbox sequence number (publish order). */
export interface StoredMessage extends OutboxMessage {
  readonly seq: number
  readonly createdAt: number
}

/** The next offset to consume on one partition, stored with the rows it produced. */
export interface ConsumedPosition {
  readonly topic: string
  readonly partition: number
  readonly nextOffset: string
}

export interface OutboxLag {
  /** Rows written but not yet published. */
  readonly pending: number
  /** Creation time of the oldest unpublished row (epoch ms), if any. */
  readonly oldestPendingAt: Option.Option<number>
}

export interface PrunePolicy {
  /** Published rows older than this (ms, by publish time) are deleted... */
  readonly retainPublishedMs: number
  /** ...but the newest `keepPublished` published rows are always kept for lookups. */
  readonly keepPublished: number
  /**
   * The event id of a deleted row is remembered this long (ms, by publish time; default 25 h,
   * longer than the registry's 24 h retention): a command replayed within it finds its id and
   * is not published twice; an older one is answered `too_old` by the registry anyway.
   */
  readonly rememberIdsMs?: number | undefined
}

/** Default for `PrunePolicy.rememberIdsMs`. */
export const defaultRememberIdsMs = 25 * 60 * 60 * 1000

export class Outbox extends Context.Tag("@trading/order-executor/Outbox")<Outbox, {
  /**
   * Atomically: insert the messages (ignoring event ids already present, or pruned and still
   * remembered, see PrunePolicy) and advance the
   * consumed positions. Returns how many messages were new.
   */
  readonly record: (
    messages: ReadonlyArray<OutboxMessage>,
    positions: ReadonlyArray<ConsumedPosition>,
    now: number
  ) => Effect.Effect<number, SqlError>
  /** Unpublished rows in publish order. */
  readonly pending: (limit: number) => Effect.Effect<ReadonlyArray<StoredMessage>, SqlError>
  /** Marks rows published (idempotent). */
  readonly markPublished: (seqs: ReadonlyArray<number>, now: number) => Effect.Effect<void, SqlError>
  /** Marks rows published by event id (used when recovery finds them already on the topic). */
  readonly markPublishedByEventId: (eventIds: ReadonlyArray<string>, now: number) => Effect.Effect<number, SqlError>
  /** Stored positions for one topic, to resume exactly after what the outbox covers. */
  readonly positions: (topic: string) => Effect.Effect<ReadonlyArray<ConsumedPosition>, SqlError>
  /** The stored outcome message of an order, published or not. */
  readonly findByOrderId: (orderId: string) => Effect.Effect<Option.Option<StoredMessage>, SqlError>
  /** True when the event was published (its row may since have been pruned). */
  readonly wasPublished: (eventId: string) => Effect.Effect<boolean, SqlError>
  readonly lag: Effect.Effect<OutboxLag, SqlError>
  /** Deletes published rows according to the policy; returns how many were removed. */
  readonly prune: (policy: PrunePolicy, now: number) => Effect.Effect<number, SqlError>
}>() {}

interface Row {
  readonly seq: number
  readonly event_id: string
  readonly order_id: string
  readonly topic: string
  readonly msg_key: string
  readonly payload: Uint8Array
  readonly headers: string
  readonly created_at: number
}

const toStored = (row: Row): StoredMessage => ({
  seq: row.seq,
  eventId: row.event_id,
  orderId: row.order_id,
  topic: row.topic,
  key: row.msg_key,
  payload: new Uint8Array(row.payload),
  headers: JSON.parse(row.headers) as Record<string, string>,
  createdAt: row.created_at
})

/** Builds the outbox on the ambient SqlClient (schema migrated on start). */
export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // WAL is on by default in the client; FULL makes each commit durable across power loss,
  // which is the whole point of writing here before committing the Kafka offset.
  yield* sql.unsafe("PRAGMA synchronous = FULL")
  // one process per outbox: two relays on one file would publish the same rows twice.
  // The exclusive lock is taken by the first write (the migration's) and held until close,
  // so a second executor on the same file fails at start with "database is locked".
  yield* sql.unsafe("PRAGMA locking_mode = EXCLUSIVE")
  yield* sql.unsafe("BEGIN IMMEDIATE").pipe(Effect.zipRight(sql.unsafe("COMMIT")))
  yield* migrate(sql)

  const record = (messages: ReadonlyArray<OutboxMessage>, positions: ReadonlyArray<ConsumedPosition>, now: number) =>
    Effect.gen(function*() {
      let inserted = 0
      for (const m of messages) {
        const rows = yield* sql<{ seq: number }>`
          INSERT INTO outbox (event_id, order_id, topic, msg_key, payload, headers, created_at)
          SELECT ${m.eventId}, ${m.orderId}, ${m.topic}, ${m.key}, ${m.payload}, ${JSON.stringify(m.headers)}, ${now}
          WHERE NOT EXISTS (SELECT 1 FROM published_ids WHERE event_id = ${m.eventId})
          ON CONFLICT (event_id) DO NOTHING
          RETURNING seq`
        inserted += rows.length
      }
      for (const p of positions) {
        yield* sql`
          INSERT INTO consumed (topic, partition, next_offset) VALUES (${p.topic}, ${p.partition}, ${p.nextOffset})
          ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset`
      }
      return inserted
    }).pipe(sql.withTransaction, Effect.withSpan("Outbox.record", { attributes: { messages: messages.length } }))

  const pending = (limit: number) =>
    sql<Row>`SELECT * FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT ${limit}`.pipe(
      Effect.map((rows) => rows.map(toStored))
    )

  const markPublished = (seqs: ReadonlyArray<number>, now: number) =>
    seqs.length === 0
      ? Effect.void
      : sql`UPDATE outbox SET published_at = ${now} WHERE published_at IS NULL AND ${sql.in("seq", seqs)}`.pipe(
        Effect.asVoid
      )

  const markPublishedByEventId = (eventIds: ReadonlyArray<string>, now: number) =>
    eventIds.length === 0
      ? Effect.succeed(0)
      : sql<{ seq: number }>`
          UPDATE outbox SET published_at = ${now}
          WHERE published_at IS NULL AND ${sql.in("event_id", eventIds)} RETURNING seq`.pipe(
        Effect.map((rows) => rows.length)
      )

  const positions = (topic: string) =>
    sql<{ topic: string; partition: number; next_offset: string }>`
      SELECT topic, partition, next_offset FROM consumed WHERE topic = ${topic} ORDER BY partition`.pipe(
      Effect.map((rows) => rows.map((r) => ({ topic: r.topic, partition: r.partition, nextOffset: r.next_offset })))
    )

  const findByOrderId = (orderId: string) =>
    sql<Row>`SELECT * FROM outbox WHERE order_id = ${orderId} ORDER BY seq LIMIT 1`.pipe(
      Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toStored))
    )

  const lag = sql<{ pending: number; oldest: number | null }>`
    SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM outbox WHERE published_at IS NULL`.pipe(
    Effect.map(([row]) => ({ pending: row?.pending ?? 0, oldestPendingAt: Option.fromNullable(row?.oldest) }))
  )

  const prune = (policy: PrunePolicy, now: number) =>
    Effect.gen(function*() {
      const removed = yield* sql<{ event_id: string; published_at: number }>`
        DELETE FROM outbox
        WHERE published_at IS NOT NULL
          AND published_at < ${now - policy.retainPublishedMs}
          AND seq NOT IN (
            SELECT seq FROM outbox WHERE published_at IS NOT NULL ORDER BY seq DESC LIMIT ${policy.keepPublished}
          )
        RETURNING event_id, published_at`
      for (const row of removed) {
        yield* sql`INSERT OR IGNORE INTO published_ids (event_id, published_at) VALUES (${row.event_id}, ${row.published_at})`
      }
      yield* sql`DELETE FROM published_ids WHERE published_at < ${now - (policy.rememberIdsMs ?? defaultRememberIdsMs)}`
      return removed.length
    }).pipe(sql.withTransaction, Effect.withSpan("Outbox.prune"))

  const wasPublished = (eventId: string) =>
    sql<{ n: number }>`
      SELECT (SELECT COUNT(*) FROM outbox WHERE event_id = ${eventId} AND published_at IS NOT NULL)
           + (SELECT COUNT(*) FROM published_ids WHERE event_id = ${eventId}) AS n`.pipe(
      Effect.map(([row]) => (row?.n ?? 0) > 0)
    )

  return Outbox.of({
    record,
    pending,
    markPublished,
    markPublishedByEventId,
    positions,
    findByOrderId,
    wasPublished,
    lag,
    prune
  })
})

export const layer = Layer.effect(Outbox, make)
