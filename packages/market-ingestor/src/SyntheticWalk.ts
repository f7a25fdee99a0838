// The synthetic market (pure): a seeded random walk per symbol. The same seed gives the
// same prices and sizes in the same order on every run; only the tick ids carry the run
// (so a restarted generator never reuses the ids, and therefore the order ids, of an
// earlier run). No clock and no global randomness: the caller passes the time.
import { SCHEMA_VERSION } from "@trading/domain/Fields"
import type * as Tick from "@trading/domain/Tick"

export interface WalkState {
  /** mulberry32 state (uint32). */
  readonly rng: number
  /** Last price per symbol, micros. */
  readonly prices: ReadonlyMap<string, number>
  /** Rounds emitted so far (one tick per symbol each). */
  readonly round: number
}

/** mulberry32: tiny, fast, and good enough for a simulated market. */
const draw = (state: number): readonly [number, number] => {
  const s = (state + 0x6d2b79f5) >>> 0
  let t = s
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return [((t ^ (t >>> 14)) >>> 0) / 4294967296, s]
}

const CENT = 10_000
/** A price never falls below one cent. */
const FLOOR = CENT
/** Largest move per tick, in basis points of the price. */
const MAX_STEP_BPS = 10

/** Starting prices between 50.00 and 150.00, drawn from the seed. */
export const initial = (seed: number, symbols: ReadonlyArray<string>): WalkState => {
  let rng = seed >>> 0
  const prices = new Map<string, number>()
  for (const symbol of symbols) {
    const [u, s] = draw(rng)
    rng = s
    prices.set(symbol, 50_000_000 + Math.floor(u * 10_000) * CENT)
  }
  return { rng, prices, round: 0 }
}

export interface RoundInput {
  readonly symbols: ReadonlyArray<string>
  /** Identifies this run of the generator in tick ids, e.g. the start time in base 36. */
  readonly runId: string
  readonly seed: number
  readonly observedAtUnixMs: number
}

/** One tick per symbol (sequence 0: the publisher assigns it). */
export const nextRound = (state: WalkState, input: RoundInput): readonly [WalkState, ReadonlyArray<Tick.Tick>] => {
  let rng = state.rng
  const prices = new Map(state.prices)
  const ticks = input.symbols.map((symbol): Tick.Tick => {
    const [u1, s1] = draw(rng)
    const [u2, s2] = draw(s1)
    rng = s2
    const previous = prices.get(symbol) ?? 100_000_000
    const bps = Math.floor(u1 * (2 * MAX_STEP_BPS + 1)) - MAX_STEP_BPS
    const price = Math.max(FLOOR, previous + Math.trunc((previous * bps) / 10_000))
    prices.set(symbol, price)
    return {
      schemaVersion: SCHEMA_VERSION,
      tickId: `syn-${input.seed}-${input.runId}-${symbol}-${state.round}`,
      symbol,
      priceMicros: price,
      size: 1 + Math.floor(u2 * 100),
      observedAtUnixMs: input.observedAtUnixMs,
      sequence: 0,
      source: "synthetic"
    }
  })
  return [{ rng, prices, round: state.round + 1 }, ticks]
}
