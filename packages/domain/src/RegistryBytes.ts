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
import * as Either from "effect/Either"
import * as Scan from "./internal/recordScan.js"
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

/** The length of the varint at `pos`, and its value, or undefined when it runs past `end`. */
const varintAt = (bytes: Uint8Array, pos: number, end: number): { value: number; next: number } | undefined => {
  let value = 0
  let scale = 1
  for (let i = pos; i < end && i < pos + 10; i++) {
    const byte = bytes[i]!
    value += (byte & 0x7f) * scale
    if ((byte & 0x80) === 0) return { value, next: i + 1 }
    scale *= 128
  }
  return undefined
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
      const length = varintAt(result, pos + 1, result.length)
      if (length === undefined || length.next + length.value > result.length) {
        return Either.left(new CommandRejected({ message: "corrupt result: truncated outcome" }))
      }
      pos = length.next + length.value
    }
    parts.push(result.subarray(start, pos))
  }
  if (pos !== result.length) {
    return Either.left(new CommandRejected({ message: "corrupt result: more outcomes than records" }))
  }
  return Either.right(parts)
}
