import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { crc32, crc32Table } from "./Crc32.js"

describe("crc32", () => {
  it("matches the IEEE check value", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926)
    expect(crc32Table(new TextEncoder().encode("123456789"))).toBe(0xcbf43926)
  })

  it("an empty input continues the CRC it is given, whatever buffer it is a view of", () => {
    const some = crc32(new Uint8Array([1, 2, 3]))
    for (const empty of [new Uint8Array(), new Uint8Array(new ArrayBuffer(0)), new Uint8Array(8).subarray(3, 3)]) {
      expect(crc32(empty, some)).toBe(some)
      expect(crc32(empty)).toBe(0)
    }
  })

  it("the native and the table implementation agree, in one piece or continued over a split", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.nat(), (bytes, at) => {
        const cut = bytes.length === 0 ? 0 : at % bytes.length
        const whole = crc32Table(bytes)
        expect(crc32(bytes)).toBe(whole)
        expect(crc32(bytes.subarray(cut), crc32(bytes.subarray(0, cut)))).toBe(whole)
        expect(crc32Table(bytes.subarray(cut), crc32Table(bytes.subarray(0, cut)))).toBe(whole)
      })
    )
  })
})
