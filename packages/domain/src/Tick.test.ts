import { describe, expect, it } from "@effect/vitest"
import { Tick as ProtoTick } from "@trading/proto/gen/trading/v1/market"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import type { DecodeError } from "./DecodeError.js"
import * as Arb from "./internal/arbitraries.js"
import * as Tick from "./Tick.js"

const good: Tick.Tick = {
  schemaVersion: 1,
  tickId: "synthetic-ACME-42",
  symbol: "ACME",
  priceMicros: 101_250_000,
  size: 10,
  observedAtUnixMs: 1_760_000_000_000,
  sequence: 42,
  source: "synthetic"
}

const failure = <A>(result: Either.Either<A, DecodeError>): DecodeError => {
  if (Either.isRight(result)) throw new Error(`expected a failure, got ${JSON.stringify(result.right)}`)
  return result.left
}

/** Protobuf bytes of a Tick with raw (unvalidated) field values, as a foreign producer would send. */
const rawBytes = (fields: Partial<ProtoTick>) => ProtoTick.encode({ ...Tick.toProto(good), ...fields }).finish()

describe("Tick wire codecs", () => {
  it("round-trips every valid tick through protobuf bytes, ts-proto objects and JSON", () => {
    fc.assert(fc.property(Arb.tick, (tick) => {
      expect(Tick.fromBytes(Tick.toBytes(tick))).toEqual(Either.right(tick))
      expect(Tick.fromProto(Tick.toProto(tick))).toEqual(Either.right(tick))
      expect(Tick.fromJsonText(Tick.toJsonText(tick))).toEqual(Either.right(tick))
    }))
  })

  it("uses the generated protobuf encoding (bytes decode with ts-proto)", () => {
    expect(ProtoTick.decode(Tick.toBytes(good))).toEqual(good)
  })

  it("writes JSON with the snake_case field names of the .proto", () => {
    expect(Tick.toJson(good)).toEqual({
      schema_version: 1,
      tick_id: "synthetic-ACME-42",
      symbol: "ACME",
      price_micros: 101_250_000,
      size: 10,
      observed_at_unix_ms: 1_760_000_000_000,
      sequence: 42,
      source: "synthetic"
    })
  })

  it("names the field and the reason for an invalid value", () => {
    const error = failure(Tick.fromBytes(rawBytes({ priceMicros: -5 })))
    expect(error._tag).toBe("InvalidFields")
    expect(error.message).toBe("price_micros: must be > 0, got -5")
  })

  it("reports every invalid field, each under its wire name", () => {
    const error = failure(Tick.fromProto({ ...Tick.toProto(good), symbol: "acme", size: 0, tickId: "", source: "" }))
    expect(error._tag === "InvalidFields" && error.violations).toEqual([
      { field: "tick_id", reason: "must not be empty" },
      { field: "symbol", reason: "must be 1-12 characters of A-Z, 0-9 and '.', got \"acme\"" },
      { field: "size", reason: "must be > 0, got 0" },
      { field: "source", reason: "must not be empty" }
    ])
  })

  it("rejects symbols outside [A-Z0-9.]{1,12}", () => {
    for (const symbol of ["", "acme", "TOOLONGSYMBOL", "AC ME", "AC-ME", "ÄCME"]) {
      expect(failure(Tick.validate({ ...good, symbol })).message).toMatch(/^symbol: /)
    }
    for (const symbol of ["A", "BRK.B", "7203.T", "ABCDEFGHIJKL"]) {
      expect(Either.isRight(Tick.validate({ ...good, symbol }))).toBe(true)
    }
  })

  it("rejects timestamps that are not milliseconds between 2000 and 2100", () => {
    expect(failure(Tick.validate({ ...good, observedAtUnixMs: 1_760_000_000 })).message).toMatch(
      /^observed_at_unix_ms: must be milliseconds since the Unix epoch/
    )
    expect(failure(Tick.validate({ ...good, observedAtUnixMs: 0 })).message).toMatch(/^observed_at_unix_ms: /)
  })

  it("rejects ticks from the future only when the caller passes its clock", () => {
    const now = good.observedAtUnixMs - 120_000
    expect(failure(Tick.validate(good, { nowUnixMs: now })).message).toBe(
      `observed_at_unix_ms: must not be more than 60000 ms after the receiver's clock (${now}), got ${good.observedAtUnixMs}`
    )
    expect(Either.isRight(Tick.validate(good, { nowUnixMs: now, maxFutureSkewMs: 120_000 }))).toBe(true)
    expect(Either.isRight(Tick.validate(good))).toBe(true)
  })

  it("answers garbage bytes with a 'not a protobuf message' error", () => {
    const error = failure(Tick.fromBytes(new Uint8Array([0xff, 0xff, 0xff])))
    expect(error._tag).toBe("MalformedPayload")
    expect(error.message).toMatch(/^not a protobuf trading\.v1\.Tick message: /)
  })

  it("says so when JSON lands on a protobuf topic", () => {
    const error = failure(Tick.fromBytes(new TextEncoder().encode(Tick.toJsonText(good))))
    expect(error._tag).toBe("MalformedPayload")
    expect(error.message).toMatch(/looks like JSON/)
  })

  it("rejects a known field sent with the wrong wire type instead of skipping it", () => {
    // field 4 (price_micros) as a length-delimited field
    const bytes = new Uint8Array([...Tick.toBytes(good), 0x22, 0x01, 0x41])
    expect(failure(Tick.fromBytes(bytes)).message).toBe(
      "not a protobuf trading.v1.Tick message: field 4 (price_micros) has wire type 2, expected 0"
    )
  })

  it("names an int64 field whose value does not fit in 2^53", () => {
    // field 4 varint 2^62
    const bytes = new Uint8Array([0x08, 0x01, 0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40])
    expect(failure(Tick.fromBytes(bytes)).message).toBe(
      "price_micros: must be a safe integer (|n| < 2^53), got a larger value"
    )
  })

  it("ignores unknown fields (protobuf forward compatibility)", () => {
    const bytes = new Uint8Array([...Tick.toBytes(good), 0xf8, 0x01, 0x07]) // field 31 = 7
    expect(Tick.fromBytes(bytes)).toEqual(Either.right(good))
  })

  it("rejects unknown and missing schema versions before looking at other fields", () => {
    const v2 = failure(Tick.fromBytes(rawBytes({ schemaVersion: 2, priceMicros: -1 })))
    expect(v2._tag).toBe("UnsupportedSchemaVersion")
    expect(v2.message).toBe("schema_version: unsupported version 2; this build reads version 1")
    expect(failure(Tick.fromBytes(new Uint8Array())).message).toMatch(/^schema_version: is missing/)
    expect(failure(Tick.fromJson({ ...Tick.toJson(good), schema_version: 3 }))._tag).toBe(
      "UnsupportedSchemaVersion"
    )
  })

  it("never throws on arbitrary bytes: every input decodes or fails with a typed error", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const result = Tick.fromBytes(bytes)
        if (Either.isLeft(result)) {
          expect(["MalformedPayload", "UnsupportedSchemaVersion", "InvalidFields"]).toContain(result.left._tag)
          expect(result.left.message.length).toBeGreaterThan(0)
        }
      }),
      { numRuns: 2_000 }
    )
  })

  it("rejects JSON that is not JSON, not an object, or has unknown fields", () => {
    expect(failure(Tick.fromJsonText("{oops")).message).toMatch(/^not JSON: /)
    expect(failure(Tick.fromJsonText("[1,2]"))._tag).toBe("MalformedPayload")
    expect(failure(Tick.fromJson({ ...Tick.toJson(good), price: 1 })).message).toBe(
      "price: is not a field of this message"
    )
    expect(failure(Tick.fromJson({ ...Tick.toJson(good), price_micros: "101.25" })).message).toBe(
      "price_micros: must be a number, got \"101.25\""
    )
    const { size: _size, ...withoutSize } = Tick.toJson(good)
    expect(failure(Tick.fromJson(withoutSize)).message).toBe("size: is missing")
  })
})
