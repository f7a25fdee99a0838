import { describe, expect, it } from "@effect/vitest"
import * as Tick from "@trading/domain/Tick"
import * as Either from "effect/Either"
import * as Sequencer from "./Sequencer.js"
import * as SyntheticWalk from "./SyntheticWalk.js"

const run = (seed: number, runId: string, rounds: number, symbols = ["ACME", "GLOBEX"]) => {
  let state = SyntheticWalk.initial(seed, symbols)
  const out = []
  for (let i = 0; i < rounds; i++) {
    const [next, ticks] = SyntheticWalk.nextRound(state, {
      symbols,
      runId,
      seed,
      observedAtUnixMs: 1_760_000_000_000 + i
    })
    state = next
    out.push(...ticks)
  }
  return out
}

describe("SyntheticWalk", () => {
  it("is deterministic by seed: same prices and sizes in the same order", () => {
    const a = run(42, "run1", 200)
    const b = run(42, "run1", 200)
    expect(b).toEqual(a)
    // another run of the same seed: same market, fresh tick ids
    const c = run(42, "run2", 200)
    expect(c.map((t) => [t.symbol, t.priceMicros, t.size])).toEqual(a.map((t) => [t.symbol, t.priceMicros, t.size]))
    expect(new Set([...a, ...c].map((t) => t.tickId)).size).toBe(800)
  })

  it("differs by seed", () => {
    expect(run(1, "r", 50).map((t) => t.priceMicros)).not.toEqual(run(2, "r", 50).map((t) => t.priceMicros))
  })

  it("walks in small steps and only makes valid ticks", () => {
    const ticks = run(7, "r", 500)
    for (const tick of ticks) expect(Either.isRight(Tick.validate(tick))).toBe(true)
    const acme = ticks.filter((t) => t.symbol === "ACME").map((t) => t.priceMicros)
    for (let i = 1; i < acme.length; i++) {
      expect(Math.abs(acme[i]! - acme[i - 1]!)).toBeLessThanOrEqual(Math.ceil(acme[i - 1]! * 0.001))
    }
    expect(new Set(acme).size).toBeGreaterThan(10) // it does move
  })
})

describe("Sequencer", () => {
  it("grows per symbol, also within one millisecond, and after a restart", () => {
    let table = Sequencer.empty
    const seen: Array<number> = []
    for (let i = 0; i < 5; i++) {
      const [seq, next] = Sequencer.next(table, "ACME", 1_000)
      table = next
      seen.push(seq)
    }
    expect(seen).toEqual([1_000_000, 1_000_001, 1_000_002, 1_000_003, 1_000_004])
    const [other] = Sequencer.next(table, "GLOBEX", 1_000)
    expect(other).toBe(1_000_000) // independent per symbol
    // a restarted ingestor (empty table) one millisecond later is above everything issued
    const [afterRestart] = Sequencer.next(Sequencer.empty, "ACME", 1_001)
    expect(afterRestart).toBeGreaterThan(seen.at(-1)!)
    const [assigned] = Sequencer.assign(table, ["ACME", "ACME", "GLOBEX"], 1_000)
    expect(assigned).toEqual([1_000_005, 1_000_006, 1_000_000])
  })
})
