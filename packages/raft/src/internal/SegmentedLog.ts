/**
 * The raft log on disk as a sequence of segment files of records (LogRecord): `log` (the
 * first segment, and the whole log of a data directory written before segments existed),
 * then `log.1`, `log.2`, ... Appends go to the last segment, the active one.
 *
 * Compaction copies nothing: it starts a new segment and deletes the segments a durable
 * snapshot covers entirely, after the next sync (ADR 0092). It used to rewrite the log's
 * tail into a new file with three synchronous fsyncs, which held every node's event loop
 * for 5-11 ms at every snapshot.
 *
 * Durability: an entry is durable once `sync` completes. A new segment's name is part of
 * that (the directory is fsynced by the next `sync`), and so are the unsynced writes of a
 * segment rotated out in the same turn. Deletions need no fsync of their own: a covered
 * segment that comes back after a crash is covered still: `open` skips its entries and the
 * next compaction deletes it.
 *
 * Everything here but `sync` is synchronous node:fs: writes only fill the page cache. The
 * rare exceptions, which must be durable before anything is appended after them, fsync on
 * the spot: cutting the log inside a segment older than the active one, and repairs on open.
 */
import * as Fsync from "@trading/platform/Fsync"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Entry, Snapshot } from "../core/Types.js"
import { recordLength, scanLog, writeRecord } from "./LogRecord.js"

interface Segment {
  readonly seq: number
  readonly file: string
  /** The index of its first entry; when it is empty, the index its first append will have. */
  firstIndex: number
  /** The byte offset of each entry's record, in index order. */
  offsets: Array<number>
  /** Bytes of valid records, where the next one is written. */
  length: number
}

const lastIndexOf = (s: Segment) => s.firstIndex + s.offsets.length - 1

const segmentFile = (dir: string, seq: number) => path.join(dir, seq === 0 ? "log" : `log.${seq}`)
const SEGMENT_NAME = /^log(?:\.(\d+))?$/

export interface Opened {
  readonly log: SegmentedLog
  /** The entries that continue the snapshot (or start the log), in index order. */
  readonly entries: Array<Entry>
  /** Bytes of a torn or corrupt tail cut off, 0 when the log was whole. */
  readonly tornBytes: number
  /** Segments removed because they followed a torn record or did not continue the log. */
  readonly droppedSegments: number
}

export interface SegmentedLog {
  /** Appends `entries` at `from`, first cutting off whatever the log holds from `from` on. */
  readonly append: (from: number, entries: ReadonlyArray<Entry>) => void
  /** A durable snapshot now covers `index`: starts a new segment, and the covered ones go after the next sync. */
  readonly compact: (index: number) => void
  /**
   * Makes every append durable: `done` gets the first fsync error. The segments compacted away
   * before it are deleted after `done` (a commit never waits for a deletion), and `cleaned`,
   * when given, gets the failures to delete them once that is over (called after `done`, with
   * none when there was nothing to delete or a sync failed).
   */
  readonly sync: (
    done: (error: Error | null) => void,
    cleaned?: (failures: ReadonlyArray<Error>) => void
  ) => void
  /** The active segment's file, for error messages. */
  readonly activeFile: () => string
  readonly close: () => void
}

/**
 * Keep only log entries that continue the snapshot: a crash between saving a snapshot and
 * compacting the log can leave entries from before an InstallSnapshot that do not.
 * Answers how many leading entries to drop.
 */
const continuing = (snapshot: Snapshot | null, entries: ReadonlyArray<Entry>): number => {
  if (snapshot === null || entries.length === 0) return 0
  const first = entries[0]!.index
  if (first === snapshot.index + 1) return 0
  if (first > snapshot.index + 1) return entries.length
  const at = entries[snapshot.index - first]
  return at !== undefined && at.term === snapshot.term ? snapshot.index - first + 1 : entries.length
}

