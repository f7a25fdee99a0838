import { describe, expect, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import { createHash } from "node:crypto"
import { sha256, toHex } from "./sha256.js"

const hex = (s: string | Uint8Array) => toHex(sha256(typeof s === "string" ? new TextEncoder().encode(s) : s))

describe("sha256", () => {
  it("matches the FIPS 180-4 test vectors", () => {
    expect(hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    expect(hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    expect(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).toBe(
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    )
  })

  it("agrees with node:crypto on arbitrary inputs, across block boundaries", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(hex(bytes)).toBe(createHash("sha256").update(bytes).digest("hex"))
      }),
      { numRuns: 300 }
    )
  })
})
