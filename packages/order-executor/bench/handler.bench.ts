// The executor's batch handler alone, in this process: `Executor.handleBatch` on a real
// SQLite outbox file, with the in-memory registry double and the embedded bus, fed batches
// of encoded commands (with a traceparent each) as the commands consumer would hand them
// over. CPU per order (user + system, process.cpuUsage) for several batch sizes: what the
// executor's own code costs, without Kafka, gRPC or the relay.
//
//   node --import tsx packages/order-executor/bench/handler.bench.ts
//
// HANDLER_BENCH_BATCHES (default "10,30,100,1000"), HANDLER_BENCH_ORDERS (per size, default 30000).
import { type ConsumedRecord, EmbeddedBus } from "@trading/bus"
import { DeterministicId, Fields, OrderCommand } from "@trading/domain"
import { Health, ServerConfig } from "@trading/platform"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Executor from "../src/Executor.js"
import * as InMemoryRegistry from "../src/InMemoryRegistry.js"
import { settings } from "../src/internal/testkit.js"
import * as OrderExecutorService from "../src/OrderExecutorService.js"

const sizes = (process.env.HANDLER_BENCH_BATCHES ?? "10,30,100,1000").split(",").map(Number)
const ORDERS = Number(process.env.HANDLER_BENCH_ORDERS ?? 30_000)
const dir = mkdtempSync(join(tmpdir(), "handler-bench-"))
const dbPath = join(dir, "outbox.db")

const hex = (bytes: number) =>
  Array.from({ length: bytes }, () => Math.floor(Math.random() * 256).toString(16).padStart(2, "0")).join("")

let n = 0
const record = (offset: number): ConsumedRecord => {
  const i = n++
  const ids = DeterministicId.decisionIds("bench", `tick-${i}`)
  return {
    topic: "orders.commands",
    partition: 0,
    offset,
    key: null,
    value: OrderCommand.toBytes({
      schemaVersion: Fields.SCHEMA_VERSION,
      commandId: ids.commandId,
      orderId: ids.orderId,
      symbol: "SYM1",
      side: i % 2 === 0 ? "BUY" : "SELL",
      quantity: 1,
      limitPriceMicros: 100_000_000 + (i % 1000),
      createdAtUnixMs: Date.now(),
      sourceTickId: `SYM1-${i}`,
      strategy: "sma-crossover"
    }),
    headers: { traceparent: `00-${hex(16)}-${hex(8)}-01` },
    timestamp: Date.now()
  }
}

const layer = Executor.layer(settings(dbPath).limits).pipe(
  Layer.provideMerge(OrderExecutorService.outboxLayer(dbPath)),
  Layer.provideMerge(InMemoryRegistry.layerTestDouble()),
  Layer.provideMerge(EmbeddedBus.layer),
  Layer.provideMerge(Health.layer.pipe(Layer.provideMerge(ServerConfig.ServerConfig.layerTest())))
)

const program = Effect.gen(function*() {
  const executor = yield* Executor.Executor
  let offset = 0
  const run = (size: number, orders: number) =>
    Effect.gen(function*() {
      const batches = Array.from({ length: Math.ceil(orders / size) }, () => ({
        topic: "orders.commands",
        partition: 0,
        records: Array.from({ length: size }, () => record(offset++))
      }))
      const cpu = process.cpuUsage()
      const started = performance.now()
      for (const batch of batches) yield* executor.handleBatch(batch)
      const used = process.cpuUsage(cpu)
      const wall = performance.now() - started
      return { user: used.user / (size * batches.length), system: used.system / (size * batches.length), wall }
    })
  yield* run(100, 5_000) // warm-up
  console.log("batch  µs/order user  system  total   ms/batch (wall)")
  for (const size of sizes) {
    const r = yield* run(size, ORDERS)
    console.log(
      `${String(size).padStart(5)}  ${r.user.toFixed(1).padStart(13)}  ${r.system.toFixed(1).padStart(6)}  ` +
        `${(r.user + r.system).toFixed(1).padStart(5)}   ${(r.wall / Math.ceil(ORDERS / size)).toFixed(2).padStart(8)}`
    )
  }
}).pipe(Effect.provide(layer), Effect.scoped)

Effect.runPromise(program).finally(() => rmSync(dir, { recursive: true, force: true }))
