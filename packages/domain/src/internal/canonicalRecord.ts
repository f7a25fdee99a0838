// Reads of a record stored in its canonical encoding (fields in order, defaults omitted,
// minimal varints; see recordScan.writeCanonical and registryWire.writeRecord). The
// registry stores only such bytes, so these readers need not handle anything else.
import { OrderStatus as ProtoOrderStatus } from "@trading/proto/gen/trading/v1/orders"
import type { OrderStatus } from "../Fields.js"
import type { OrderRecord } from "../OrderRecord.js"

const decoder = new TextDecoder()

/** Length of the order id, the first field (tag 0x0a, then a varint of at most 2 bytes). */
export const orderIdLength = (bytes: Uint8Array, start: number): number => {
  const b = bytes[start + 1]!
  return b < 0x80 ? b : (b & 0x7f) | (bytes[start + 2]! << 7)
}

/** Offset of the order id's first byte. */
export const orderIdStart = (bytes: Uint8Array, start: number): number => start + (bytes[start + 1]! < 0x80 ? 2 : 3)

/**
 * The logical time: the last field is `recorded_at_unix_ms` (field 8, always present since
 * it is >= 2000-01-01), so it is read backwards from the end. The varint's last byte has no
 * continuation bit, the ones before it do, and the tag before them (0x40) does not.
 */
export const recordedAt = (bytes: Uint8Array, start: number, length: number): number => {
  let first = start + length - 1
  while (first > start && bytes[first - 1]! >= 0x80) first--
  let value = 0
  for (let i = start + length - 1; i >= first; i--) value = value * 0x80 + (bytes[i]! & 0x7f)
  return value
}

/** Whether the stored order id equals `id`, compared in place (ids are ASCII). */
export const orderIdEquals = (bytes: Uint8Array, start: number, id: Uint8Array, idStart: number, idLength: number) => {
  if (orderIdLength(bytes, start) !== idLength) return false
  const from = orderIdStart(bytes, start)
  for (let i = 0; i < idLength; i++) if (bytes[from + i] !== id[idStart + i]) return false
  return true
}

/** Whether the stored order id equals the string `id`, compared by char codes. */
export const orderIdEqualsString = (bytes: Uint8Array, start: number, id: string): boolean => {
  if (orderIdLength(bytes, start) !== id.length) return false
  const from = orderIdStart(bytes, start)
  for (let i = 0; i < id.length; i++) if (bytes[from + i] !== id.charCodeAt(i)) return false
  return true
}

const STATUS: Readonly<Record<number, OrderStatus>> = {
  [ProtoOrderStatus.ORDER_STATUS_ACCEPTED]: "ACCEPTED",
  [ProtoOrderStatus.ORDER_STATUS_REJECTED]: "REJECTED",
  [ProtoOrderStatus.ORDER_STATUS_EXECUTED]: "EXECUTED"
}

/** The record as a domain value (reads, and the typed apply's answer for a known order). */
export const decode = (bytes: Uint8Array, start: number, length: number): OrderRecord => {
  let orderId = ""
  let eventId = ""
  let commandId = ""
  let status = 0
  let reason = ""
  let filledQuantity = 0
  let fillPriceMicros = 0
  let recordedAtUnixMs = 0
  const end = start + length
  let pos = start
  while (pos < end) {
    const tag = bytes[pos++]!
    let value = 0
    for (let scale = 1;; scale *= 0x80) {
      const b = bytes[pos++]!
      value += (b & 0x7f) * scale
      if (b < 0x80) break
    }
    if ((tag & 7) === 2) {
      const text = decoder.decode(bytes.subarray(pos, pos + value))
      pos += value
      if (tag === 0x0a) orderId = text
      else if (tag === 0x12) eventId = text
      else if (tag === 0x1a) commandId = text
      else reason = text
    } else if (tag === 0x20) status = value
    else if (tag === 0x30) filledQuantity = value
    else if (tag === 0x38) fillPriceMicros = value
    else recordedAtUnixMs = value
  }
  return {
    orderId,
    eventId,
    commandId,
    status: STATUS[status]!,
    reason,
    filledQuantity,
    fillPriceMicros,
    recordedAtUnixMs
  }
}
