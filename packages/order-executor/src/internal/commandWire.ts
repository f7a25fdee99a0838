// `trading.v1.OrderCommand` bytes -> command, on the executor's hot path.
//
// Every consumed record is decoded. The domain's codec (`OrderCommand.fromBytes`: a wire
// check, the generated decoder, then the Schema) costs several microseconds a command, more
// than everything else the executor does for it once the rest is batched. This scan reads
// the bytes once and builds the command directly, but only for bytes that are unambiguous
// and valid: known fields in field-number order, each at most once, with their wire types;
// non-negative integers below 2^53; ids of 1-128 visible ASCII characters; an ASCII symbol
// of at most 1,024 characters; a strategy of 1-128 printable ASCII characters; schema
// version 1; a side of 0-2; a creation time in [2000, 2100). For such bytes the domain
// codec gives the same command (a property test checks it). Anything else, valid or not
// (other field orders, negative numbers, non-ASCII text, every invalid command), goes to
// `OrderCommand.fromBytes`, which stays the definition of validity and words the error
// that the dead letter carries: the scan answers "not on the fast path", never "invalid".
import { type DecodeError, Fields, OrderCommand } from "@trading/domain"
import { readVarint, varintEnd } from "@trading/domain/FastWire"
import * as Either from "effect/Either"

const SIDES: ReadonlyArray<Fields.CommandSide> = ["UNSPECIFIED", "BUY", "SELL"]

/** 1-128 bytes of 0x21-0x7E (Fields.ID_PATTERN). */
const isId = (bytes: Uint8Array, start: number, end: number): boolean => {
  if (end - start < 1 || end - start > 128) return false
  for (let i = start; i < end; i++) if ((bytes[i]! - 0x21) >>> 0 > 0x7e - 0x21) return false
  return true
}

/** Bytes of 0x20-0x7E: printable ASCII, so no control character (Fields.Label). */
const isPrintable = (bytes: Uint8Array, start: number, end: number): boolean => {
  for (let i = start; i < end; i++) if ((bytes[i]! - 0x20) >>> 0 > 0x7e - 0x20) return false
  return true
}

const isAscii = (bytes: Uint8Array, start: number, end: number): boolean => {
  for (let i = start; i < end; i++) if (bytes[i]! >= 0x80) return false
  return true
}

// string slots: start and end of each length-delimited field, by field number
const slots = new Int32Array(22)

/**
 * The command in `bytes` when they are on the fast path (see the module comment), else
 * undefined. Never throws.
 */
export const decodeFast = (bytes: Uint8Array): OrderCommand.OrderCommand | undefined => {
  slots.fill(0)
  let version = 0
  let side = 0
  let quantity = 0
  let price = 0
  let createdAt = 0
  let lastField = 0
  let pos = 0
  while (pos < bytes.length) {
    const tag = bytes[pos++]!
    const field = tag >>> 3
    if (field <= lastField || field > 10) return undefined
    lastField = field
    const isString = field === 2 || field === 3 || field === 4 || field === 9 || field === 10
    if ((tag & 7) !== (isString ? 2 : 0)) return undefined
    const value = readVarint(bytes, pos, bytes.length)
    if (value < 0) return undefined
    pos = varintEnd()
    if (isString) {
      if (value > bytes.length - pos) return undefined
      slots[field * 2] = pos
      slots[field * 2 + 1] = pos + value
      pos += value
      continue
    }
    switch (field) {
      case 1:
        version = value
        break
      case 5:
        side = value
        break
      case 6:
        quantity = value
        break
      case 7:
        price = value
        break
      default:
        createdAt = value
    }
  }
  if (
    version !== Fields.SCHEMA_VERSION || side > 2 ||
    createdAt < Fields.MIN_UNIX_MS || createdAt >= Fields.MAX_UNIX_MS ||
    !isId(bytes, slots[4]!, slots[5]!) || !isId(bytes, slots[6]!, slots[7]!) ||
    slots[9]! - slots[8]! > 1024 || !isAscii(bytes, slots[8]!, slots[9]!) ||
    (slots[19]! > slots[18]! && !isId(bytes, slots[18]!, slots[19]!)) ||
    slots[21]! - slots[20]! < 1 || slots[21]! - slots[20]! > 128 || !isPrintable(bytes, slots[20]!, slots[21]!)
  ) return undefined
  // every string is ASCII here, so latin1 is its UTF-8 decoding; a Buffer view copies nothing
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return {
    schemaVersion: Fields.SCHEMA_VERSION,
    commandId: text.toString("latin1", slots[4]!, slots[5]!),
    orderId: text.toString("latin1", slots[6]!, slots[7]!),
    symbol: text.toString("latin1", slots[8]!, slots[9]!),
    side: SIDES[side]!,
    quantity,
    limitPriceMicros: price,
    createdAtUnixMs: createdAt,
    sourceTickId: text.toString("latin1", slots[18]!, slots[19]!),
    strategy: text.toString("latin1", slots[20]!, slots[21]!)
  }
}

/** The fast path, else the domain codec (which also words every error). */
export const decode = (bytes: Uint8Array): Either.Either<OrderCommand.OrderCommand, DecodeError.DecodeError> => {
  const fast = decodeFast(bytes)
  return fast !== undefined ? Either.right(fast) : OrderCommand.fromBytes(bytes)
}
