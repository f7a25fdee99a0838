// The trading strategy: a pure moving-average crossover with position limits.
//
// `step(state, tick, config)` is a pure function of its inputs, so replaying the same
// ticks from the same state reproduces the same commands, ids included. See
// docs/domain.md ("Strategy") for the rules in prose.
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { DecodeError } from "./DecodeError.js"
import { invalidFields, MalformedPayload } from "./DecodeError.js"
import * as DeterministicId from "./DeterministicId.js"
import { InstrumentSymbol, NonNegativeInt, PositiveInt, SafeInt, SCHEMA_VERSION } from "./Fields.js"
import { snakeCaseJson } from "./internal/codec.js"
import { violationsOf, withDefaults } from "./internal/issues.js"
import type { OrderCommand } from "./OrderCommand.js"
import type { Tick } from "./Tick.js"

export const STRATEGY_NAME = "ma-crossover/v1"
/** The slow window is bounded so a state snapshot stays small. */
export const MAX_WINDOW = 1_000

export const StrategyConfig = Schema.Struct({
  /** Ticks in the fast moving average (default 5). */
  fastWindow: PositiveInt,
  /** Ticks in the slow moving average (default 20); no signal until this many ticks were seen. */
  slowWindow: PositiveInt,
  /** Largest absolute position per symbol, in units (default 100). */
  maxPosition: NonNegativeInt,
  /** Largest quantity of one order, in units (default 10). */
  maxOrderQuantity: PositiveInt
}).pipe(
  Schema.filter((c) =>
    c.fastWindow >= c.slowWindow
      ? { path: ["fastWindow"], message: `must be < slow_window (${c.slowWindow}), got ${c.fastWindow}` }
      : c.slowWindow > MAX_WINDOW
      ? { path: ["slowWindow"], message: `must be <= ${MAX_WINDOW}, got ${c.slowWindow}` }
      : true
  )
)
export type StrategyConfig = typeof StrategyConfig.Type

/** Builds a config from partial settings (missing ones take the defaults), naming any bad field. */
export const defaultConfig: StrategyConfig = { fastWindow: 5, slowWindow: 20, maxPosition: 100, maxOrderQuantity: 10 }

export const makeConfig = (
  input: Partial<StrategyConfig> = {}
): Either.Either<StrategyConfig, DecodeError> =>
  Either.mapLeft(
    Schema.decodeUnknownEither(StrategyConfig, { errors: "all" })(withDefaults(defaultConfig, input)),
    (error) => invalidFields("StrategyConfig", violationsOf(error))
  )

/**
 * The `strategy` label of emitted commands and the salt of their ids: name, version and
 * parameters, so different parameters never reuse the ids of another configuration.
 */
export const label = (config: StrategyConfig): string =>
  `${STRATEGY_NAME} fast=${config.fastWindow} slow=${config.slowWindow} max_position=${config.maxPosition} max_order_quantity=${config.maxOrderQuantity}`

const stateFields = {
  symbol: InstrumentSymbol,
  /** Sequence of the last tick applied; -1 before the first. */
  lastSequence: SafeInt.pipe(Schema.filter((n) => n >= -1 || `must be >= -1, got ${n}`)),
  /** The last `slowWindow` prices, oldest first. */
  prices: Schema.Array(PositiveInt),
  /** Last non-neutral comparison of the averages: 1 fast above slow, -1 below, 0 none yet. */
  signal: Schema.Literal(-1, 0, 1),
  /** Net quantity ordered so far (buys minus sells), in units. */
  position: SafeInt,
  /** Ticks ignored because their sequence was not newer than `lastSequence`. */
  staleIgnored: NonNegativeInt,
  /** Ticks applied (stale ones excluded). */
  ticksSeen: NonNegativeInt,
  /** Commands emitted so far. */
  commandsEmitted: NonNegativeInt
}

export const SymbolState = Schema.Struct(stateFields)
export type SymbolState = typeof SymbolState.Type

