// Poison input through the whole pipeline (ingestor aside: a plain kafkajs producer writes the
// ticks): garbage bytes and schema-invalid records on the ticks and commands topics end up
// on the matching `.dlq` topics, byte for byte with a reason header, while the valid ticks
// around them still become exactly the strategy's commands and one event each.
import { DeadLetter } from "@trading/bus"
import * as OrderCommand from "@trading/domain/OrderCommand"
import * as Tick from "@trading/domain/Tick"
import { Tick as ProtoTick } from "@trading/proto/gen/trading/v1/market"
import { OrderCommand as ProtoCommand, Side } from "@trading/proto/gen/trading/v1/orders"
import { describe, expect, it } from "vitest"
import * as TestTicks from "../../../stream-processor/src/internal/testTicks.js"
import { fileSetup } from "./fileSetup.js"
import {
  commandKey,
  expectedCommands,
  kafka,
  pipelineEnv,
  type RawRecord,
  readUntil,
  SYMBOLS,
  unique,
  verify
} from "./harness.js"

const { dir, procs } = fileSetup("poison")

const garbage = Buffer.from([0xff, 0xff, 0x07, 0x00, 0x42])
// decodes as protobuf, fails the schema: a negative price and an empty symbol
const invalidTick = Buffer.from(
  ProtoTick.encode({
    schemaVersion: 1,
    tickId: "bad-tick",
    symbol: "",
    priceMicros: -5,
    size: 1,
    observedAtUnixMs: TestTicks.BASE_TIME,
    sequence: 1,
    source: "test"
  }).finish()
)
// decodes as protobuf, fails the schema: no identity (an empty command id). A bad quantity
// would not do: a command with an identity becomes a REJECTED event (OrderCommand.ts)
const invalidCommand = Buffer.from(
  ProtoCommand.encode({
    schemaVersion: 1,
    commandId: "",
    orderId: "ord-bad",
    symbol: "ACME",
    side: Side.SIDE_BUY,
    quantity: 1,
    limitPriceMicros: 100_000_000,
    createdAtUnixMs: TestTicks.BASE_TIME,
    sourceTickId: "",
    strategy: "poison-test"
  }).finish()
)

const hasValue = (records: ReadonlyArray<RawRecord>, value: Buffer) => records.some((r) => r.value?.equals(value))

const expectDeadLetter = (records: ReadonlyArray<RawRecord>, value: Buffer, topic: string) => {
  const dead = records.find((r) => r.value?.equals(value))
  expect(dead, `dead letter ${value.toString("hex")} on ${topic}.dlq`).toBeDefined()
  expect(dead!.headers[DeadLetter.headerNames.topic]).toBe(topic)
  expect(dead!.headers[DeadLetter.headerNames.reason]?.length ?? 0).toBeGreaterThan(0)
  return dead!
}

describe("poison input across the pipeline (real processes, real Kafka)", () => {
  it("garbage and schema-invalid records go to the .dlq topics with reasons; valid ones keep flowing", async () => {
    const id = unique("poison")
    const env = pipelineEnv(id, dir)
    // both create their topics (with the .dlq twins) before they report ready
    await procs.pipeline(env, dir, 1)

    const ticks = TestTicks.wave(SYMBOLS, 40, id)
    const expected = expectedCommands(ticks)
    expect(expected.length).toBeGreaterThan(5)
    const producer = kafka.producer()
    await producer.connect()
    try {
      const half = Math.floor(ticks.length / 2)
      const tickMessage = (t: Tick.Tick) => ({ key: t.symbol, value: Buffer.from(Tick.toBytes(t)) })
      // poison in the middle of each symbol's stream: the ticks after it must still count
      await producer.send({
        topic: env.TICKS_TOPIC!,
        messages: [
          ...ticks.slice(0, half).map(tickMessage),
          ...SYMBOLS.map((symbol) => ({ key: symbol, value: garbage })),
          { key: "ACME", value: invalidTick },
          ...ticks.slice(half).map(tickMessage)
        ]
      })
      await producer.send({
        topic: env.COMMANDS_TOPIC!,
        messages: [{ key: "poison-1", value: garbage }, { key: "ord-bad", value: invalidCommand }]
      })
    } finally {
      await producer.disconnect()
    }

    const tickDlq = await readUntil(
      `${env.TICKS_TOPIC}.dlq`,
      (rs) => rs.filter((r) => r.value?.equals(garbage)).length === SYMBOLS.length && hasValue(rs, invalidTick)
    )
    expect(tickDlq).toHaveLength(SYMBOLS.length + 1)
    expect(expectDeadLetter(tickDlq, garbage, env.TICKS_TOPIC!).headers[DeadLetter.headerNames.errorTag])
      .toBe("MalformedPayload")
    const badTick = expectDeadLetter(tickDlq, invalidTick, env.TICKS_TOPIC!)
    expect(badTick.key).toBe("ACME")
    // the reason names the offending fields
    expect(badTick.headers[DeadLetter.headerNames.errorTag]).toBe("InvalidFields")
    expect(badTick.headers[DeadLetter.headerNames.reason]).toMatch(/symbol: .*price_micros: must be > 0, got -5/)

    const commandDlq = await readUntil(
      `${env.COMMANDS_TOPIC}.dlq`,
      (rs) => hasValue(rs, garbage) && hasValue(rs, invalidCommand)
    )
    expect(commandDlq).toHaveLength(2)
    expect(expectDeadLetter(commandDlq, garbage, env.COMMANDS_TOPIC!).headers[DeadLetter.headerNames.errorTag])
      .toBe("MalformedPayload")
    const badCommand = expectDeadLetter(commandDlq, invalidCommand, env.COMMANDS_TOPIC!)
    expect(badCommand.key).toBe("ord-bad")
    expect(badCommand.headers[DeadLetter.headerNames.errorTag]).toBe("InvalidFields")
    expect(badCommand.headers[DeadLetter.headerNames.reason]).toMatch(/^command_id: must not be empty/)

    // the valid ticks, before and after the poison, became exactly the strategy's commands
    const commands = await readUntil(
      env.COMMANDS_TOPIC!,
      (rs) => new Set(rs.map((r) => r.key)).size >= expected.length + 2
    )
    const decoded = commands.filter((r) => !r.value!.equals(garbage) && !r.value!.equals(invalidCommand))
      .map((r) => OrderCommand.fromBytes(r.value!))
    expect(decoded.every((d) => d._tag === "Right")).toBe(true)
    expect(new Set(decoded.map((d) => d._tag === "Right" ? commandKey(d.right) : ""))).toEqual(
      new Set(expected.map(commandKey))
    )

    // and every one of them got exactly one event
    const { code, report } = await verify(env, 60)
    expect(report).toContain(`(${expected.length} orders, 2 undecodable), ${expected.length} events`)
    expect(report).toContain("commands without an event: 0")
    expect(report).toContain("orders with two different outcomes: 0")
    expect(report).toContain("duplicate event ids: 0")
    expect(code).toBe(0)
  }, 150_000)
})
