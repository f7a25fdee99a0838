import { describe, expect, it } from "@effect/vitest"
import { RecordOrdersRequest, RecordOrdersResponse } from "@trading/proto/gen/trading/v1/raft_node"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as Arb from "./internal/arbitraries.js"
import * as OrderRecord from "./OrderRecord.js"
import * as OrderRegistry from "./OrderRegistry.js"
import * as RegistryBytes from "./RegistryBytes.js"

const T = Date.UTC(2026, 0, 2)
const record = (id: string, at = T): OrderRecord.OrderRecord => ({
  orderId: id,
  eventId: `evt-${id}`,
  commandId: `cmd-${id}`,
  status: "ACCEPTED",
  reason: "",
  filledQuantity: 0,
  fillPriceMicros: 0,
  recordedAtUnixMs: at
})
const request = (ids: ReadonlyArray<string>) => OrderRegistry.encodeCommand(ids.map((id) => record(id)))

describe("RegistryBytes", () => {
  it("counts the records of a valid request, and declines anything the fast path does not read", () => {
    expect(RegistryBytes.validRecordCount(request(["a", "b", "c"]))).toBe(3)
    expect(RegistryBytes.validRecordCount(new Uint8Array())).toBe(0)
    // an invalid record (empty order id): the caller must decode to name the field
    const invalid = RecordOrdersRequest.encode({ records: [OrderRecord.toProto({ ...record("x"), orderId: "" })] })
      .finish()
    expect(RegistryBytes.validRecordCount(invalid)).toBeUndefined()
    expect(RegistryBytes.validRecordCount(new Uint8Array([0xff, 0x01]))).toBeUndefined()
  })

  it("calls' requests concatenate into one command whose result splits back into each call's response", () => {
    const calls = [["a", "b"], ["c"], ["a", "d", "e"]]
    const command = new Uint8Array(Buffer.concat(calls.map((ids) => request(ids))))
    const state = OrderRegistry.initial()
    const [, result] = OrderRegistry.apply(state, command, 7)
    const parts = Either.getOrThrow(RegistryBytes.splitResult(result, calls.map((c) => c.length)))
    const outcomes = parts.map((p) => RecordOrdersResponse.decode(p).outcomes)
    expect(outcomes.map((o) => o.length)).toEqual([2, 1, 3])
    // the same answers as decoding the whole result: "a" in the third call is a duplicate
    const whole = Either.getOrThrow(OrderRegistry.decodeResult(result))
    expect(outcomes.flat().map((o) => [o.record?.orderId, o.created])).toEqual(
      whole.map((o) => [o.record.orderId, o.created])
    )
    expect(outcomes[2]![0]).toMatchObject({ created: false, index: 7 })
  })

  it("reports a rejected or corrupt result instead of splitting it", () => {
    const rejected = new Uint8Array([1, ...new TextEncoder().encode("no")])
    const refused = RegistryBytes.splitResult(rejected, [1])
    expect(Either.isLeft(refused) && refused.left).toMatchObject({ _tag: "CommandRejected", message: "no" })
    const [, result] = OrderRegistry.apply(OrderRegistry.initial(), request(["a", "b"]), 1)
    expect(Either.isLeft(RegistryBytes.splitResult(result, [3]))).toBe(true) // fewer outcomes than counted
    expect(Either.isLeft(RegistryBytes.splitResult(result, [1]))).toBe(true) // more outcomes than counted
    expect(Either.isLeft(RegistryBytes.splitResult(result.subarray(0, result.length - 2), [2]))).toBe(true)
  })
})

describe("RegistryBytes for clients", () => {
  const outcome = fc.record({
    record: Arb.orderRecord,
    created: fc.boolean(),
    index: fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), fc.maxSafeNat()),
    tooOld: fc.boolean()
  })

  it("encodeRequest writes what the generated encoder writes", () => {
    fc.assert(fc.property(fc.array(Arb.orderRecord, { maxLength: 20 }), (records) => {
      expect(RegistryBytes.encodeRequest(records)).toEqual(
        RecordOrdersRequest.encode({ records: records.map(OrderRecord.toProto) }).finish()
      )
    }))
  })

  it("decodeResponse reads what the generated decoder and outcomeFromProto read", () => {
    fc.assert(fc.property(fc.array(outcome, { maxLength: 20 }), (outcomes) => {
      const bytes = RecordOrdersResponse.encode({ outcomes: outcomes.map(OrderRecord.outcomeToProto) }).finish()
      const slow = Either.all(RecordOrdersResponse.decode(bytes).outcomes.map(OrderRecord.outcomeFromProto))
      expect(RegistryBytes.decodeResponse(bytes)).toEqual(slow)
      expect(Either.isRight(slow)).toBe(true)
    }))
  })

  it("decodeResponse answers the proposed record objects where the stored records equal them", () => {
    fc.assert(fc.property(fc.array(outcome, { minLength: 1, maxLength: 10 }), fc.nat(), (outcomes, pick) => {
      const proposed = outcomes.map((o) => o.record)
      // the registry stored another record for one order: that one must be decoded
      const other = pick % outcomes.length
      const stored = outcomes.map((o, i) =>
        i === other ? { ...o, record: { ...o.record, eventId: `${o.record.eventId}-first` } } : o
      )
      const bytes = RecordOrdersResponse.encode({ outcomes: stored.map(OrderRecord.outcomeToProto) }).finish()
      const decoded = Either.getOrThrow(RegistryBytes.decodeResponse(bytes, proposed))
      expect(decoded).toEqual(stored)
      expect(decoded[other]!.record).not.toBe(proposed[other])
      decoded.forEach((o, i) => {
        // reused only when it is the same record (and on the fast path: ASCII reasons)
        if (o.record === proposed[i]) expect(i).not.toBe(other)
      })
    }))
    const r = record("a")
    const bytes = RecordOrdersResponse.encode({
      outcomes: [OrderRecord.outcomeToProto({ record: r, created: true, index: 1, tooOld: false })]
    }).finish()
    expect(Either.getOrThrow(RegistryBytes.decodeResponse(bytes, [r]))[0]!.record).toBe(r)
  })

  it("decodeResponse takes the generated decoder off the fast path, and names what is invalid", () => {
    const valid = { record: record("a"), created: true, index: 7, tooOld: false }
    // fields out of order and an unknown field: still the same outcome
    const proto = OrderRecord.outcomeToProto(valid)
    const recordBytes = RecordOrdersResponse.encode({ outcomes: [proto] }).finish()
    const inner = recordBytes.subarray(2) // the outcome message (one byte tag, one byte length)
    const shuffled = new Uint8Array([0x18, 0x07, ...inner, 0xf8, 0x01, 0x01])
    const wrapped = new Uint8Array([0x0a, shuffled.length, ...shuffled])
    expect(RegistryBytes.decodeResponse(wrapped)).toEqual(Either.right([valid]))
    // an invalid record (empty order id) is refused with the field named
    const invalid = RecordOrdersResponse.encode({
      outcomes: [{ ...proto, record: { ...proto.record!, orderId: "" } }]
    }).finish()
    const refused = RegistryBytes.decodeResponse(invalid)
    expect(Either.isLeft(refused) && refused.left.message).toMatch(/order_id/)
    expect(Either.isLeft(RegistryBytes.decodeResponse(new Uint8Array([0x0a, 0x05, 0x01])))).toBe(true)
  })
})
