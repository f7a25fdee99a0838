// What the order registry remembers about one order (raft_node.proto `OrderRecord`), and
// what recording it answers (`RecordOutcome`).
import { OrderStatus as ProtoOrderStatus } from "@trading/proto/gen/trading/v1/orders"
import type {
  OrderRecord as ProtoOrderRecord,
  RecordOutcome as ProtoRecordOutcome
} from "@trading/proto/gen/trading/v1/raft_node"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { DecodeError } from "./DecodeError.js"
import { invalidFields } from "./DecodeError.js"
import { Id, ID_PATTERN, MAX_UNIX_MS, MIN_UNIX_MS, NonNegativeInt, OrderStatus, Text, UnixMillis } from "./Fields.js"
import { violationsOf } from "./internal/issues.js"
import { StatusFromProto } from "./OrderEvent.js"

const fields = {
  orderId: Id,
  /** Event id of the outcome, derived from the command id; the outbox deduplicates on it. */
  eventId: Id,
  commandId: Id,
  status: OrderStatus,
  reason: Text,
  filledQuantity: NonNegativeInt,
  fillPriceMicros: NonNegativeInt,
  /**
   * The order's logical time: the command's `created_at_unix_ms`, identical on every
   * retry. Retention is measured on it (never on a local clock), see OrderRegistry.
   */
  recordedAtUnixMs: UnixMillis
}

const consistent = (r: Schema.Struct.Type<typeof fields>): true | Schema.FilterIssue =>
  r.status === "REJECTED"
    ? r.reason.length > 0 || { path: ["reason"], message: "must not be empty when status is REJECTED" }
    : r.status === "EXECUTED"
    ? r.filledQuantity > 0 && r.fillPriceMicros > 0 ||
      { path: ["filledQuantity"], message: "must be > 0 with fill_price_micros > 0 when status is EXECUTED" }
    : true

export const OrderRecord = Schema.Struct(fields).pipe(Schema.filter(consistent))
export type OrderRecord = typeof OrderRecord.Type

const ProtoRecord = Schema.Struct({ ...fields, status: StatusFromProto }).pipe(Schema.filter(consistent))
const decodeProto = Schema.decodeUnknownEither(ProtoRecord, { errors: "all" })
const decodeDomain = Schema.decodeUnknownEither(OrderRecord, { errors: "all" })

const MESSAGE_TYPE = "trading.v1.OrderRecord"

// Records cross the registry's log on every replica (20,000 orders/s is the target), so
// valid records take a direct path; the Schema above stays the definition of validity and
// produces the messages for invalid ones. A property test keeps the two in agreement.
const STATUS_FROM_PROTO: ReadonlyArray<OrderStatus | undefined> = [undefined, "ACCEPTED", "REJECTED", "EXECUTED"]
const STATUS_TO_PROTO: Record<OrderStatus, ProtoOrderStatus> = {
  ACCEPTED: ProtoOrderStatus.ORDER_STATUS_ACCEPTED,
  REJECTED: ProtoOrderStatus.ORDER_STATUS_REJECTED,
  EXECUTED: ProtoOrderStatus.ORDER_STATUS_EXECUTED
}
const isCount = (n: number) => Number.isSafeInteger(n) && n >= 0

const fastFromProto = (m: ProtoOrderRecord): OrderRecord | undefined => {
  const status = STATUS_FROM_PROTO[m.status]
  if (
    status === undefined || !ID_PATTERN.test(m.orderId) || !ID_PATTERN.test(m.eventId) ||
    !ID_PATTERN.test(m.commandId) || typeof m.reason !== "string" || m.reason.length > 1024 ||
    !isCount(m.filledQuantity) || !isCount(m.fillPriceMicros) || !Number.isSafeInteger(m.recordedAtUnixMs) ||
    m.recordedAtUnixMs < MIN_UNIX_MS || m.recordedAtUnixMs >= MAX_UNIX_MS
  ) return undefined
  const record: OrderRecord = {
    orderId: m.orderId,
    eventId: m.eventId,
    commandId: m.commandId,
    status,
    reason: m.reason,
    filledQuantity: m.filledQuantity,
    fillPriceMicros: m.fillPriceMicros,
    recordedAtUnixMs: m.recordedAtUnixMs
  }
  return consistent(record) === true ? record : undefined
}

/** A ts-proto `OrderRecord` (gRPC Apply / RecordOrders request) -> validated record. */
export const fromProto = (message: ProtoOrderRecord): Either.Either<OrderRecord, DecodeError> => {
  const fast = fastFromProto(message)
  return fast !== undefined ? Either.right(fast) : Either.mapLeft(
    decodeProto(message),
    (error: ParseResult.ParseError) => invalidFields(MESSAGE_TYPE, violationsOf(error))
  )
}

export const toProto = (record: OrderRecord): ProtoOrderRecord => ({
  orderId: record.orderId,
  eventId: record.eventId,
  commandId: record.commandId,
  status: STATUS_TO_PROTO[record.status],
  reason: record.reason,
  filledQuantity: record.filledQuantity,
  fillPriceMicros: record.fillPriceMicros,
  recordedAtUnixMs: record.recordedAtUnixMs
})

export const validate = (input: unknown): Either.Either<OrderRecord, DecodeError> =>
  Either.mapLeft(
    decodeDomain(input),
    (error: ParseResult.ParseError) => invalidFields(MESSAGE_TYPE, violationsOf(error))
  )

/** The registry's answer for one record. */
export interface RecordOutcome {
  /** The canonical record: the one stored first for this order id (the submitted one when `tooOld`). */
  readonly record: OrderRecord
  /** True only for the call that stored the record. */
  readonly created: boolean
  /** Raft log index at which the canonical record was committed (0 when `tooOld`). */
  readonly index: number
  /** The order is older than the retention horizon: it was neither recorded nor found. */
  readonly tooOld: boolean
}

export const outcomeToProto = (outcome: RecordOutcome): ProtoRecordOutcome => ({
  record: toProto(outcome.record),
  created: outcome.created,
  index: outcome.index,
  tooOld: outcome.tooOld
})

export const outcomeFromProto = (message: ProtoRecordOutcome): Either.Either<RecordOutcome, DecodeError> =>
  message.record === undefined
    ? Either.left(invalidFields("trading.v1.RecordOutcome", [{ field: "record", reason: "is missing" }]))
    : Either.map(fromProto(message.record), (record) => ({
      record,
      created: message.created,
      index: message.index,
      tooOld: message.tooOld
    }))
