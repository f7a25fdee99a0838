// The hand-written writers' primitives write what the generated encoders write (here the
// generated `trading.v1.Tick` encoder: `sequence` is a uint64 field 7, `tick_id` a string
// field 2), at the boundaries of the varint and of the omitted defaults; the reader reads
// them back.
import { describe, expect, it } from "@effect/vitest"
import { Tick as ProtoTick } from "@trading/proto/gen/trading/v1/market"
import * as fc from "effect/FastCheck"
import * as FastWire from "./FastWire.js"

const SEQUENCE_TAG = (7 << 3) | 0
const TICK_ID_TAG = (2 << 3) | 2

const generatedVarintField = (n: number): Uint8Array =>
  ProtoTick.encode(ProtoTick.fromPartial({ sequence: n })).finish()
const generatedStringField = (s: string): Uint8Array => ProtoTick.encode(ProtoTick.fromPartial({ tickId: s })).finish()

/** `write` into a buffer of `length` bytes at an offset, checking it ends where it says. */
const written = (length: number, write: (buf: Uint8Array, pos: number) => number): Uint8Array => {
  const buf = new Uint8Array(length + 3).fill(0xee)
  const end = write(buf, 3)
  expect(end).toBe(3 + length)
  return buf.subarray(3, end)
}

const boundaries = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 2 ** 53 - 1]

describe("FastWire", () => {
  it("varints at the boundaries: minimal bytes, float arithmetic beyond 2^31", () => {
    const bytes = (n: number) => [...written(FastWire.varintLength(n), (buf, pos) => FastWire.writeVarint(buf, pos, n))]
    expect(bytes(0)).toEqual([0x00])
    expect(bytes(127)).toEqual([0x7f])
    expect(bytes(128)).toEqual([0x80, 0x01])
    expect(bytes(2 ** 31)).toEqual([0x80, 0x80, 0x80, 0x80, 0x08])
    expect(bytes(2 ** 53 - 1)).toEqual([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])
    expect(boundaries.map(FastWire.varintLength)).toEqual([1, 1, 1, 2, 2, 3, 5, 5, 5, 5, 6, 8])
  })

  it("readVarint reads what writeVarint writes, and where it ends", () => {
    for (const n of boundaries) {
      const bytes = written(FastWire.varintLength(n), (buf, pos) => FastWire.writeVarint(buf, pos, n))
      // read in place, behind other bytes, with more after it
      const framed = new Uint8Array([0xee, ...bytes, 0xee])
      expect(FastWire.readVarint(framed, 1, framed.length)).toBe(n)
      expect(FastWire.varintEnd()).toBe(1 + bytes.length)
    }
  })

  it("readVarint: -1 when truncated or over 10 bytes, -2 at 2^53 and beyond, padded encodings read", () => {
    const read = (bytes: ReadonlyArray<number>, end = bytes.length) =>
      FastWire.readVarint(new Uint8Array(bytes), 0, end)
    expect(read([])).toBe(-1)
    expect(read([0x80])).toBe(-1)
    expect(read([0x80, 0x01], 1)).toBe(-1) // the end given, not the array's
    expect(read([...Array(10).fill(0x80), 0x00])).toBe(-1)
    expect(read([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])).toBe(-2) // 2^53
    expect(read([...Array(9).fill(0xff), 0x01])).toBe(-2) // 2^64 - 1
    // protobuf readers accept non-minimal encodings: 1 in ten bytes
    expect(read([0x81, ...Array(8).fill(0x80), 0x00])).toBe(1)
    expect(FastWire.varintEnd()).toBe(10)
  })

  it("varint fields: the generated encoder's bytes, nothing for 0 (and -0)", () => {
    for (const n of [...boundaries, -0]) {
      const expected = generatedVarintField(n)
      expect(FastWire.varintFieldLength(n)).toBe(expected.length)
      expect(written(expected.length, (buf, pos) => FastWire.writeVarintField(buf, pos, SEQUENCE_TAG, n))).toEqual(
        expected
      )
    }
    expect(FastWire.varintFieldLength(0)).toBe(0)
  })

  it("ASCII string fields: the generated encoder's bytes, nothing for the empty string", () => {
    const strings = [
      "",
      "a",
      "syn-1-mx5mstf2-ACME-42",
      "\u0000\u007f",
      "x".repeat(127),
      "y".repeat(128),
      "z".repeat(300)
    ]
    for (const s of strings) {
      const expected = generatedStringField(s)
      expect(FastWire.asciiFieldLength(s)).toBe(expected.length)
      expect(written(expected.length, (buf, pos) => FastWire.writeAsciiField(buf, pos, TICK_ID_TAG, s))).toEqual(
        expected
      )
    }
    expect(FastWire.asciiFieldLength("")).toBe(0)
  })

  it("the callers' checks: isVarint takes non-negative safe integers, isAscii text below 0x80", () => {
    for (const n of [0, -0, 1, 2 ** 31, 2 ** 53 - 1]) expect(FastWire.isVarint(n)).toBe(true)
    for (const n of [-1, 0.5, 2 ** 53, Number.NaN, Infinity, undefined as unknown as number]) {
      expect(FastWire.isVarint(n)).toBe(false)
    }
    expect(FastWire.isAscii("")).toBe(true)
    expect(FastWire.isAscii("\u0000abc\u007f")).toBe(true)
    expect(FastWire.isAscii("caf\u00e9")).toBe(false)
    expect(FastWire.isAscii("\u{1f600}")).toBe(false)
  })

  it("any non-negative safe integer and ASCII string: the generated encoder's bytes", () => {
    fc.assert(
      fc.property(
        fc.maxSafeNat(),
        fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 200 }),
        (n, s) => {
          const expected = ProtoTick.encode(ProtoTick.fromPartial({ tickId: s, sequence: n })).finish()
          expect(FastWire.isVarint(n) && FastWire.isAscii(s)).toBe(true)
          const length = FastWire.asciiFieldLength(s) + FastWire.varintFieldLength(n)
          expect(
            written(
              length,
              (buf, pos) =>
                FastWire.writeVarintField(buf, FastWire.writeAsciiField(buf, pos, TICK_ID_TAG, s), SEQUENCE_TAG, n)
            )
          ).toEqual(expected)
        }
      )
    )
  })
})
