import { describe, expect, it } from "@effect/vitest"
import { OrderStatus } from "@trading/proto/gen/trading/v1/orders"
import { OrderRecord as ProtoOrderRecord } from "@trading/proto/gen/trading/v1/raft_node"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as Arb from "./internal/arbitraries.js"
import * as RegistryWire from "./internal/registryWire.js"
import * as OrderRecord from "./OrderRecord.js"

// Raw ts-proto records, valid or not, to compare the fast path with the Schema.
const rawRecord: fc.Arbitrary<ProtoOrderRecord> = fc.record({
  orderId: fc.oneof(Arb.id, fc.constantFrom("", "a b", "x".repeat(129))),
  eventId: fc.oneof(Arb.id, fc.constant("")),
  commandId: fc.oneof(Arb.id, fc.constant("")),
  status: fc.integer({ min: -1, max: 5 }) as fc.Arbitrary<OrderStatus>,
  reason: fc.oneof(fc.constant(""), Arb.text),
  filledQuantity: fc.oneof(fc.constant(0), Arb.safeInt, fc.double()),
  fillPriceMicros: fc.oneof(fc.constant(0), Arb.safeInt),
  recordedAtUnixMs: fc.oneof(Arb.unixMs, Arb.safeInt)
})

describe("OrderRecord", () => {
  it("the fast decoding path accepts exactly what the Schema accepts, with the same result", () => {
    fc.assert(
      fc.property(rawRecord, (raw) => {
        const fast = OrderRecord.fromProto(raw)
        const viaSchema = OrderRecord.validate({ ...raw, status: ["", "ACCEPTED", "REJECTED", "EXECUTED"][raw.status] })
        expect(Either.isRight(fast)).toBe(Either.isRight(viaSchema))
        if (Either.isRight(fast) && Either.isRight(viaSchema)) expect(fast.right).toEqual(viaSchema.right)
      }),
      { numRuns: 1_000 }
    )
  })

  it("names the field of an invalid record", () => {
    const record = OrderRecord.toProto({
      orderId: "ord-1",
      eventId: "evt-1",
      commandId: "cmd-1",
      status: "REJECTED",
      reason: "max_notional: ...",
      filledQuantity: 0,
      fillPriceMicros: 0,
      recordedAtUnixMs: 1_760_000_000_000
    })
    const failure = OrderRecord.fromProto({ ...record, reason: "" })
    expect(Either.isLeft(failure) && failure.left.message).toBe("reason: must not be empty when status is REJECTED")
  })

  it("the registry's own encoder writes the same bytes as the generated one", () => {
    fc.assert(fc.property(Arb.orderRecord, (record) => {
      expect(RegistryWire.encodeRecord(record)).toEqual(ProtoOrderRecord.encode(OrderRecord.toProto(record)).finish())
      expect(OrderRecord.fromProto(ProtoOrderRecord.decode(RegistryWire.encodeRecord(record)))).toEqual(
        Either.right(record)
      )
    }))
  })
})
