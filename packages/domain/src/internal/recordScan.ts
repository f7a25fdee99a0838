// A strict scan of `trading.v1.OrderRecord` protobuf bytes that validates a record without
// decoding it into a JS object, and writes its canonical encoding.
//
// The registry applies every record of every log entry on every replica; decoding each
// into strings and an object only to copy it into the arena again is most of the cost.
// This scan accepts exactly the records that are unambiguous and valid: known fields in
// field-number order, each at most once, with the wire types, ranges and rules of
// `OrderRecord.fromProto` (ids of 1-128 visible ASCII characters, a status, an ASCII
// reason of at most 1,024 characters, non-negative safe integers, a logical time in
// [2000, 2100), REJECTED with a reason, EXECUTED with a fill). For such bytes the generated
// decoder and `fromProto` give the record whose fields the scan reports. Everything else
// (unknown or repeated fields, other orders, non-ASCII reasons, invalid values) is left to
// the generated decoder and the Schema, which also produce the rejection message: the scan
// answers "not on the fast path", never "invalid".
import { readVarint, varintEnd, varintFieldLength, varintLength, writeVarint, writeVarintField } from "../FastWire.js"
import { MAX_UNIX_MS, MIN_UNIX_MS } from "../Fields.js"

/** Field slots of one scanned record in a `Float64Array` (see `scanRecord`). */
export const ORDER_ID = 0
export const EVENT_ID = 2
export const COMMAND_ID = 4
export const REASON = 6
export const STATUS = 8
export const FILLED = 9
export const PRICE = 10
export const RECORDED_AT = 11
/** Start and length of the record's bytes, and the length of its canonical encoding. */
export const START = 12
export const LENGTH = 13
export const CANONICAL_LENGTH = 14
export const STRIDE = 15

const REJECTED = 2
const EXECUTED = 3

// the writing primitives are the fast encoders' (FastWire); OrderRegistry uses them as Scan.*
export { varintLength, writeVarint } from "../FastWire.js"

/** Whether `bytes[start, start + length)` is an id: 1-128 bytes of 0x21-0x7E. */
const isId = (bytes: Uint8Array, start: number, length: number): boolean => {
  if (length < 1 || length > 128) return false
  // one unsigned compare a byte: below 0x21 wraps around to a large number
  for (let i = start; i < start + length; i++) if ((bytes[i]! - 0x21) >>> 0 > 0x7e - 0x21) return false
  return true
}

const isAscii = (bytes: Uint8Array, start: number, length: number): boolean => {
  for (let i = start; i < start + length; i++) if (bytes[i]! >= 0x80) return false
  return true
}

/**
 * Scans the record in `bytes[start, end)`; on success fills `out[at + ...]` (offset and
 * length of each string field, the numbers, START/LENGTH/CANONICAL_LENGTH) and answers
 * true. False means "take the generated decoder" (see the module comment).
 */
export const scanRecord = (bytes: Uint8Array, start: number, end: number, out: Float64Array, at: number): boolean => {
  out[at + ORDER_ID + 1] = 0
  out[at + EVENT_ID + 1] = 0
  out[at + COMMAND_ID + 1] = 0
  out[at + REASON] = start
  out[at + REASON + 1] = 0
  out[at + STATUS] = 0
  out[at + FILLED] = 0
  out[at + PRICE] = 0
  out[at + RECORDED_AT] = 0
  let lastField = 0
  let pos = start
  while (pos < end) {
    // every known tag is one byte; anything else leaves the fast path
    const tag = bytes[pos++]!
    const field = tag >>> 3
    if (field <= lastField || field > 8 || (tag & 7) !== (field <= 3 || field === 5 ? 2 : 0)) return false
    lastField = field
    const value = readVarint(bytes, pos, end)
    if (value < 0) return false
    pos = varintEnd()
    switch (field) {
      case 1:
      case 2:
      case 3:
      case 5: {
        if (value > end - pos) return false
        const slot = field === 5 ? REASON : (field - 1) * 2
        out[at + slot] = pos
        out[at + slot + 1] = value
        pos += value
        break
      }
      case 4:
        out[at + STATUS] = value
        break
      case 6:
        out[at + FILLED] = value
        break
      case 7:
        out[at + PRICE] = value
        break
      default:
        out[at + RECORDED_AT] = value
    }
  }
  const status = out[at + STATUS]!
  const reasonLength = out[at + REASON + 1]!
  const filled = out[at + FILLED]!
  const price = out[at + PRICE]!
  const recordedAt = out[at + RECORDED_AT]!
  if (
    !isId(bytes, out[at + ORDER_ID]!, out[at + ORDER_ID + 1]!) ||
    !isId(bytes, out[at + EVENT_ID]!, out[at + EVENT_ID + 1]!) ||
    !isId(bytes, out[at + COMMAND_ID]!, out[at + COMMAND_ID + 1]!) ||
    status < 1 || status > 3 ||
    reasonLength > 1024 || !isAscii(bytes, out[at + REASON]!, reasonLength) ||
    recordedAt < MIN_UNIX_MS || recordedAt >= MAX_UNIX_MS ||
    (status === REJECTED && reasonLength === 0) ||
    (status === EXECUTED && (filled === 0 || price === 0))
  ) return false
  out[at + START] = start
  out[at + LENGTH] = end - start
  out[at + CANONICAL_LENGTH] = stringFieldLength(out[at + ORDER_ID + 1]!) +
    stringFieldLength(out[at + EVENT_ID + 1]!) + stringFieldLength(out[at + COMMAND_ID + 1]!) + 2 +
    stringFieldLength(reasonLength) + varintFieldLength(filled) + varintFieldLength(price) +
    varintFieldLength(recordedAt)
  return true
}

