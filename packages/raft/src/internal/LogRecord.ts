/**
 * A raft log record: `[u32 length][u32 crc32][payload]`, payload `[f64 index][f64 term][u8 kind][data]`.
 * The log's segment files are these records one after the other.
 */
import type { Entry, EntryKind } from "../core/Types.js"
import { crc32 } from "./Crc32.js"

const kinds: ReadonlyArray<EntryKind> = ["command", "noop", "config"]
const HEADER = 8

/** Bytes of `e`'s record: header, then payload. */
export const recordLength = (e: Entry): number => HEADER + 17 + e.data.length

/**
 * Writes `e`'s record into `out` at `pos` (room for `recordLength(e)` bytes), every byte of
 * it, and answers where it ends. A write encodes its records in place into the one buffer it
 * hands to the file: encoding each into buffers of its own and joining them copied every
 * entry three times.
 */
export const writeRecord = (out: Buffer, pos: number, e: Entry): number => {
  const payload = pos + HEADER
  const end = payload + 17 + e.data.length
  out.writeDoubleLE(e.index, payload)
  out.writeDoubleLE(e.term, payload + 8)
  out.writeUInt8(kinds.indexOf(e.kind), payload + 16)
  out.set(e.data, payload + 17)
  out.writeUInt32LE(end - payload, pos)
  out.writeUInt32LE(crc32(out.subarray(payload, end)), pos + 4)
  return end
}

export const encodeRecord = (e: Entry): Buffer => {
  // unsafe is fine: writeRecord writes every byte
  const record = Buffer.allocUnsafe(recordLength(e))
  writeRecord(record, 0, e)
  return record
}

export interface Scanned {
  readonly entries: Array<Entry>
  readonly offsets: Array<number>
  /** Byte length of the valid prefix of the file. */
  readonly validLength: number
}

/** Read records until the end or the first torn/corrupt/out-of-sequence one. */
export const scanLog = (bytes: Buffer): Scanned => {
  const entries: Array<Entry> = []
  const offsets: Array<number> = []
  let pos = 0
  while (pos + HEADER <= bytes.length) {
    const len = bytes.readUInt32LE(pos)
    const crc = bytes.readUInt32LE(pos + 4)
    if (len < 17 || pos + HEADER + len > bytes.length) break
    const payload = bytes.subarray(pos + HEADER, pos + HEADER + len)
    if (crc32(payload) !== crc) break
    const index = payload.readDoubleLE(0)
    const kind = kinds[payload.readUInt8(16)]
    const prev = entries[entries.length - 1]
    if (kind === undefined || (prev !== undefined && index !== prev.index + 1)) break
    entries.push({ index, term: payload.readDoubleLE(8), kind, data: new Uint8Array(payload.subarray(17)) })
    offsets.push(pos)
    pos += HEADER + len
  }
  return { entries, offsets, validLength: pos }
}
