import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as OrderCommand from "./OrderCommand.js"
import * as OrderValidation from "./OrderValidation.js"
import { defaultRiskLimits } from "./RiskLimits.js"
import * as Strategy from "./Strategy.js"
import type { Tick } from "./Tick.js"
import * as TickCodec from "./Tick.js"

const T0 = 1_760_000_000_000

const ticks = (prices: ReadonlyArray<number>, symbol = "ACME", firstSequence = 1): Array<Tick> =>
  prices.map((priceMicros, i) => ({
    schemaVersion: 1,
    tickId: `synthetic-${symbol}-${firstSequence + i}`,
    symbol,
    priceMicros,
    size: 1,
    observedAtUnixMs: T0 + (firstSequence + i) * 1000,
    sequence: firstSequence + i,
    source: "synthetic"
  }))

const run = (
  input: ReadonlyArray<Tick>,
  config: Strategy.StrategyConfig,
  from: Strategy.SymbolState = Strategy.initial(input[0]?.symbol ?? "ACME")
): readonly [Strategy.SymbolState, Array<OrderCommand.OrderCommand>] => {
  let state = from
  const commands: Array<OrderCommand.OrderCommand> = []
  for (const tick of input) {
    const [next, emitted] = Strategy.step(state, tick, config)
    state = next
    commands.push(...emitted)
  }
  return [state, commands]
}

const config = (settings: Partial<Strategy.StrategyConfig>) => Either.getOrThrow(Strategy.makeConfig(settings))

// A random walk of prices in micros, never below 1.
const walk = fc.tuple(
  fc.integer({ min: 1_000_000, max: 500_000_000 }),
  fc.array(fc.integer({ min: -3, max: 3 }), {
    minLength: 1,
    maxLength: 120
  })
).map(([start, steps]) => {
  const prices: Array<number> = []
  let price = start
  for (const s of steps) {
    price = Math.max(1, price + s * 250_000)
    prices.push(price)
  }
  return prices
})
const configArb = fc.record({
  fastWindow: fc.integer({ min: 1, max: 5 }),
  slowGap: fc.integer({ min: 1, max: 10 }),
  maxPosition: fc.integer({ min: 0, max: 50 }),
  maxOrderQuantity: fc.integer({ min: 1, max: 20 })
}).map(({ fastWindow, maxOrderQuantity, maxPosition, slowGap }) =>
  config({ fastWindow, slowWindow: fastWindow + slowGap, maxPosition, maxOrderQuantity })
)

