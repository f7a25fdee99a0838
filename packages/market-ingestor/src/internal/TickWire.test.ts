// The ingestor's fast tick paths agree with the domain's Tick.validate and Tick.toBytes.
import { describe, expect, it } from "@effect/vitest"
import * as Arb from "@trading/domain/internal/arbitraries"
import * as Tick from "@trading/domain/Tick"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import { checkTick, encodeTicks } from "./TickWire.js"

const now = 1_760_000_000_000

const good: Tick.Tick = {
  schemaVersion: 1,
  tickId: "syn-1-mx5mstf2-ACME-42",
  symbol: "ACME",
  priceMicros: 101_250_000,
  size: 10,
  observedAtUnixMs: now,
  sequence: 0,
  source: "synthetic"
}

/** Values any source could hand over for each field, valid or not. */
const raw = {
  schemaVersion: fc.oneof(fc.constant(1), fc.constant(0), fc.constant(2), fc.constant("1")),
  tickId: fc.oneof(Arb.id, fc.string({ maxLength: 130 }), fc.constant(""), fc.constant(7)),
  symbol: fc.oneof(Arb.symbol, fc.string({ maxLength: 14 })),
  priceMicros: fc.oneof(Arb.positive, fc.integer({ min: -5, max: 5 }), fc.double(), fc.constant(2 ** 53)),
  size: fc.oneof(Arb.positive, fc.integer({ min: -5, max: 5 }), fc.constant(Number.NaN)),
  observedAtUnixMs: fc.oneof(
    Arb.unixMs,
    fc.integer({ min: now, max: now + 120_000 }),
    fc.constantFrom(946_684_799_999, 4_102_444_800_000),
    fc.maxSafeInteger()
  ),
  sequence: fc.oneof(fc.maxSafeNat(), fc.integer({ min: -3, max: 3 }), fc.constant(1.5)),
  source: fc.oneof(
    fc.constant("synthetic"),
    Arb.label,
    fc.string({ maxLength: 140 }),
    fc.constant(""),
    // around the 128-character limit
    fc.stringOf(fc.constantFrom("a", " ", "~"), { minLength: 127, maxLength: 130 })
  )
}

/** Valid ticks as the ingestor's sources make them: printable ASCII sources. */
const asciiTick = Arb.tick.chain((tick) =>
  fc.stringOf(fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), {
    minLength: 1,
    maxLength: 128
  }).map((source) => ({ ...tick, source }))
)

/** A valid tick with one field replaced by a raw value, or removed, or with a stray field added. */
const candidate: fc.Arbitrary<unknown> = fc.oneof(
  ...Object.entries(raw).map(([field, values]) =>
    fc.tuple(asciiTick, values as fc.Arbitrary<unknown>).map(([tick, value]) => ({ ...tick, [field]: value }))
  ),
  fc.tuple(asciiTick, fc.constantFrom(...Object.keys(raw))).map(([tick, field]) => {
    const copy: Record<string, unknown> = { ...tick }
    delete copy[field]
    return copy
  }),
  asciiTick.map((tick) => ({ ...tick, extra: "ignored" })),
  fc.record(raw, { requiredKeys: [] })
)

describe("TickWire.checkTick", () => {
  it("accepts only what Tick.validate accepts, as the same tick (with and without a clock)", () => {
    fc.assert(
      fc.property(candidate, fc.boolean(), (input, clock) => {
        const fast = checkTick(input, clock ? now : undefined)
        const reference = Tick.validate(input, clock ? { nowUnixMs: now } : {})
        if (fast !== undefined) expect(reference).toEqual(Either.right(fast))
      }),
      { numRuns: 3000 }
    )
  })

  it("accepts every tick with an ASCII source, and leaves other sources to Tick.validate", () => {
    fc.assert(fc.property(Arb.tick, (tick) => {
      const ascii = /^[\x20-\x7e]+$/.test(tick.source)
      expect(checkTick(tick) !== undefined).toBe(ascii)
    }))
    expect(checkTick({ ...good, observedAtUnixMs: now + 60_001 }, now)).toBeUndefined()
    const atLimit = { ...good, observedAtUnixMs: now + 60_000 }
    expect(checkTick(atLimit, now)).toEqual(atLimit)
    expect(checkTick({ ...good, extra: 1 })).toEqual(good)
  })
})

describe("TickWire.encodeTicks", () => {
  it("writes the bytes Tick.toBytes writes, for any ticks in one batch", () => {
    fc.assert(fc.property(fc.array(Arb.tick, { maxLength: 20 }), (ticks) => {
      expect(encodeTicks(ticks).map((b) => Buffer.from(b).toString("hex"))).toEqual(
        ticks.map((t) => Buffer.from(Tick.toBytes(t)).toString("hex"))
      )
    }))
  })
})
