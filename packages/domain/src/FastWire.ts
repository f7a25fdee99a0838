// The primitives of the hand-written protobuf writers on the services' hot paths: the
// ingestor's ticks (`TickWire.encodeTicks`, ADR 0073), the processor's commands
// (`CommandWire.encodeCommands`, ADR 0073) and the executor's events (`eventWire.encode`,
// ADR 0085). Those writers stand beside the generated encoders (`Tick.toBytes`,
// `OrderCommand.toBytes`, `OrderEvent.toBytes`), which stay the definitions, and write their
// exact bytes: fields in number order, defaults (0, "") omitted, minimal varints. Each
// writer's property test compares it with the generated encoder; `FastWire.test.ts` pins
// the primitives. They were three private copies; one module keeps them from drifting apart.
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
