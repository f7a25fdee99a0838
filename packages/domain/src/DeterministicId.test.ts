import { describe, expect, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import { createHash } from "node:crypto"
import * as DeterministicId from "./DeterministicId.js"
import { ID_PATTERN } from "./Fields.js"

describe("DeterministicId", () => {
  it("is a stable function of its inputs (pinned value: ids must not change between releases)", () => {
    expect(DeterministicId.derive("cmd", "s", "t-1")).toBe(DeterministicId.derive("cmd", "s", "t-1"))
    // = first 128 bits of sha256("evt\u001fcmd-1"), checked against node:crypto
    expect(DeterministicId.eventId("cmd-1")).toBe("evt-3bf91051f1f6e439e6c7114fd076510d")
  })

  it("takes a command's command id and order id from the two halves of one digest", () => {
    // sha256("decision\u001fs\u001ft-1") checked against node:crypto
    const hex = createHash("sha256").update("decision\u001fs\u001ft-1").digest("hex")
    expect(DeterministicId.decisionIds("s", "t-1")).toEqual({
      commandId: `cmd-${hex.slice(0, 32)}`,
      orderId: `ord-${hex.slice(32)}`
    })
  })

  it("separates parts, prefixes and kinds", () => {
    expect(DeterministicId.derive("x", "ab", "c")).not.toBe(DeterministicId.derive("x", "a", "bc"))
    expect(DeterministicId.commandId("s", "t")).not.toBe(DeterministicId.orderId("s", "t").replace("ord", "cmd"))
  })

  it("produces valid ids: prefix, dash, 32 hex digits", () => {
    fc.assert(fc.property(fc.string(), fc.string(), (strategy, tick) => {
      const id = DeterministicId.orderId(strategy, tick)
      expect(id).toMatch(/^ord-[0-9a-f]{32}$/)
      expect(ID_PATTERN.test(id)).toBe(true)
    }))
  })
})
