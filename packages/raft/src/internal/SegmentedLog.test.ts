import { afterEach, describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Entry, Snapshot } from "../core/Types.js"
import { encodeRecord } from "./LogRecord.js"
import * as SegmentedLog from "./SegmentedLog.js"

const dirs: Array<string> = []
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "raft-segments-"))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

const entry = (index: number, term = 1): Entry => ({ index, term, kind: "command", data: new Uint8Array([index]) })
const range = (from: number, to: number, term = 1) =>
  Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, term))
const snapshotAt = (index: number, term = 1): Snapshot => ({
  index,
  term,
  membership: { voters: ["a"], learners: [] },
  data: new Uint8Array()
})
/** A sync and the deletions after it: their failures, once both are over (`done` first). */
const sync = (log: SegmentedLog.SegmentedLog) =>
  new Promise<ReadonlyArray<Error>>((resolve, reject) => {
    let synced = false
    log.sync(
      (error) => error === null ? synced = true : reject(error),
      (failures) => synced ? resolve(failures) : reject(new Error("cleaned before done"))
    )
  })
const segments = (dir: string) => fs.readdirSync(dir).filter((f) => /^log(\.\d+)?$/.test(f)).sort()
const reopen = (dir: string, snapshot: Snapshot | null) => {
  const opened = SegmentedLog.open(dir, snapshot)
  opened.log.close()
  return opened
}
const indexes = (entries: ReadonlyArray<Entry>) => entries.map((e) => e.index)

