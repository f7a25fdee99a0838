// A decision to trade (stream-processor -> order-executor): the Schema and its wire codecs.
//
// Decoding checks what a command needs to be *processed*: a known schema version, its
// identity (command_id, order_id) and well-typed fields. Whether it may be *executed*
// (side, quantity, price, symbol, risk limits) is OrderValidation's job, so a command with
// an identity but, say, a negative quantity becomes a REJECTED event with a reason,
// while one without an identity (or not a command at all) goes to the dead-letter topic.
import { OrderCommand as ProtoOrderCommand, Side as ProtoSide } from "@trading/proto/gen/trading/v1/orders"
import * as Schema from "effect/Schema"
import { CommandSide, Id, Label, OptionalId, SafeInt, SchemaVersion, Text, UnixMillis } from "./Fields.js"
import * as Codec from "./internal/codec.js"

const fields = {
  schemaVersion: SchemaVersion,
  commandId: Id,
  orderId: Id,
  /** As received; OrderValidation checks the symbol form (rejected commands echo it). */
  symbol: Text,
  side: CommandSide,
  quantity: SafeInt,
  /** Limit price, fixed-point millionths. */
  limitPriceMicros: SafeInt,
  createdAtUnixMs: UnixMillis,
  /** The tick that triggered the command; empty for commands submitted over gRPC. */
  sourceTickId: OptionalId,
  strategy: Label
}

export const OrderCommand = Schema.Struct(fields)
export type OrderCommand = typeof OrderCommand.Type

export const SideFromProto = Codec.protoEnum<ProtoSide, CommandSide>([
  [ProtoSide.SIDE_UNSPECIFIED, "UNSPECIFIED"],
  [ProtoSide.SIDE_BUY, "BUY"],
  [ProtoSide.SIDE_SELL, "SELL"]
], CommandSide)

export const SIDE_TO_PROTO: Record<CommandSide, ProtoSide> = {
  UNSPECIFIED: ProtoSide.SIDE_UNSPECIFIED,
  BUY: ProtoSide.SIDE_BUY,
  SELL: ProtoSide.SIDE_SELL
}

const ProtoSchema = Schema.Struct({ ...fields, schemaVersion: Codec.ProtoSchemaVersion, side: SideFromProto })

export const codec: Codec.WireCodec<OrderCommand, ProtoOrderCommand> = Codec.make({
  messageType: "trading.v1.OrderCommand",
  domain: OrderCommand,
  proto: ProtoSchema,
  json: Codec.snakeCaseJson(fields),
  fns: ProtoOrderCommand,
  toProto: (command) => ({ ...command, side: SIDE_TO_PROTO[command.side] }),
  wireFields: new Map([
    [1, { name: "schema_version", kind: "uint32" }],
    [2, { name: "command_id", kind: "string" }],
    [3, { name: "order_id", kind: "string" }],
    [4, { name: "symbol", kind: "string" }],
    [5, { name: "side", kind: "int32" }],
    [6, { name: "quantity", kind: "int64" }],
    [7, { name: "limit_price_micros", kind: "int64" }],
    [8, { name: "created_at_unix_ms", kind: "int64" }],
    [9, { name: "source_tick_id", kind: "string" }],
    [10, { name: "strategy", kind: "string" }]
  ])
})

export const { fromBytes, fromJson, fromJsonText, fromProto, toBytes, toJson, toJsonText, toProto, validate } = codec
