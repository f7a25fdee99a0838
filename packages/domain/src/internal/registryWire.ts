// Encoders for the registry's records and results (raft_node.proto shapes), on the fast
// writer. Byte-identical to the generated encoders for valid records.
import { OrderStatus as ProtoOrderStatus } from "@trading/proto/gen/trading/v1/orders"
import type { OrderStatus } from "../Fields.js"
import type { OrderRecord, RecordOutcome } from "../OrderRecord.js"
import * as W from "./protoWriter.js"

const STATUS: Record<OrderStatus, number> = {
  ACCEPTED: ProtoOrderStatus.ORDER_STATUS_ACCEPTED,
  REJECTED: ProtoOrderStatus.ORDER_STATUS_REJECTED,
  EXECUTED: ProtoOrderStatus.ORDER_STATUS_EXECUTED
}

export const recordLength = (r: OrderRecord): number =>
  W.stringFieldLength(1, r.orderId) + W.stringFieldLength(2, r.eventId) + W.stringFieldLength(3, r.commandId) +
  W.varintFieldLength(4, STATUS[r.status]) + W.stringFieldLength(5, r.reason) +
  W.varintFieldLength(6, r.filledQuantity) + W.varintFieldLength(7, r.fillPriceMicros) +
  W.varintFieldLength(8, r.recordedAtUnixMs)

export const writeRecord = (w: W.Writer, r: OrderRecord): void => {
  W.stringField(w, 1, r.orderId)
  W.stringField(w, 2, r.eventId)
  W.stringField(w, 3, r.commandId)
  W.varintField(w, 4, STATUS[r.status])
  W.stringField(w, 5, r.reason)
  W.varintField(w, 6, r.filledQuantity)
  W.varintField(w, 7, r.fillPriceMicros)
  W.varintField(w, 8, r.recordedAtUnixMs)
}

export const encodeRecord = (r: OrderRecord): Uint8Array => {
  const w = W.writer(recordLength(r))
  writeRecord(w, r)
  return w.pos === w.buf.length ? w.buf : W.finish(w)
}

/** `RecordOrdersResponse { repeated RecordOutcome outcomes = 1 }` after one `prefix` byte. */
export const encodeOutcomes = (outcomes: ReadonlyArray<RecordOutcome>, prefix: number): Uint8Array => {
  // sizes first, so the result is allocated once at its exact length
  const recordLengths = outcomes.map((o) => recordLength(o.record))
  const outcomeLengths = outcomes.map((o, i) =>
    1 + W.varintLength(recordLengths[i]!) + recordLengths[i]! + (o.created ? 2 : 0) +
    W.varintFieldLength(3, o.index) + (o.tooOld ? 2 : 0)
  )
  let total = 1
  for (const length of outcomeLengths) total += 1 + W.varintLength(length) + length
  const w = W.writer(total)
  w.buf[w.pos++] = prefix
  outcomes.forEach((o, i) => {
    W.varint(w, (1 << 3) | 2)
    W.varint(w, outcomeLengths[i]!)
    W.varint(w, (1 << 3) | 2)
    W.varint(w, recordLengths[i]!)
    writeRecord(w, o.record)
    W.boolField(w, 2, o.created)
    W.varintField(w, 3, o.index)
    W.boolField(w, 4, o.tooOld)
  })
  return w.pos === w.buf.length ? w.buf : W.finish(w)
}
