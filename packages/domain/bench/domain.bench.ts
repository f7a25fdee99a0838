// Throughput of the pure domain code on one core: `pnpm bench:domain`
// (tsx packages/domain/bench/domain.bench.ts). Prints three tables: the wire codecs and
// the strategy per operation, the order registry state machine in records/s (typed and
// bytes forms, with and without eviction), and snapshot / restore of a full registry.
// Each figure is the median of 5 runs; the machine is shared, so compare runs, not machines.
import * as Either from "effect/Either"
import * as DeterministicId from "../src/DeterministicId.js"
import * as Execution from "../src/Execution.js"
import * as OrderCommand from "../src/OrderCommand.js"
import type { OrderRecord } from "../src/OrderRecord.js"
import * as OrderRegistry from "../src/OrderRegistry.js"
import { defaultRiskLimits } from "../src/RiskLimits.js"
import * as Strategy from "../src/Strategy.js"
import * as Tick from "../src/Tick.js"

const T0 = 1_760_000_000_000

const makeRecords = (n: number, offset = 0): Array<OrderRecord> =>
  Array.from({ length: n }, (_, i) => {
    const commandId = DeterministicId.commandId("bench", String(i + offset))
    return {
      orderId: DeterministicId.orderId("bench", String(i + offset)),
      eventId: DeterministicId.eventId(commandId),
      commandId,
      status: "EXECUTED",
      reason: "",
      filledQuantity: 10,
      fillPriceMicros: 101_250_000,
      recordedAtUnixMs: T0 + i + offset
    }
  })

const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const run = (label: string, n: number, batch: number, retention: OrderRegistry.Retention, bytes: boolean) => {
  const records = makeRecords(n)
  const batches: Array<Array<OrderRecord>> = []
  for (let i = 0; i < n; i += batch) batches.push(records.slice(i, i + batch))
  const commands = bytes ? batches.map(OrderRegistry.encodeCommand) : []
  const rates: Array<number> = []
  for (let trial = 0; trial < 5; trial++) {
    let state = OrderRegistry.initial(retention)
    const start = performance.now()
    if (bytes) {
      commands.forEach((command, i) => {
        state = OrderRegistry.apply(state, command, i + 1)[0]
      })
    } else {
      batches.forEach((records, i) => {
        state = OrderRegistry.applyRecords(state, records, i + 1)[0]
      })
    }
    rates.push(n / ((performance.now() - start) / 1000))
  }
  return { case: label, records: n, batch, "records/s (median of 5)": Math.round(median(rates)) }
}

const perSecond = (label: string, n: number, body: (i: number) => void) => {
  const rates: Array<number> = []
  for (let trial = 0; trial < 5; trial++) {
    const start = performance.now()
    for (let i = 0; i < n; i++) body(i)
    rates.push(n / ((performance.now() - start) / 1000))
  }
  return { operation: label, "ops/s (median of 5)": Math.round(median(rates)) }
}

const ticks: Array<Tick.Tick> = Array.from({ length: 100_000 }, (_, i) => ({
  schemaVersion: 1,
  tickId: `synthetic-ACME-${i}`,
  symbol: "ACME",
  priceMicros: 100_000_000 + Math.round(Math.sin(i / 7) * 2_000_000),
  size: 1 + (i % 50),
  observedAtUnixMs: T0 + i * 1000,
  sequence: i,
  source: "synthetic"
}))
const tickBytes = ticks.map(Tick.toBytes)
const strategyConfig = Strategy.makeConfig({ fastWindow: 1, slowWindow: 2 }).pipe(Either.getOrThrow)
let strategyState = Strategy.initial("ACME")
const commands: Array<OrderCommand.OrderCommand> = []
const commandBytes: Array<Uint8Array> = []
for (const tick of ticks) {
  const [next, emitted] = Strategy.step(strategyState, tick, strategyConfig)
  strategyState = next
  commands.push(...emitted)
}
commands.forEach((c) => commandBytes.push(OrderCommand.toBytes(c)))
console.log(`${commands.length} commands from ${ticks.length} ticks (fast=1, slow=2)`)
console.table([
  perSecond("Tick.fromBytes (wire check + decode + validate)", tickBytes.length, (i) => Tick.fromBytes(tickBytes[i]!)),
  perSecond("Tick.toBytes", ticks.length, (i) => Tick.toBytes(ticks[i]!)),
  perSecond("Strategy.step (fast=1, slow=2, ~1 command/tick)", ticks.length, (i) => {
    const state = i === 0 ? Strategy.initial("ACME") : strategyState
    strategyState = Strategy.step(state, ticks[i]!, strategyConfig)[0]
  }),
  perSecond("OrderCommand.fromBytes", commandBytes.length, (i) => OrderCommand.fromBytes(commandBytes[i]!)),
  perSecond("OrderCommand.toBytes", commands.length, (i) => OrderCommand.toBytes(commands[i]!)),
  perSecond(
    "Execution.outcome (validate + fill + event id)",
    commands.length,
    (i) => Execution.outcome(commands[i]!, defaultRiskLimits)
  )
])

const big = OrderRegistry.makeRetention({ maxOrders: 10_000_000 }).pipe(Either.getOrThrow)
const small = OrderRegistry.makeRetention({ maxOrders: 50_000 }).pipe(Either.getOrThrow)
const rows = [
  run("typed apply, no eviction", 200_000, 1, big, false),
  run("typed apply, no eviction", 200_000, 64, big, false),
  run("typed apply, evicting (max 50k)", 200_000, 1, small, false),
  run("bytes apply (decode+validate+encode)", 200_000, 1, big, true),
  run("bytes apply (decode+validate+encode)", 200_000, 64, big, true),
  run("bytes apply, evicting (max 50k)", 200_000, 64, small, true)
]
console.table(rows)

let state = OrderRegistry.initial(big)
state = OrderRegistry.applyRecords(state, makeRecords(200_000), 1)[0]
const snapStart = performance.now()
const snap = OrderRegistry.snapshot(state)
const snapMs = performance.now() - snapStart
const restoreStart = performance.now()
OrderRegistry.restore(snap).pipe(Either.getOrThrow)
const restoreMs = performance.now() - restoreStart
console.table([{
  orders: 200_000,
  "snapshot bytes": snap.length,
  "snapshot ms": Math.round(snapMs),
  "restore ms": Math.round(restoreMs)
}])