export const initial = (symbol: string): SymbolState => ({
  symbol,
  lastSequence: -1,
  prices: [],
  signal: 0,
  position: 0,
  staleIgnored: 0,
  ticksSeen: 0,
  commandsEmitted: 0
})

const sum = (prices: ReadonlyArray<number>, from: number): bigint => {
  let total = 0n
  for (let i = from; i < prices.length; i++) total += BigInt(prices[i]!)
  return total
}

/** Sign of (fast average - slow average), compared exactly in integers. */
const compareAverages = (prices: ReadonlyArray<number>, config: StrategyConfig): -1 | 0 | 1 => {
  const fast = sum(prices, prices.length - config.fastWindow) * BigInt(config.slowWindow)
  const slow = sum(prices, 0) * BigInt(config.fastWindow)
  return fast > slow ? 1 : fast < slow ? -1 : 0
}

/**
 * Applies one tick of `state.symbol` and returns the new state and the commands to emit
 * (zero or one).
 *
 * - A tick whose sequence is not greater than the last applied one is ignored (state
 *   unchanged except `staleIgnored`, no command): redelivered and out-of-order ticks can
 *   never produce a second decision.
 * - Once `slowWindow` prices are known, the sign of (fast MA - slow MA) sets the target
 *   position: +maxPosition above, -maxPosition below; equal averages keep the last signal.
 * - While the position differs from the target, each tick emits one limit order at the
 *   tick's price towards it, of at most `maxOrderQuantity` units; the position counts the
 *   ordered quantity (the simulated venue fills every accepted order in full).
 *
 * Throws when the tick is for another symbol: that is a routing bug in the caller.
 */
export const step = (
  state: SymbolState,
  tick: Tick,
  config: StrategyConfig
): readonly [SymbolState, ReadonlyArray<OrderCommand>] => {
  if (tick.symbol !== state.symbol) {
    throw new Error(`Strategy.step: tick for ${tick.symbol} applied to the state of ${state.symbol}`)
  }
  if (tick.sequence <= state.lastSequence) {
    return [{ ...state, staleIgnored: state.staleIgnored + 1 }, []]
  }
  const prices = state.prices.length >= config.slowWindow
    ? [...state.prices.slice(state.prices.length - config.slowWindow + 1), tick.priceMicros]
    : [...state.prices, tick.priceMicros]
  const compared = prices.length >= config.slowWindow ? compareAverages(prices, config) : 0
  const signal = compared === 0 ? state.signal : compared
  const next: SymbolState = { ...state, lastSequence: tick.sequence, prices, signal, ticksSeen: state.ticksSeen + 1 }

  const target = signal * config.maxPosition
  const wanted = target - state.position
  if (wanted === 0) return [next, []]
  const quantity = Math.min(Math.abs(wanted), config.maxOrderQuantity)
  const side = wanted > 0 ? "BUY" : "SELL"
  const strategy = label(config)
  const { commandId, orderId } = DeterministicId.decisionIds(strategy, tick.tickId)
  const command: OrderCommand = {
    schemaVersion: SCHEMA_VERSION,
    commandId,
    orderId,
    symbol: tick.symbol,
    side,
    quantity,
    limitPriceMicros: tick.priceMicros,
    // time comes from the input, never a clock: a replay stamps the same time
    createdAtUnixMs: tick.observedAtUnixMs,
    sourceTickId: tick.tickId,
    strategy
  }
  return [{
    ...next,
    position: state.position + (side === "BUY" ? quantity : -quantity),
    commandsEmitted: state.commandsEmitted + 1
  }, [command]]
}

/** What the stream-processor's `GetSymbolState` reports (trading.v1.GetSymbolStateResponse). */
export interface Summary {
  readonly symbol: string
  readonly ticksSeen: number
  /** 0 before the first tick. */
  readonly lastPriceMicros: number
  /** Averages rounded down to whole micros; 0 until the window is full. */
  readonly fastAverageMicros: number
  readonly slowAverageMicros: number
  readonly position: number
  readonly commandsEmitted: number
}

