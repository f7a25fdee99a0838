// The fast path of the processor's input (ADR 0073): every record of `market.ticks` is a
// tick, so decoding runs 10,000 times a second. The domain's `Tick.fromBytes` (a strict
// wire pass, the generated decoder, then the Schema) stays the definition of a valid tick
// and the source of every error message; this reads the canonical form the ingestor writes
// (known fields only, printable ASCII strings, varints of safe integers) in one pass and
// applies the same rules. Anything else returns undefined and the caller takes
// `Tick.fromBytes`, which then accepts it (say, an unknown field from a newer producer) or
// names what is wrong. A property test keeps the two in agreement.
import { ID_PATTERN, MAX_UNIX_MS, MIN_UNIX_MS, SCHEMA_VERSION, SYMBOL_PATTERN } from "@trading/domain/Fields"
import type { Tick } from "@trading/domain/Tick"

const text = new TextDecoder()

/** The valid tick in `bytes`, or undefined when they are not a valid tick in canonical form. */
export const decodeTick = (bytes: Uint8Array): Tick | undefined => {
  const end = bytes.length
  let pos = 0
  // the generated decoder's defaults for absent fields (proto3)
  let schemaVersion = 0
  let tickId = ""
  let symbol = ""
  let priceMicros = 0
  let size = 0
  let observedAtUnixMs = 0
  let sequence = 0
  let source = ""
  while (pos < end) {
    const tag = bytes[pos++]!
    if (tag === 18 || tag === 26 || tag === 66) {
      // a string: length (at most two varint bytes: every valid one is <= 128 bytes), then printable ASCII
      if (pos >= end) return undefined
      let length = bytes[pos++]!
      if (length >= 0x80) {
        if (pos >= end || bytes[pos]! >= 0x80) return undefined
        length = (length & 0x7f) | (bytes[pos++]! << 7)
      }
      const start = pos
      pos += length
      if (pos > end) return undefined
      for (let i = start; i < pos; i++) {
        const c = bytes[i]!
        if (c < 0x20 || c > 0x7e) return undefined
      }
      const value = text.decode(bytes.subarray(start, pos))
      // a repeated field overwrites, as in the generated decoder
      if (tag === 18) tickId = value
      else if (tag === 26) symbol = value
      else source = value
    } else if (tag === 8 || tag === 32 || tag === 40 || tag === 48 || tag === 56) {
      // a varint of at most 8 bytes: non-negative and exact below 2^53 (larger ones are rejected below)
      let value = 0
      let scale = 1
      for (let n = 0;; n++) {
        if (n === 8 || pos >= end) return undefined
        const byte = bytes[pos++]!
        value += (byte & 0x7f) * scale
        scale *= 0x80
        if (byte < 0x80) break
      }
      if (tag === 8) schemaVersion = value
      else if (tag === 32) priceMicros = value
      else if (tag === 40) size = value
      else if (tag === 48) observedAtUnixMs = value
      else sequence = value
    } else {
      // unknown fields, other wire types, multi-byte tags: the general decoder's business
      return undefined
    }
  }
  // the rules of the domain's Tick schema (Fields.ts), in the same terms
  if (
    schemaVersion !== SCHEMA_VERSION ||
    !ID_PATTERN.test(tickId) ||
    !SYMBOL_PATTERN.test(symbol) ||
    !(priceMicros > 0 && Number.isSafeInteger(priceMicros)) ||
    !(size > 0 && Number.isSafeInteger(size)) ||
    !(Number.isSafeInteger(observedAtUnixMs) && observedAtUnixMs >= MIN_UNIX_MS && observedAtUnixMs < MAX_UNIX_MS) ||
    !Number.isSafeInteger(sequence) ||
    // a Label: 1 to 128 characters without control characters (printable ASCII has none)
    source.length === 0 || source.length > 128
  ) return undefined
  return { schemaVersion, tickId, symbol, priceMicros, size, observedAtUnixMs, sequence, source }
}

/** Whether a record key is exactly the ASCII bytes of `symbol` (symbols are ASCII by their pattern). */
export const keyIsSymbol = (key: Uint8Array | null, symbol: string): boolean => {
  if (key === null || key.length !== symbol.length) return false
  for (let i = 0; i < key.length; i++) if (key[i] !== symbol.charCodeAt(i)) return false
  return true
}
