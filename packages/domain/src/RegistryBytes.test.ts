import { describe, expect, it } from "@effect/vitest"
import { RecordOrdersRequest, RecordOrdersResponse } from "@trading/proto/gen/trading/v1/raft_node"
import * as Either from "effect/Either"
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
