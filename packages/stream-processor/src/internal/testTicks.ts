// Deterministic test ticks (used by unit and integration tests): a slow wave per symbol, so
// the moving averages cross and the strategy trades in both directions.
import { SCHEMA_VERSION } from "@trading/domain/Fields"
import type { Tick } from "@trading/domain/Tick"

export const BASE_TIME = 1_760_000_000_000

export const wave = (symbols: ReadonlyArray<string>, perSymbol: number, prefix = "t"): ReadonlyArray<Tick> => {
  const out: Array<Tick> = []
  for (let i = 0; i < perSymbol; i++) {
    symbols.forEach((symbol, s) => {
      const price = 100_000_000 + Math.round(5_000_000 * Math.sin((i + 7 * s) / 6)) + 10_000 * ((i * 7919) % 13)
      out.push({
        schemaVersion: SCHEMA_VERSION,
        tickId: `${prefix}-${symbol}-${i}`,
        symbol,
        priceMicros: price,
        size: 1 + (i % 9),
        observedAtUnixMs: BASE_TIME + i * 1000,
        sequence: i + 1,
        source: "test"
      })
    })
  }
  return out
}
