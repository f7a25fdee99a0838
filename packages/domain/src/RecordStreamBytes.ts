// The envelopes of RaftNodeService/RecordOrdersStream, read and written around the
// RecordOrders bytes they carry (see RegistryBytes): a request is a call id and a
// `RecordOrdersRequest`, an answer a call id and either the `RecordOrdersResponse` or the
// status the unary call would have failed with. Neither side decodes the records to route
// a call: the request's bytes are a view into the envelope, and the answer's bytes are
// written after a few header bytes.
import { CallStatus, RecordOrdersStreamResponse } from "@trading/proto/gen/trading/v1/raft_node"
import * as Either from "effect/Either"
import { MalformedPayload } from "./DecodeError.js"
import { readVarint, varintEnd, varintLength, writeVarint } from "./FastWire.js"

const REQUEST_TYPE = "trading.v1.RecordOrdersStreamRequest"
const RESPONSE_TYPE = "trading.v1.RecordOrdersStreamResponse"
const VARINT = 0
const I64 = 1
const LEN = 2
const I32 = 5

export interface StreamRequest {
  readonly callId: number
  /** `RecordOrdersRequest` bytes (a view into the envelope). */
  readonly request: Uint8Array
  /** The caller's W3C traceparent ("" when none). */
  readonly traceparent: string
}

export type StreamAnswer =
  | { readonly _tag: "Response"; readonly callId: number; readonly response: Uint8Array }
  | { readonly _tag: "Failure"; readonly callId: number; readonly status: CallStatus }

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const lenFieldLength = (body: Uint8Array) => 1 + varintLength(body.length) + body.length

const writeLenField = (out: Uint8Array, pos: number, field: number, body: Uint8Array): number => {
  out[pos++] = (field << 3) | LEN
  pos = writeVarint(out, pos, body.length)
  out.set(body, pos)
  return pos + body.length
}

/**
 * Field 1 = `callId`, field 2 = `body` (always present: an empty response is still the
 * answer's `oneof` choice), field 3 = `extra` when not empty (both length-delimited).
 */
const envelope = (callId: number, body: Uint8Array, extra?: Uint8Array): Uint8Array => {
  const withExtra = extra !== undefined && extra.length > 0
  const out = new Uint8Array(
    1 + varintLength(callId) + lenFieldLength(body) + (withExtra ? lenFieldLength(extra) : 0)
  )
  out[0] = (1 << 3) | VARINT
  const pos = writeLenField(out, writeVarint(out, 1, callId), 2, body)
  if (withExtra) writeLenField(out, pos, 3, extra)
  return out
}

export const encodeRequest = (callId: number, request: Uint8Array, traceparent = ""): Uint8Array =>
  envelope(callId, request, traceparent === "" ? undefined : encoder.encode(traceparent))

export const encodeResponse = (callId: number, response: Uint8Array): Uint8Array => envelope(callId, response)

export const encodeFailure = (callId: number, status: CallStatus): Uint8Array =>
  RecordOrdersStreamResponse.encode({ callId, result: { $case: "error", value: status } }).finish()

/**
 * The envelope's fields: the call id, the last field 2 and the last field 3 (proto3: the
 * last one wins), as views, and which of the two came last (the answer's `oneof`: the last
 * one set wins). Unknown fields are skipped.
 */
const fields = (bytes: Uint8Array, messageType: string) => {
  const malformed = (why: string) =>
    Either.left(new MalformedPayload({ messageType, format: "protobuf", message: `${messageType}: ${why}` }))
  let callId = 0
  let second: Uint8Array | undefined
  let third: Uint8Array | undefined
  let lastSet = 0
  let pos = 0
  const end = bytes.length
  while (pos < end) {
    const key = readVarint(bytes, pos, end)
    if (key < 0) return malformed(`bad field key at byte ${pos}`)
    pos = varintEnd()
    const field = Math.floor(key / 8)
    const wire = key & 7
    if (wire === VARINT) {
      const value = readVarint(bytes, pos, end)
      if (value < 0) return malformed(`bad varint in field ${field}`)
      pos = varintEnd()
      if (field === 1) {
        if (value > 0xffffffff) return malformed("call_id: not a uint32")
        callId = value
      }
    } else if (wire === LEN) {
      const length = readVarint(bytes, pos, end)
      if (length < 0 || varintEnd() + length > end) return malformed(`field ${field} runs past the end`)
      pos = varintEnd()
      if (field === 2) second = bytes.subarray(pos, pos + length)
      if (field === 3) third = bytes.subarray(pos, pos + length)
      if (field === 2 || field === 3) lastSet = field
      pos += length
    } else if (wire === I64 || wire === I32) {
      pos += wire === I64 ? 8 : 4
      if (pos > end) return malformed(`field ${field} runs past the end`)
    } else return malformed(`unsupported wire type ${wire} in field ${field}`)
  }
  return Either.right({ callId, second, third, lastSet })
}

export const decodeRequest = (bytes: Uint8Array): Either.Either<StreamRequest, MalformedPayload> =>
  Either.map(fields(bytes, REQUEST_TYPE), ({ callId, second, third }) => ({
    callId,
    request: second ?? bytes.subarray(0, 0),
    traceparent: third === undefined ? "" : decoder.decode(third)
  }))

export const decodeAnswer = (bytes: Uint8Array): Either.Either<StreamAnswer, MalformedPayload> =>
  Either.flatMap(fields(bytes, RESPONSE_TYPE), (f): Either.Either<StreamAnswer, MalformedPayload> => {
    const callId = f.callId
    if (f.lastSet === 0) {
      return Either.left(
        new MalformedPayload({
          messageType: RESPONSE_TYPE,
          format: "protobuf",
          message: `${RESPONSE_TYPE}: call ${callId} has neither a response nor an error`
        })
      )
    }
    if (f.lastSet === 2) return Either.right({ _tag: "Response", callId, response: f.second! })
    try {
      return Either.right({ _tag: "Failure", callId, status: CallStatus.decode(f.third!) })
    } catch (cause) {
      return Either.left(
        new MalformedPayload({
          messageType: RESPONSE_TYPE,
          format: "protobuf",
          message: `${RESPONSE_TYPE}.error: ${String(cause)}`
        })
      )
    }
  })
