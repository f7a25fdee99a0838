// Where the processor's decisions become durable: per partition of the ticks topic, the
// strategy state of each symbol and the next offset to read, written in ONE SQLite
// transaction (WAL, made durable by an fsync off the event loop before `save` succeeds, ADR
// 0089). The state therefore always matches its offset: on restart, records below the
// stored offset are already reflected in the state and are skipped; records from it on are
// applied to exactly that state. See ADR 0070.
//
// The store talks to better-sqlite3 directly (ADR 0073): a save is one prepared-statement
// transaction, about 30 µs of CPU (its fsync runs on the thread pool), where the same
// statements through @effect/sql cost about 300 µs (a span, a statement compilation, a
// prepare-cache lookup and a connection acquisition per statement, BEGIN and COMMIT
// prepared anew each time). The calls are synchronous like every better-sqlite3 call; each
// is wrapped in Effect.try so failures stay typed `SqlError`s.
import { SqlError } from "@effect/sql/SqlError"
import * as Strategy from "@trading/domain/Strategy"
import * as SqliteMigrations from "@trading/platform/SqliteMigrations"
import * as SqliteWalSync from "@trading/platform/SqliteWalSync"
import Database from "better-sqlite3"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"

/** What the store holds for one partition. */
export interface PartitionState {
  /** Offset of the next record to apply. */
  readonly nextOffset: number
  readonly symbols: ReadonlyMap<string, Strategy.SymbolState>
}

/** One partition's part of a save: its new next offset and the states of the symbols that changed. */
export interface PartitionUpdate {
  readonly partition: number
  readonly nextOffset: number
  readonly changed: Iterable<Strategy.SymbolState>
}

export class CorruptState extends Data.TaggedError("CorruptState")<{ readonly reason: string }> {
  override get message(): string {
    return `stream-processor state store is corrupt: ${this.reason}`
  }
}

/** The open SQLite file of PROCESSOR_STATE_FILE (one connection, owned by the store). */
export class StateDatabase extends Context.Tag("@trading/stream-processor/StateDatabase")<
  StateDatabase,
  Database.Database
>() {}

/** Opens `filename` (created if missing) for the layer's lifetime. */
export const layerDatabase = (filename: string): Layer.Layer<StateDatabase, SqlError> =>
  Layer.scoped(
    StateDatabase,
    Effect.acquireRelease(
      Effect.try({
        try: () => new Database(filename),
        catch: (cause) => new SqlError({ cause, message: `cannot open the state file ${filename}` })
      }),
      (db) => Effect.sync(() => db.close())
    )
  )

export class StateStore extends Context.Tag("@trading/stream-processor/StateStore")<StateStore, {
  /** Everything stored for `topic`, by partition. */
  readonly load: (topic: string) => Effect.Effect<ReadonlyMap<number, PartitionState>, SqlError | CorruptState>
  /** Atomically, for every partition given: the changed symbols' states and the next offset. */
  readonly save: (topic: string, updates: ReadonlyArray<PartitionUpdate>) => Effect.Effect<void, SqlError>
}>() {}

const migrations: ReadonlyArray<SqliteMigrations.Migration> = [
  [
    `CREATE TABLE partition_offset (
       topic TEXT NOT NULL,
       partition INTEGER NOT NULL,
       next_offset INTEGER NOT NULL,
       PRIMARY KEY (topic, partition)
     )`,
    `CREATE TABLE symbol_state (
       topic TEXT NOT NULL,
       partition INTEGER NOT NULL,
       symbol TEXT NOT NULL,
       snapshot BLOB NOT NULL,
       PRIMARY KEY (topic, partition, symbol)
     )`
  ]
]

const run = <A>(message: string, f: () => A) =>
  Effect.try({ try: f, catch: (cause) => new SqlError({ cause, message: `${message}: ${String(cause)}` }) })

export const make = Effect.gen(function*() {
  const db = yield* StateDatabase
  yield* run("configuring the state file", () => {
    db.pragma("journal_mode = WAL")
    // every commit durable before the Kafka offset that depends on it is committed: NORMAL
    // commits without an fsync, and `save` then fsyncs the WAL off the event loop (ADR 0089),
    // which leaves the same bytes on disk as FULL would
    db.pragma("synchronous = NORMAL")
  })
  yield* run(
    "migrating the state file",
    () => SqliteMigrations.migrate(db, migrations, { file: "state file", owner: "processor" })
  )
  const walSync = yield* SqliteWalSync.make(db)

  const selectOffsets = db.prepare("SELECT partition, next_offset FROM partition_offset WHERE topic = ?")
  const selectStates = db.prepare("SELECT partition, symbol, snapshot FROM symbol_state WHERE topic = ?")
  const upsertState = db.prepare(
    `INSERT INTO symbol_state (topic, partition, symbol, snapshot) VALUES (?, ?, ?, ?)
     ON CONFLICT (topic, partition, symbol) DO UPDATE SET snapshot = excluded.snapshot`
  )
  const upsertOffset = db.prepare(
    `INSERT INTO partition_offset (topic, partition, next_offset) VALUES (?, ?, ?)
     ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset`
  )
  const saveAll = db.transaction((topic: string, updates: ReadonlyArray<PartitionUpdate>) => {
    for (const { changed, nextOffset, partition } of updates) {
      for (const state of changed) upsertState.run(topic, partition, state.symbol, Strategy.snapshot(state))
      upsertOffset.run(topic, partition, nextOffset)
    }
  })

  const load = (topic: string) =>
    Effect.gen(function*() {
      const offsets = yield* run(
        "reading offsets",
        () => selectOffsets.all(topic) as Array<{ partition: number; next_offset: number }>
      )
      const rows = yield* run(
        "reading states",
        () => selectStates.all(topic) as Array<{ partition: number; symbol: string; snapshot: Uint8Array }>
      )
      const symbols = new Map<number, Map<string, Strategy.SymbolState>>()
      for (const row of rows) {
        const state = Strategy.restore(new Uint8Array(row.snapshot))
        if (Either.isLeft(state)) {
          return yield* new CorruptState({ reason: `${topic}/${row.partition} ${row.symbol}: ${state.left.message}` })
        }
        const map = symbols.get(row.partition) ?? new Map<string, Strategy.SymbolState>()
        map.set(row.symbol, state.right)
        symbols.set(row.partition, map)
      }
      const result = new Map<number, PartitionState>()
      for (const { next_offset, partition } of offsets) {
        result.set(partition, { nextOffset: next_offset, symbols: symbols.get(partition) ?? new Map() })
      }
      return result as ReadonlyMap<number, PartitionState>
    })

  const save = (topic: string, updates: ReadonlyArray<PartitionUpdate>) =>
    run("saving the processor state", () => saveAll(topic, updates)).pipe(
      Effect.zipRight(walSync.sync),
      Effect.withSpan("StateStore.save", {
        attributes: { partitions: updates.map((u) => `${u.partition}:${u.nextOffset}`).join(",") },
        captureStackTrace: false
      })
    )

  return StateStore.of({ load, save })
})

export const layer = Layer.scoped(StateStore, make)
