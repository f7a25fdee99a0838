import { describe, expect, it } from "@effect/vitest"
import * as InFlight from "./InFlight.js"

describe("InFlight", () => {
  it("answers a value once: taking it removes it", () => {
    const table = InFlight.make<number, string>()
    table.set(1, "a")
    table.set(2, "b")
    expect(table.size).toBe(2)
    expect(table.take(1)).toBe("a")
    expect(table.take(1)).toBeUndefined()
    expect(table.size).toBe(1)
    expect(table.take(3)).toBeUndefined()
  })

  it("a key set again after it was taken holds the new value", () => {
    const table = InFlight.make<number, string>()
    table.set(7, "first")
    expect(table.take(7)).toBe("first")
    table.set(7, "second")
    expect(table.take(7)).toBe("second")
  })

  it("takes every value in insertion order and is empty after", () => {
    const table = InFlight.make<string, number>()
    for (const [key, value] of [["c", 3], ["a", 1], ["b", 2]] as const) table.set(key, value)
    expect(table.takeAll()).toEqual([3, 1, 2])
    expect(table.size).toBe(0)
    expect(table.takeAll()).toEqual([])
  })

  it("survives churn past many rehashes with the right values", () => {
    const table = InFlight.make<number, number>()
    // a few in flight at a time, as calls are, through thousands of insertions
    for (let id = 0; id < 10_000; id++) {
      table.set(id, id * 2)
      if (id >= 4) expect(table.take(id - 4)).toBe((id - 4) * 2)
    }
    expect(table.size).toBe(4)
    expect(table.takeAll()).toEqual([19_992, 19_994, 19_996, 19_998])
  })
})
