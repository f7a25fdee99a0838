// The order-executor's transactional outbox, in SQLite.
//
// Why: recording an outcome in Raft and publishing it to Kafka cannot be one atomic step.
// The executor therefore writes the canonical outcome here *in the same transaction* as the
// consumed position of the command that produced it, and only then commits the Kafka offset.
// A relay publishes rows to `orders.events` afterwards. A crash anywhere leaves either
// nothing (the command is redelivered, Raft returns the same canonical outcome, the insert is
// idempotent by event id) or a durable row that the relay will publish.
//
// Cost (ADR 0085): the executor writes every order here, so each batch is one synchronous
// transaction of prepared better-sqlite3 statements (multi-row inserts, prepared once per
// row count: counts are powers of two). Every index grows at its end. What is published is
// a watermark (rows are published in seq order) plus the few rows the relay's scan found
// ahead of it, so a publish round writes one row, not one per row published, and pruning
// deletes a range of seqs. The watermark and the consumed positions are kept in memory too:
// this process is the file's only writer (ADR 0082). The calls block the event loop for
// their duration (ADR 0085 says why that stays) but not for the fsync: commits are made
// durable by an fsync of the WAL on the thread pool (ADR 0089).
import { SqlError } from "@effect/sql/SqlError"
import * as SqliteWalSync from "@trading/platform/SqliteWalSync"
import Database from "better-sqlite3"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import { mkdirSync } from "node:fs"
import { dirname } from "node:path"
import type { EventKey } from "../internal/eventWire.js"
import { BUCKET_SHIFT, migrate } from "./schema.js"

export type { EventKey }

/**
 * One message waiting to be published. The event id is the idempotency key; the registry
 * index (the Raft log index of the order's canonical record) goes with it, so that the key
 * grows with time and its index is appended to, never written at random (ADR 0085): the
 * same event always comes with the same canonical index.
 */
export interface OutboxMessage {
  readonly registryIndex: number
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
   * remembered, see PrunePolicy) and advance the consumed positions. Returns how many
   * messages were new.
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
  /** Marks rows published by key (the relay's scan finds them on the topic); returns how many changed. */
  readonly markPublishedByKey: (keys: ReadonlyArray<EventKey>, now: number) => Effect.Effect<number, SqlError>
  /** Stored positions for one topic, to resume exactly after what the outbox covers. */
  readonly positions: (topic: string) => Effect.Effect<ReadonlyArray<ConsumedPosition>, SqlError>
  /** The stored next offset of one partition (-1 when none is stored), from memory. */
  readonly nextOffset: (topic: string, partition: number) => Effect.Effect<number>
  /** The stored message of an event, published or not (the key's index lookup). */
  readonly findByKey: (key: EventKey) => Effect.Effect<Option.Option<StoredMessage>, SqlError>
  /**
   * The stored outcome message of an order, published or not, by order id alone: a walk of
   * the time buckets from the newest (milliseconds for an hour of rows; prefer `findByKey`
   * when the registry knows the order's key).
   */
  readonly findByOrderId: (orderId: string) => Effect.Effect<Option.Option<StoredMessage>, SqlError>
  /** True when the event was published (its row may since have been pruned). */
  readonly wasPublished: (key: EventKey) => Effect.Effect<boolean, SqlError>
  readonly lag: Effect.Effect<OutboxLag, SqlError>
  /** Deletes published rows according to the policy; returns how many were removed. */
  readonly prune: (policy: PrunePolicy, now: number) => Effect.Effect<number, SqlError>
  /**
   * Waits until `record` has inserted rows since the last wait returned (at once when it
   * has), or `timeout` passed: the relay publishes new rows as soon as they are committed
   * instead of polling for them.
   */
  readonly awaitWrites: (timeout: Duration.DurationInput) => Effect.Effect<void>
}>() {}

interface Row {
  readonly seq: number
  readonly registry_index: number
  readonly event_id: string
  readonly order_id: string
  readonly topic: string
  readonly msg_key: string
  readonly payload: Uint8Array
  readonly headers: string
  readonly created_at: number
}

const noHeaders: Readonly<Record<string, string>> = Object.freeze({})