const average = (prices: ReadonlyArray<number>, window: number): number =>
  prices.length < window ? 0 : Number(sum(prices, prices.length - window) / BigInt(window))

export const summary = (state: SymbolState, config: StrategyConfig): Summary => ({
  symbol: state.symbol,
  ticksSeen: state.ticksSeen,
  lastPriceMicros: state.prices.at(-1) ?? 0,
  fastAverageMicros: average(state.prices, config.fastWindow),
  slowAverageMicros: average(state.prices, config.slowWindow),
  position: state.position,
  commandsEmitted: state.commandsEmitted
})

// ---- snapshots ----------------------------------------------------------------------

const STATE_MESSAGE = "stream-processor SymbolState"
const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

/** The state as a JSON value (snake_case, with a format version `v`). */
export const toJson = (state: SymbolState): Record<string, unknown> => ({
  v: SCHEMA_VERSION,
  symbol: state.symbol,
  last_sequence: state.lastSequence,
  prices: [...state.prices],
  signal: state.signal,
  position: state.position,
  stale_ignored: state.staleIgnored,
  ticks_seen: state.ticksSeen,
  commands_emitted: state.commandsEmitted
})

const decodeState = Schema.decodeUnknownEither(Schema.Struct({ v: Schema.Literal(SCHEMA_VERSION) }))
const decodeFields = Schema.decodeUnknownEither(snakeCaseJson(stateFields), {
  errors: "all",
  onExcessProperty: "ignore"
})

export const fromJson = (json: unknown): Either.Either<SymbolState, DecodeError> =>
  Either.flatMap(
    Either.mapLeft(decodeState(json), (error: ParseResult.ParseError) =>
      invalidFields(STATE_MESSAGE, violationsOf(error))),
    () =>
      Either.mapLeft(decodeFields(json), (error: ParseResult.ParseError) =>
        invalidFields(STATE_MESSAGE, violationsOf(error)))
  )

/** Deterministic bytes (UTF-8 JSON with a fixed key order) to store next to the consumed offsets. */
export const snapshot = (state: SymbolState): Uint8Array => encoder.encode(JSON.stringify(toJson(state)))

/** The JSON inside snapshot bytes, or why they are not a snapshot. */
const parseSnapshot = (bytes: Uint8Array): Either.Either<unknown, DecodeError> => {
  try {
    return Either.right(JSON.parse(decoder.decode(bytes)))
  } catch (cause) {
    return Either.left(
      new MalformedPayload({
        messageType: STATE_MESSAGE,
        format: "json",
        message: `not a strategy state snapshot: ${cause instanceof Error ? cause.message : String(cause)}`
      })
    )
  }
}

export const restore = (bytes: Uint8Array): Either.Either<SymbolState, DecodeError> =>
  Either.flatMap(parseSnapshot(bytes), fromJson)

/** Several symbols' states, sorted by symbol so equal maps give equal bytes. */
export const snapshotAll = (states: Iterable<SymbolState>): Uint8Array =>
  encoder.encode(JSON.stringify(
    [...states].sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0)).map(toJson)
  ))

export const restoreAll = (bytes: Uint8Array): Either.Either<ReadonlyMap<string, SymbolState>, DecodeError> => {
  const parsed = parseSnapshot(bytes)
  if (Either.isLeft(parsed)) return Either.left(parsed.left)
  const json = parsed.right
  if (!Array.isArray(json)) {
    return Either.left(
      new MalformedPayload({ messageType: STATE_MESSAGE, format: "json", message: "expected a JSON array of states" })
    )
  }
  const states = new Map<string, SymbolState>()
  for (const item of json) {
    const decoded = fromJson(item)
    if (Either.isLeft(decoded)) return Either.left(decoded.left)
    states.set(decoded.right.symbol, decoded.right)
  }
  return Either.right(states)
}
