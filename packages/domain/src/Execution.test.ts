import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as DeterministicId from "./DeterministicId.js"
import * as Execution from "./Execution.js"
import * as Arb from "./internal/arbitraries.js"
import type { OrderCommand } from "./OrderCommand.js"
import * as OrderEvent from "./OrderEvent.js"
import * as OrderRecord from "./OrderRecord.js"
import { defaultRiskLimits } from "./RiskLimits.js"

const command: OrderCommand = {
  schemaVersion: 1,
  commandId: "cmd-1",
  orderId: "ord-1",
  symbol: "ACME",
  side: "SELL",
  quantity: 7,
  limitPriceMicros: 99_500_000,
  createdAtUnixMs: 1_760_000_000_000,
  sourceTickId: "t-1",
  strategy: "test"
}

describe("Execution", () => {
  it("fills an accepted order in full at its limit price (the simulated venue)", () => {
    expect(Execution.outcome(command, defaultRiskLimits)).toEqual({
      orderId: "ord-1",
      eventId: DeterministicId.eventId("cmd-1"),
      commandId: "cmd-1",
      status: "EXECUTED",
      reason: "",
      filledQuantity: 7,
      fillPriceMicros: 99_500_000,
      recordedAtUnixMs: command.createdAtUnixMs
    })
  })

  it("turns a rejection into a REJECTED record with the reason and no fill", () => {
    expect(Execution.outcome({ ...command, quantity: 0 }, defaultRiskLimits)).toMatchObject({
      status: "REJECTED",
      reason: "quantity_positive: quantity must be > 0, got 0",
      filledQuantity: 0,
      fillPriceMicros: 0
    })
  })

  it("derives the event id from the command id only", () => {
    const again = Execution.outcome({ ...command, quantity: 5 }, defaultRiskLimits)
    expect(again.eventId).toBe(Execution.outcome(command, defaultRiskLimits).eventId)
    expect(Execution.outcome({ ...command, commandId: "cmd-2" }, defaultRiskLimits).eventId).not.toBe(again.eventId)
  })

  it("produces records and events that pass their wire validation, for any decodable command", () => {
    fc.assert(fc.property(Arb.orderCommand, fc.nat(), (c, index) => {
      const record = Execution.outcome(c, defaultRiskLimits)
      expect(OrderRecord.validate(record)).toEqual(Either.right(record))
      const event = Execution.toEvent(c, { record, index })
      expect(OrderEvent.validate(event)).toEqual(Either.right(event))
      expect(event).toMatchObject({ status: record.status, registryIndex: index, eventId: record.eventId })
    }))
  })

  it("builds the event from the registry's canonical record, not from a second decision", () => {
    const first = Execution.outcome(command, defaultRiskLimits)
    const event = Execution.toEvent({ ...command, quantity: 0 }, { record: first, index: 3 })
    expect(event).toMatchObject({ status: "EXECUTED", filledQuantity: 7, registryIndex: 3, eventId: first.eventId })
  })
})
