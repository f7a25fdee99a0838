// The order registry's commands and results as the bytes they travel in, for a proposer
// that never needs them as objects: the raft-node receives `RecordOrdersRequest` bytes from
// a client, proposes them (concatenated with other calls' into one log entry) and answers
// each call with its slice of the entry's `RecordOrdersResponse`. Decoding the records into
// JS objects and encoding them again, and the same for the outcomes, was most of the
// leader's work per call that was not Raft's own.
//
// Both rest on a protobuf property: a message made of one repeated field is the
// concatenation of that field's encodings, so calls' requests concatenate into one request
// and an entry's response splits into the calls' responses at field boundaries.
//
// A client on a hot path (the order-executor's raft client) has the same costs on its side:
// `encodeRequest` and `decodeResponse` write and read these messages directly.
import { RecordOrdersResponse } from "@trading/proto/gen/trading/v1/raft_node"
import * as Either from "effect/Either"
import type { DecodeError } from "./DecodeError.js"
import { MalformedPayload } from "./DecodeError.js"
import { readVarint, varintEnd } from "./FastWire.js"
import * as Canonical from "./internal/canonicalRecord.js"
import * as W from "./internal/protoWriter.js"
import * as Scan from "./internal/recordScan.js"
import * as RegistryWire from "./internal/registryWire.js"
import * as OrderRecord from "./OrderRecord.js"
import { CommandRejected } from "./OrderRegistry.js"

const RESULT_OK = 0
const RESULT_REJECTED = 1
const decoder = new TextDecoder()

/**
 * How many records `RecordOrdersRequest` bytes hold, when every one is valid and encoded
 * the way the registry's fast path reads it (known fields in order, see `internal/
 * recordScan`): such bytes are a command the registry applies as they are. `undefined`
 * otherwise: decode them (`OrderRegistry.decodeCommand`) to name what is invalid, or to
 * re-encode valid records canonically (`OrderRegistry.encodeCommand`).
 */
export const validRecordCount = (request: Uint8Array): number | undefined => {
  const scan = Scan.makeScan()
  return Scan.scanCommand(request, scan) ? scan.count : undefined
}

/**
 * Splits a registry result (`OrderRegistry.apply`'s bytes for a command made of several
 * calls' records) into each call's `RecordOrdersResponse` bytes, `counts[i]` outcomes for
 * call `i`, in order. The slices share the result's buffer.
 */
export const splitResult = (
  result: Uint8Array,
  counts: ReadonlyArray<number>
): Either.Either<ReadonlyArray<Uint8Array>, CommandRejected> => {
  if (result[0] === RESULT_REJECTED) {
    return Either.left(new CommandRejected({ message: decoder.decode(result.subarray(1)) }))
  }
  if (result[0] !== RESULT_OK) return Either.left(new CommandRejected({ message: "not an order registry result" }))
  const parts: Array<Uint8Array> = []
  let pos = 1
  for (const count of counts) {
    const start = pos
    for (let i = 0; i < count; i++) {
      if (result[pos] !== 0x0a) {
        return Either.left(new CommandRejected({ message: "corrupt result: expected an outcome" }))
      }
      // read in place (no object per outcome: this runs for every record the leader answers)
      const length = readVarint(result, pos + 1, result.length)
      if (length < 0 || varintEnd() + length > result.length) {
        return Either.left(new CommandRejected({ message: "corrupt result: truncated outcome" }))
      }
      pos = varintEnd() + length
    }
    parts.push(result.subarray(start, pos))
  }
  if (pos !== result.length) {
    return Either.left(new CommandRejected({ message: "corrupt result: more outcomes than records" }))
  }
  return Either.right(parts)
}

/**
 * `RecordOrdersRequest` bytes for `records`: the generated encoder's bytes (fields in order,
 * defaults omitted), written in one pass into one buffer of the exact size; the form
 * `validRecordCount` reads.
 */
export const encodeRequest = (records: ReadonlyArray<OrderRecord.OrderRecord>): Uint8Array => {
  const lengths = records.map(RegistryWire.recordLength)
  let total = 0
  for (const length of lengths) total += 1 + W.varintLength(length) + length
  const w = W.writer(total)
  records.forEach((record, i) => {
    w.buf[w.pos++] = 0x0a
    W.varint(w, lengths[i]!)
    RegistryWire.writeRecord(w, record)
  })
  return w.buf
}

// the one scratch buffer of decodeResponse's record scans (synchronous, never re-entered)
const scanned = new Float64Array(Scan.STRIDE)

const STATUS: Readonly<Record<OrderRecord.OrderRecord["status"], number>> = { ACCEPTED: 1, REJECTED: 2, EXECUTED: 3 }

