// The processor's batch handler alone, in process: the embedded bus (so no Kafka client
// cost), a real SQLite file, every tick an order (the pipeline bench's strategy). Prints
// CPU microseconds per tick (process.cpuUsage: all threads) and per batch for a few batch
// sizes, so changes to our own per-batch and per-tick work can be judged without Kafka.
//
//   pnpm exec tsx packages/stream-processor/bench/handleBatch.bench.ts
import { EmbeddedBus } from "@trading/bus"
import type { ConsumedRecord } from "@trading/bus"
import { SCHEMA_VERSION } from "@trading/domain/Fields"
import * as Tick from "@trading/domain/Tick"
import { Health, ServerConfig } from "@trading/platform"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ProcessorCoreLive } from "../src/StreamProcessorLive.js"
import { TickProcessor } from "../src/TickProcessor.js"

const SYMBOLS = ["SYM0", "SYM3", "SYM6", "SYM9"]
const TOTAL = Number(process.env.TICKS ?? 60_000)
const trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

const platform = Layer.mergeAll(Health.layer, Logger.minimumLogLevel(LogLevel.Error)).pipe(
  Layer.provideMerge(ServerConfig.ServerConfig.layerTest())
)

const main = Effect.gen(function*() {
  const dir = mkdtempSync(join(tmpdir(), "handle-batch-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
  const env = ConfigProvider.fromMap(
    new Map([
      ["PROCESSOR_STATE_FILE", join(dir, "state.sqlite")],
      ["TICKS_TOPIC", "ticks"],
      ["COMMANDS_TOPIC", "commands"],
      ["STRATEGY_FAST_WINDOW", "1"],
      ["STRATEGY_SLOW_WINDOW", "2"],
      ["STRATEGY_MAX_POSITION", "1000000000"],
      ["STRATEGY_MAX_ORDER_QUANTITY", "1"]
    ])
  )
  const context = yield* Layer.build(
    ProcessorCoreLive.pipe(Layer.provideMerge(EmbeddedBus.layer), Layer.provideMerge(platform))
  ).pipe(Effect.withConfigProvider(env))
  const processor = Context.get(context, TickProcessor)
  let offset = 0
  let sequence = 1
  const encoder = new TextEncoder()
  const batchOf = (size: number) => {
    const records: Array<ConsumedRecord> = []
    for (let i = 0; i < size; i++) {
      const symbol = SYMBOLS[i % SYMBOLS.length]!
      const tick: Tick.Tick = {
        schemaVersion: SCHEMA_VERSION,
        tickId: `syn-1-mx5mstf2-${symbol}-${offset}`,
        symbol,
        priceMicros: 100_000_000 + ((offset * 7919) % 2001) * 10_000,
        size: 1 + (offset % 100),
        observedAtUnixMs: 1_760_000_000_000 + offset,
        sequence: sequence++,
        source: "synthetic"
      }
      records.push({
        topic: "ticks",
        partition: 0,
        offset: offset++,
        key: encoder.encode(symbol),
        value: Tick.toBytes(tick),
        headers: { traceparent: trace },
        timestamp: 0
      })
    }
    return { topic: "ticks", partition: 0, records }
  }
  for (const size of (process.env.SIZES ?? "1,8,64,512").split(",").map(Number)) {
    const batches = Array.from({ length: Math.max(1, Math.floor(TOTAL / size)) }, () => batchOf(size))
    // warm-up on a tenth, then measure
    const warm = Math.max(1, Math.floor(batches.length / 10))
    for (const batch of batches.slice(0, warm)) yield* processor.handleBatch(batch)
    const measured = batches.slice(warm)
    const cpu = process.cpuUsage()
    const start = performance.now()
    for (const batch of measured) yield* processor.handleBatch(batch)
    const used = process.cpuUsage(cpu)
    const micros = used.user + used.system
    const ticks = measured.length * size
    console.log(
      `batch ${String(size).padStart(4)}: ${(micros / ticks).toFixed(1).padStart(7)} µs CPU/tick, ` +
        `${(micros / measured.length).toFixed(0).padStart(6)} µs CPU/batch, ` +
        `${((performance.now() - start) * 1000 / ticks).toFixed(1)} µs wall/tick`
    )
  }
})

Effect.runPromise(Effect.scoped(main)).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
