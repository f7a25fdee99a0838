// The fast path of the processor's output (ADR 0073): the protobuf bytes of the commands of
// one batch, written into one buffer. The bytes are exactly what the domain's
// `OrderCommand.toBytes` (the generated encoder) writes: fields in number order, defaults
// omitted; a property test compares the two. Commands with a field this writer does not
// handle (a negative number, non-ASCII text) are encoded by `OrderCommand.toBytes` itself.
import * as OrderCommand from "@trading/domain/OrderCommand"

const SIDE: Record<OrderCommand.OrderCommand["side"], number> = { UNSPECIFIED: 0, BUY: 1, SELL: 2 }

const varintLength = (n: number): number => {
  let length = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    length++
  }
  return length
}

/** Bytes of a string field (0 when empty), or -1 when it is not ASCII. */
const stringFieldLength = (s: string): number => {
  if (s.length === 0) return 0
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return -1
  return 1 + varintLength(s.length) + s.length
}

/** Bytes of a varint field (0 when 0), or -1 when negative or not a safe integer. */
const numberFieldLength = (n: number): number =>
  n === 0 ? 0 : n > 0 && Number.isSafeInteger(n) ? 1 + varintLength(n) : -1

const commandLength = (c: OrderCommand.OrderCommand): number => {
  let total = 0
  let part = 0
  // any -1 (a field the fast writer does not handle) makes the command's length -1
  if ((part = numberFieldLength(c.schemaVersion)) < 0) return -1
  total += part
  if ((part = stringFieldLength(c.commandId)) < 0) return -1
  total += part
  if ((part = stringFieldLength(c.orderId)) < 0) return -1
  total += part
  if ((part = stringFieldLength(c.symbol)) < 0) return -1
  total += part
  if ((part = numberFieldLength(SIDE[c.side])) < 0) return -1
  total += part
  if ((part = numberFieldLength(c.quantity)) < 0) return -1
  total += part
  if ((part = numberFieldLength(c.limitPriceMicros)) < 0) return -1
  total += part
  if ((part = numberFieldLength(c.createdAtUnixMs)) < 0) return -1
  total += part
  if ((part = stringFieldLength(c.sourceTickId)) < 0) return -1
  total += part
  if ((part = stringFieldLength(c.strategy)) < 0) return -1
  return total + part
}

const writeVarint = (buf: Uint8Array, pos: number, n: number): number => {
  while (n >= 0x80) {
    buf[pos++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  buf[pos++] = n
  return pos
}

const writeString = (buf: Uint8Array, pos: number, tag: number, s: string): number => {
  if (s.length === 0) return pos
  buf[pos++] = tag
  pos = writeVarint(buf, pos, s.length)
  for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i)
  return pos
}

const writeNumber = (buf: Uint8Array, pos: number, tag: number, n: number): number => {
  if (n === 0) return pos
  buf[pos++] = tag
  return writeVarint(buf, pos, n)
}

/**
 * The wire bytes of each command, in order. Commands the fast writer handles share one
 * buffer (views into it): one allocation per batch instead of one per command.
 */
export const encodeCommands = (commands: ReadonlyArray<OrderCommand.OrderCommand>): Array<Uint8Array> => {
  const lengths = commands.map(commandLength)
  let total = 0
  for (const length of lengths) if (length > 0) total += length
  // Buffer.allocUnsafe takes small sizes from Node's shared pool: no allocation of its own
  const buf = Buffer.allocUnsafe(total)
  const out: Array<Uint8Array> = new Array(commands.length)
  let pos = 0
  for (let i = 0; i < commands.length; i++) {
    const c = commands[i]!
    if (lengths[i]! < 0) {
      out[i] = OrderCommand.toBytes(c)
      continue
    }
    const start = pos
    pos = writeNumber(buf, pos, 8, c.schemaVersion)
    pos = writeString(buf, pos, 18, c.commandId)
    pos = writeString(buf, pos, 26, c.orderId)
    pos = writeString(buf, pos, 34, c.symbol)
    pos = writeNumber(buf, pos, 40, SIDE[c.side])
    pos = writeNumber(buf, pos, 48, c.quantity)
    pos = writeNumber(buf, pos, 56, c.limitPriceMicros)
    pos = writeNumber(buf, pos, 64, c.createdAtUnixMs)
    pos = writeString(buf, pos, 74, c.sourceTickId)
    pos = writeString(buf, pos, 82, c.strategy)
    out[i] = buf.subarray(start, pos)
  }
  return out
}