/** Whether the ASCII string `s` equals `bytes` in the scanned slot at `slot` (offset, length). */
const sameText = (bytes: Uint8Array, slot: number, s: string): boolean => {
  const start = scanned[slot]!
  if (scanned[slot + 1] !== s.length) return false
  for (let i = 0; i < s.length; i++) if (bytes[start + i] !== s.charCodeAt(i)) return false
  return true
}

/** Whether the scanned record is `r`, field for field. */
const isScanned = (bytes: Uint8Array, r: OrderRecord.OrderRecord): boolean =>
  scanned[Scan.STATUS] === STATUS[r.status] && scanned[Scan.FILLED] === r.filledQuantity &&
  scanned[Scan.PRICE] === r.fillPriceMicros && scanned[Scan.RECORDED_AT] === r.recordedAtUnixMs &&
  sameText(bytes, Scan.ORDER_ID, r.orderId) && sameText(bytes, Scan.EVENT_ID, r.eventId) &&
  sameText(bytes, Scan.COMMAND_ID, r.commandId) && sameText(bytes, Scan.REASON, r.reason)

/**
 * The outcome in `bytes[start, end)` when it is on the fast path: its fields in order, each
 * at most once, the record valid by the record scan (internal/recordScan.ts), `created` and
 * `too_old` 0 or 1, the index below 2^53. Undefined otherwise. When the record is `proposed`
 * (the usual answer: the call stored it), that object is the outcome's record, not a copy.
 */
const scanOutcome = (
  bytes: Uint8Array,
  start: number,
  end: number,
  proposed: OrderRecord.OrderRecord | undefined
): OrderRecord.RecordOutcome | undefined => {
  if (bytes[start] !== 0x0a) return undefined
  const length = readVarint(bytes, start + 1, end)
  if (length < 0 || length > end - varintEnd()) return undefined
  const recordStart = varintEnd()
  if (!Scan.scanRecord(bytes, recordStart, recordStart + length, scanned, 0)) return undefined
  let pos = recordStart + length
  let created = false
  let index = 0
  let tooOld = false
  let last = 1
  while (pos < end) {
    const tag = bytes[pos++]!
    const field = tag >>> 3
    if ((tag & 7) !== 0 || field <= last || field > 4) return undefined
    last = field
    const value = readVarint(bytes, pos, end)
    if (value < 0 || (field !== 3 && value > 1)) return undefined
    pos = varintEnd()
    if (field === 2) created = value === 1
    else if (field === 3) index = value
    else tooOld = value === 1
  }
  const record = proposed !== undefined && isScanned(bytes, proposed)
    ? proposed
    : Canonical.decode(bytes, recordStart, length)
  return { record, created, index, tooOld }
}

/**
 * `RecordOrdersResponse` bytes -> one outcome per record, in order. Valid outcomes are read
 * in place; anything else (another field order, unknown fields, a record the scan does not
 * accept) takes the generated decoder and `OrderRecord.outcomeFromProto`, which also names
 * what is invalid. With the records of the request (`proposed`, in order), an outcome whose
 * record equals the one proposed answers that object instead of decoding a copy.
 */
export const decodeResponse = (
  bytes: Uint8Array,
  proposed?: ReadonlyArray<OrderRecord.OrderRecord>
): Either.Either<ReadonlyArray<OrderRecord.RecordOutcome>, DecodeError> => {
  const outcomes: Array<OrderRecord.RecordOutcome> = []
  for (let pos = 0; pos < bytes.length;) {
    if (bytes[pos] !== 0x0a) return slowResponse(bytes)
    const length = readVarint(bytes, pos + 1, bytes.length)
    if (length < 0 || length > bytes.length - varintEnd()) return slowResponse(bytes)
    const start = varintEnd()
    const outcome = scanOutcome(bytes, start, start + length, proposed?.[outcomes.length])
    if (outcome === undefined) return slowResponse(bytes)
    outcomes.push(outcome)
    pos = start + length
  }
  return Either.right(outcomes)
}

const slowResponse = (bytes: Uint8Array): Either.Either<ReadonlyArray<OrderRecord.RecordOutcome>, DecodeError> => {
  let response: RecordOrdersResponse
  try {
    response = RecordOrdersResponse.decode(bytes)
  } catch (cause) {
    return Either.left(
      new MalformedPayload({
        messageType: "trading.v1.RecordOrdersResponse",
        format: "protobuf",
        message: `not a protobuf trading.v1.RecordOrdersResponse message: ${
          cause instanceof Error ? cause.message : String(cause)
        }`
      })
    )
  }
  return Either.all(response.outcomes.map(OrderRecord.outcomeFromProto))
}
