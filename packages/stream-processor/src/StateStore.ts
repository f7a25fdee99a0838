// Where the processor's decisions become durable: per partition of the ticks topic, the
// strategy state of each symbol and the next offset to read, written in ONE SQLite
// transaction (WAL, synchronous FULL). The state therefore always matches its offset: on
// restart, records below the stored offset are already reflected in the state and are
// skipped; records from it on are applied to exactly that state. See ADR 0070.
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Strategy from "@trading/domain/Strategy"
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

export class CorruptState extends Data.TaggedError("CorruptState")<{ readonly reason: string }> {
  override get message(): string {
    return `stream-processor state store is corrupt: ${this.reason}`
  }
}

export class StateStore extends Context.Tag("@trading/stream-processor/StateStore")<StateStore, {
  /** Everything stored for `topic`, by partition. */
  readonly load: (topic: string) => Effect.Effect<ReadonlyMap<number, PartitionState>, SqlError | CorruptState>
  /** Atomically: the changed symbols' states and the partition's next offset. */
  readonly save: (
    topic: string,
    partition: number,
    nextOffset: number,
    changed: ReadonlyArray<Strategy.SymbolState>
  ) => Effect.Effect<void, SqlError>
}>() {}

const migrations: ReadonlyArray<ReadonlyArray<string>> = [
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

const migrate = (sql: SqlClient.SqlClient) =>
  Effect.gen(function*() {
    const [row] = yield* sql<{ user_version: number }>`PRAGMA user_version`
    for (let version = row?.user_version ?? 0; version < migrations.length; version++) {
      yield* Effect.forEach(migrations[version]!, (statement) => sql.unsafe(statement), { discard: true }).pipe(
        Effect.zipRight(sql.unsafe(`PRAGMA user_version = ${version + 1}`)),
        sql.withTransaction
      )
    }
  })

export const make = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // every commit durable before the Kafka offset that depends on it is committed
  yield* sql.unsafe("PRAGMA journal_mode = WAL")
  yield* sql.unsafe("PRAGMA synchronous = FULL")
  yield* migrate(sql)

  const load = (topic: string) =>
    Effect.gen(function*() {
      const offsets = yield* sql<{ partition: number; next_offset: number }>`
        SELECT partition, next_offset FROM partition_offset WHERE topic = ${topic}`
      const rows = yield* sql<{ partition: number; symbol: string; snapshot: Uint8Array }>`
        SELECT partition, symbol, snapshot FROM symbol_state WHERE topic = ${topic}`
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

  const save = (topic: string, partition: number, nextOffset: number, changed: ReadonlyArray<Strategy.SymbolState>) =>
    Effect.gen(function*() {
      for (const state of changed) {
        yield* sql`
          INSERT INTO symbol_state (topic, partition, symbol, snapshot)
          VALUES (${topic}, ${partition}, ${state.symbol}, ${Strategy.snapshot(state)})
          ON CONFLICT (topic, partition, symbol) DO UPDATE SET snapshot = excluded.snapshot`
      }
      yield* sql`
        INSERT INTO partition_offset (topic, partition, next_offset) VALUES (${topic}, ${partition}, ${nextOffset})
        ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset`
    }).pipe(
      sql.withTransaction,
      Effect.withSpan("StateStore.save", { attributes: { partition, nextOffset, symbols: changed.length } })
    )

  return StateStore.of({ load, save })
})

export const layer = Layer.effect(StateStore, make)