describe("SegmentedLog", () => {
  it("compaction starts a new segment and deletes covered ones after the next sync, copying nothing", async () => {
    const dir = tempDir()
    const { log } = SegmentedLog.open(dir, null)
    expect(segments(dir)).toEqual(["log"])
    log.append(1, range(1, 5))
    await sync(log)
    const firstBytes = fs.statSync(path.join(dir, "log")).size
    // a snapshot at 3: entries 4 and 5 stay where they are, new appends go to log.1
    log.compact(3)
    log.append(6, range(6, 7))
    await sync(log)
    expect(segments(dir)).toEqual(["log", "log.1"])
    expect(fs.statSync(path.join(dir, "log")).size).toBe(firstBytes)
    expect(indexes(reopen(dir, snapshotAt(3)).entries)).toEqual([4, 5, 6, 7])
    // a snapshot at 7 covers both: `log` goes once the sync is done, log.1 too (not active any more)
    log.compact(7)
    expect(segments(dir)).toEqual(["log", "log.1", "log.2"])
    log.append(8, [entry(8)])
    await sync(log)
    expect(segments(dir)).toEqual(["log.2"])
    log.close()
    expect(indexes(reopen(dir, snapshotAt(7)).entries)).toEqual([8])
  })

  it("a sync is done before the covered segments are deleted, which then go on the thread pool", async () => {
    const dir = tempDir()
    const { log } = SegmentedLog.open(dir, null)
    log.append(1, range(1, 3))
    log.compact(3)
    log.append(4, [entry(4)])
    const seen = await new Promise<{ atDone: Array<string>; atCleaned: Array<string> }>((resolve, reject) => {
      let atDone: Array<string> = []
      log.sync(
        (error) => error === null ? atDone = segments(dir) : reject(error),
        (failures) => failures.length === 0 ? resolve({ atDone, atCleaned: segments(dir) }) : reject(failures[0])
      )
    })
    expect(seen).toEqual({ atDone: ["log", "log.1"], atCleaned: ["log.1"] })
    log.close()
  })

  it("a compaction with nothing after the snapshot keeps the empty active segment and deletes the rest", async () => {
    const dir = tempDir()
    const { log } = SegmentedLog.open(dir, null)
    log.append(1, range(1, 3))
    log.compact(3)
    await sync(log)
    expect(segments(dir)).toEqual(["log.1"])
    // a snapshot installed far ahead of the log: the next append is its successor
    log.compact(10)
    log.append(11, [entry(11, 2)])
    await sync(log)
    expect(segments(dir)).toEqual(["log.1"])
    log.close()
    expect(indexes(reopen(dir, snapshotAt(10)).entries)).toEqual([11])
  })

  it("a torn record cuts its segment, and the segments after it are removed for good", async () => {
    const dir = tempDir()
    const { log } = SegmentedLog.open(dir, null)
    log.append(1, range(1, 3))
    log.compact(1)
    log.append(4, range(4, 5))
    await sync(log)
    log.close()
    // a crash while both segments had unsynced writes: the older one's last record is torn
    const first = path.join(dir, "log")
    const whole = fs.readFileSync(first)
    fs.writeFileSync(first, whole.subarray(0, whole.length - 3))
    const opened = SegmentedLog.open(dir, snapshotAt(1))
    expect(indexes(opened.entries)).toEqual([2])
    expect(opened.tornBytes).toBeGreaterThan(0)
    expect(opened.droppedSegments).toBe(1)
    expect(segments(dir)).toEqual(["log"])
    // appends continue after the cut, and a reopen finds exactly them
    opened.log.append(3, range(3, 4, 2))
    await sync(opened.log)
    opened.log.close()
    expect(reopen(dir, snapshotAt(1)).entries.map((e) => [e.index, e.term])).toEqual([[2, 1], [3, 2], [4, 2]])
  })

  it("segments after a torn tail go even when their indexes would continue it (never synced, so never acknowledged)", () => {
    const dir = tempDir()
    // a size extended past unwritten data reads back as zeros after a crash
    fs.writeFileSync(path.join(dir, "log"), Buffer.concat([...range(1, 3).map(encodeRecord), Buffer.alloc(16)]))
    fs.writeFileSync(path.join(dir, "log.1"), Buffer.concat(range(4, 5).map(encodeRecord)))
    const opened = reopen(dir, null)
    expect(indexes(opened.entries)).toEqual([1, 2, 3])
    expect(opened.tornBytes).toBe(16)
    expect(opened.droppedSegments).toBe(1)
    expect(segments(dir)).toEqual(["log"])
  })

  it("a segment that does not continue the one before it is removed with everything after it", () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, "log"), Buffer.concat(range(1, 3).map(encodeRecord)))
    fs.writeFileSync(path.join(dir, "log.1"), Buffer.concat(range(7, 8).map(encodeRecord)))
    fs.writeFileSync(path.join(dir, "log.2"), Buffer.concat(range(9, 9).map(encodeRecord)))
    const opened = reopen(dir, null)
    expect(indexes(opened.entries)).toEqual([1, 2, 3])
    expect(opened.droppedSegments).toBe(2)
    expect(segments(dir)).toEqual(["log"])
  })

  it("cutting the log inside an older segment removes the later ones before appending there", async () => {
    const dir = tempDir()
    const { log } = SegmentedLog.open(dir, null)
    log.append(1, range(1, 5))
    log.compact(2)
    log.append(6, range(6, 7))
    await sync(log)
    // a new leader's entries conflict from index 4 on
    log.append(4, range(4, 5, 3))
    await sync(log)
    expect(segments(dir)).toEqual(["log"])
    log.append(6, [entry(6, 3)])
    await sync(log)
    log.close()
    expect(reopen(dir, snapshotAt(2)).entries.map((e) => [e.index, e.term])).toEqual([[3, 1], [4, 3], [5, 3], [6, 3]])
  })

  it("a log that does not continue the snapshot starts over, so what is appended after it survives a reopen", async () => {
    const dir = tempDir()
    // entries of term 2 left over from before an installed snapshot at 10 (term 7)
    fs.writeFileSync(path.join(dir, "log"), Buffer.concat(range(8, 11, 2).map(encodeRecord)))
    const snapshot = snapshotAt(10, 7)
    const opened = SegmentedLog.open(dir, snapshot)
    expect(opened.entries).toEqual([])
    expect(segments(dir)).toEqual(["log.1"])
    opened.log.append(11, range(11, 12, 7))
    await sync(opened.log)
    opened.log.close()
    expect(reopen(dir, snapshot).entries.map((e) => [e.index, e.term])).toEqual([[11, 7], [12, 7]])
  })
})
