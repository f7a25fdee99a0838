// Throughput of the pure domain code on one core: `pnpm bench:domain`
// (tsx packages/domain/bench/domain.bench.ts). Prints four tables: the wire codecs and
// the strategy per operation; the registry's footprint at 500,000 orders (heap + array
// buffers after a full GC) with capture / snapshot / restore times; the raft-node's apply
// path (commands of 100 records into a full registry of 200,000 that evicts one order per
// insert) in µs per order with the slowest command (where major GCs show); and the
// registry in records/s (typed and bytes forms, with and without eviction).
// Figures are medians of 3-5 runs; the machine is shared, so compare runs, not machines.
// Under tsx every cross-module call goes through a getter: bundled code (as the services
// run, ADR 0052) applies ~15-20% faster.
import * as Either from "effect/Either"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
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

// ---- the raft-node's hot path and footprint ---------------------------------------------
//
// The memory a registry of 500,000 orders keeps (heap + array buffers after a full GC) and
// capture / snapshot / restore of it; then `apply` of commands of 100 records into a
// registry that holds 200,000 orders (the registry's default maxOrders) and so evicts one
// per insert. Node-only (v8, vm) here; the code measured stays pure.

// `global.gc` without asking for `--expose-gc` on the command line
const gc: () => void = (() => {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed !== undefined) return exposed
  setFlagsFromString("--expose-gc")
  return runInNewContext("gc") as () => void
})()
const footprint = () => {
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

/** Commands of `batch` records each for orders [from, from + n), encoded lazily. */
const commandsFor = (from: number, n: number, batch: number): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let i = 0; i < n; i += batch) {
    out.push(OrderRegistry.encodeCommand(makeRecords(Math.min(batch, n - i), from + i)))
  }
  return out
}

const footprintAndSnapshots = () => {
  const N = 500_000
  const before = footprint()
  let state = OrderRegistry.initial(big)
  let index = 0
  for (let i = 0; i < N; i += 10_000) {
    for (const command of commandsFor(i, 10_000, 100)) state = OrderRegistry.apply(state, command, ++index)[0]
  }
  const bytesPerOrder = (footprint() - before) / N

  const captureMs: Array<number> = []
  for (let trial = 0; trial < 5; trial++) {
    const start = performance.now()
    for (let i = 0; i < 100; i++) OrderRegistry.capture(state)
    captureMs.push((performance.now() - start) / 100)
  }
  const snapshotMs: Array<number> = []
  const partsMs: Array<number> = []
  const restoreMs: Array<number> = []
  let snap: Uint8Array = new Uint8Array(0)
  for (let trial = 0; trial < 3; trial++) {
    let start = performance.now()
    snap = OrderRegistry.snapshot(OrderRegistry.capture(state))
    snapshotMs.push(performance.now() - start)
    start = performance.now()
    // what the raft-node writes: views of the arena, no copy
    OrderRegistry.snapshotParts(OrderRegistry.capture(state))
    partsMs.push(performance.now() - start)
    start = performance.now()
    OrderRegistry.restore(snap).pipe(Either.getOrThrow)
    restoreMs.push(performance.now() - start)
  }
  console.table([{
    orders: OrderRegistry.size(state),
    "bytes/order (heap + buffers)": Math.round(bytesPerOrder),
    "capture ms": median(captureMs).toFixed(4),
    "snapshot bytes": snap.length,
    "snapshot ms": Math.round(median(snapshotMs)),
    "snapshot parts ms": median(partsMs).toFixed(3),
    "restore ms": Math.round(median(restoreMs))
  }])
}

const applyHotPath = () => {
  const HOLD = 200_000
  const BATCH = 100
  const PER_TRIAL = 100_000
  const retention = OrderRegistry.makeRetention({ maxOrders: HOLD }).pipe(Either.getOrThrow)
  let state = OrderRegistry.initial(retention)
  let index = 0
  for (const command of commandsFor(0, HOLD, 1000)) state = OrderRegistry.apply(state, command, ++index)[0]
  const perOrder: Array<number> = []
  const worst: Array<number> = []
  const durations = new Float64Array(PER_TRIAL / BATCH)
  for (let trial = 0; trial < 5; trial++) {
    const commands = commandsFor(HOLD + trial * PER_TRIAL, PER_TRIAL, BATCH)
    gc()
    const start = performance.now()
    let last = start
    commands.forEach((command, i) => {
      state = OrderRegistry.apply(state, command, ++index)[0]
      const now = performance.now()
      durations[i] = now - last
      last = now
    })
    perOrder.push(((last - start) * 1000) / PER_TRIAL)
    // the slowest command of the trial: where a major GC over the registry's objects shows
    worst.push(Math.max(...durations))
  }
  console.table([{
    case: `apply, batches of ${BATCH}, holding ${HOLD} (1 eviction per insert)`,
    orders: OrderRegistry.size(state),
    "µs/order (median of 5)": median(perOrder).toFixed(2),
    "slowest command ms (median of 5)": median(worst).toFixed(1)
  }])
}

const big = OrderRegistry.makeRetention({ maxOrders: 10_000_000 }).pipe(Either.getOrThrow)
const small = OrderRegistry.makeRetention({ maxOrders: 50_000 }).pipe(Either.getOrThrow)
// footprint first, on a heap that holds nothing else of the registry's
footprintAndSnapshots()
applyHotPath()
const rows = [
  run("typed apply, no eviction", 200_000, 1, big, false),
  run("typed apply, no eviction", 200_000, 64, big, false),
  run("typed apply, evicting (max 50k)", 200_000, 1, small, false),
  run("bytes apply (decode+validate+encode)", 200_000, 1, big, true),
  run("bytes apply (decode+validate+encode)", 200_000, 64, big, true),
  run("bytes apply, evicting (max 50k)", 200_000, 64, small, true)
]
console.table(rows)
