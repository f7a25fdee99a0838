import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as ReplayParser from "./ReplayParser.js"

const context = { file: "/data/day one.csv" }
const T = 1_760_000_000_000

describe("ReplayParser", () => {
  it("tells formats from file names", () => {
    expect(ReplayParser.formatOf("a.csv")).toEqual(Either.right("csv"))
    expect(ReplayParser.formatOf("a.JSONL")._tag).toBe("Right")
    expect(ReplayParser.formatOf("a.txt")._tag).toBe("Left")
  })

  it("parses CSV, names the field of each bad row and keeps going", () => {
    const text = [
      "symbol,price_micros,size,observed_at_unix_ms,tick_id",
      `ACME,101250000,10,${T},t-1`,
      "",
      "# a comment",
      `ACME,-5,10,${T + 1},t-2`, // price
      `ACME,101250000,ten,${T + 2},t-3`, // not an integer
      `acme,101250000,1,${T + 3},t-4`, // symbol
      `GLOBEX,5000000,3,${T + 4}`, // too few columns
      `GLOBEX,5000000,3,${T + 5},`, // empty id
      `GLOBEX,5000000,3,${T + 6},t-7`
    ].join("\n")
    const results = ReplayParser.parseAll("csv", text, context)
    expect(results.map((r) => r._tag)).toEqual(["Tick", "Bad", "Bad", "Bad", "Bad", "Bad", "Tick"])
    const first = results[0]!
    expect(first._tag === "Tick" && first.tick).toEqual({
      schemaVersion: 1,
      tickId: "t-1",
      symbol: "ACME",
      priceMicros: 101_250_000,
      size: 10,
      observedAtUnixMs: T,
      sequence: 0,
      source: "replay:day_one.csv"
    })
    const bad = results.flatMap((r) => r._tag === "Bad" ? [r.error] : [])
    expect(bad.map((e) => [e.line, e.fields])).toEqual([
      [5, ["price_micros"]],
      [6, ["size"]],
      [7, ["symbol"]],
      [8, []],
      [9, ["tick_id"]]
    ])
    expect(bad[0]!.reason).toContain("price_micros: must be > 0, got -5")
    expect(bad[3]!.reason).toContain("expected 5 columns")
  })

  it("derives stable ids from the file and line when the CSV has no tick_id", () => {
    const text = `symbol,price_micros,size,observed_at_unix_ms\nACME,1000000,1,${T}\n`
    const [result] = ReplayParser.parseAll("csv", text, context)
    expect(result!._tag === "Tick" && result!.tick.tickId).toBe("replay-day_one.csv-2")
  })

  it("refuses an unusable CSV header with the column named", () => {
    const results = ReplayParser.parseAll("csv", `symbol,price,size,observed_at_unix_ms\nACME,1,1,${T}`, context)
    expect(results).toHaveLength(1)
    expect(results[0]!._tag).toBe("Fatal")
    expect(results[0]!._tag === "Fatal" && results[0]!.error.fields).toEqual(["price"])
    const missing = ReplayParser.parseAll("csv", "symbol,size,observed_at_unix_ms", context)
    expect(missing[0]!._tag === "Fatal" && missing[0]!.error.fields).toEqual(["price_micros"])
  })

  it("parses JSON lines in the domain's snake_case form, naming bad fields", () => {
    const ok = { tick_id: "j-1", symbol: "ACME", price_micros: 1_000_000, size: 2, observed_at_unix_ms: T }
    const text = [
      JSON.stringify(ok),
      JSON.stringify({ ...ok, tick_id: "j-2", size: 0 }),
      "{not json",
      "[1,2]",
      JSON.stringify({ ...ok, tick_id: "j-5", price: 3 }),
      JSON.stringify({ ...ok, tick_id: "j-6", schema_version: 2 }),
      // a recorded sequence and source are replaced by the ingestor's
      JSON.stringify({ ...ok, tick_id: "j-7", sequence: 99, source: "elsewhere", schema_version: 1 })
    ].join("\n")
    const results = ReplayParser.parseAll("jsonl", text, { file: "ticks.jsonl" })
    expect(results.map((r) => r._tag)).toEqual(["Tick", "Bad", "Bad", "Bad", "Bad", "Bad", "Tick"])
    const bad = results.flatMap((r) => r._tag === "Bad" ? [r.error] : [])
    expect(bad.map((e) => [e.line, e.fields])).toEqual([
      [2, ["size"]],
      [3, []],
      [4, []],
      [5, ["price"]],
      [6, ["schema_version"]]
    ])
    const last = results[6]!
    expect(last._tag === "Tick" && [last.tick.sequence, last.tick.source]).toEqual([0, "replay:ticks.jsonl"])
  })
})
