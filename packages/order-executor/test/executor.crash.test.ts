// The order-executor as a real process against real Kafka and a real raft-node: killed with
// SIGKILL mid-stream several times and restarted on the same SQLite file. Afterwards every
// command has exactly one event and no event id appears twice (checked by `verify`).
import { KafkaBus, MessageBus, type OutgoingRecord } from "@trading/bus"
import { DeterministicId, Fields, OrderCommand } from "@trading/domain"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freePort, type Proc, run, stop } from "./processes.js"

const brokers = process.env.KAFKA_BROKERS!
const suffix = `${Date.now()}`
const names = {
  COMMANDS_TOPIC: `it-exec-commands-${suffix}`,
  EVENTS_TOPIC: `it-exec-events-${suffix}`,
  EXECUTOR_GROUP: `it-exec-${suffix}`
}
const dir = mkdtempSync(join(tmpdir(), "executor-it-"))
let raft: Proc
let raftAddr = ""

const bus = <A, E>(f: (bus: MessageBus["Type"]) => Effect.Effect<A, E>) =>
  Effect.runPromise(Effect.scoped(
    Effect.flatMap(MessageBus, f).pipe(
      Effect.provide(KafkaBus.layer),
      Effect.withConfigProvider(
        // only the broker list: the rest of the test environment is not the bus's business
        ConfigProvider.fromMap(new Map([["KAFKA_BROKERS", brokers]]))
      )
    )
  ))

const command = (n: number): OrderCommand.OrderCommand => {
  const ids = DeterministicId.decisionIds("crash-test", `tick-${suffix}-${n}`)
  return {
    schemaVersion: Fields.SCHEMA_VERSION,
    commandId: ids.commandId,
    orderId: ids.orderId,
    symbol: n % 10 === 0 ? "bad symbol" : "ACME", // every tenth is REJECTED
    side: n % 2 === 0 ? "BUY" : "SELL",
    quantity: 1 + (n % 10),
    limitPriceMicros: 100_000_000 + n,
    createdAtUnixMs: 1_760_000_000_000 + n,
    sourceTickId: `tick-${n}`,
    strategy: "crash-test"
  }
}

const records = (from: number, to: number): ReadonlyArray<OutgoingRecord> => {
  const out: Array<OutgoingRecord> = []
  for (let n = from; n < to; n++) {
    const c = command(n)
    out.push({ topic: names.COMMANDS_TOPIC, key: c.orderId, value: OrderCommand.toBytes(c) })
    // every seventh command is sent twice (a producer retry): still one event
    if (n % 7 === 0) out.push({ topic: names.COMMANDS_TOPIC, key: c.orderId, value: OrderCommand.toBytes(c) })
  }
  return out
}

const startExecutor = () =>
  run("order-executor", [], {
    ...names,
    KAFKA_BROKERS: brokers,
    RAFT_NODE_GRPC_ADDR: raftAddr,
    PORT_GRPC: "0",
    PORT_HTTP: "0",
    EXECUTOR_DB_PATH: join(dir, "outbox.db"),
    KAFKA_SESSION_TIMEOUT_MS: "6000"
  })

beforeAll(async () => {
  const [grpc, http, transport] = [await freePort(), await freePort(), await freePort()]
  raftAddr = `127.0.0.1:${grpc}`
  raft = run("raft-node", [], {
    RAFT_NODE_ID: "n1",
    RAFT_BOOTSTRAP: "true",
    RAFT_BIND_ADDR: `127.0.0.1:${transport}`,
    RAFT_DATA_DIR: join(dir, "raft"),
    PORT_GRPC: String(grpc),
    PORT_HTTP: String(http)
  })
  await raft.waitFor("service ready")
  await bus((b) =>
    b.ensureTopics([{ name: names.COMMANDS_TOPIC, partitions: 3 }, { name: names.EVENTS_TOPIC, partitions: 3 }])
  )
})

afterAll(async () => {
  if (raft !== undefined) await stop(raft, "SIGTERM")
  rmSync(dir, { recursive: true, force: true })
})

describe("order-executor process under kill -9", () => {
  it("every command gets exactly one event, no event id twice", async () => {
    let executor = startExecutor()
    await executor.waitFor("service ready")
    const perRound = 150
    const rounds = 3
    for (let round = 0; round < rounds; round++) {
      await bus((b) => b.produceBatch(records(round * perRound, (round + 1) * perRound)))
      // mid-stream: the executor is consuming, recording and relaying this round
      await new Promise((r) => setTimeout(r, 300 + Math.floor(Math.random() * 700)))
      const killed = await stop(executor, "SIGKILL")
      expect(killed.signal).toBe("SIGKILL")
      executor = startExecutor()
      await executor.waitFor("service ready")
    }
    await bus((b) => b.produceBatch(records(rounds * perRound, rounds * perRound + 50)))

    const verify = run("cli", ["verify", "--wait", "90"], { ...names, KAFKA_BROKERS: brokers })
    const { code } = await verify.exited
    const report = verify.output()
    const orders = rounds * perRound + 50
    expect(report).toContain(`(${orders} orders, 0 undecodable), ${orders} events`)
    expect(report).toContain("commands without an event: 0")
    expect(report).toContain("orders with two different outcomes: 0")
    expect(report).toContain("duplicate event ids: 0")
    expect(code).toBe(0)

    const stopped = await stop(executor, "SIGTERM")
    expect(stopped.code).toBe(0)
    expect(executor.output()).toContain("outbox relay flushed")
  }, 240_000)
})
