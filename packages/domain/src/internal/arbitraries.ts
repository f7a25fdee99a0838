// fast-check generators of valid domain values, for this package's property tests.
import * as fc from "effect/FastCheck"
import type { CommandSide, OrderStatus } from "../Fields.js"
import { MAX_UNIX_MS, MIN_UNIX_MS, SCHEMA_VERSION } from "../Fields.js"
import type { OrderCommand } from "../OrderCommand.js"
import type { OrderEvent } from "../OrderEvent.js"
import type { OrderRecord } from "../OrderRecord.js"
import type { Tick } from "../Tick.js"

const idChar = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c))
export const id = fc.array(idChar, { minLength: 1, maxLength: 40 }).map((cs) => cs.join(""))
const symbolChar = fc.constantFrom(..."ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.")
export const symbol = fc.array(symbolChar, { minLength: 1, maxLength: 12 }).map((cs) => cs.join(""))
export const unixMs = fc.integer({ min: MIN_UNIX_MS, max: MAX_UNIX_MS - 1 })
export const positive = fc.oneof(fc.integer({ min: 1, max: 1_000_000 }), fc.maxSafeNat().filter((n) => n > 0))
export const safeInt = fc.oneof(fc.integer({ min: -1_000_000, max: 1_000_000 }), fc.maxSafeInteger())
/** Labels and free text, including non-ASCII characters (no control characters). */
export const label = fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }).filter((s) =>
  s.length <= 128 && !/\p{Cc}/u.test(s)
)
export const text = fc.string({ unit: "grapheme", maxLength: 60 })

export const tick: fc.Arbitrary<Tick> = fc.record({
  schemaVersion: fc.constant(SCHEMA_VERSION),
  tickId: id,
  symbol,
  priceMicros: positive,
  size: positive,
  observedAtUnixMs: unixMs,
  sequence: fc.maxSafeNat(),
  source: label
})

export const commandSide: fc.Arbitrary<CommandSide> = fc.constantFrom("BUY", "SELL", "UNSPECIFIED")

export const orderCommand: fc.Arbitrary<OrderCommand> = fc.record({
  schemaVersion: fc.constant(SCHEMA_VERSION),
  commandId: id,
  orderId: id,
  symbol: text,
  side: commandSide,
  quantity: safeInt,
  limitPriceMicros: safeInt,
  createdAtUnixMs: unixMs,
  sourceTickId: fc.oneof(fc.constant(""), id),
  strategy: label
})

export const orderRecord: fc.Arbitrary<OrderRecord> = fc.record({
  orderId: id,
  eventId: id,
  commandId: id,
  recordedAtUnixMs: unixMs,
  status: fc.constantFrom<OrderStatus>("ACCEPTED", "REJECTED", "EXECUTED"),
  reason: text.filter((s) => s.length > 0),
  filledQuantity: positive,
  fillPriceMicros: positive
}).map((r): OrderRecord =>
  r.status === "EXECUTED"
    ? { ...r, reason: "" }
    : r.status === "ACCEPTED"
    ? { ...r, reason: "", filledQuantity: 0, fillPriceMicros: 0 }
    : { ...r, filledQuantity: 0, fillPriceMicros: 0 }
)

export const orderEvent: fc.Arbitrary<OrderEvent> = fc.record({
  command: orderCommand,
  record: orderRecord,
  registryIndex: fc.maxSafeNat()
}).map(({ command, record, registryIndex }): OrderEvent => ({
  schemaVersion: SCHEMA_VERSION,
  eventId: record.eventId,
  orderId: command.orderId,
  commandId: command.commandId,
  symbol: command.symbol,
  side: command.side,
  quantity: command.quantity,
  limitPriceMicros: command.limitPriceMicros,
  status: record.status,
  reason: record.reason,
  filledQuantity: record.filledQuantity,
  fillPriceMicros: record.fillPriceMicros,
  registryIndex,
  occurredAtUnixMs: record.recordedAtUnixMs
}))
