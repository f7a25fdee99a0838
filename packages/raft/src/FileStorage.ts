/**
 * Durable `Storage` in a directory:
 * - `log`, `log.1`, ...: the log's segments (internal/SegmentedLog), files of checksummed
 *   records (internal/LogRecord). `write` appends (or cuts the log at a record boundary
 *   first), `sync` fsyncs. On start every record is verified; the first short or corrupt
 *   record marks a torn tail, which is cut away before the node runs. Compaction starts a
 *   new segment and deletes the ones the snapshot covers: nothing is copied.
 * - `hardstate` and `snapshot`: replaced atomically (write a temporary file, fsync, rename,
 *   fsync the directory), each with a crc32 so a damaged file is an error, not garbage.
 *
 * Writes are synchronous node:fs calls (they only fill the page cache). The fsyncs that
 * make a turn durable and the writing of a snapshot the node took itself run on libuv's
 * thread pool, so the event loop keeps serving the network, applying entries and answering
 * clients meanwhile (ADR 0036, revising 0032). A snapshot goes to disk a MiB at a time, each
 * made durable before the next, and the file it replaces is freed on the thread pool too:
 * the log's fsyncs, on the same disk, never queue behind a whole snapshot (ADR 0102).
 */
import * as Bytes from "@trading/domain/Bytes"
import * as Fsync from "@trading/platform/Fsync"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import { decodeMembership, encodeMembership } from "./core/Membership.js"
import type { Persisted } from "./core/RaftCore.js"
import type { HardState, Snapshot } from "./core/Types.js"
import { StorageError } from "./Errors.js"
import { crc32 } from "./internal/Crc32.js"
import * as SegmentedLog from "./internal/SegmentedLog.js"
import { type PersistOutput, Storage, type StorageApi, type TakenSnapshot } from "./Storage.js"

export { encodeRecord, scanLog } from "./internal/LogRecord.js"

/** `[u32 crc32 of the parts]` followed by the parts: the framing of `hardstate` and `snapshot` (`unseal` reads it). */
const sealedWith = (crc: number, parts: ReadonlyArray<Buffer>): Array<Buffer> => {
  const header = Buffer.alloc(4)
  header.writeUInt32LE(crc, 0)
  return [header, ...parts]
}

/** `sealedWith` the checksum of the parts, computed in one go (small files, rare snapshots). */
const sealed = (parts: ReadonlyArray<Buffer>): Array<Buffer> => {
  let crc = 0
  for (const part of parts) crc = crc32(part, crc)
  return sealedWith(crc, parts)
}

const unseal = (file: string, bytes: Buffer): Buffer => {
  if (bytes.length < 4 || crc32(bytes.subarray(4)) !== bytes.readUInt32LE(0)) {
    throw new Error(`${file} is corrupt (checksum mismatch)`)
  }
  return bytes.subarray(4)
}

/**
 * A snapshot file as the parts written one after the other (`writev`), never concatenated:
 * `[u32 crc32 of the rest][u32 meta length][u32 config length][meta][config][data]`. The
 * data is the state machine's, tens of MB for a large registry, itself in parts (views of
 * the registry's own buffers when the node took the snapshot): each copy of it cost tens of
 * milliseconds of the event loop and as many MB of memory.
 */
const snapshotPrefix = (s: Omit<Snapshot, "data">): Array<Buffer> => {
  const meta = Buffer.from(JSON.stringify({ index: s.index, term: s.term }))
  const config = Buffer.from(encodeMembership(s.membership))
  const head = Buffer.alloc(8)
  head.writeUInt32LE(meta.length, 0)
  head.writeUInt32LE(config.length, 4)
  return [head, meta, config]
}

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

const encodeSnapshot = (s: Snapshot): Array<Buffer> => sealed([...snapshotPrefix(s), asBuffer(s.data)])

/** Gives the event loop back (network, timers) before the next slice of work. */
const yieldToEventLoop = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * A snapshot is checksummed and written in slices of a MiB: one slice per event-loop turn for
 * the checksum, one fdatasync per slice for the write (ADR 0102).
 */
