// The one canonical outcome of an order (order-executor -> `orders.events`).
import { OrderEvent as ProtoOrderEvent, OrderStatus as ProtoOrderStatus } from "@trading/proto/gen/trading/v1/orders"
import * as Schema from "effect/Schema"
import { CommandSide, Id, NonNegativeInt, OrderStatus, SafeInt, SchemaVersion, Text, UnixMillis } from "./Fields.js"
import * as Codec from "./internal/codec.js"
import { SIDE_TO_PROTO, SideFromProto } from "./OrderCommand.js"

const fields = {
  schemaVersion: SchemaVersion,
  eventId: Id,
  orderId: Id,
  commandId: Id,
  /** Echoed from the command as received (a rejected command may carry an invalid one). */
  symbol: Text,
  side: CommandSide,
  quantity: SafeInt,
  limitPriceMicros: SafeInt,
  status: OrderStatus,
  /** Why the order was rejected; empty otherwise. */
  reason: Text,
  filledQuantity: NonNegativeInt,
  fillPriceMicros: NonNegativeInt,
  /** Raft log index of the canonical record (0 when not recorded). */
  registryIndex: NonNegativeInt,
  occurredAtUnixMs: UnixMillis
}

/** Rules across fields: a rejection has a reason, an execution has a fill, nothing else does. */
const consistent = (event: Schema.Struct.Type<typeof fields>): true | Schema.FilterIssue => {
  switch (event.status) {
    case "REJECTED":
      if (event.reason.length === 0) return { path: ["reason"], message: "must not be empty when status is REJECTED" }
      if (event.filledQuantity !== 0) {
        return { path: ["filledQuantity"], message: `must be 0 when status is REJECTED, got ${event.filledQuantity}` }
      }
      return true
    case "EXECUTED":
      if (event.reason.length !== 0) return { path: ["reason"], message: "must be empty when status is EXECUTED" }
      if (event.filledQuantity <= 0) {
        return { path: ["filledQuantity"], message: `must be > 0 when status is EXECUTED, got ${event.filledQuantity}` }
      }
      if (event.fillPriceMicros <= 0) {
        return {
          path: ["fillPriceMicros"],
          message: `must be > 0 when status is EXECUTED, got ${event.fillPriceMicros}`
        }
      }
      return true
    case "ACCEPTED":
      return event.reason.length === 0 || { path: ["reason"], message: "must be empty when status is ACCEPTED" }
  }
}

export const OrderEvent = Schema.Struct(fields).pipe(Schema.filter(consistent))
export type OrderEvent = typeof OrderEvent.Type

export const StatusFromProto = Codec.protoEnum<ProtoOrderStatus, OrderStatus>([
  [ProtoOrderStatus.ORDER_STATUS_ACCEPTED, "ACCEPTED"],
  [ProtoOrderStatus.ORDER_STATUS_REJECTED, "REJECTED"],
  [ProtoOrderStatus.ORDER_STATUS_EXECUTED, "EXECUTED"]
], OrderStatus)

const STATUS_TO_PROTO: Record<OrderStatus, ProtoOrderStatus> = {
  ACCEPTED: ProtoOrderStatus.ORDER_STATUS_ACCEPTED,
  REJECTED: ProtoOrderStatus.ORDER_STATUS_REJECTED,
  EXECUTED: ProtoOrderStatus.ORDER_STATUS_EXECUTED
}

export const codec: Codec.WireCodec<OrderEvent, ProtoOrderEvent> = Codec.make({
  messageType: "trading.v1.OrderEvent",
  domain: OrderEvent,
  proto: Schema.Struct({
    ...fields,
    schemaVersion: Codec.ProtoSchemaVersion,
    side: SideFromProto,
    status: StatusFromProto
  }).pipe(Schema.filter(consistent)),
  json: Codec.snakeCaseJson(fields).pipe(Schema.filter(consistent)),
  fns: ProtoOrderEvent,
  toProto: (event) => ({ ...event, side: SIDE_TO_PROTO[event.side], status: STATUS_TO_PROTO[event.status] }),
  wireFields: new Map([
    [1, { name: "schema_version", kind: "uint32" }],
    [2, { name: "event_id", kind: "string" }],
    [3, { name: "order_id", kind: "string" }],
    [4, { name: "command_id", kind: "string" }],
    [5, { name: "symbol", kind: "string" }],
    [6, { name: "side", kind: "int32" }],
    [7, { name: "quantity", kind: "int64" }],
    [8, { name: "limit_price_micros", kind: "int64" }],
    [9, { name: "status", kind: "int32" }],
    [10, { name: "reason", kind: "string" }],
    [11, { name: "filled_quantity", kind: "int64" }],
    [12, { name: "fill_price_micros", kind: "int64" }],
    [13, { name: "registry_index", kind: "uint64" }],
    [14, { name: "occurred_at_unix_ms", kind: "int64" }]
  ])
})

export const { fromBytes, fromJson, fromJsonText, fromProto, toBytes, toJson, toJsonText, toProto, validate } = codec
