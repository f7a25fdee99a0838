// Why a tick was not published. `InvalidTick` carries the domain's decode error, whose
// message names every offending field (`price_micros: must be > 0, got -5`).
import type { DecodeError } from "@trading/domain/DecodeError"
import * as Data from "effect/Data"

export class InvalidTick extends Data.TaggedError("InvalidTick")<{
  /** Where the tick came from: `grpc`, `replay:<file>:<line>`, `synthetic`. */
  readonly origin: string
  readonly error: DecodeError
}> {
  override get message(): string {
    return `${this.origin}: ${this.error.message}`
  }
}

/** Field names of a decode error (empty when the payload was not a message at all). */
export const fieldsOf = (error: DecodeError): ReadonlyArray<string> =>
  error._tag === "InvalidFields"
    ? [...new Set(error.violations.map((v) => v.field))]
    : error._tag === "UnsupportedSchemaVersion"
    ? ["schema_version"]
    : []
