import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as Arb from "./internal/arbitraries.js"
import type { OrderCommand } from "./OrderCommand.js"
import * as OrderValidation from "./OrderValidation.js"
import { defaultRiskLimits, makeRiskLimits } from "./RiskLimits.js"

const command: OrderCommand = {
  schemaVersion: 1,
  commandId: "cmd-1",
  orderId: "ord-1",
  symbol: "ACME",
  side: "BUY",
  quantity: 10,
  limitPriceMicros: 100_000_000,
  createdAtUnixMs: 1_760_000_000_000,
  sourceTickId: "t-1",
  strategy: "test"
}

const reason = (verdict: OrderValidation.Verdict) => verdict._tag === "Rejected" ? verdict.reason : "accepted"

describe("OrderValidation", () => {
  it("accepts a well-formed order within the limits", () => {
    expect(OrderValidation.validate(command, defaultRiskLimits)).toEqual(OrderValidation.Verdict.Accepted({ command }))
  })

  it("rejects with a reason naming the rule and the field", () => {
    const limits = Either.getOrThrow(makeRiskLimits({ maxOrderQuantity: 100, allowedSymbols: ["ACME"] }))
    const cases: ReadonlyArray<readonly [Partial<OrderCommand>, string]> = [
      [{ side: "UNSPECIFIED" }, "side_specified: side must be BUY or SELL, got UNSPECIFIED"],
      [{ symbol: "acme" }, "symbol_format: symbol must be 1-12 characters of A-Z, 0-9 and '.', got \"acme\""],
      [{ symbol: "OTHER" }, "symbol_allowed: symbol OTHER is not in the allowed symbols"],
      [{ quantity: 0 }, "quantity_positive: quantity must be > 0, got 0"],
      [{ quantity: -5 }, "quantity_positive: quantity must be > 0, got -5"],
      [{ quantity: 101 }, "max_order_quantity: quantity must be <= 100, got 101"],
      [{ limitPriceMicros: 0 }, "price_positive: limit_price_micros must be > 0, got 0"]
    ]
    for (const [change, expected] of cases) {
      expect(reason(OrderValidation.validate({ ...command, ...change }, limits))).toBe(expected)
    }
    const rejected = OrderValidation.validate({ ...command, quantity: 101 }, limits)
    expect(rejected).toMatchObject({ _tag: "Rejected", rule: "max_order_quantity", field: "quantity" })
  })

  it("checks the price band only against a given reference, inclusively, in basis points", () => {
    const limits = Either.getOrThrow(makeRiskLimits({ priceBandBps: 500 })) // 5%
    const at = (limitPriceMicros: number) =>
      reason(OrderValidation.validate({ ...command, limitPriceMicros }, limits, { priceMicros: 100_000_000 }))
    expect(at(105_000_000)).toBe("accepted")
    expect(at(95_000_000)).toBe("accepted")
    expect(at(105_000_001)).toBe(
      "price_band: limit_price_micros must be within 500 bps of the reference 100000000, got 105000001"
    )
    expect(at(94_999_999)).toMatch(/^price_band: /)
    expect(reason(OrderValidation.validate({ ...command, limitPriceMicros: 1 }, limits))).toBe("accepted")
  })

  it("computes the notional exactly, beyond 2^53", () => {
    const limits = Either.getOrThrow(
      makeRiskLimits({ maxOrderQuantity: 9_000_000_000, maxNotionalMicros: 2 ** 53 - 1 })
    )
    // 3 * 3002399751580331 = 9007199254740993 = 2^53 + 1: in floating point it rounds to 2^53
    expect(
      reason(OrderValidation.validate({ ...command, quantity: 3, limitPriceMicros: 3_002_399_751_580_331 }, limits))
    )
      .toBe("max_notional: quantity*limit_price_micros must be <= 9007199254740991, got 9007199254740993")
    expect(reason(OrderValidation.validate({ ...command, quantity: 1, limitPriceMicros: 2 ** 53 - 1 }, limits))).toBe(
      "accepted"
    )
  })

  it("is a deterministic function of the command and the limits", () => {
    fc.assert(fc.property(Arb.orderCommand, (c) => {
      expect(OrderValidation.validate(c, defaultRiskLimits)).toEqual(OrderValidation.validate(c, defaultRiskLimits))
    }))
  })

  it("builds limits with defaults and names bad settings", () => {
    expect(Either.getOrThrow(makeRiskLimits())).toEqual(defaultRiskLimits)
    const bad = makeRiskLimits({ maxNotionalMicros: -1, allowedSymbols: ["ok", "OK"] })
    expect(Either.isLeft(bad) && bad.left.message).toBe(
      "max_notional_micros: must be > 0, got -1; allowed_symbols.0: must be 1-12 characters of A-Z, 0-9 and '.', got \"ok\""
    )
  })
})