const truncateSync = (file: string, length: number) => {
  const fd = fs.openSync(file, "r+")
  try {
    fs.ftruncateSync(fd, length)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * Opens (creating it if need be) the log in `dir` and recovers it: every record is verified,
 * the first torn or corrupt one cuts its segment there and removes the segments after it,
 * and a log that does not continue `snapshot` is emptied.
 */
export const open = (dir: string, snapshot: Snapshot | null): Opened => {
  fs.mkdirSync(dir, { recursive: true })
  const seqs = fs.readdirSync(dir)
    .flatMap((name) => {
      const m = SEGMENT_NAME.exec(name)
      return m === null ? [] : [Number(m[1] ?? 0)]
    })
    .sort((a, b) => a - b)
  let segments: Array<Segment> = []
  const entries: Array<Entry> = []
  const removed: Array<string> = []
  let tornBytes = 0
  for (const seq of seqs) {
    const file = segmentFile(dir, seq)
    // once a segment is cut short, or does not continue the ones before it, the segments
    // after it hold writes that were never synced (a later turn's): they go
    if (removed.length > 0 || tornBytes > 0) {
      removed.push(file)
      continue
    }
    const bytes = fs.readFileSync(file)
    const scanned = scanLog(bytes)
    const previous = entries.at(-1)
    const first = scanned.entries[0]
    if (previous !== undefined && first !== undefined && first.index !== previous.index + 1) {
      removed.push(file)
      continue
    }
    if (scanned.validLength < bytes.length) {
      truncateSync(file, scanned.validLength)
      tornBytes = bytes.length - scanned.validLength
    }
    segments.push({
      seq,
      file,
      firstIndex: first?.index ?? (previous === undefined ? (snapshot?.index ?? 0) + 1 : previous.index + 1),
      offsets: scanned.offsets,
      length: scanned.validLength
    })
    for (const e of scanned.entries) entries.push(e)
  }
  /** Segments removed for following a torn record or for not continuing the log. */
  const cut = removed.length
  const drop = continuing(snapshot, entries)
  let kept = entries
  if (drop === entries.length && entries.length > 0) {
    // not a continuation of the snapshot at all: appends after these would be lost to the
    // same verdict on the next open, so the log starts over after the snapshot
    for (const s of segments) removed.push(s.file)
    segments = []
    kept = []
  } else if (drop > 0) {
    kept = entries.slice(drop)
  }
  let dirty = removed.length > 0
  for (const file of removed) fs.rmSync(file, { force: true })
  if (segments.length === 0) {
    const seq = seqs.length === 0 ? 0 : seqs.at(-1)! + 1
    const file = segmentFile(dir, seq)
    fs.closeSync(fs.openSync(file, "w"))
    segments.push({ seq, file, firstIndex: (snapshot?.index ?? 0) + 1, offsets: [], length: 0 })
    dirty = true
  }
  // removals and a new segment are durable before anything is appended after them
  if (dirty) Fsync.directory(dir)
  return {
    log: make(dir, segments),
    entries: kept,
    tornBytes,
    droppedSegments: cut
  }
}

const make = (dir: string, recovered: Array<Segment>): SegmentedLog => {
  let segments = recovered
  let fd = fs.openSync(segments.at(-1)!.file, "r+")
  /** Descriptors of segments rotated out since the last sync: fsynced by it, then closed. */
  let rotatedOut: Array<number> = []
  /** Segments created since the last sync: their names need the directory's fsync. */
  let dirDirty = false
  /** Files of covered segments, deleted once the sync that follows their compaction is done. */
  let doomed: Array<string> = []

  const active = () => segments.at(-1)!

  /** Cuts off every entry from `from` on. */
  const truncateFrom = (from: number) => {
    if (from > lastIndexOf(active())) return
    const i = segments.findIndex((s) => lastIndexOf(s) >= from)
    if (i < segments.length - 1) {
      // Rare (a follower's log conflicting with a new leader's across a compaction): the
      // segments after the cut must be gone for good before anything is appended after it,
      // or a crash could bring their entries back as a continuation.
      fs.closeSync(fd)
      for (const s of segments.slice(i + 1)) fs.rmSync(s.file, { force: true })
      Fsync.directory(dir)
      segments = segments.slice(0, i + 1)
      fd = fs.openSync(active().file, "r+")
    }
    const seg = active()
    const k = from - seg.firstIndex
    const at = k <= 0 ? 0 : seg.offsets[k]!
    fs.ftruncateSync(fd, at)
    seg.length = at
    seg.offsets = k <= 0 ? [] : seg.offsets.slice(0, k)
    if (k <= 0) seg.firstIndex = from
  }

  const append = (from: number, entries: ReadonlyArray<Entry>) => {
    truncateFrom(from)
    const seg = active()
    if (seg.offsets.length === 0) seg.firstIndex = from
    if (entries.length === 0) return
    let size = 0
    for (const e of entries) size += recordLength(e)
    // unsafe is fine: the records fill it to its end
    const records = Buffer.allocUnsafe(size)
    const start = seg.length
    let pos = 0
    for (const e of entries) {
      seg.offsets.push(start + pos)
      pos = writeRecord(records, pos, e)
    }
    seg.length = start + size
    fs.writeSync(fd, records, 0, size, start)
  }

  const compact = (index: number) => {
    const current = active()
    if (current.offsets.length > 0) {
      const seq = current.seq + 1
      const file = segmentFile(dir, seq)
      rotatedOut.push(fd)
      fd = fs.openSync(file, "w+")
      segments.push({ seq, file, firstIndex: Math.max(lastIndexOf(current), index) + 1, offsets: [], length: 0 })
      dirDirty = true
    } else if (current.firstIndex <= index) {
      current.firstIndex = index + 1
    }
    // never the active segment: it is where the next append goes
    const covered = segments.slice(0, -1).filter((s) => lastIndexOf(s) <= index)
    if (covered.length === 0) return
    segments = segments.filter((s) => !covered.includes(s))
    for (const s of covered) doomed.push(s.file)
  }

  const sync = (done: (error: Error | null) => void, cleaned?: (failures: ReadonlyArray<Error>) => void) => {
    const fds = [fd, ...rotatedOut]
    const closing = rotatedOut
    const syncDir = dirDirty
    const deleting = doomed
    rotatedOut = []
    dirDirty = false
    doomed = []
    let pending = fds.length + (syncDir ? 1 : 0)
    let failure: Error | null = null
    const finished = (error: Error | null) => {
      failure ??= error
      if (--pending > 0) return
      for (const c of closing) fs.close(c, () => {})
      done(failure)
      // Deleting a segment of megabytes takes milliseconds (the file's blocks and cached
      // pages are freed), on the thread pool: the entries this sync made durable are not
      // held for it. After a failed sync the segments stay (the node stops on that error).
      if (failure !== null || deleting.length === 0) return cleaned?.([])
      const failures: Array<Error> = []
      let left = deleting.length
      for (const file of deleting) {
        fs.rm(file, { force: true }, (error) => {
          if (error !== null) failures.push(error)
          if (--left === 0) cleaned?.(failures)
        })
      }
    }
    for (const f of fds) fs.fsync(f, finished)
    if (syncDir) Fsync.directoryOffLoop(dir).then(() => finished(null), finished)
  }

  return {
    append,
    compact,
    sync,
    activeFile: () => active().file,
    close: () => {
      for (const c of [fd, ...rotatedOut]) fs.closeSync(c)
      rotatedOut = []
    }
  }
}
