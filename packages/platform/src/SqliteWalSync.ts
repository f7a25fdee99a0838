// Durable SQLite commits without an fsync on the event loop (ADR 0089).
//
// better-sqlite3 is synchronous: with `synchronous = FULL` every commit fsyncs the WAL on
// the event loop, which then does nothing else for that long (0.5-1.5 ms here, more when
// other processes fsync too). Instead the database runs with `synchronous = NORMAL` in WAL
// mode (a commit writes its frames to the WAL file but does not fsync it) and `sync` fsyncs
// the WAL file on libuv's thread pool. Once `sync` has completed, every transaction
// committed before it began is on disk exactly as `FULL` would have left it: the same
// frames of the same file, flushed. Callers that promise durability (before a Kafka offset
// commit, before anything is published) wait for `sync` after their transaction.
//
// The file descriptor is the WAL's for the connection's lifetime: SQLite reuses the WAL
// file from its start after a checkpoint (same inode) and deletes it only when the last
// connection closes. It is opened on the first `sync`, since SQLite creates the WAL with
// the first write.
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"

/** What is needed of a better-sqlite3 `Database`. */
export interface SqliteFile {
  /** The database's file name (`:memory:` or "" for databases without a file). */
  readonly name: string
  readonly memory: boolean
}

export interface WalSync {
  /** Fsyncs the WAL on the thread pool: everything committed before this began is durable when it succeeds. */
  readonly sync: Effect.Effect<void, SqlError>
  /** The WAL file `sync` flushes. */
  readonly walFile: string
}

/** For a database already in WAL mode with `synchronous = NORMAL`; the descriptor closes with the scope. */
export const make = (db: SqliteFile): Effect.Effect<WalSync, never, Scope.Scope> =>
  Effect.gen(function*() {
    const walFile = `${db.name}-wal`
    if (db.memory || db.name === "") return { sync: Effect.void, walFile }
    let fd: number | undefined
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        if (fd !== undefined) fs.closeSync(fd)
        fd = undefined
      })
    )
    const sync = Effect.async<void, SqlError>((resume) => {
      try {
        fd ??= fs.openSync(walFile, "r")
      } catch (cause) {
        resume(Effect.fail(new SqlError({ cause, message: `opening ${walFile} to fsync it: ${String(cause)}` })))
        return
      }
      fs.fsync(fd, (cause) =>
        resume(
          cause === null
            ? Effect.void
            : Effect.fail(new SqlError({ cause, message: `fsync of ${walFile}: ${String(cause)}` }))
        ))
    })
    return { sync, walFile }
  })
