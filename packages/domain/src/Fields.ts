// Field-level schemas shared by every message, each failing with a message that names
// the rule and the value ("must be > 0, got -5"). Violations are reported with the wire
// (snake_case) field name by the codecs.
import * as Schema from "effect/Schema"
import { show } from "./internal/issues.js"

/** The only wire schema version this build reads and writes. */
export const SCHEMA_VERSION = 1 as const
export const SUPPORTED_SCHEMA_VERSIONS: ReadonlyArray<number> = [SCHEMA_VERSION]

/** Timestamps must fall in [2000-01-01, 2100-01-01): catches seconds-for-millis and zero. */
export const MIN_UNIX_MS = 946_684_800_000
export const MAX_UNIX_MS = 4_102_444_800_000

const actual = (issue: { readonly actual?: unknown }): unknown => issue.actual

const number = Schema.Number.annotations({
  message: (issue) => `must be a number, got ${show(actual(issue as { actual?: unknown }))}`
})
const string = Schema.String.annotations({
  message: (issue) => `must be a string, got ${show(actual(issue as { actual?: unknown }))}`
})

export const SafeInt = number.pipe(
  Schema.filter((n) => Number.isSafeInteger(n) || `must be an integer below 2^53 in magnitude, got ${n}`)
)
export const PositiveInt = SafeInt.pipe(Schema.filter((n) => n > 0 || `must be > 0, got ${n}`))
export const NonNegativeInt = SafeInt.pipe(Schema.filter((n) => n >= 0 || `must be >= 0, got ${n}`))

export const UnixMillis = SafeInt.pipe(
  Schema.filter((n) =>
    (n >= MIN_UNIX_MS && n < MAX_UNIX_MS) ||
    `must be milliseconds since the Unix epoch between 2000-01-01 and 2100-01-01, got ${n}`
  )
)

export const SchemaVersion = Schema.Literal(SCHEMA_VERSION)

/**
 * Instrument symbols: 1 to 12 characters of upper-case A-Z, digits and '.', e.g. `ACME`,
 * `BRK.B`, `7203.T`. Kafka keys ticks by symbol, so the form is kept narrow on purpose.
 */
export const SYMBOL_PATTERN = /^[A-Z0-9.]{1,12}$/
export const InstrumentSymbol = string.pipe(
  Schema.filter((s) => SYMBOL_PATTERN.test(s) || `must be 1-12 characters of A-Z, 0-9 and '.', got ${show(s)}`)
)

/** Ids (tick, command, order, event): 1 to 128 visible ASCII characters, no spaces. */
export const ID_PATTERN = /^[\x21-\x7e]{1,128}$/
export const Id = string.pipe(
  Schema.filter((s) =>
    s.length === 0
      ? "must not be empty"
      : ID_PATTERN.test(s) || `must be 1-128 visible ASCII characters, got ${show(s)}`
  )
)
/** An id that may be absent (empty string, as protobuf encodes "unset"). */
export const OptionalId = string.pipe(
  Schema.filter((s) =>
    s.length === 0 || ID_PATTERN.test(s) || `must be empty or 1-128 visible ASCII characters, got ${show(s)}`
  )
)

/** Free-text labels (tick source, strategy name): 1 to 128 characters without control characters. */
export const Label = string.pipe(
  Schema.filter((s) =>
    s.length === 0
      ? "must not be empty"
      : (s.length <= 128 && !/\p{Cc}/u.test(s)) || `must be at most 128 characters without control characters`
  )
)

/** Free text that may be empty (a rejection reason, a raw symbol echoed back): at most 1024 characters. */
export const Text = string.pipe(Schema.filter((s) => s.length <= 1024 || `must be at most 1024 characters`))

export const Side = Schema.Literal("BUY", "SELL")
export type Side = typeof Side.Type

/** A command's side as received: UNSPECIFIED decodes, and order validation rejects it. */
export const CommandSide = Schema.Literal("BUY", "SELL", "UNSPECIFIED").annotations({
  message: (issue) => ({
    message: `must be BUY or SELL, got ${show(actual(issue as { actual?: unknown }))}`,
    override: true
  })
})
export type CommandSide = typeof CommandSide.Type

export const OrderStatus = Schema.Literal("ACCEPTED", "REJECTED", "EXECUTED").annotations({
  message: (issue) => ({
    message: `must be ACCEPTED, REJECTED or EXECUTED, got ${show(actual(issue as { actual?: unknown }))}`,
    override: true
  })
})
export type OrderStatus = typeof OrderStatus.Type
