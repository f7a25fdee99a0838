// The primitives of the hand-written protobuf writers on the services' hot paths: the
// ingestor's ticks (`TickWire.encodeTicks`, ADR 0073), the processor's commands
// (`CommandWire.encodeCommands`, ADR 0073) and the executor's events (`eventWire.encode`,
// ADR 0085). Those writers stand beside the generated encoders (`Tick.toBytes`,
// `OrderCommand.toBytes`, `OrderEvent.toBytes`), which stay the definitions, and write their
// exact bytes: fields in number order, defaults (0, "") omitted, minimal varints. Each
// writer's property test compares it with the generated encoder; `FastWire.test.ts` pins
// the primitives. They were three private copies; one module keeps them from drifting apart.
// `readVarint` is the matching reader of the hand-written scanners (the registry's record
// scan and response split, the executor's command and event scans), which had four copies.
//
// What they handle, and what the callers check first:
// - varints of non-negative safe integers (below 2^53) only, in float arithmetic (`%`,
//   `Math.floor`), so values of 2^31 and above are written like any other; a negative or
//   non-integer value is not refused here and would be written wrongly;
// - string fields of ASCII text only (one byte per UTF-16 unit, no UTF-8 encoding);
// - fields numbered 1-15, whose tag is one byte (`tag` is the whole tag byte,
//   `field << 3 | wireType`).
// `isVarint` and `isAscii` are those checks: a writer applies them to every field whose type
// allows a value outside these limits and hands a message that fails them to the generated
// encoder; the lengths and writers below do not check again. (The registry's
// `internal/protoWriter.ts` is another kind of writer: growable, UTF-8, range-checked.)
//
// Hot-path code: plain functions of numbers, strings and a preallocated buffer, no
// allocation, no closures; the writers call them once a field.

// Where the last `readVarint` stopped: a second return value without allocating a pair
// (every scan that reads varints is synchronous and never re-entered).
let readEnd = 0

/**
 * The varint at `bytes[pos]`, read up to `end`: its value when below 2^53 (the end of its
 * bytes is then `varintEnd()`), -2 when well formed but larger, -1 when truncated (it runs
 * into `end`) or longer than 10 bytes. Non-minimal encodings are read as protobuf reads them.
 */
export const readVarint = (bytes: Uint8Array, pos: number, end: number): number => {
  let value = 0
  let scale = 1
  for (let i = 0; i < 10; i++) {
    if (pos >= end) return -1
    const byte = bytes[pos++]!
    // exact while below 2^53; beyond, the sum stays at or above 2^53, so the check holds
    value += (byte & 0x7f) * scale
    if (byte < 0x80) {
      readEnd = pos
      return Number.isSafeInteger(value) ? value : -2
    }
    scale *= 0x80
  }
  return -1
}

/** Where the varint of the last successful `readVarint` ended. */
export const varintEnd = (): number => readEnd

/** Bytes of the varint of `value`, a non-negative safe integer. */
export const varintLength = (value: number): number => {
  let length = 1
  for (let n = value; n >= 0x80; n = Math.floor(n / 0x80)) length++
  return length
}

/** Whether every UTF-16 unit of `s` is below 0x80 (true for ""). */
export const isAscii = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return false
  return true
}

/** Whether `n` is a value `writeVarint` writes: a non-negative safe integer (-0 included). */
export const isVarint = (n: number): boolean => n >= 0 && Number.isSafeInteger(n)

/**
 * Bytes of a varint field (0 when `n` is 0: omitted). Unchecked: `n` must be a non-negative
 * safe integer (see `isVarint`).
 */
export const varintFieldLength = (n: number): number => n === 0 ? 0 : 1 + varintLength(n)

/** Bytes of a string field (0 when empty: omitted). Unchecked: `s` must be ASCII (see `isAscii`). */
export const asciiFieldLength = (s: string): number => s.length === 0 ? 0 : 1 + varintLength(s.length) + s.length

/** Writes the varint of `value` (a non-negative safe integer) at `buf[pos]`; returns the end. */
export const writeVarint = (buf: Uint8Array, pos: number, value: number): number => {
  let n = value
  while (n >= 0x80) {
    buf[pos++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  buf[pos++] = n
  return pos
}

/**
 * Writes a varint field, one-byte `tag` then `n`, at `buf[pos]`; nothing when `n` is 0
 * (proto3 omits it). Returns the end.
 */
export const writeVarintField = (buf: Uint8Array, pos: number, tag: number, n: number): number => {
  if (n === 0) return pos
  buf[pos++] = tag
  return writeVarint(buf, pos, n)
}

/**
 * Writes a string field of ASCII text, one-byte `tag`, length, one byte a character, at
 * `buf[pos]`; nothing when `s` is empty (proto3 omits it). Returns the end.
 */
export const writeAsciiField = (buf: Uint8Array, pos: number, tag: number, s: string): number => {
  if (s.length === 0) return pos
  buf[pos++] = tag
  pos = writeVarint(buf, pos, s.length)
  for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i)
  return pos
}
