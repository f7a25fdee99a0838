import { describe, expect, it } from "@effect/vitest"
import { OrderStatus } from "@trading/proto/gen/trading/v1/orders"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as Arb from "./internal/arbitraries.js"
import * as OrderEvent from "./OrderEvent.js"

const executed: OrderEvent.OrderEvent = {
  schemaVersion: 1,
  eventId: "evt-1",
  orderId: "ord-1",
  commandId: "cmd-1",
  symbol: "ACME",
  side: "SELL",
  quantity: 10,
  limitPriceMicros: 101_250_000,
  status: "EXECUTED",
  reason: "",
  filledQuantity: 10,
  fillPriceMicros: 101_250_000,
  registryIndex: 17,
  occurredAtUnixMs: 1_760_000_000_000
}

const message = (result: Either.Either<unknown, { readonly message: string }>) =>
  Either.isLeft(result) ? result.left.message : "decoded"

describe("OrderEvent wire codecs", () => {
  it("round-trips every consistent event through protobuf bytes, ts-proto objects and JSON", () => {
    fc.assert(fc.property(Arb.orderEvent, (event) => {
      expect(OrderEvent.fromBytes(OrderEvent.toBytes(event))).toEqual(Either.right(event))
      expect(OrderEvent.fromProto(OrderEvent.toProto(event))).toEqual(Either.right(event))
      expect(OrderEvent.fromJsonText(OrderEvent.toJsonText(event))).toEqual(Either.right(event))
    }))
  })

  it("maps statuses to the protobuf enum and strings in JSON", () => {
    expect(OrderEvent.toProto(executed).status).toBe(OrderStatus.ORDER_STATUS_EXECUTED)
    expect(OrderEvent.toJson(executed)).toMatchObject({ status: "EXECUTED", fill_price_micros: 101_250_000 })
  })

  it("requires a reason exactly when rejected and a fill exactly when executed", () => {
    expect(message(OrderEvent.validate({ ...executed, status: "REJECTED", filledQuantity: 0 }))).toBe(
      "reason: must not be empty when status is REJECTED"
    )
    expect(message(OrderEvent.validate({ ...executed, filledQuantity: 0 }))).toBe(
      "filled_quantity: must be > 0 when status is EXECUTED, got 0"
    )
    expect(message(OrderEvent.validate({ ...executed, reason: "why" }))).toBe(
      "reason: must be empty when status is EXECUTED"
    )
    expect(
      message(OrderEvent.fromProto({ ...OrderEvent.toProto(executed), status: OrderStatus.ORDER_STATUS_UNSPECIFIED }))
    )
      .toBe("status: unknown enum value 0")
  })
})
