// SqliteWalSync on a real SQLite file configured like the outbox (WAL, NORMAL, exclusive
// locking): what it relies on is that the WAL it keeps open stays the connection's WAL, also
// after checkpoints restart it, and the outbox runs with NORMAL since its commits are synced
// this way (ADR 0089).
import { describe, expect, it } from "@effect/vitest"
import * as SqliteWalSync from "@trading/platform/SqliteWalSync"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { fstatSync, mkdtempSync, rmSync, statSync } from "node:fs"
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
      const fd = yield* wal.descriptor
      expect(fd).toBeDefined()
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 2_000; i++) insert.run("x".repeat(100))
        // a checkpoint that empties the WAL: the next commits start again at its beginning
        db.pragma("wal_checkpoint(TRUNCATE)")
        insert.run(`after checkpoint ${round}`)
        yield* wal.sync
        // what sync flushes is the file SQLite writes to, still linked, with this round's frames
        const synced = fstatSync(fd!)
        expect(synced.ino).toBe(statSync(wal.walFile).ino)
        expect(synced.nlink).toBe(1)
        expect(synced.size).toBeGreaterThan(0)
        expect(yield* wal.descriptor).toBe(fd)
      }
    }))

  it.scoped("a sync after its scope closed fails instead of reopening the file", () =>
    Effect.gen(function*() {
      const db = yield* openLikeTheOutbox(yield* tempFile)
      const scope = yield* Scope.make()
      const wal = yield* SqliteWalSync.make(db).pipe(Scope.extend(scope))
      db.prepare("INSERT INTO t (v) VALUES (?)").run("x")
      yield* wal.sync
      yield* Scope.close(scope, Exit.void)
      const after = yield* Effect.flip(wal.sync)
      expect(after.message).toContain("after close")
    }))

  it.scoped("a database without a file has nothing to sync", () =>
    Effect.gen(function*() {
      const db = yield* Effect.acquireRelease(Effect.sync(() => new Database(":memory:")), (d) =>
        Effect.sync(() => d.close()))
      const wal = yield* SqliteWalSync.make(db)
      yield* wal.sync
    }))
})
