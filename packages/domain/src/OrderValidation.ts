// Whether a decoded command may be executed: order rules and risk limits, pure.
// The first failing rule decides, in a fixed order, so a retry gets the same verdict.
import * as Data from "effect/Data"
import { SYMBOL_PATTERN } from "./Fields.js"
import { show } from "./internal/issues.js"
import type { OrderCommand } from "./OrderCommand.js"
import type { RiskLimits } from "./RiskLimits.js"

export type Verdict = Data.TaggedEnum<{
  Accepted: { readonly command: OrderCommand }
  /** `reason` is `<rule>: <field> <detail>`, e.g. `max_order_quantity: quantity must be <= 1000, got 5000`. */
  Rejected: { readonly rule: Rule; readonly field: string; readonly reason: string }
}>
export const Verdict = Data.taggedEnum<Verdict>()

export type Rule =
  | "side_specified"
  | "symbol_format"
  | "symbol_allowed"
  | "quantity_positive"
  | "max_order_quantity"
  | "price_positive"
  | "price_band"
  | "max_notional"

const reject = (rule: Rule, field: string, detail: string): Verdict =>
  Verdict.Rejected({ rule, field, reason: `${rule}: ${field} ${detail}` })

export interface Reference {
  /** A recent market price for the symbol (e.g. the last tick), fixed-point micros. */
  readonly priceMicros: number
}

/**
 * Checks, in order: side is BUY or SELL; symbol is well-formed and allowed; 0 < quantity
 * <= max; limit price > 0 and, when a reference price is given, within the band; notional
 * (quantity x price, computed exactly) <= max.
 */
export const validate = (command: OrderCommand, limits: RiskLimits, reference?: Reference): Verdict => {
  if (command.side === "UNSPECIFIED") return reject("side_specified", "side", "must be BUY or SELL, got UNSPECIFIED")
  if (!SYMBOL_PATTERN.test(command.symbol)) {
    return reject("symbol_format", "symbol", `must be 1-12 characters of A-Z, 0-9 and '.', got ${show(command.symbol)}`)
  }
  if (limits.allowedSymbols.length > 0 && !limits.allowedSymbols.includes(command.symbol)) {
    return reject("symbol_allowed", "symbol", `${command.symbol} is not in the allowed symbols`)
  }
  if (command.quantity <= 0) return reject("quantity_positive", "quantity", `must be > 0, got ${command.quantity}`)
  if (command.quantity > limits.maxOrderQuantity) {
    return reject("max_order_quantity", "quantity", `must be <= ${limits.maxOrderQuantity}, got ${command.quantity}`)
  }
  if (command.limitPriceMicros <= 0) {
    return reject("price_positive", "limit_price_micros", `must be > 0, got ${command.limitPriceMicros}`)
  }
  if (reference !== undefined && reference.priceMicros > 0) {
    // |price - ref| / ref <= band / 10_000, in exact integers
    const distance = BigInt(Math.abs(command.limitPriceMicros - reference.priceMicros)) * 10_000n
    if (distance > BigInt(limits.priceBandBps) * BigInt(reference.priceMicros)) {
      return reject(
        "price_band",
        "limit_price_micros",
        `must be within ${limits.priceBandBps} bps of the reference ${reference.priceMicros}, got ${command.limitPriceMicros}`
      )
    }
  }
  const notional = BigInt(command.quantity) * BigInt(command.limitPriceMicros)
  if (notional > BigInt(limits.maxNotionalMicros)) {
    return reject(
      "max_notional",
      "quantity*limit_price_micros",
      `must be <= ${limits.maxNotionalMicros}, got ${notional}`
    )
  }
  return Verdict.Accepted({ command })
}
