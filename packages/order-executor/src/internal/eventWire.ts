// `trading.v1.OrderEvent` bytes on the executor's hot paths: writing every event into the
// outbox, and reading the event id of every event the relay's scan reads back.
import { OrderEvent } from "@trading/domain"
import * as FastWire from "@trading/domain/FastWire"

const SIDE: Readonly<Record<OrderEvent.OrderEvent["side"], number>> = { UNSPECIFIED: 0, BUY: 1, SELL: 2 }
const STATUS: Readonly<Record<OrderEvent.OrderEvent["status"], number>> = { ACCEPTED: 1, REJECTED: 2, EXECUTED: 3 }

/**
 * The event's protobuf bytes: exactly what `OrderEvent.toBytes` writes (fields in order,
 * defaults omitted, minimal varints; a property test checks it), without building the
 * ts-proto object and its writer. Events with negative numbers (a rejected command may echo
 * a negative quantity or price) or non-ASCII text take `OrderEvent.toBytes` itself.
 */
export const encode = (e: OrderEvent.OrderEvent): Uint8Array => {
  if (
    !FastWire.isVarint(e.quantity) || !FastWire.isVarint(e.limitPriceMicros) ||
    !FastWire.isVarint(e.filledQuantity) || !FastWire.isVarint(e.fillPriceMicros) ||
    !FastWire.isVarint(e.registryIndex) || !FastWire.isVarint(e.occurredAtUnixMs) ||
    !FastWire.isAscii(e.eventId) || !FastWire.isAscii(e.orderId) || !FastWire.isAscii(e.commandId) ||
    !FastWire.isAscii(e.symbol) || !FastWire.isAscii(e.reason)
  ) return OrderEvent.toBytes(e)
  // schemaVersion (a literal type), side and status (tables total over their types) are
  // written unchecked, as this writer always has; `CommandWire` checks its side instead
  const side = SIDE[e.side]
  const status = STATUS[e.status]
  // a small Buffer is a slice of node's shared pool: no backing store of its own to allocate
  const buf = Buffer.allocUnsafe(
    FastWire.varintFieldLength(e.schemaVersion) + FastWire.asciiFieldLength(e.eventId) +
      FastWire.asciiFieldLength(e.orderId) + FastWire.asciiFieldLength(e.commandId) +
      FastWire.asciiFieldLength(e.symbol) + FastWire.varintFieldLength(side) +
      FastWire.varintFieldLength(e.quantity) + FastWire.varintFieldLength(e.limitPriceMicros) +
      FastWire.varintFieldLength(status) + FastWire.asciiFieldLength(e.reason) +
      FastWire.varintFieldLength(e.filledQuantity) + FastWire.varintFieldLength(e.fillPriceMicros) +
      FastWire.varintFieldLength(e.registryIndex) + FastWire.varintFieldLength(e.occurredAtUnixMs)
  )
  let pos = FastWire.writeVarintField(buf, 0, 0x08, e.schemaVersion)
  pos = FastWire.writeAsciiField(buf, pos, 0x12, e.eventId)
  pos = FastWire.writeAsciiField(buf, pos, 0x1a, e.orderId)
  pos = FastWire.writeAsciiField(buf, pos, 0x22, e.commandId)
  pos = FastWire.writeAsciiField(buf, pos, 0x2a, e.symbol)
  pos = FastWire.writeVarintField(buf, pos, 0x30, side)
  pos = FastWire.writeVarintField(buf, pos, 0x38, e.quantity)
  pos = FastWire.writeVarintField(buf, pos, 0x40, e.limitPriceMicros)
  pos = FastWire.writeVarintField(buf, pos, 0x48, status)
  pos = FastWire.writeAsciiField(buf, pos, 0x52, e.reason)
  pos = FastWire.writeVarintField(buf, pos, 0x58, e.filledQuantity)
  pos = FastWire.writeVarintField(buf, pos, 0x60, e.fillPriceMicros)
  pos = FastWire.writeVarintField(buf, pos, 0x68, e.registryIndex)
  FastWire.writeVarintField(buf, pos, 0x70, e.occurredAtUnixMs)
  // every byte is written (the sizes above are exact); a plain Uint8Array view of the slice
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length)
}

/** What identifies an outbox row across the events topic: the registry's log index and the event id. */
export interface EventKey {
  readonly registryIndex: number
  readonly eventId: string
}

/**
 * The event id (field 2) and registry index (field 13) of an `OrderEvent` on the events
 * topic, read without decoding the rest: undefined when the bytes are not a well-formed
 * protobuf message, the id is not an id (1-128 visible ASCII characters) or the index is
 * not a positive integer. The relay's scan only needs the key to mark its row (ADR 0081),
 * and only this executor's relay writes this outbox's keys, so the rest of the event is not
 * the scan's business; decoding and validating every event it reads back cost more than
 * publishing it.
 */
export const eventKeyOf = (bytes: Uint8Array): EventKey | undefined => {
  let start = -1
  let end = -1
  let registryIndex = 0
  let pos = 0
  while (pos < bytes.length) {
    const tag = FastWire.readVarint(bytes, pos, bytes.length)
    // field numbers from 1 (fields above 2^28 are not this message's either)
    if (tag < 8 || tag >= 2 ** 31) return undefined
    pos = FastWire.varintEnd()
    switch (tag & 7) {
      case 0: {
        const value = FastWire.readVarint(bytes, pos, bytes.length)
        if (value === -1) return undefined
        // the last occurrence wins, as in every protobuf decoder
        if (tag === 0x68) registryIndex = value
        pos = FastWire.varintEnd()
        break
      }
      case 1:
        pos += 8
        break
      case 2: {
        const length = FastWire.readVarint(bytes, pos, bytes.length)
        const at = FastWire.varintEnd()
        if (length < 0 || length > bytes.length - at) return undefined
        if (tag === 0x12) {
          start = at
          end = at + length
        }
        pos = at + length
        break
      }
      case 5:
        pos += 4
        break
      default:
        return undefined
    }
    if (pos > bytes.length) return undefined
  }
  if (registryIndex <= 0 || start < 0 || end - start < 1 || end - start > 128) return undefined
  for (let i = start; i < end; i++) if ((bytes[i]! - 0x21) >>> 0 > 0x7e - 0x21) return undefined
  const eventId = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1", start, end)
  return { registryIndex, eventId }
}
