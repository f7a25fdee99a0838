import { describe, expect, it } from "@effect/vitest"
import { DeterministicId, Execution, Fields, OrderCommand, OrderEvent, RiskLimits } from "@trading/domain"
import { Accumulator, isClean, render } from "./VerifyReport.js"

const command = (n: number): OrderCommand.OrderCommand => {
  const ids = DeterministicId.decisionIds("report-test", `t-${n}`)
  return {
    schemaVersion: Fields.SCHEMA_VERSION,
    commandId: ids.commandId,
    orderId: ids.orderId,
    symbol: "ACME",
    side: "SELL",
    quantity: 2,
    limitPriceMicros: 5_000_000,
    createdAtUnixMs: 1_760_000_000_000,
    sourceTickId: "",
    strategy: "report-test"
  }
}
const event = (c: OrderCommand.OrderCommand) =>
  Execution.toEvent(c, { record: Execution.outcome(c, RiskLimits.defaultRiskLimits), index: 1 })

describe("VerifyReport", () => {
  it("is clean when every decodable command has one event; garbage and dead letters are counted, not missing", () => {
    const acc = new Accumulator()
    const [a, b] = [command(1), command(2)]
    acc.addCommand(OrderCommand.toBytes(a))
    acc.addCommand(OrderCommand.toBytes(a)) // a redelivered command
    acc.addCommand(OrderCommand.toBytes(b))
    acc.addCommand(new Uint8Array([0xff, 0x07]))
    acc.addDeadLetter(OrderCommand.toBytes(b)) // e.g. too_old
    acc.addEvent(OrderEvent.toBytes(event(a)))
    const f = acc.findings()
    expect(f).toMatchObject({ commands: 4, orders: 2, undecodableCommands: 1, events: 1, missing: [] })
    expect(f.deadLettered).toEqual([b.orderId])
    expect(isClean(f)).toBe(true)
    expect(render(f)).toMatch(/verify: OK$/)
  })

  it("finds a missing event, two outcomes for one order and a duplicated event id", () => {
    const acc = new Accumulator()
    const [a, b, c] = [command(1), command(2), command(3)]
    for (const x of [a, b, c]) acc.addCommand(OrderCommand.toBytes(x))
    acc.addEvent(OrderEvent.toBytes(event(a)))
    acc.addEvent(OrderEvent.toBytes(event(a)))
    acc.addEvent(OrderEvent.toBytes(event(b)))
    acc.addEvent(
      OrderEvent.toBytes({
        ...event(b),
        eventId: "evt-other",
        status: "REJECTED",
        reason: "x",
        filledQuantity: 0,
        fillPriceMicros: 0
      })
    )
    const f = acc.findings()
    expect(f.missing).toEqual([c.orderId])
    expect(f.conflicting.map((x) => x.orderId)).toEqual([b.orderId])
    expect(f.duplicateEventIds).toEqual([{ eventId: event(a).eventId, count: 2 }])
    expect(isClean(f)).toBe(false)
    expect(render(f)).toMatch(/verify: FAILED$/)
  })
})
