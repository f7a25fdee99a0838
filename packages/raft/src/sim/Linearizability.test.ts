import { describe, expect, it } from "@effect/vitest"
import { checkLinearizable, type HistoryOp } from "./Linearizability.js"

let id = 0
const w = (value: string, invoke: number, response: number | null, result: string | null): HistoryOp => ({
  id: id++,
  key: "k",
  kind: "write",
  value,
  invoke,
  response,
  result
})
const r = (invoke: number, response: number | null, result: string | null): HistoryOp => ({
  id: id++,
  key: "k",
  kind: "read",
  value: "",
  invoke,
  response,
  result
})

describe("linearizability checker (first-writer-wins registry)", () => {
  it("accepts a sequential history", () => {
    expect(checkLinearizable([r(1, 2, null), w("a", 3, 4, "a"), w("b", 5, 6, "a"), r(7, 8, "a")]).ok).toBe(true)
  })

  it("accepts concurrent writes answered with either winner, consistently", () => {
    expect(checkLinearizable([w("a", 1, 4, "b"), w("b", 2, 3, "b"), r(5, 6, "b")]).ok).toBe(true)
  })

  it("rejects two winners", () => {
    expect(checkLinearizable([w("a", 1, 2, "a"), w("b", 3, 4, "b")]).ok).toBe(false)
  })

  it("rejects a stale read after an acknowledged write", () => {
    expect(checkLinearizable([w("a", 1, 2, "a"), r(3, 4, null)]).ok).toBe(false)
  })

  it("rejects a read that goes back in time", () => {
    expect(checkLinearizable([w("a", 1, 10, "a"), r(2, 3, "a"), r(4, 5, null)]).ok).toBe(false)
  })

  it("lets a write of unknown outcome take effect (or not) after its invocation", () => {
    expect(checkLinearizable([w("a", 1, null, null), r(5, 6, "a")]).ok).toBe(true)
    expect(checkLinearizable([w("a", 1, null, null), r(5, 6, null)]).ok).toBe(true)
    expect(checkLinearizable([r(1, 2, "a"), w("a", 3, null, null)]).ok).toBe(false)
  })

  it("checks keys independently", () => {
    const other = { ...w("x", 1, 2, "x"), key: "j" }
    expect(checkLinearizable([other, w("a", 3, 4, "a"), r(5, 6, "a")]).ok).toBe(true)
  })
})
