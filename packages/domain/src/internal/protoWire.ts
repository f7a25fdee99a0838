// A strict pass over protobuf wire bytes before the generated decoder sees them.
//
// The ts-proto decoders are lenient: a known field with the wrong wire type is skipped
// silently, and an int64 beyond 2^53 throws an error that does not say which field. This
// pass makes both explicit, so a dead-letter reason says what was wrong: bytes that are
// not a protobuf message at all, or the field whose value cannot be represented.
// Unknown field numbers are skipped (protobuf's forward-compatibility rule); the
// schema_version check rejects messages whose meaning changed.

export type FieldKind = "uint32" | "int32" | "int64" | "uint64" | "bool" | "string" | "bytes"

export interface FieldSpec {
  readonly name: string
  readonly kind: FieldKind
}

export type WireProblem =
  | { readonly _tag: "Malformed"; readonly detail: string }
  | { readonly _tag: "Field"; readonly field: string; readonly reason: string }

const VARINT = 0
const FIXED64 = 1
const LENGTH_DELIMITED = 2
const FIXED32 = 5

const expectedWireType = (kind: FieldKind): number => kind === "string" || kind === "bytes" ? LENGTH_DELIMITED : VARINT

const malformed = (detail: string): WireProblem => ({ _tag: "Malformed", detail })

/**
 * Walks every field of `bytes`; returns the first problem or undefined when the bytes are a
 * well-formed message whose known fields have the declared wire types and representable values.
 */
export const check = (bytes: Uint8Array, fields: ReadonlyMap<number, FieldSpec>): WireProblem | undefined => {
  let pos = 0
  // A varint as two unsigned 32-bit halves; returns false when truncated or longer than 10 bytes.
  let lo = 0
  let hi = 0
  const readVarint = (): boolean => {
    lo = 0
    hi = 0
    for (let shift = 0, i = 0; i < 10; i++, shift += 7) {
      if (pos >= bytes.length) return false
      const byte = bytes[pos++]!
      const bits = byte & 0x7f
      if (shift < 28) lo |= bits << shift
      else if (shift === 28) {
        lo |= (bits & 0x0f) << 28
        hi |= bits >> 4
      } else hi |= bits << (shift - 32)
      if ((byte & 0x80) === 0) {
        lo >>>= 0
        hi >>>= 0
        return true
      }
    }
    return false
  }

  while (pos < bytes.length) {
    const tagAt = pos
    if (!readVarint()) return malformed(`truncated or overlong tag at byte ${tagAt}`)
    if (hi !== 0) return malformed(`tag out of range at byte ${tagAt}`)
    const fieldNumber = lo >>> 3
    const wireType = lo & 7
    if (fieldNumber === 0) return malformed(`field number 0 at byte ${tagAt}`)
    const spec = fields.get(fieldNumber)
    if (spec !== undefined && wireType !== expectedWireType(spec.kind)) {
      return malformed(
        `field ${fieldNumber} (${spec.name}) has wire type ${wireType}, expected ${expectedWireType(spec.kind)}`
      )
    }
    switch (wireType) {
      case VARINT: {
        const at = pos
        if (!readVarint()) return malformed(`truncated varint at byte ${at}`)
        if (spec !== undefined) {
          const problem = checkVarint(spec, lo, hi)
          if (problem !== undefined) return problem
        }
        break
      }
      case FIXED64:
        pos += 8
        if (pos > bytes.length) return malformed(`truncated 64-bit field ${fieldNumber}`)
        break
      case FIXED32:
        pos += 4
        if (pos > bytes.length) return malformed(`truncated 32-bit field ${fieldNumber}`)
        break
      case LENGTH_DELIMITED: {
        const at = pos
        if (!readVarint() || hi !== 0) return malformed(`bad length at byte ${at}`)
        pos += lo
        if (pos > bytes.length) return malformed(`field ${fieldNumber} overruns the message (length ${lo})`)
        break
      }
      default:
        // 3 and 4 are proto2 groups (never in proto3), 6 and 7 do not exist
        return malformed(`invalid wire type ${wireType} at byte ${tagAt}`)
    }
  }
  return undefined
}

const TWO_32 = 4294967296

const checkVarint = (spec: FieldSpec, lo: number, hi: number): WireProblem | undefined => {
  switch (spec.kind) {
    case "int64": {
      const value = (hi | 0) * TWO_32 + lo
      return Number.isSafeInteger(value)
        ? undefined
        : { _tag: "Field", field: spec.name, reason: "must be a safe integer (|n| < 2^53), got a larger value" }
    }
    case "uint64": {
      const value = hi * TWO_32 + lo
      return Number.isSafeInteger(value)
        ? undefined
        : { _tag: "Field", field: spec.name, reason: "must be < 2^53, got a larger value" }
    }
    case "uint32":
      return hi === 0 ? undefined : { _tag: "Field", field: spec.name, reason: "must fit in 32 bits" }
    default:
      // int32/enum and bool take the low bits, as every protobuf decoder does
      return undefined
  }
}
