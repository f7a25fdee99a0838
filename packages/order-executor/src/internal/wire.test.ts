// The executor's fast wire paths against the domain codecs they stand in for.
import { describe, expect, it } from "@effect/vitest"
import { Fields, OrderCommand, OrderEvent } from "@trading/domain"
import { OrderCommand as ProtoOrderCommand } from "@trading/proto/gen/trading/v1/orders"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as CommandWire from "./commandWire.js"
import * as EventWire from "./eventWire.js"

const idChar = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c))
const id = fc.array(idChar, { minLength: 1, maxLength: 40 }).map((cs) => cs.join(""))
/** Text of every kind: ASCII, control characters, non-ASCII, long. */
const text = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.constantFrom("", "ACME", "bad symbol", "\u0001x", "é", "x".repeat(1025), "y".repeat(129))
)
const int = fc.oneof(
  fc.integer({ min: -1000, max: 1_000_000 }),
  fc.maxSafeInteger(),
  fc.constantFrom(0, 2 ** 31, 2 ** 32, 2 ** 53 - 1)
)

const validCommand: fc.Arbitrary<OrderCommand.OrderCommand> = fc.record({
  schemaVersion: fc.constant(Fields.SCHEMA_VERSION),
  commandId: id,
  orderId: id,
  symbol: text.filter((s) => s.length <= 1024),
  side: fc.constantFrom<Fields.CommandSide>("BUY", "SELL", "UNSPECIFIED"),
  quantity: int,
  limitPriceMicros: int,
  createdAtUnixMs: fc.integer({ min: Fields.MIN_UNIX_MS, max: Fields.MAX_UNIX_MS - 1 }),
  sourceTickId: fc.oneof(fc.constant(""), id),
  strategy: fc.oneof(id, text.filter((s) => s.length >= 1 && s.length <= 128 && !/\p{Cc}/u.test(s)))
})

/** ts-proto messages that may break any rule: empty or bad ids, unknown versions and sides, bad times. */
const rawCommand: fc.Arbitrary<ProtoOrderCommand> = fc.record({
  schemaVersion: fc.constantFrom(0, 1, 1, 1, 2),
  commandId: fc.oneof(id, fc.constantFrom("", "a b", "x".repeat(129))),
  orderId: fc.oneof(id, fc.constant("")),
  symbol: text,
  side: fc.integer({ min: 0, max: 4 }),
  quantity: int,
  limitPriceMicros: int,
  createdAtUnixMs: fc.oneof(fc.integer({ min: Fields.MIN_UNIX_MS, max: Fields.MAX_UNIX_MS - 1 }), int),
  sourceTickId: fc.oneof(fc.constant(""), id, fc.constant("has space")),
  strategy: fc.oneof(id, text)
})

/** The fast path either declines or agrees with the domain codec exactly. */
const agrees = (bytes: Uint8Array) => {
  const fast = CommandWire.decodeFast(bytes)
  if (fast === undefined) return
  expect(OrderCommand.fromBytes(bytes)).toEqual(Either.right(fast))
}

const isAscii = (s: string) => [...s].every((c) => c.charCodeAt(0) < 0x80)

describe("CommandWire", () => {
  it("decodes every valid command like OrderCommand.fromBytes, on the fast path when its text is ASCII", () => {
    fc.assert(
      fc.property(validCommand, (command) => {
        const bytes = OrderCommand.toBytes(command)
        agrees(bytes)
        expect(CommandWire.decode(bytes)).toEqual(Either.right(command))
        const fastPath = command.quantity >= 0 && command.limitPriceMicros >= 0 && isAscii(command.symbol) &&
          /^[\x20-\x7e]+$/.test(command.strategy)
        expect(CommandWire.decodeFast(bytes) !== undefined).toBe(fastPath)
      }),
      { numRuns: 2_000 }
    )
  })

  it("declines what the domain codec rejects, and words nothing itself", () => {
    fc.assert(
      fc.property(rawCommand, (raw) => {
        const bytes = ProtoOrderCommand.encode(raw).finish()
        agrees(bytes)
        expect(CommandWire.decode(bytes)).toEqual(OrderCommand.fromBytes(bytes))
      }),
      { numRuns: 2_000 }
    )
  })

  it("never throws on arbitrary bytes, nor on valid bytes cut, extended or out of field order", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        agrees(bytes)
      }),
      { numRuns: 2_000 }
    )
    fc.assert(
      fc.property(validCommand, fc.nat(), fc.uint8Array({ maxLength: 6 }), (command, cut, tail) => {
        const bytes = OrderCommand.toBytes(command)
        agrees(bytes.subarray(0, cut % (bytes.length + 1)))
        agrees(new Uint8Array([...bytes, ...tail]))
        // a field repeated at the end (the last one wins in every decoder): off the fast path
        agrees(new Uint8Array([...bytes, 0x08, 0x01]))
      }),
      { numRuns: 1_000 }
    )
  })
})

const status = fc.constantFrom<Fields.OrderStatus>("ACCEPTED", "REJECTED", "EXECUTED")
const event: fc.Arbitrary<OrderEvent.OrderEvent> = fc.record({
  schemaVersion: fc.constant(Fields.SCHEMA_VERSION),
  eventId: id,
  orderId: id,
  commandId: id,
  symbol: text.filter((s) => s.length <= 1024),
  side: fc.constantFrom<Fields.CommandSide>("BUY", "SELL", "UNSPECIFIED"),
  quantity: int,
  limitPriceMicros: int,
  status,
  reason: text.filter((s) => s.length > 0 && s.length <= 1024),
  filledQuantity: fc.integer({ min: 1, max: 1_000_000 }),
  fillPriceMicros: fc.integer({ min: 1, max: 1_000_000_000 }),
  registryIndex: fc.oneof(fc.integer({ min: 1, max: 1_000_000 }), fc.maxSafeNat().filter((n) => n > 0)),
  occurredAtUnixMs: fc.integer({ min: Fields.MIN_UNIX_MS, max: Fields.MAX_UNIX_MS - 1 })
}).map((e): OrderEvent.OrderEvent =>
  e.status === "REJECTED"
    ? { ...e, filledQuantity: 0 }
    : e.status === "EXECUTED"
    ? { ...e, reason: "" }
    : { ...e, reason: "" }
)

describe("EventWire", () => {
  it("encodes every event byte for byte like OrderEvent.toBytes", () => {
    fc.assert(
      fc.property(event, (e) => {
        expect(EventWire.encode(e)).toEqual(OrderEvent.toBytes(e))
      }),
      { numRuns: 2_000 }
    )
  })

  it("reads the key of every event, and no key the decoder would not give", () => {
    fc.assert(
      fc.property(event, (e) => {
        expect(EventWire.eventKeyOf(OrderEvent.toBytes(e))).toEqual({
          registryIndex: e.registryIndex,
          eventId: e.eventId
        })
      }),
      { numRuns: 1_000 }
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        const key = EventWire.eventKeyOf(bytes)
        const decoded = OrderEvent.fromBytes(bytes)
        if (key !== undefined && Either.isRight(decoded)) {
          expect(key).toEqual({ registryIndex: decoded.right.registryIndex, eventId: decoded.right.eventId })
        }
      }),
      { numRuns: 2_000 }
    )
    expect(EventWire.eventKeyOf(new Uint8Array([0x12, 0x03, 0x61, 0x62]))).toBeUndefined() // truncated
    expect(EventWire.eventKeyOf(new Uint8Array([0x12, 0x01, 0x61]))).toBeUndefined() // no registry index
  })
})
