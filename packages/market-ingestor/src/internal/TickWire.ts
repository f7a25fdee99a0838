// The ingestor's fast paths (ADR 0073): every published tick is validated and encoded, up to
// tens of thousands a second. The domain's `Tick.validate` (a Schema) and `Tick.toBytes` (the
// generated encoder) stay the definitions: `checkTick` applies the same rules to ticks in the
// common shape (plain fields, printable ASCII text) and returns undefined for anything else,
// which the caller then hands to `Tick.validate` for the verdict and the message;
// `encodeTicks` writes the generated encoder's exact bytes. Property tests compare both with
// the domain.
import { ID_PATTERN, MAX_UNIX_MS, MIN_UNIX_MS, SCHEMA_VERSION, SYMBOL_PATTERN } from "@trading/domain/Fields"
import * as Tick from "@trading/domain/Tick"

const isAsciiLabel = (s: string): boolean => {
  if (s.length === 0 || s.length > 128) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c > 0x7e) return false
  }
  return true
}

const safe = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n)

/**
 * The valid tick `input` describes (only the tick's fields, as `Tick.validate` returns it), or
 * undefined when the fast rules cannot say it is valid. With `nowUnixMs`, a tick observed more
 * than a minute after it is refused, as `Tick.validate` does with that clock.
 */
export const checkTick = (input: unknown, nowUnixMs?: number): Tick.Tick | undefined => {
  if (typeof input !== "object" || input === null) return undefined
  const t = input as Record<string, unknown>
  const { observedAtUnixMs, priceMicros, sequence, size, source, symbol, tickId } = t
  if (
    t.schemaVersion !== SCHEMA_VERSION ||
    typeof tickId !== "string" || !ID_PATTERN.test(tickId) ||
    typeof symbol !== "string" || !SYMBOL_PATTERN.test(symbol) ||
    !safe(priceMicros) || priceMicros <= 0 ||
    !safe(size) || size <= 0 ||
    !safe(observedAtUnixMs) || observedAtUnixMs < MIN_UNIX_MS || observedAtUnixMs >= MAX_UNIX_MS ||
    (nowUnixMs !== undefined && observedAtUnixMs > nowUnixMs + Tick.DEFAULT_MAX_FUTURE_SKEW_MS) ||
    !safe(sequence) || sequence < 0 ||
    typeof source !== "string" || !isAsciiLabel(source)
  ) return undefined
  return { schemaVersion: SCHEMA_VERSION, tickId, symbol, priceMicros, size, observedAtUnixMs, sequence, source }
}

const varintLength = (n: number): number => {
  let length = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    length++
  }
  return length
}

const isAscii = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

/** Encoded length of a tick the fast writer handles, or -1 (negative numbers, non-ASCII text). */
const tickLength = (t: Tick.Tick): number => {
  let total = 0
  for (const n of [t.schemaVersion, t.priceMicros, t.size, t.observedAtUnixMs, t.sequence]) {
    if (n < 0 || !Number.isSafeInteger(n)) return -1
    if (n !== 0) total += 1 + varintLength(n)
  }
  for (const s of [t.tickId, t.symbol, t.source]) {
    if (!isAscii(s)) return -1
    if (s.length !== 0) total += 1 + varintLength(s.length) + s.length
  }
  return total
}

const writeVarint = (buf: Uint8Array, pos: number, n: number): number => {
  while (n >= 0x80) {
    buf[pos++] = (n % 0x80) | 0x80
    n = Math.floor(n / 0x80)
  }
  buf[pos++] = n
  return pos
}

const writeNumber = (buf: Uint8Array, pos: number, tag: number, n: number): number => {
  if (n === 0) return pos
  buf[pos++] = tag
  return writeVarint(buf, pos, n)
}

const writeString = (buf: Uint8Array, pos: number, tag: number, s: string): number => {
  if (s.length === 0) return pos
  buf[pos++] = tag
  pos = writeVarint(buf, pos, s.length)
  for (let i = 0; i < s.length; i++) buf[pos++] = s.charCodeAt(i)
  return pos
}

/** The wire bytes of each tick (`Tick.toBytes`'s), in one buffer for the whole batch. */
export const encodeTicks = (ticks: ReadonlyArray<Tick.Tick>): Array<Uint8Array> => {
  const lengths = ticks.map(tickLength)
  let total = 0
  for (const length of lengths) if (length > 0) total += length
  // small sizes come from Node's shared pool: no allocation of its own
  const buf = Buffer.allocUnsafe(total)
  const out: Array<Uint8Array> = new Array(ticks.length)
  let pos = 0
  for (let i = 0; i < ticks.length; i++) {
    const t = ticks[i]!
    if (lengths[i]! < 0) {
      out[i] = Tick.toBytes(t)
      continue
    }
    const start = pos
    pos = writeNumber(buf, pos, 8, t.schemaVersion)
    pos = writeString(buf, pos, 18, t.tickId)
    pos = writeString(buf, pos, 26, t.symbol)
    pos = writeNumber(buf, pos, 32, t.priceMicros)
    pos = writeNumber(buf, pos, 40, t.size)
    pos = writeNumber(buf, pos, 48, t.observedAtUnixMs)
    pos = writeNumber(buf, pos, 56, t.sequence)
    pos = writeString(buf, pos, 66, t.source)
    out[i] = buf.subarray(start, pos)
  }
  return out
}
