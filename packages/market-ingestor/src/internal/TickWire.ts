// The ingestor's fast paths (ADR 0073): every published tick is validated and encoded, up to
// tens of thousands a second. The domain's `Tick.validate` (a Schema) and `Tick.toBytes` (the
// generated encoder) stay the definitions: `checkTick` applies the same rules to ticks in the
// common shape (plain fields, printable ASCII text) and returns undefined for anything else,
// which the caller then hands to `Tick.validate` for the verdict and the message;
// `encodeTicks` writes the generated encoder's exact bytes. Property tests compare both with
// the domain.
import * as FastWire from "@trading/domain/FastWire"
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

/**
 * Encoded length of a tick the fast writer handles, or -1 (a negative, fractional or unsafe
 * number, non-ASCII text: `Tick.toBytes` writes those).
 */
const tickLength = (t: Tick.Tick): number => {
  if (
    !FastWire.isVarint(t.schemaVersion) || !FastWire.isVarint(t.priceMicros) || !FastWire.isVarint(t.size) ||
    !FastWire.isVarint(t.observedAtUnixMs) || !FastWire.isVarint(t.sequence) ||
    !FastWire.isAscii(t.tickId) || !FastWire.isAscii(t.symbol) || !FastWire.isAscii(t.source)
  ) return -1
  return FastWire.varintFieldLength(t.schemaVersion) + FastWire.asciiFieldLength(t.tickId) +
    FastWire.asciiFieldLength(t.symbol) + FastWire.varintFieldLength(t.priceMicros) +
    FastWire.varintFieldLength(t.size) + FastWire.varintFieldLength(t.observedAtUnixMs) +
    FastWire.varintFieldLength(t.sequence) + FastWire.asciiFieldLength(t.source)
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
    pos = FastWire.writeVarintField(buf, pos, 8, t.schemaVersion)
    pos = FastWire.writeAsciiField(buf, pos, 18, t.tickId)
    pos = FastWire.writeAsciiField(buf, pos, 26, t.symbol)
    pos = FastWire.writeVarintField(buf, pos, 32, t.priceMicros)
    pos = FastWire.writeVarintField(buf, pos, 40, t.size)
    pos = FastWire.writeVarintField(buf, pos, 48, t.observedAtUnixMs)
    pos = FastWire.writeVarintField(buf, pos, 56, t.sequence)
    pos = FastWire.writeAsciiField(buf, pos, 66, t.source)
    out[i] = buf.subarray(start, pos)
  }
  return out
}
