// Shared pieces of the executor's unit tests: a temp SQLite file, settings, commands, and
// a collector of what lands on a topic of the (real, in-process) embedded bus.
import { type ConsumedRecord, MessageBus } from "@trading/bus"
import { DeterministicId, Fields, type OrderCommand, RiskLimits } from "@trading/domain"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { ExecutorSettings } from "../ExecutorConfig.js"

export const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "executor-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

export const settings = (dbPath: string, overrides: Partial<ExecutorSettings> = {}): ExecutorSettings => ({
  dbPath,
  commandsTopic: "orders.commands",
  eventsTopic: "orders.events",
  group: "order-executor-v1",
  limits: RiskLimits.defaultRiskLimits,
  instance: "test",
  relayInterval: Duration.millis(5),
  relayBatch: 100,
  retainPublished: Duration.hours(1),
  keepPublished: 1000,
  rememberIds: Duration.hours(25),
  maxOutboxLag: Duration.seconds(30),
  ...overrides
})

export const command = (n: number, overrides: Partial<OrderCommand.OrderCommand> = {}): OrderCommand.OrderCommand => {
  const ids = DeterministicId.decisionIds("test", `tick-${n}`)
  return {
    schemaVersion: Fields.SCHEMA_VERSION,
    commandId: ids.commandId,
    orderId: ids.orderId,
    symbol: "ACME",
    side: "BUY",
    quantity: 10,
    limitPriceMicros: 101_250_000,
    createdAtUnixMs: 1_760_000_000_000 + n,
    sourceTickId: `tick-${n}`,
    strategy: "test",
    ...overrides
  }
}

/** Everything produced to `topic` from now on (a fresh consumer group reading from the start). */
export const collect = (topic: string, group = `collect-${topic}-${Math.random()}`) =>
  Effect.gen(function*() {
    const bus = yield* MessageBus
    const queue = yield* Queue.unbounded<ConsumedRecord>()
    yield* bus.consume({ group, topics: [topic], fromBeginning: true }, (r) => Queue.offer(queue, r))
    return queue
  })

/** Takes exactly `n` records, failing the test if they do not arrive within `within`. */
export const takeN = (queue: Queue.Queue<ConsumedRecord>, n: number, within: Duration.DurationInput = "10 seconds") =>
  Effect.gen(function*() {
    const out: Array<ConsumedRecord> = []
    while (out.length < n) out.push(yield* Queue.take(queue))
    return out
  }).pipe(Effect.timeoutFail({ duration: within, onTimeout: () => new Error(`expected ${n} records on the topic`) }))