const SLICE = 1 << 20

/** `parts` (empty ones left out) cut into runs of at most `size` bytes. */
const slices = (parts: ReadonlyArray<Buffer>, size: number): Array<Array<Buffer>> => {
  const out: Array<Array<Buffer>> = []
  let current: Array<Buffer> = []
  let room = size
  for (const part of parts) {
    for (let at = 0; at < part.length;) {
      const piece = part.subarray(at, at + room)
      current.push(piece)
      at += piece.length
      room -= piece.length
      if (room === 0) {
        out.push(current)
        current = []
        room = size
      }
    }
  }
  if (current.length > 0) out.push(current)
  return out
}

/** `encodeSnapshot` of a taken snapshot, its checksum taken a slice at a time between event-loop turns. */
const encodeSnapshotSliced = (s: TakenSnapshot): Effect.Effect<Array<Buffer>> =>
  Effect.gen(function*() {
    const parts = [...snapshotPrefix(s), ...s.parts.map(asBuffer)]
    let crc = 0
    for (const slice of slices(parts, SLICE)) {
      for (const piece of slice) crc = crc32(piece, crc)
      yield* yieldToEventLoop
    }
    return sealedWith(crc, parts)
  })

const decodeSnapshot = (file: string, bytes: Buffer): Snapshot => {
  const body = unseal(file, bytes)
  const metaLen = body.readUInt32LE(0)
  const configLen = body.readUInt32LE(4)
  const meta = JSON.parse(body.subarray(8, 8 + metaLen).toString()) as { index: number; term: number }
  const membership = decodeMembership(new Uint8Array(body.subarray(8 + metaLen, 8 + metaLen + configLen)))
  return {
    index: meta.index,
    term: meta.term,
    membership,
    data: new Uint8Array(body.subarray(8 + metaLen + configLen))
  }
}