const stringFieldLength = (length: number): number => length === 0 ? 0 : 1 + varintLength(length) + length

/**
 * Writes the canonical encoding of a scanned record (fields in order, defaults omitted,
 * minimal varints: what the generated encoder writes) at `target[pos]`; returns the end.
 * When the input already is canonical (its length equals the canonical length, since any
 * deviation only adds bytes) this is a plain copy.
 */
export const writeCanonical = (
  source: Uint8Array,
  scanned: Float64Array,
  at: number,
  target: Uint8Array,
  pos: number
): number => {
  const start = scanned[at + START]!
  const length = scanned[at + LENGTH]!
  if (length === scanned[at + CANONICAL_LENGTH]!) return copy(source, start, length, target, pos)
  pos = writeString(source, scanned, at + ORDER_ID, 0x0a, target, pos)
  pos = writeString(source, scanned, at + EVENT_ID, 0x12, target, pos)
  pos = writeString(source, scanned, at + COMMAND_ID, 0x1a, target, pos)
  pos = writeVarintField(target, pos, 0x20, scanned[at + STATUS]!)
  pos = writeString(source, scanned, at + REASON, 0x2a, target, pos)
  pos = writeVarintField(target, pos, 0x30, scanned[at + FILLED]!)
  pos = writeVarintField(target, pos, 0x38, scanned[at + PRICE]!)
  return writeVarintField(target, pos, 0x40, scanned[at + RECORDED_AT]!)
}

const writeString = (
  source: Uint8Array,
  scanned: Float64Array,
  slot: number,
  tag: number,
  target: Uint8Array,
  pos: number
): number => {
  const start = scanned[slot]!
  const length = scanned[slot + 1]!
  if (length === 0) return pos
  target[pos++] = tag
  return copy(source, start, length, target, writeVarint(target, pos, length))
}

/**
 * Copies `source[start, start + length)` to `target[pos]`; returns the end. A byte loop
 * costs about 2 ns a byte, `set` a view allocation and a memcpy: short runs take the loop.
 * The views are garbage a scavenge drops for nothing (it pays for what survives): records
 * (60-120 bytes) copied by the loop instead halved a node's allocations and made `apply`
 * 10-40 % slower (measured, docs/benchmarks.md, seventeenth session).
 */
export const copy = (source: Uint8Array, start: number, length: number, target: Uint8Array, pos: number): number => {
  if (length < 48) {
    for (let i = 0; i < length; i++) target[pos + i] = source[start + i]!
  } else {
    target.set(source.subarray(start, start + length), pos)
  }
  return pos + length
}

/** Scratch of a command scan, reused from one command to the next (grows, never shrinks). */
export interface Scan {
  fields: Float64Array
  count: number
}

export const makeScan = (): Scan => ({ fields: new Float64Array(STRIDE * 64), count: 0 })

/**
 * Scans a `RecordOrdersRequest` (`repeated OrderRecord records = 1`): true when every
 * record is on the fast path (`scan.count` records, fields at `i * STRIDE`), false when
 * the command must go through the generated decoder.
 */
export const scanCommand = (bytes: Uint8Array, scan: Scan): boolean => {
  scan.count = 0
  let pos = 0
  while (pos < bytes.length) {
    if (bytes[pos] !== 0x0a) return false
    const length = readVarint(bytes, pos + 1, bytes.length)
    if (length < 0 || length > bytes.length - varintEnd()) return false
    const start = varintEnd()
    const at = scan.count * STRIDE
    if (at + STRIDE > scan.fields.length) {
      const grown = new Float64Array(scan.fields.length * 2)
      grown.set(scan.fields)
      scan.fields = grown
    }
    if (!scanRecord(bytes, start, start + length, scan.fields, at)) return false
    scan.count++
    pos = start + length
  }
  return true
}
