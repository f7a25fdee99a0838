// The fast path of the processor's output (ADR 0073): the protobuf bytes of the commands of
// one batch, written into one buffer. The bytes are exactly what the domain's
// `OrderCommand.toBytes` (the generated encoder) writes: fields in number order, defaults
// omitted; a property test compares the two. Commands with a field this writer does not
// handle (a negative number, non-ASCII text) are encoded by `OrderCommand.toBytes` itself.
import * as FastWire from "@trading/domain/FastWire"
import * as OrderCommand from "@trading/domain/OrderCommand"

const SIDE: Record<OrderCommand.OrderCommand["side"], number> = { UNSPECIFIED: 0, BUY: 1, SELL: 2 }

/**
 * Encoded length of a command the fast writer handles, or -1 (a negative, fractional or
 * unsafe number, a side missing from `SIDE`, non-ASCII text: `OrderCommand.toBytes` writes
 * those).
 */
const commandLength = (c: OrderCommand.OrderCommand): number => {
  // undefined for a side outside the type: not a varint, so the command takes
  // `OrderCommand.toBytes` (the event writer, whose sides come from a decoded command, does
  // not check its table)
  const side = SIDE[c.side]
  if (
    !FastWire.isVarint(c.schemaVersion) || !FastWire.isVarint(side) || !FastWire.isVarint(c.quantity) ||
    !FastWire.isVarint(c.limitPriceMicros) || !FastWire.isVarint(c.createdAtUnixMs) ||
    !FastWire.isAscii(c.commandId) || !FastWire.isAscii(c.orderId) || !FastWire.isAscii(c.symbol) ||
    !FastWire.isAscii(c.sourceTickId) || !FastWire.isAscii(c.strategy)
  ) return -1
  return FastWire.varintFieldLength(c.schemaVersion) + FastWire.asciiFieldLength(c.commandId) +
    FastWire.asciiFieldLength(c.orderId) + FastWire.asciiFieldLength(c.symbol) +
    FastWire.varintFieldLength(side) + FastWire.varintFieldLength(c.quantity) +
    FastWire.varintFieldLength(c.limitPriceMicros) + FastWire.varintFieldLength(c.createdAtUnixMs) +
    FastWire.asciiFieldLength(c.sourceTickId) + FastWire.asciiFieldLength(c.strategy)
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
    pos = FastWire.writeVarintField(buf, pos, 8, c.schemaVersion)
    pos = FastWire.writeAsciiField(buf, pos, 18, c.commandId)
    pos = FastWire.writeAsciiField(buf, pos, 26, c.orderId)
    pos = FastWire.writeAsciiField(buf, pos, 34, c.symbol)
    pos = FastWire.writeVarintField(buf, pos, 40, SIDE[c.side])
    pos = FastWire.writeVarintField(buf, pos, 48, c.quantity)
    pos = FastWire.writeVarintField(buf, pos, 56, c.limitPriceMicros)
    pos = FastWire.writeVarintField(buf, pos, 64, c.createdAtUnixMs)
    pos = FastWire.writeAsciiField(buf, pos, 74, c.sourceTickId)
    pos = FastWire.writeAsciiField(buf, pos, 82, c.strategy)
    out[i] = buf.subarray(start, pos)
  }
  return out
}
