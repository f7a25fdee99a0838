// The order-executor's risk limits: a validated value object with defaults.
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { DecodeError } from "./DecodeError.js"
import { invalidFields } from "./DecodeError.js"
import { InstrumentSymbol, NonNegativeInt, PositiveInt } from "./Fields.js"
import { violationsOf, withDefaults } from "./internal/issues.js"

export const RiskLimits = Schema.Struct({
  /** Largest quantity of one order, in units (default 1,000). */
  maxOrderQuantity: PositiveInt,
  /** Largest quantity x limit price of one order, in micros (default 10,000,000.000000). */
  maxNotionalMicros: PositiveInt,
  /**
   * How far a limit price may be from the reference price, in basis points of the
   * reference (default 1,000 = 10%). Only checked when a reference price is given.
   */
  priceBandBps: NonNegativeInt,
  /** Symbols that may be traded; empty (the default) means any well-formed symbol. */
  allowedSymbols: Schema.Array(InstrumentSymbol)
})
export type RiskLimits = typeof RiskLimits.Type

export const defaultRiskLimits: RiskLimits = {
  maxOrderQuantity: 1_000,
  maxNotionalMicros: 10_000_000_000_000,
  priceBandBps: 1_000,
  allowedSymbols: []
}

/** Limits from partial settings (missing ones take the defaults), naming any bad field. */
export const makeRiskLimits = (input: Partial<RiskLimits> = {}): Either.Either<RiskLimits, DecodeError> =>
  Either.mapLeft(
    Schema.decodeUnknownEither(RiskLimits, { errors: "all" })(withDefaults(defaultRiskLimits, input)),
    (error) => invalidFields("RiskLimits", violationsOf(error))
  )