const headersFrom = (text: string): Readonly<Record<string, string>> => {
  if (text === "{}") return noHeaders
  // the executor stores one traceparent: read it without the JSON parser (a traceparent
  // has no quote or backslash; anything else is parsed)
  if (
    text.startsWith(traceparentPrefix) && text.endsWith("\"}") &&
    text.indexOf("\"", traceparentPrefix.length) === text.length - 2
  ) {
    return { traceparent: text.slice(traceparentPrefix.length, text.length - 2) }
  }
  return JSON.parse(text) as Record<string, string>
}
const traceparentPrefix = "{\"traceparent\":\""

const toStored = (row: Row): StoredMessage => ({
  seq: row.seq,
  registryIndex: row.registry_index,
  eventId: row.event_id,
  orderId: row.order_id,
  topic: row.topic,
  key: row.msg_key,
  // better-sqlite3 hands every blob over as a fresh Buffer: a plain view of it, no copy
  payload: new Uint8Array(row.payload.buffer, row.payload.byteOffset, row.payload.byteLength),
  headers: headersFrom(row.headers),
  createdAt: row.created_at
})

const columns = "seq, registry_index, event_id, order_id, topic, msg_key, payload, headers, created_at"

/** Rows per insert statement: powers of two up to this, so at most 9 distinct statements are prepared. */
const maxRowsPerInsert = 256

const notAhead = "seq NOT IN (SELECT seq FROM published_ahead)"

/**
 * Every statement of the outbox. Each runs on an index (outbox.test.ts checks the query
 * plans): the write path and the relay's rounds never scan the table.
 */
export const Sql = {
  /**
   * Inserts `rows` messages (7 parameters each, after the creation time and its time
   * bucket), skipping keys that are present or remembered (published_ids: event ids pruned
   * before schema version 3). Rows are inserted in VALUES order, so `seq` (the publish
   * order) follows the batch.
   */
  insert: (rows: number) =>
    `INSERT INTO outbox (registry_index, event_id, order_id, topic, msg_key, payload, headers, created_at, bucket)
     SELECT column1, column2, column3, column4, column5, column6, column7, ?, ?
     FROM (VALUES ${Array.from({ length: rows }, () => "(?, ?, ?, ?, ?, ?, ?)").join(", ")})
     WHERE NOT EXISTS (SELECT 1 FROM published_keys AS p WHERE p.registry_index = column1 AND p.event_id = column2)
       AND NOT EXISTS (SELECT 1 FROM published_ids AS l WHERE l.event_id = column2)
     ON CONFLICT (registry_index, event_id) DO NOTHING`,
  upsertPosition: `INSERT INTO consumed (topic, partition, next_offset) VALUES (?, ?, ?)
    ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset`,
  selectPending: `SELECT ${columns} FROM outbox WHERE seq > ? AND ${notAhead} ORDER BY seq LIMIT ?`,
  countPending: `SELECT COUNT(*) AS n FROM outbox WHERE seq > ? AND seq <= ? AND ${notAhead}`,
  firstPending: `SELECT MIN(seq) AS seq FROM outbox WHERE seq > ? AND ${notAhead}`,
  lastSeq: "SELECT MAX(seq) AS seq FROM outbox",
  insertRound: "INSERT INTO published_through (through_seq, published_at) VALUES (?, ?)",
  // only seqs of rows that exist: a seq marked before its row is written would hide that row
  markAhead: `INSERT OR IGNORE INTO published_ahead (seq, published_at)
    SELECT o.seq, ? FROM json_each(?) AS s JOIN outbox AS o ON o.seq = s.value WHERE o.seq > ?`,
  markAheadByKey: `INSERT OR IGNORE INTO published_ahead (seq, published_at)
    SELECT o.seq, ? FROM json_each(?) AS k
    JOIN outbox AS o ON o.registry_index = json_extract(k.value, '$[0]') AND o.event_id = json_extract(k.value, '$[1]')
    WHERE o.seq > ?`,
  dropAhead: "DELETE FROM published_ahead WHERE seq <= ?",
  selectByKey: `SELECT ${columns} FROM outbox WHERE registry_index = ? AND event_id = ?`,
  // Orders are indexed by (time bucket, order id), so inserts stay near the end of the
  // index; a lookup walks the buckets present in [@lo, @hi] from the newest, two index seeks
  // each, one range of buckets per statement.
  selectByOrder: `WITH RECURSIVE buckets (b) AS (
      SELECT MAX(bucket) FROM outbox WHERE bucket <= @hi
      UNION ALL
      SELECT (SELECT MAX(bucket) FROM outbox WHERE bucket < buckets.b) FROM buckets WHERE buckets.b >= @lo
    )
    SELECT ${columns.split(", ").map((c) => `o.${c}`).join(", ")}
    FROM buckets JOIN outbox AS o ON o.bucket = buckets.b AND o.order_id = @id
    WHERE buckets.b >= @lo
    LIMIT 1`,
  // two subqueries: SQLite answers MIN or MAX from the index end, not both in one query
  bucketRange: "SELECT (SELECT MIN(bucket) FROM outbox) AS lo, (SELECT MAX(bucket) FROM outbox) AS hi",
  selectLag: `SELECT COUNT(*) AS pending, MIN(created_at) AS oldest FROM outbox WHERE seq > ? AND ${notAhead}`,
  countAhead: "SELECT COUNT(*) AS n FROM published_ahead",
  selectKept: "SELECT seq FROM outbox WHERE seq <= ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
  // rounds are in time order: the last one before a time covers everything published before it
  selectPublishedBefore: `SELECT through_seq AS seq FROM published_through WHERE published_at < ?
    ORDER BY published_at DESC, through_seq DESC LIMIT 1`,
  selectChunkEnd: "SELECT seq FROM outbox WHERE seq <= ? ORDER BY seq LIMIT 1 OFFSET ?",
  rememberRange: `INSERT OR IGNORE INTO published_keys (registry_index, event_id, published_at)
    SELECT o.registry_index, o.event_id,
      (SELECT t.published_at FROM published_through AS t WHERE t.through_seq >= o.seq ORDER BY t.through_seq LIMIT 1)
    FROM outbox AS o WHERE o.seq <= ?`,
  deleteRange: "DELETE FROM outbox WHERE seq <= ?",
  dropRounds: "DELETE FROM published_through WHERE through_seq < ?",
  forgetKeys: "DELETE FROM published_keys WHERE published_at < ?",
  forgetIds: "DELETE FROM published_ids WHERE published_at < ?",
  selectKey: `SELECT seq, seq IN (SELECT seq FROM published_ahead) AS ahead FROM outbox
    WHERE registry_index = ? AND event_id = ?`,
  selectRemembered: `SELECT (SELECT COUNT(*) FROM published_keys WHERE registry_index = @index AND event_id = @id)
    + (SELECT COUNT(*) FROM published_ids WHERE event_id = @id) AS n`
} as const

