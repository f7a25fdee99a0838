import { describe, expect, it } from "@effect/vitest"
import { OrderCommand as ProtoOrderCommand, Side } from "@trading/proto/gen/trading/v1/orders"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as Arb from "./internal/arbitraries.js"
import * as OrderCommand from "./OrderCommand.js"
import * as OrderEvent from "./OrderEvent.js"

const good: OrderCommand.OrderCommand = {
  schemaVersion: 1,
  commandId: "cmd-1",
  orderId: "ord-1",
  symbol: "ACME",
  side: "BUY",
  quantity: 10,
  limitPriceMicros: 101_250_000,
  createdAtUnixMs: 1_760_000_000_000,
  sourceTickId: "t-1",
  strategy: "ma-crossover/v1"
}

const message = (result: Either.Either<unknown, { readonly message: string }>) =>
  Either.isLeft(result) ? result.left.message : "decoded"

describe("OrderCommand wire codecs", () => {
  it("round-trips every command through protobuf bytes, ts-proto objects and JSON", () => {
    fc.assert(fc.property(Arb.orderCommand, (command) => {
      expect(OrderCommand.fromBytes(OrderCommand.toBytes(command))).toEqual(Either.right(command))
      expect(OrderCommand.fromProto(OrderCommand.toProto(command))).toEqual(Either.right(command))
      expect(OrderCommand.fromJsonText(OrderCommand.toJsonText(command))).toEqual(Either.right(command))
    }))
  })

  it("maps sides to the protobuf enum and BUY/SELL strings in JSON", () => {
    expect(OrderCommand.toProto(good).side).toBe(Side.SIDE_BUY)
    expect(OrderCommand.toProto({ ...good, side: "SELL" }).side).toBe(Side.SIDE_SELL)
    expect(OrderCommand.toJson(good)).toMatchObject({ side: "BUY", limit_price_micros: 101_250_000, order_id: "ord-1" })
    expect(ProtoOrderCommand.decode(OrderCommand.toBytes(good)).side).toBe(Side.SIDE_BUY)
  })

  it("decodes an UNSPECIFIED side or a bad quantity (order validation rejects them with a reason)", () => {
    const bytes = ProtoOrderCommand.encode({ ...OrderCommand.toProto(good), side: Side.SIDE_UNSPECIFIED, quantity: -3 })
      .finish()
    expect(OrderCommand.fromBytes(bytes)).toEqual(Either.right({ ...good, side: "UNSPECIFIED", quantity: -3 }))
  })

  it("fails on what makes a command unprocessable: no identity, unknown enum numbers, bad types", () => {
    const proto = OrderCommand.toProto(good)
    expect(message(OrderCommand.fromProto({ ...proto, orderId: "" }))).toBe("order_id: must not be empty")
    expect(message(OrderCommand.fromProto({ ...proto, commandId: "has space" }))).toBe(
      "command_id: must be 1-128 visible ASCII characters, got \"has space\""
    )
    expect(message(OrderCommand.fromProto({ ...proto, side: 7 as Side }))).toBe("side: unknown enum value 7")
    expect(message(OrderCommand.fromJson({ ...OrderCommand.toJson(good), side: "HOLD" }))).toBe(
      "side: must be BUY or SELL, got \"HOLD\""
    )
    expect(message(OrderCommand.fromBytes(new Uint8Array([0x0a, 0x05, 0x61])))).toBe(
      "not a protobuf trading.v1.OrderCommand message: field 1 (schema_version) has wire type 2, expected 0"
    )
    expect(message(OrderCommand.fromProto({ ...proto, schemaVersion: 9 }))).toBe(
      "schema_version: unsupported version 9; this build reads version 1"
    )
  })

  it("never throws on arbitrary bytes, for commands and events alike", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const messages: Array<string> = []
        Either.mapLeft(OrderCommand.fromBytes(bytes), (e) => messages.push(e.message))
        Either.mapLeft(OrderEvent.fromBytes(bytes), (e) => messages.push(e.message))
        for (const message of messages) expect(message.length).toBeGreaterThan(0)
      }),
      { numRuns: 1_000 }
    )
  })
})
