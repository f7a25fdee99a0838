// Turns Schema parse errors into field violations with wire (snake_case) field names,
// so the same message comes out whichever wire form was decoded.
import * as Arr from "effect/Array"
import * as ParseResult from "effect/ParseResult"
import type { FieldViolation } from "../DecodeError.js"

export const snakeCase = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

const fieldName = (path: ReadonlyArray<PropertyKey>): string =>
  path.length === 0 ? "(message)" : path.map((key) => snakeCase(String(key))).join(".")

export const violationsOf = (
  error: ParseResult.ParseError
): readonly [FieldViolation, ...Array<FieldViolation>] => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const violations = issues.map((issue) => ({
    field: fieldName(issue.path),
    reason: issue._tag === "Unexpected" ? "is not a field of this message" : issue.message
  }))
  return Arr.isNonEmptyArray(violations) ? violations : [{ field: "(message)", reason: error.message }]
}

/** A short, bounded rendering of a bad value for error messages. */
export const show = (value: unknown): string => {
  const text = typeof value === "string" ? JSON.stringify(value) : String(value)
  return text.length > 40 ? `${text.slice(0, 37)}...` : text
}

/** `defaults` overridden by the settings that are present (undefined means "not set"). */
export const withDefaults = <A extends object>(defaults: A, settings: Partial<A>): A => {
  const merged: Record<string, unknown> = { ...(defaults as Record<string, unknown>) }
  for (const [key, value] of Object.entries(settings)) if (value !== undefined) merged[key] = value
  return merged as A
}
