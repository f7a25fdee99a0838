import { describe, expect, it } from "@effect/vitest"
import * as Bytes from "./Bytes.js"

describe("Bytes.concat", () => {
  it("joins the parts in order, empty ones included", () => {
    const joined = Bytes.concat([new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3])])
    expect(joined).toEqual(new Uint8Array([1, 2, 3]))
    expect(Bytes.concat([])).toEqual(new Uint8Array(0))
  })

  it("answers a single part as it is, without a copy", () => {
    const only = new Uint8Array([4, 5])
    expect(Bytes.concat([only])).toBe(only)
  })
})

describe("Bytes.concatFresh", () => {
  it("copies even a single part, so the result outlives the parts", () => {
    const only = new Uint8Array([4, 5])
    const kept = Bytes.concatFresh([only])
    expect(kept).not.toBe(only)
    only.fill(0)
    expect(kept).toEqual(new Uint8Array([4, 5]))
    expect(Bytes.concatFresh([new Uint8Array([1]), new Uint8Array([2, 3])])).toEqual(new Uint8Array([1, 2, 3]))
  })
})