/** Crash-safe replacement: after a crash the file is either the old or the new content. */
const atomicWrite = (dir: string, name: string, parts: ReadonlyArray<Buffer>) => {
  const tmp = path.join(dir, `${name}.tmp`)
  const fd = fs.openSync(tmp, "w")
  try {
    writeAllSync(fd, parts)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(tmp, path.join(dir, name))
  Fsync.directory(dir)
}

/**
 * The parts still to write after `writev` wrote `written` bytes of `parts` (it may write
 * less than asked). Zero bytes written while some remain would loop forever: an error.
 */
const unwritten = (parts: ReadonlyArray<Buffer>, written: number): Array<Buffer> => {
  if (written === 0 && parts.length > 0) throw new Error("writev wrote nothing")
  const rest: Array<Buffer> = []
  for (const part of parts) {
    if (written >= part.length) written -= part.length
    else {
      rest.push(part.subarray(written))
      written = 0
    }
  }
  return rest
}

/** Writes every part in order at the file's position. */
const writeAllSync = (fd: number, parts: ReadonlyArray<Buffer>) => {
  let rest = parts.filter((p) => p.length > 0)
  while (rest.length > 0) rest = unwritten(rest, fs.writevSync(fd, rest))
}

/**
 * `atomicWrite`'s temporary file off the event loop: the parts are written and fsynced on the
 * thread pool, a MiB at a time with an fdatasync after each. Written at once, a snapshot of
 * 11 MB reached the disk in one burst at its fsync, and every log fsync of the three nodes
 * sharing the disk waited behind it (ADR 0102).
 */
const writeTemporary = async (file: string, parts: ReadonlyArray<Buffer>) => {
  const handle = await fs.promises.open(file, "w")
  try {
    for (const slice of slices(parts, SLICE)) {
      let rest = slice
      while (rest.length > 0) rest = unwritten(rest, (await handle.writev(rest)).bytesWritten)
      await handle.datasync()
    }
    await handle.sync()
  } finally {
    await handle.close()
  }
}

const sameSnapshot = (a: Snapshot, b: Snapshot) =>
  a.index === b.index && a.term === b.term && a.data === b.data &&
  encodeMembership(a.membership).join() === encodeMembership(b.membership).join()

const readIfExists = (file: string): Buffer | null => fs.existsSync(file) ? fs.readFileSync(file) : null

export const make = (dir: string): Effect.Effect<StorageApi, StorageError, Scope.Scope> =>
  Effect.gen(function*() {
    const attempt = <A>(op: string, file: string, f: () => A) =>
      Effect.try({ try: f, catch: (cause) => new StorageError({ op, path: file, cause }) })

    /** The second name of the snapshot file that `saveSnapshot` of `index` replaces, until it deletes it. */
    const replacedFile = (index: number) => path.join(dir, `snapshot.${index}.replaced`)
    // Recover: read everything, cut a torn tail, drop entries the snapshot supersedes.
    const recovered = yield* attempt("open", dir, () => {
      fs.mkdirSync(dir, { recursive: true })
      // what a crash in the middle of saveSnapshot leaves: its temporary file, or the replaced one
      for (const file of fs.readdirSync(dir)) {
        if (/^snapshot\.\d+\.(tmp|replaced)$/.test(file)) fs.rmSync(path.join(dir, file), { force: true })
      }
      const hs = readIfExists(path.join(dir, "hardstate"))
      const hardState: HardState = hs === null
        ? { term: 0, votedFor: null }
        : JSON.parse(unseal("hardstate", hs).toString()) as HardState
      const snapBytes = readIfExists(path.join(dir, "snapshot"))
      const snapshot = snapBytes === null ? null : decodeSnapshot("snapshot", snapBytes)
      return { hardState, snapshot, ...SegmentedLog.open(dir, snapshot) }
    })
    const log = recovered.log
    yield* Effect.addFinalizer(() => Effect.sync(() => log.close()))
    if (recovered.tornBytes > 0 || recovered.droppedSegments > 0) {
      yield* Effect.logWarning(
        `raft log: cut a torn tail of ${recovered.tornBytes} bytes, removed ${recovered.droppedSegments} segments after it`
      ).pipe(Effect.annotateLogs("path", dir))
    }
    const snapshotHolder: { current: Snapshot | null } = { current: recovered.snapshot }
    // Stand-ins for the data of snapshots this storage wrote (saveSnapshot): the node keeps
    // one instead of the whole state, and `snapshotData` reads the file back when a follower
    // needs it, which is rare (a node far behind or new).
    const standIns = new WeakSet<Uint8Array>()
    const snapshotFile = path.join(dir, "snapshot")
    const readSnapshotFileSync = () => decodeSnapshot("snapshot", fs.readFileSync(snapshotFile))
    /** A snapshot with its data: read from the file when the data is a stand-in. */
    const withData = (snapshot: Snapshot | null): Snapshot | null =>
      snapshot === null || !standIns.has(snapshot.data) ? snapshot : readSnapshotFileSync()
    /** The snapshot `saveSnapshot` made durable whose compaction has not been persisted yet. */
    let saved: Snapshot | null = null
    const runtime = yield* Effect.runtime<never>()

    // `write` and `sync` without an effect (the node's turn calls these, ADR 0095)
    const writeNow = (outputs: ReadonlyArray<PersistOutput>): StorageError | undefined => {
      try {
        for (const o of outputs) {
          switch (o._tag) {
            case "PersistHardState":
              atomicWrite(dir, "hardstate", sealed([Buffer.from(JSON.stringify(o.hardState))]))
              break
            case "PersistSnapshot":
              // already on disk when it is the one `saveSnapshot` wrote (same bytes object);
              // a stand-in only ever stands for a file saveSnapshot wrote, never for bytes to write
              if (!standIns.has(o.snapshot.data) && (saved === null || !sameSnapshot(saved, o.snapshot))) {
                atomicWrite(dir, "snapshot", encodeSnapshot(o.snapshot))
              }
              saved = null
              snapshotHolder.current = o.snapshot
              log.compact(o.snapshot.index)
              break
            case "PersistEntries":
              log.append(o.from, o.entries)
              break
          }
        }
        return undefined
      } catch (cause) {
        return new StorageError({ op: "write", path: dir, cause })
      }
    }
    const syncNow = (done: (error: StorageError | undefined) => void): void =>
      log.sync(
        (cause) => done(cause === null ? undefined : new StorageError({ op: "fsync", path: log.activeFile(), cause })),
        // a covered segment left behind costs only disk space: after a restart, open finds it
        // covered and the first compaction deletes it
        (failures) => {
          if (failures.length > 0) {
            Runtime.runFork(runtime)(Effect.logWarning("raft log: deleting covered segments failed", failures))
          }
        }
      )

    const api: StorageApi = {
      load: attempt("load", dir, (): Persisted => ({
        hardState: recovered.hardState,
        snapshot: withData(snapshotHolder.current),
        entries: recovered.entries
      })),
      write: (outputs) =>
        Effect.suspend(() => {
          const error = writeNow(outputs)
          return error === undefined ? Effect.void : Effect.fail(error)
        }),
      sync: Effect.async<void, StorageError>((resume) => {
        syncNow((error) => resume(error === undefined ? Effect.void : Effect.fail(error)))
      }),
      writeNow,
      syncNow,
      saveSnapshot: (snapshot) =>
        Effect.gen(function*() {
          const tmp = path.join(dir, `snapshot.${snapshot.index}.tmp`)
          const parts = yield* encodeSnapshotSliced(snapshot)
          yield* Effect.tryPromise({
            try: () => writeTemporary(tmp, parts),
            catch: (cause) => new StorageError({ op: "write", path: tmp, cause })
          })
          // One synchronous block from here on: nothing else touches the files in between,
          // so a snapshot installed meanwhile (newer) is never replaced by this older one.
          const standIn = yield* attempt("rename", tmp, () => {
            const newest = Math.max(snapshotHolder.current?.index ?? 0, saved?.index ?? 0)
            if (snapshot.index <= newest) {
              fs.rmSync(tmp, { force: true })
              return null
            }
            // The file replaced keeps a second name through the rename, which then only drops
            // a name: freeing a large file's blocks and cached pages took the event loop 4-8 ms
            // inside renameSync; the unlink of that name does it on the thread pool below.
            if (fs.existsSync(snapshotFile)) fs.linkSync(snapshotFile, replacedFile(snapshot.index))
            fs.renameSync(tmp, snapshotFile)
            const standIn = new Uint8Array(0)
            standIns.add(standIn)
            saved = { index: snapshot.index, term: snapshot.term, membership: snapshot.membership, data: standIn }
            return standIn
          })
          // not this storage's file: the node keeps the data itself (a copy: the parts are reused)
          if (standIn === null) return Bytes.concatFresh(snapshot.parts)
          // the rename is durable before the compaction this enables deletes any log
          yield* Effect.tryPromise({
            try: () => Fsync.directoryOffLoop(dir),
            catch: (cause) => new StorageError({ op: "fsync", path: dir, cause })
          })
          // a replaced file left behind costs disk space until the next start: not an error
          yield* Effect.tryPromise(() => fs.promises.rm(replacedFile(snapshot.index), { force: true })).pipe(
            Effect.catchAll((error) => Effect.logWarning("raft storage: deleting a replaced snapshot failed", error))
          )
          return standIn
        }),
      snapshotData: (index, kept) =>
        !standIns.has(kept) ? Effect.succeed(kept) : Effect.tryPromise({
          try: async () => {
            const snapshot = decodeSnapshot("snapshot", await fs.promises.readFile(snapshotFile))
            return snapshot.index === index ? snapshot.data : null
          },
          catch: (cause) => new StorageError({ op: "read", path: snapshotFile, cause })
        })
    }
    return api
  })

export const layer = (dir: string): Layer.Layer<Storage, StorageError> => Layer.scoped(Storage, make(dir))
