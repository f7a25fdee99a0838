// SqliteWalSync on a real SQLite file configured like the outbox (WAL, NORMAL, exclusive
// locking): what it relies on is that the WAL it keeps open stays the connection's WAL, also
// after checkpoints restart it, and the outbox runs with NORMAL since its commits are synced
// this way (ADR 0089).
import { describe, expect, it } from "@effect/vitest"
import * as SqliteWalSync from "@trading/platform/SqliteWalSync"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const tempFile = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "wal-sync-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => join(dir, "test.db")))

const openLikeTheOutbox = (filename: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const db = new Database(filename)
      db.pragma("journal_mode = WAL")
      db.pragma("synchronous = NORMAL")
      db.pragma("locking_mode = EXCLUSIVE")
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
      return db
    }),
    (db) => Effect.sync(() => db.close())
  )

describe("SqliteWalSync", () => {
  it.scoped("keeps syncing the connection's own WAL file, across checkpoints that restart it", () =>
    Effect.gen(function*() {
      const db = yield* openLikeTheOutbox(yield* tempFile)
      const wal = yield* SqliteWalSync.make(db)
      const insert = db.prepare("INSERT INTO t (v) VALUES (?)")
      insert.run("first")
      yield* wal.sync
      const inode = statSync(wal.walFile).ino
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 2_000; i++) insert.run("x".repeat(100))
        // a checkpoint that empties the WAL: the next commits start again at its beginning
        db.pragma("wal_checkpoint(TRUNCATE)")
        insert.run(`after checkpoint ${round}`)
        yield* wal.sync
        expect(statSync(wal.walFile).ino).toBe(inode)
        expect(statSync(wal.walFile).size).toBeGreaterThan(0)
      }
    }))

  it.scoped("a database without a file has nothing to sync", () =>
    Effect.gen(function*() {
      const db = yield* Effect.acquireRelease(Effect.sync(() => new Database(":memory:")), (d) =>
        Effect.sync(() => d.close()))
      const wal = yield* SqliteWalSync.make(db)
      yield* wal.sync
    }))
})