/** Published rows deleted per pruning transaction, so one prune never holds the event loop long. */
const pruneChunk = 5_000

const attempt = <A>(message: string, f: () => A) =>
  Effect.try({ try: f, catch: (cause) => new SqlError({ cause, message: `${message}: ${String(cause)}` }) })

/** Builds the outbox on an open database (schema migrated now). */
export const make = (db: Database.Database) =>
  Effect.gen(function*() {
    yield* attempt("configuring the outbox", () => {
      db.pragma("journal_mode = WAL")
      // Each commit must be durable across power loss before the Kafka offset is committed
      // (the whole point of writing here) and before the relay may publish its rows: NORMAL
      // commits without an fsync, and `walSync.sync` then fsyncs the WAL off the event loop
      // (ADR 0089), which leaves the same bytes on disk as FULL would.
      db.pragma("synchronous = NORMAL")
      // one process per outbox: two relays on one file would publish the same rows twice.
      // The exclusive lock is taken by the first write and held until close, so a second
      // executor on the same file fails at start with "database is locked" (ADR 0082).
      db.pragma("locking_mode = EXCLUSIVE")
      db.exec("BEGIN IMMEDIATE; COMMIT")
    })
    yield* attempt("migrating the outbox", () => migrate(db))
    const walSync = yield* SqliteWalSync.make(db)

    const inserts = new Map<number, Database.Statement>()
    const insertFor = (rows: number) => {
      let statement = inserts.get(rows)
      if (statement === undefined) inserts.set(rows, statement = db.prepare(Sql.insert(rows)))
      return statement
    }
    const upsertPosition = db.prepare(Sql.upsertPosition)
    const selectPending = db.prepare(Sql.selectPending)
    const countPending = db.prepare(Sql.countPending)
    const firstPending = db.prepare(Sql.firstPending)
    const lastSeq = db.prepare(Sql.lastSeq)
    const insertRound = db.prepare(Sql.insertRound)
    const markAhead = db.prepare(Sql.markAhead)
    const markAheadByKey = db.prepare(Sql.markAheadByKey)
    const dropAhead = db.prepare(Sql.dropAhead)
    const selectByKey = db.prepare(Sql.selectByKey)
    const selectByOrder = db.prepare(Sql.selectByOrder)
    const bucketRange = db.prepare(Sql.bucketRange)
    const selectLag = db.prepare(Sql.selectLag)
    const countAhead = db.prepare(Sql.countAhead)
    const selectKept = db.prepare(Sql.selectKept)
    const selectPublishedBefore = db.prepare(Sql.selectPublishedBefore)
    const selectChunkEnd = db.prepare(Sql.selectChunkEnd)
    const rememberRange = db.prepare(Sql.rememberRange)
    const deleteRange = db.prepare(Sql.deleteRange)
    const dropRounds = db.prepare(Sql.dropRounds)
    const forgetKeys = db.prepare(Sql.forgetKeys)
    const forgetIds = db.prepare(Sql.forgetIds)
    const selectKey = db.prepare(Sql.selectKey)
    const selectRemembered = db.prepare(Sql.selectRemembered)

    // the consumed positions and the watermark, read once: only this process writes them
    const stored = new Map<string, Map<number, string>>()
    const remember = (p: ConsumedPosition) => {
      let partitions = stored.get(p.topic)
      if (partitions === undefined) stored.set(p.topic, partitions = new Map())
      partitions.set(p.partition, p.nextOffset)
    }
    let through = 0
    let lastRoundAt = 0
    yield* attempt("reading the consumed positions", () => {
      const rows = db.prepare("SELECT topic, partition, next_offset FROM consumed").all() as Array<
        { topic: string; partition: number; next_offset: string }
      >
      for (const row of rows) remember({ topic: row.topic, partition: row.partition, nextOffset: row.next_offset })
      const round = db.prepare(
        "SELECT through_seq, published_at FROM published_through ORDER BY through_seq DESC LIMIT 1"
      ).get() as { through_seq: number; published_at: number } | undefined
      through = round?.through_seq ?? 0
      lastRoundAt = round?.published_at ?? 0
    })

    const writes = yield* Queue.sliding<void>(1)

    // Rows committed since the relay was last caught up, in seq order, as the relay reads
    // them: while `inMemory` holds, these are exactly the unpublished rows (every row above
    // the watermark, none marked ahead), and `pending` answers from here instead of reading
    // back what was just written. Anything that breaks that (rows pending at start, an insert
    // that skipped a duplicate, a row found ahead, too many rows waiting) sends `pending` to
    // the file until the watermark reaches the last row again.
    const committed: Array<StoredMessage> = []
    let inMemory = false
    const maxInMemory = 100_000
    const toMemory = () => {
      committed.length = 0
      inMemory = (countAhead.get() as { n: number }).n === 0 &&
        ((lastSeq.get() as { seq: number | null }).seq ?? 0) <= through
    }
    yield* attempt("reading the outbox", toMemory)

    // Durability (ADR 0089): a commit is durable once a WAL fsync that began after it has
    // completed. `committedThrough` is the highest seq committed, `durableThrough` the
    // highest known durable: the relay publishes nothing above it, so no event leaves before
    // its row would survive a power loss. What the file holds at start is synced now.
    let committedThrough = (lastSeq.get() as { seq: number | null }).seq ?? 0
    yield* walSync.sync
    let durableThrough = committedThrough
    const durable = Effect.suspend(() => {
      const upTo = committedThrough
      return Effect.map(walSync.sync, () => {
        if (upTo > durableThrough) durableThrough = upTo
      })
    })
    /** The committed list stops being the pending rows: `pending` reads the file until caught up. */
    const toFile = () => {
      inMemory = false
      committed.length = 0
    }

    const insertAll = db.transaction(
      (messages: ReadonlyArray<OutboxMessage>, positions: ReadonlyArray<ConsumedPosition>, now: number) => {
        let inserted = 0
        let lastInserted = 0
        // the seqs of each statement's rows: consecutive, in VALUES order, when it inserted all of them
        const seqs: Array<number> = []
        const bucket = Math.floor(now / 2 ** BUCKET_SHIFT)
        for (let from = 0; from < messages.length;) {
          let rows = maxRowsPerInsert
          while (rows > messages.length - from) rows /= 2
          const params: Array<unknown> = [now, bucket]
          for (let i = from; i < from + rows; i++) {
            const m = messages[i]!
            params.push(m.registryIndex, m.eventId, m.orderId, m.topic, m.key, m.payload, JSON.stringify(m.headers))
          }
          const result = insertFor(rows).run(params)
          inserted += result.changes
          if (result.changes > 0) lastInserted = Math.max(lastInserted, Number(result.lastInsertRowid))
          if (result.changes === rows) {
            const last = Number(result.lastInsertRowid)
            for (let i = 0; i < rows; i++) seqs.push(last - rows + 1 + i)
          }
          from += rows
        }
        for (const p of positions) upsertPosition.run(p.topic, p.partition, p.nextOffset)
        return { inserted, seqs, lastInserted }
      }
    )

    const keep = (messages: ReadonlyArray<OutboxMessage>, seqs: ReadonlyArray<number>, now: number) => {
      if (!inMemory) return
      if (seqs.length !== messages.length || committed.length + seqs.length > maxInMemory) return toFile()
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!
        committed.push({
          seq: seqs[i]!,
          registryIndex: m.registryIndex,
          eventId: m.eventId,
          orderId: m.orderId,
          topic: m.topic,
          key: m.key,
          payload: m.payload,
          headers: m.headers,
          createdAt: now
        })
      }
    }

    const record = (
      messages: ReadonlyArray<OutboxMessage>,
      positions: ReadonlyArray<ConsumedPosition>,
      now: number
    ) =>
      attempt("writing to the outbox", () => {
        const { inserted, lastInserted, seqs } = insertAll(messages, positions, now)
        // committed (a rolled-back transaction never gets here, so its seqs are never counted)
        if (lastInserted > committedThrough) committedThrough = lastInserted
        // the rows are the file's now (`pending` holds them back until they are durable)
        if (inserted > 0) keep(messages, seqs, now)
        return inserted
      }).pipe(
        // durable before the caller commits its offsets and before the relay may publish
        // the rows. Only then do the positions count for skipping redelivered records: a
        // batch interrupted or failed before this point is written again, idempotently.
        Effect.tap(() => durable),
        Effect.tap(() => Effect.sync(() => positions.forEach(remember))),
        Effect.tap((inserted) => inserted > 0 ? Queue.offer(writes, undefined) : Effect.void),
        Effect.withSpan("Outbox.record", { attributes: { messages: messages.length }, captureStackTrace: false })
      )

    /** The durable rows of `rows` (in seq order, so they are a prefix). */
    const durableOnly = (rows: Array<StoredMessage>) => {
      let n = 0
      while (n < rows.length && rows[n]!.seq <= durableThrough) n++
      return n === rows.length ? rows : rows.slice(0, n)
    }

    const pending = (limit: number) =>
      attempt("reading pending rows", () => {
        if (inMemory) {
          // published rows were dropped from the front when the watermark moved
          return durableOnly(committed.length <= limit ? committed.slice() : committed.slice(0, limit))
        }
        return durableOnly((selectPending.all(through, limit) as Array<Row>).map(toStored))
      })

    /**
     * Moves the watermark over every row from it on that is published (marked ahead, or
     * below `atLeast` when those are all published), as one round at `now`; returns the new
     * watermark. Runs inside a transaction.
     */
    const advance = (atLeast: number, now: number): number => {
      const first = (firstPending.get(atLeast) as { seq: number | null }).seq
      const next = first !== null ? first - 1 : Math.max(atLeast, (lastSeq.get() as { seq: number | null }).seq ?? 0)
      if (next > through) {
        // publish times only grow, so the rounds are in time order too (a clock step back
        // must not make an older row look younger)
        insertRound.run(next, Math.max(now, lastRoundAt))
        dropAhead.run(next)
      }
      return next
    }

    const commitRound = (next: number, now: number) => {
      if (next <= through) return
      lastRoundAt = Math.max(now, lastRoundAt)
      through = next
      if (inMemory) {
        let published = 0
        while (published < committed.length && committed[published]!.seq <= through) published++
        committed.splice(0, published)
      } else {
        toMemory() // caught up with the file: from now on the relay reads what is committed
      }
    }

    const markSeqs = db.transaction((seqs: ReadonlyArray<number>, now: number) => {
      let max = 0
      let above = 0
      for (const seq of seqs) {
        if (seq > through) above++
        if (seq > max) max = seq
      }
      if (above === 0) return { next: through, ahead: false }
      // the relay's round is every pending row up to its last one: the watermark moves to
      // it; anything else is marked ahead first
      const covered = (countPending.get(through, max) as { n: number }).n === above
      if (!covered) markAhead.run(now, JSON.stringify(seqs), through)
      return { next: advance(covered ? max : through, now), ahead: !covered }
    })

    const markPublished = (seqs: ReadonlyArray<number>, now: number) =>
      seqs.length === 0
        ? Effect.void
        : attempt("marking rows published", () => {
          const { ahead, next } = markSeqs(seqs, now)
          if (ahead) {
            // rows marked ahead of the watermark: the committed list no longer is what is
            // pending (the relay marks a prefix of it, so only a mark that is not one gets here)
            toFile()
          }
          commitRound(next, now)
        })

    const markKeys = db.transaction((keys: ReadonlyArray<EventKey>, now: number) => {
      const marked = markAheadByKey.run(now, JSON.stringify(keys.map((k) => [k.registryIndex, k.eventId])), through)
        .changes
      return { marked, next: marked > 0 ? advance(through, now) : through }
    })

    // the scan reads back what the relay published, which is below the watermark by then:
    // nothing is written unless a row is really found ahead of it. The WAL is synced either
    // way before the scan commits its offsets past these events: the relay's own marks of
    // them (`markPublished`, not synced by itself) are durable from then on, so the scan
    // never moves past an event whose row could come back pending after a power loss.
    const markPublishedByKey = (keys: ReadonlyArray<EventKey>, now: number) =>
      keys.length === 0 ? Effect.succeed(0) : attempt("marking rows published", () => {
        const { marked, next } = markKeys(keys, now)
        if (marked > 0) {
          // rows found ahead of the watermark: the committed list no longer is what is pending
          toFile()
        }
        commitRound(next, now)
        return marked
      }).pipe(Effect.tap(() => durable))

    const positions = (topic: string) =>
      Effect.sync(() =>
        [...(stored.get(topic) ?? new Map<number, string>())]
          .sort(([a], [b]) => a - b)
          .map(([partition, nextOffset]) => ({ topic, partition, nextOffset }))
      )

    const nextOffset = (topic: string, partition: number) =>
      Effect.sync(() => {
        const found = stored.get(topic)?.get(partition)
        return found === undefined ? -1 : Number(found)
      })

    const findByKey = (key: EventKey) =>
      attempt(
        "looking up an event",
        () => Option.map(Option.fromNullable(selectByKey.get(key.registryIndex, key.eventId) as Row), toStored)
      )

    /** Buckets walked per statement (about 4 minutes of rows), so a walk never holds the event loop long. */
    const bucketsPerStep = 4096

    // made once and given each lookup (a GetOrder call): a generator function made anew per
    // call would keep what it references through scavenges until a full collection (ADR 0093)
    function* findByOrderIdSteps(orderId: string) {
      const range = yield* attempt(
        "looking up an order",
        () => bucketRange.get() as { lo: number | null; hi: number | null }
      )
      if (range.lo === null || range.hi === null) return Option.none<StoredMessage>()
      for (let hi = range.hi; hi >= range.lo; hi -= bucketsPerStep) {
        const found = yield* attempt(
          "looking up an order",
          () => selectByOrder.get({ hi, lo: hi - bucketsPerStep + 1, id: orderId }) as Row | undefined
        )
        if (found !== undefined) return Option.some(toStored(found))
        yield* Effect.yieldNow()
      }
      return Option.none<StoredMessage>()
    }
    const findByOrderId = (orderId: string) => Effect.gen(() => findByOrderIdSteps(orderId))

    const lag = attempt("reading the outbox lag", () => {
      const row = selectLag.get(through) as { pending: number; oldest: number | null }
      return { pending: row.pending, oldestPendingAt: Option.fromNullable(row.oldest) }
    })

    // The policy: published rows older than retainPublishedMs go, except the newest
    // keepPublished published ones; their keys are remembered for rememberIdsMs. Publish
    // times grow with seq, so what may go is every row up to a seq: deleted a chunk of seqs
    // per transaction.
    const pruneBound = (policy: PrunePolicy, now: number): number => {
      const old = (selectPublishedBefore.get(now - policy.retainPublishedMs) as { seq: number } | undefined)?.seq ?? 0
      if (policy.keepPublished === 0) return Math.min(old, through)
      // rows marked ahead are published and newer than any row below the watermark
      const ahead = (countAhead.get() as { n: number }).n
      if (ahead >= policy.keepPublished) return Math.min(old, through)
      const kept = selectKept.get(through, policy.keepPublished - ahead - 1) as { seq: number } | undefined
      // fewer published rows than are kept: none may go
      return kept === undefined ? 0 : Math.min(old, kept.seq - 1)
    }

    const pruneChunkTo = db.transaction((bound: number) => {
      const end = (selectChunkEnd.get(bound, pruneChunk - 1) as { seq: number } | undefined)?.seq ?? bound
      rememberRange.run(end)
      const removed = deleteRange.run(end).changes
      // the rounds below `end` only covered deleted rows; the watermark's own round stays
      dropRounds.run(end)
      return removed
    })

    const prune = (policy: PrunePolicy, now: number) =>
      Effect.gen(function*() {
        const bound = yield* attempt("pruning the outbox", () => pruneBound(policy, now))
        let removed = 0
        for (;;) {
          const n = bound === 0 ? 0 : yield* attempt("pruning the outbox", () => pruneChunkTo(bound))
          removed += n
          if (n < pruneChunk) break
          yield* Effect.yieldNow() // let the consumer and the relay run between chunks
        }
        // Forgetting is measured on the clock of the orders, not the wall clock: the registry
        // keeps an order for its retention after the newest order it recorded, so while no
        // orders flow (a weekend) it keeps answering for old ones, and their keys must stay
        // too, or a command replayed then (a processor restarting on Monday) would be written
        // and published a second time. The newest publish round stands for the newest order.
        const forgetBefore = Math.min(now, lastRoundAt) - (policy.rememberIdsMs ?? defaultRememberIdsMs)
        yield* attempt("pruning the outbox", () => {
          forgetKeys.run(forgetBefore)
          forgetIds.run(forgetBefore)
        })
        return removed
      }).pipe(Effect.withSpan("Outbox.prune", { captureStackTrace: false }))

    const wasPublished = (key: EventKey) =>
      attempt("looking up an event", () => {
        const row = selectKey.get(key.registryIndex, key.eventId) as { seq: number; ahead: number } | undefined
        if (row !== undefined) return row.seq <= through || row.ahead === 1
        return (selectRemembered.get({ index: key.registryIndex, id: key.eventId }) as { n: number }).n > 0
      })

    const awaitWrites = (timeout: Duration.DurationInput) =>
      Queue.take(writes).pipe(Effect.timeoutOption(timeout), Effect.asVoid)

    return Outbox.of({
      record,
      pending,
      markPublished,
      markPublishedByKey,
      positions,
      nextOffset,
      findByKey,
      findByOrderId,
      wasPublished,
      lag,
      prune,
      awaitWrites
    })
  })

/**
 * The outbox on its SQLite file (directory created), WAL, commits made durable off the
 * event loop (ADR 0089), open and exclusively locked for the layer's lifetime.
 */
export const layer = (filename: string): Layer.Layer<Outbox, SqlError> =>
  Layer.scoped(
    Outbox,
    Effect.acquireRelease(
      attempt(`opening the outbox ${filename}`, () => {
        mkdirSync(dirname(filename), { recursive: true })
        return new Database(filename)
      }),
      (db) => Effect.sync(() => db.close())
    ).pipe(Effect.flatMap(make))
  )