describe("Strategy (moving-average crossover)", () => {
  it("has documented defaults and rejects inconsistent windows with the field named", () => {
    expect(Strategy.defaultConfig).toEqual({ fastWindow: 5, slowWindow: 20, maxPosition: 100, maxOrderQuantity: 10 })
    const bad = Strategy.makeConfig({ fastWindow: 20, slowWindow: 20 })
    expect(Either.isLeft(bad) && bad.left.message).toBe("fast_window: must be < slow_window (20), got 20")
    const zero = Strategy.makeConfig({ maxOrderQuantity: 0 })
    expect(Either.isLeft(zero) && zero.left.message).toBe("max_order_quantity: must be > 0, got 0")
  })

  it("emits nothing until the slow window is full, then buys when the fast average is above", () => {
    const c = config({ fastWindow: 2, slowWindow: 3, maxPosition: 5, maxOrderQuantity: 5 })
    const [, early] = run(ticks([100, 100]), c)
    expect(early).toEqual([])
    const [state, commands] = run(ticks([100, 100, 130]), c)
    expect(commands).toHaveLength(1)
    expect(commands[0]).toMatchObject({
      symbol: "ACME",
      side: "BUY",
      quantity: 5,
      limitPriceMicros: 130,
      createdAtUnixMs: T0 + 3000,
      sourceTickId: "synthetic-ACME-3",
      strategy: Strategy.label(c)
    })
    expect(state.position).toBe(5)
    expect(state.signal).toBe(1)
  })

  it("reverses to the short limit after a downward cross, in orders of at most max_order_quantity", () => {
    const c = config({ fastWindow: 1, slowWindow: 2, maxPosition: 10, maxOrderQuantity: 4 })
    // up (buy 4, 4, 2 to reach +10), then a cross down: sell 4 per tick towards -10
    const [state, commands] = run(ticks([100, 110, 120, 130, 120, 110, 100, 90, 80, 70]), c)
    expect(commands.map((cmd) => `${cmd.side} ${cmd.quantity}`)).toEqual([
      "BUY 4",
      "BUY 4",
      "BUY 2",
      "SELL 4",
      "SELL 4",
      "SELL 4",
      "SELL 4",
      "SELL 4"
    ])
    expect(state.position).toBe(-10)
  })

  it("summarises a symbol's state for GetSymbolState", () => {
    const c = config({ fastWindow: 2, slowWindow: 3, maxPosition: 5, maxOrderQuantity: 5 })
    expect(Strategy.summary(Strategy.initial("ACME"), c)).toEqual({
      symbol: "ACME",
      ticksSeen: 0,
      lastPriceMicros: 0,
      fastAverageMicros: 0,
      slowAverageMicros: 0,
      position: 0,
      commandsEmitted: 0
    })
    const [state] = run(ticks([100, 101, 130, 131]), c)
    expect(Strategy.summary(state, c)).toEqual({
      symbol: "ACME",
      ticksSeen: 4,
      lastPriceMicros: 131,
      fastAverageMicros: 130, // (130 + 131) / 2 rounded down
      slowAverageMicros: 120, // (101 + 130 + 131) / 3 rounded down
      position: 5,
      commandsEmitted: 1
    })
  })

  it("keeps the last signal when the averages are equal", () => {
    const c = config({ fastWindow: 1, slowWindow: 2, maxPosition: 1, maxOrderQuantity: 1 })
    const [state, commands] = run(ticks([100, 110, 110, 110]), c)
    expect(commands.map((cmd) => cmd.side)).toEqual(["BUY"])
    expect(state.signal).toBe(1)
  })

  it("ignores ticks whose sequence is not newer, deterministically and without a decision", () => {
    const c = config({ fastWindow: 1, slowWindow: 2, maxPosition: 10, maxOrderQuantity: 1 })
    const [state] = run(ticks([100, 110]), c)
    const stale = ticks([5_000], "ACME", 2)[0]!
    const [after, commands] = Strategy.step(state, stale, c)
    expect(commands).toEqual([])
    expect(after).toEqual({ ...state, staleIgnored: 1 })
    const duplicate = ticks([110], "ACME", 1)[0]!
    expect(Strategy.step(after, duplicate, c)[0].staleIgnored).toBe(2)
  })

  it("refuses a tick of another symbol (a routing bug)", () => {
    expect(() => Strategy.step(Strategy.initial("ACME"), ticks([1], "OTHER")[0]!, Strategy.defaultConfig)).toThrow(
      /tick for OTHER applied to the state of ACME/
    )
  })

  it("reprocessing the same ticks from the same state yields identical commands and ids", () => {
    fc.assert(
      fc.property(walk, configArb, (prices, c) => {
        const input = ticks(prices)
        expect(run(input, c)).toEqual(run(input, c))
        const [, commands] = run(input, c)
        expect(new Set(commands.map((cmd) => cmd.commandId)).size).toBe(commands.length)
        expect(new Set(commands.map((cmd) => cmd.orderId)).size).toBe(commands.length)
      }),
      { numRuns: 200 }
    )
  })

  it("never exceeds the position limit or the order quantity limit, and emits valid commands", () => {
    fc.assert(
      fc.property(walk, configArb, (prices, c) => {
        let state = Strategy.initial("ACME")
        for (const tick of ticks(prices)) {
          const [next, commands] = Strategy.step(state, tick, c)
          expect(Math.abs(next.position)).toBeLessThanOrEqual(c.maxPosition)
          for (const command of commands) {
            expect(command.quantity).toBeGreaterThan(0)
            expect(command.quantity).toBeLessThanOrEqual(c.maxOrderQuantity)
            expect(command.limitPriceMicros).toBe(tick.priceMicros)
          }
          expect(next.prices.length).toBeLessThanOrEqual(c.slowWindow)
          state = next
        }
      }),
      { numRuns: 200 }
    )
  })

  it("a snapshot taken anywhere restores to a state that continues identically", () => {
    fc.assert(
      fc.property(walk, configArb, fc.nat(), (prices, c, cut) => {
        const input = ticks(prices)
        const at = cut % (input.length + 1)
        const [middle, before] = run(input.slice(0, at), c, Strategy.initial("ACME"))
        const bytes = Strategy.snapshot(middle)
        const restored = Either.getOrThrow(Strategy.restore(bytes))
        expect(restored).toEqual(middle)
        expect(Strategy.snapshot(restored)).toEqual(bytes)
        const [endRestored, after] = run(input.slice(at), c, restored)
        const [endStraight, all] = run(input, c)
        expect([...before, ...after]).toEqual(all)
        expect(endRestored).toEqual(endStraight)
      }),
      { numRuns: 200 }
    )
  })

  it("snapshots several symbols deterministically (sorted) and restores them", () => {
    const c = config({ fastWindow: 1, slowWindow: 2 })
    const [a] = run(ticks([1, 2, 3], "AAA"), c)
    const [b] = run(ticks([3, 2, 1], "BBB"), c)
    const bytes = Strategy.snapshotAll([b, a])
    expect(bytes).toEqual(Strategy.snapshotAll([a, b]))
    expect(Either.getOrThrow(Strategy.restoreAll(bytes))).toEqual(new Map([["AAA", a], ["BBB", b]]))
  })

  it("rejects a corrupt snapshot with a typed error", () => {
    const bad = Strategy.restore(new TextEncoder().encode("{\"v\":1,\"symbol\":\"acme\"}"))
    expect(Either.isLeft(bad) && bad.left.message).toMatch(/^symbol: must be 1-12 characters/)
    const notJson = Strategy.restore(new Uint8Array([0xff]))
    expect(Either.isLeft(notJson) && notJson.left._tag).toBe("MalformedPayload")
    const version = Strategy.restore(new TextEncoder().encode("{\"v\":2}"))
    expect(Either.isLeft(version)).toBe(true)
  })

  it("emits commands that decode and pass order validation", () => {
    const c = config({ fastWindow: 1, slowWindow: 2 })
    const input = ticks([100_000_000, 101_000_000])
    for (const tick of input) expect(Either.isRight(TickCodec.validate(tick))).toBe(true)
    const [, commands] = run(input, c)
    expect(commands).toHaveLength(1)
    const command = commands[0]!
    expect(OrderCommand.validate(command)).toEqual(Either.right(command))
    expect(OrderCommand.fromBytes(OrderCommand.toBytes(command))).toEqual(Either.right(command))
    expect(OrderValidation.validate(command, defaultRiskLimits)._tag).toBe("Accepted")
  })
})
