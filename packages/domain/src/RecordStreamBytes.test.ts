import { describe, expect, it } from "@effect/vitest"
import {
  RecordOrdersRequest,
  RecordOrdersResponse,
  RecordOrdersStreamRequest,
  RecordOrdersStreamResponse
} from "@trading/proto/gen/trading/v1/raft_node"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as Arb from "./internal/arbitraries.js"
import * as OrderRecord from "./OrderRecord.js"
import * as RecordStreamBytes from "./RecordStreamBytes.js"

const requestBytes = (records: ReadonlyArray<OrderRecord.OrderRecord>) =>
  RecordOrdersRequest.encode({ records: records.map(OrderRecord.toProto) }).finish()

const callId = fc.integer({ min: 0, max: 0xffffffff })

describe("RecordStreamBytes", () => {
  it("writes request envelopes the generated decoder reads, and reads the generated encoder's", () => {
    fc.assert(
      fc.property(callId, fc.array(Arb.orderRecord, { maxLength: 5 }), fc.string(), (id, records, traceparent) => {
        const inner = requestBytes(records)
        const written = RecordStreamBytes.encodeRequest(id, inner, traceparent)
        const generated = RecordOrdersStreamRequest.decode(written)
        expect(generated.callId).toBe(id)
        expect(generated.traceparent).toBe(traceparent)
        expect(RecordOrdersRequest.encode(generated.request ?? { records: [] }).finish()).toEqual(inner)

        const read = Either.getOrThrow(RecordStreamBytes.decodeRequest(
          RecordOrdersStreamRequest.encode({ callId: id, request: RecordOrdersRequest.decode(inner), traceparent })
            .finish()
        ))
        expect(read.callId).toBe(id)
        expect(read.traceparent).toBe(traceparent)
        expect([...read.request]).toEqual([...inner])
      })
    )
  })

  it("writes answers and failures the generated decoder reads, and reads them back", () => {
    const response = RecordOrdersResponse.encode({
      outcomes: [{ record: undefined, created: true, index: 7, tooOld: false }]
    }).finish()
    const ok = RecordStreamBytes.encodeResponse(42, response)
    expect(RecordOrdersStreamResponse.decode(ok)).toEqual({
      callId: 42,
      result: { $case: "response", value: RecordOrdersResponse.decode(response) }
    })
    expect(Either.getOrThrow(RecordStreamBytes.decodeAnswer(ok))).toEqual({
      _tag: "Response",
      callId: 42,
      response
    })

    const status = {
      code: 14,
      details: "not the leader",
      metadata: { "leader-id": "n2", "leader-grpc-addr": "127.0.0.1:7002" }
    }
    const failed = RecordStreamBytes.encodeFailure(43, status)
    expect(Either.getOrThrow(RecordStreamBytes.decodeAnswer(failed))).toEqual({ _tag: "Failure", callId: 43, status })
  })

  it("an empty response is still an answer; a message with neither is malformed", () => {
    // a call of zero records answers an empty RecordOrdersResponse: field 2 present, empty
    const empty = RecordOrdersStreamResponse.encode({
      callId: 5,
      result: { $case: "response", value: { outcomes: [] } }
    }).finish()
    expect(Either.getOrThrow(RecordStreamBytes.decodeAnswer(empty))).toEqual({
      _tag: "Response",
      callId: 5,
      response: new Uint8Array(0)
    })
    const neither = RecordStreamBytes.decodeAnswer(
      RecordOrdersStreamResponse.encode({ callId: 6, result: undefined })
        .finish()
    )
    expect(Either.isLeft(neither) && neither.left.message).toMatch(/call 6 has neither a response nor an error/)
  })

  it("names what is wrong with bytes that are not an envelope", () => {
    const truncated = RecordStreamBytes.encodeRequest(1, requestBytes([])).subarray(0, 1)
    const bad = RecordStreamBytes.decodeRequest(truncated)
    expect(Either.isLeft(bad) && bad.left.message).toMatch(/^trading\.v1\.RecordOrdersStreamRequest: /)
    const cut = RecordStreamBytes.encodeResponse(1, new Uint8Array([1, 2, 3]))
    const runs = RecordStreamBytes.decodeAnswer(cut.subarray(0, cut.length - 1))
    expect(Either.isLeft(runs) && runs.left.message).toMatch(/field 2 runs past the end/)
  })
})
