// The processor's fast wire paths agree with the domain's codecs, which define validity.
import { describe, expect, it } from "@effect/vitest"
import * as Arb from "@trading/domain/internal/arbitraries"
import * as OrderCommand from "@trading/domain/OrderCommand"
import * as Tick from "@trading/domain/Tick"
import { Tick as ProtoTick } from "@trading/proto/gen/trading/v1/market"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import { encodeCommands } from "./CommandWire.js"
import { decodeTick, keyIsSymbol } from "./TickWire.js"

const good: Tick.Tick = {
  schemaVersion: 1,
  tickId: "syn-1-mx5mstf2-ACME-42",
  symbol: "ACME",
  priceMicros: 101_250_000,
  size: 10,
  observedAtUnixMs: 1_760_000_000_000,
  sequence: 1_760_000_000_000_000,
  source: "synthetic"
}

/** Ticks as the ingestor writes them: printable ASCII labels. */
const asciiTick = Arb.tick.chain((tick) =>
  fc.stringOf(fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), {
    minLength: 1,
    maxLength: 128
  }).map((source) => ({ ...tick, source }))
)

/** Raw field values a foreign producer could send, valid or not. */
const raw = {
  schemaVersion: fc.oneof(fc.constant(1), fc.nat(3), fc.constant(0xffff_ffff)),
  tickId: fc.oneof(Arb.id, fc.string({ maxLength: 130 }), fc.constant("")),
  symbol: fc.oneof(Arb.symbol, fc.string({ maxLength: 14 })),
  priceMicros: fc.oneof(Arb.positive, fc.integer({ min: -5, max: 5 }), fc.maxSafeInteger()),
  size: fc.oneof(Arb.positive, fc.integer({ min: -5, max: 5 })),
  observedAtUnixMs: fc.oneof(Arb.unixMs, fc.constantFrom(946_684_799_999, 4_102_444_800_000), fc.maxSafeInteger()),
  sequence: fc.oneof(fc.maxSafeNat(), fc.constant(0)),
  source: fc.oneof(
    fc.constant("synthetic"),
    Arb.label,
    fc.string({ maxLength: 140 }),
    fc.constant(""),
    // around the 128-character limit
    fc.stringOf(fc.constantFrom("a", " ", "~"), { minLength: 127, maxLength: 130 })
  )
}

/** A canonical valid tick with one field replaced by a raw value, or any raw fields at all. */
const rawTick: fc.Arbitrary<ProtoTick> = fc.oneof(
  ...Object.entries(raw).map(([field, values]) =>
    fc.tuple(asciiTick, values as fc.Arbitrary<unknown>).map(([tick, value]) => ({ ...tick, [field]: value }))
  ),
  fc.record(raw)
)

/** The domain's answer and the fast path's: the fast path is either silent or the same tick. */
const agree = (bytes: Uint8Array) => {
  const fast = decodeTick(bytes)
  const reference = Tick.fromBytes(bytes)
  if (fast !== undefined) expect(reference).toEqual(Either.right(fast))
  return { fast, reference }
}

describe("TickWire.decodeTick", () => {
  it("decodes every tick the ingestor can write, exactly as Tick.fromBytes does", () => {
    fc.assert(fc.property(asciiTick, (tick) => {
      const { fast } = agree(Tick.toBytes(tick))
      expect(fast).toEqual(tick)
    }))
  })

  it("never accepts what Tick.fromBytes refuses, and never decodes differently (raw fields, any bytes)", () => {
    fc.assert(
      fc.property(rawTick, (fields) => {
        agree(ProtoTick.encode(fields).finish())
      }),
      { numRuns: 2000 }
    )
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      agree(bytes)
    }))
    // single-byte damage to a good tick: truncation, flipped bits, a changed tag
    const bytes = Tick.toBytes(good)
    fc.assert(fc.property(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 }), (at, value) => {
      const damaged = Uint8Array.from(bytes)
      damaged[at] = value
      agree(damaged)
      agree(bytes.subarray(0, at))
    }))
  })

  it("leaves unknown fields, non-ASCII labels and repeated fields to the general decoder", () => {
    const withUnknown = Uint8Array.from([...Tick.toBytes(good), 0x48, 0x01]) // field 9, varint 1
    expect(decodeTick(withUnknown)).toBeUndefined()
    expect(Tick.fromBytes(withUnknown)).toEqual(Either.right(good))
    expect(decodeTick(Tick.toBytes({ ...good, source: "bourse·paris" }))).toBeUndefined()
    // a repeated scalar: the last one wins in both
    const twice = Uint8Array.from([...Tick.toBytes(good), 0x28, 0x07]) // size = 7 again
    expect(agree(twice).fast).toEqual({ ...good, size: 7 })
  })

  it("compares a record key with the symbol byte for byte", () => {
    const key = new TextEncoder().encode("ACME")
    expect(keyIsSymbol(key, "ACME")).toBe(true)
    expect(keyIsSymbol(key, "ACM")).toBe(false)
    expect(keyIsSymbol(new TextEncoder().encode("ACMF"), "ACME")).toBe(false)
    expect(keyIsSymbol(null, "ACME")).toBe(false)
  })
})

describe("CommandWire.encodeCommands", () => {
  it("writes the bytes OrderCommand.toBytes writes, for any commands in one batch", () => {
    fc.assert(fc.property(fc.array(Arb.orderCommand, { maxLength: 20 }), (commands) => {
      const encoded = encodeCommands(commands)
      expect(encoded.map((b) => Buffer.from(b).toString("hex"))).toEqual(
        commands.map((c) => Buffer.from(OrderCommand.toBytes(c)).toString("hex"))
      )
    }))
  })
})
