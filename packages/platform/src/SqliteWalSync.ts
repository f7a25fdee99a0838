// Durable SQLite commits without an fsync on the event loop (ADR 0089).
//
// better-sqlite3 is synchronous: with `synchronous = FULL` every commit fsyncs the WAL on
// the event loop, which then does nothing else for that long (0.5-1.5 ms here, more when
// other processes fsync too). Instead the database runs with `synchronous = NORMAL` in WAL
// mode (a commit writes its frames to the WAL file but does not fsync it) and `sync` fsyncs
// the WAL file on libuv's thread pool. Once `sync` has completed, every transaction
// committed before it began is on disk as `FULL` would have left it: the same frames of the
// same file, flushed, and the directory entry of the WAL flushed once (SQLite does that
// when it creates a journal under FULL). Callers that promise durability (before a Kafka
// offset commit, before anything is published) wait for `sync` after their transaction.
//
// A failed fsync is final: after one, the kernel may have dropped the dirty pages it could
// not write and a later fsync can succeed without them, so every later `sync` fails too and
// nothing depending on durability goes on (the process needs a restart, which reopens and
// re-syncs the file).
//
// The file descriptor is the WAL's for the connection's lifetime: SQLite reuses the WAL
// file from its start after a checkpoint (same inode) and deletes it only when the last
// connection closes. It is opened on the first `sync`, since SQLite creates the WAL with
// the first write; it is closed with the scope once no fsync on it is still running.
import { SqlError } from "@effect/sql/SqlError"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Fsync from "./Fsync.js"

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
  /** The descriptor `sync` flushes, once the first `sync` opened it (for tests). */
  readonly descriptor: Effect.Effect<number | undefined>
}

/** For a database already in WAL mode with `synchronous = NORMAL`; the descriptor closes with the scope. */
export const make = (db: SqliteFile): Effect.Effect<WalSync, never, Scope.Scope> =>
  Effect.gen(function*() {
    const walFile = `${db.name}-wal`
    if (db.memory || db.name === "") return { sync: Effect.void, walFile, descriptor: Effect.succeed(undefined) }
    let fd: number | undefined
    let failure: SqlError | undefined
    let closed = false
    let running = 0
    let idle: Deferred.Deferred<void> | undefined

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closed = true
        // an fsync whose caller was interrupted still runs on the thread pool: let it finish
        // before its descriptor goes (or its number is reused by another file)
        if (running > 0) {
          idle = yield* Deferred.make<void>()
          yield* Deferred.await(idle)
        }
        if (fd !== undefined) fs.closeSync(fd)
        fd = undefined
      })
    )

    const fail = (message: string, cause: unknown) =>
      new SqlError({ cause, message: `${message} ${walFile}: ${String(cause)}` })

    const sync = Effect.async<void, SqlError>((resume) => {
      if (failure !== undefined) return resume(Effect.fail(failure))
      if (closed) return resume(Effect.fail(fail("syncing after close:", "closed")))
      try {
        if (fd === undefined) {
          fd = fs.openSync(walFile, "r")
          Fsync.directory(path.dirname(walFile))
        }
      } catch (cause) {
        return resume(Effect.fail(fail("opening to fsync", cause)))
      }
      running++
      fs.fsync(fd, (cause) => {
        running--
        if (running === 0 && idle !== undefined) Deferred.unsafeDone(idle, Effect.void)
        if (cause !== null) failure ??= fail("fsync of", cause)
        resume(failure === undefined ? Effect.void : Effect.fail(failure))
      })
    })
    return { sync, walFile, descriptor: Effect.sync(() => fd) }
  })
