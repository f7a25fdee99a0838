// `verify` as a real process against real Kafka: clean on a consistent stream, exit 1 with
// each problem listed on a corrupted one (missing event, two outcomes, duplicate event id).
import { KafkaBus, MessageBus, type OutgoingRecord } from "@trading/bus"
import { DeterministicId, Execution, Fields, OrderCommand, OrderEvent, RiskLimits } from "@trading/domain"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { run } from "../../order-executor/test/processes.js"

const brokers = process.env.KAFKA_BROKERS!

const bus = <A, E>(f: (bus: MessageBus["Type"]) => Effect.Effect<A, E>) =>
  Effect.runPromise(Effect.scoped(
    Effect.flatMap(MessageBus, f).pipe(
      Effect.provide(KafkaBus.layer),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["KAFKA_BROKERS", brokers]])))
    )
  ))

const command = (tag: string, n: number): OrderCommand.OrderCommand => {
  const ids = DeterministicId.decisionIds("verify-test", `${tag}-${n}`)
  return {
    schemaVersion: Fields.SCHEMA_VERSION,
    commandId: ids.commandId,
    orderId: ids.orderId,
    symbol: "ACME",
    side: "BUY",
    quantity: 1 + n,
    limitPriceMicros: 100_000_000,
    createdAtUnixMs: 1_760_000_000_000 + n,
    sourceTickId: "",
    strategy: "verify-test"
  }
}

const eventFor = (c: OrderCommand.OrderCommand, index: number) =>
  Execution.toEvent(c, { record: Execution.outcome(c, RiskLimits.defaultRiskLimits), index })

/** Fresh topics with these commands and events; returns the env naming them. */
const stream = async (
  tag: string,
  commands: ReadonlyArray<OrderCommand.OrderCommand>,
  events: ReadonlyArray<OrderEvent.OrderEvent>
) => {
  const names = { COMMANDS_TOPIC: `it-verify-cmd-${tag}`, EVENTS_TOPIC: `it-verify-evt-${tag}` }
  const records: Array<OutgoingRecord> = [
    ...commands.map((c) => ({ topic: names.COMMANDS_TOPIC, key: c.orderId, value: OrderCommand.toBytes(c) })),
    ...events.map((e) => ({ topic: names.EVENTS_TOPIC, key: e.orderId, value: OrderEvent.toBytes(e) }))
  ]
  await bus((b) =>
    Effect.zipRight(
      b.ensureTopics([{ name: names.COMMANDS_TOPIC, partitions: 3 }, { name: names.EVENTS_TOPIC, partitions: 3 }]),
      b.produceBatch(records)
    )
  )
  return names
}

const verify = async (names: Record<string, string>) => {
  const proc = run("cli", ["verify"], { ...names, KAFKA_BROKERS: brokers })
  const { code } = await proc.exited
  return { code, output: proc.output() }
}

describe("verify (real Kafka, real process)", () => {
  it("reports a consistent stream as clean and exits 0", async () => {
    const tag = `clean-${Date.now()}`
    const commands = [0, 1, 2].map((n) => command(tag, n))
    // a duplicated command is fine: one order, one event
    const names = await stream(tag, [...commands, commands[0]!], commands.map((c, i) => eventFor(c, i + 1)))
    const { code, output } = await verify(names)
    expect(output).toContain("verify: 4 commands (3 orders, 0 undecodable), 3 events")
    expect(output).toContain("commands without an event: 0")
    expect(output).toContain("verify: OK")
    expect(code).toBe(0)
  }, 60_000)

  it("lists missing events, conflicting outcomes and duplicate event ids, and exits 1", async () => {
    const tag = `corrupt-${Date.now()}`
    const [a, b, c] = [0, 1, 2].map((n) => command(tag, n)) as [
      OrderCommand.OrderCommand,
      OrderCommand.OrderCommand,
      OrderCommand.OrderCommand
    ]
    const eventA = eventFor(a, 1)
    const eventB = eventFor(b, 2)
    const otherB: OrderEvent.OrderEvent = {
      ...eventB,
      eventId: "evt-second-outcome",
      status: "REJECTED",
      reason: "max_order_quantity: quantity too large",
      filledQuantity: 0,
      fillPriceMicros: 0
    }
    const names = await stream(tag, [a, b, c], [eventA, eventA, eventB, otherB])
    const { code, output } = await verify(names)
    expect(output).toContain("commands without an event: 1")
    expect(output).toContain(c.orderId)
    expect(output).toContain("orders with two different outcomes: 1")
    expect(output).toMatch(new RegExp(`${b.orderId}: .*EXECUTED.* \\| .*REJECTED`))
    expect(output).toContain("duplicate event ids: 1")
    expect(output).toContain(`${eventA.eventId} x2`)
    expect(output).toContain("verify: FAILED")
    expect(code).toBe(1)
  }, 60_000)
})
