// pnpm bench:raft-floor: bench:raft's latency phase with nothing but the work itself (floor.ts),
// in fresh processes per run, printed run by run with the median p99.
// FLOOR_RATE (orders/s, default 40,000: about half of bench:raft's peak), FLOOR_BATCH (orders
// per call, 100), FLOOR_SECONDS (5), FLOOR_WARMUP_SECONDS (8: the registry full and evicting),
// FLOOR_RUNS (3); FLOOR_BURN and profiling: see floor.ts. Its client runs with the V8 flag
// bench:raft's client runs with (`--no-allocation-site-pretenuring`, ADR 0097), so the two
// compare like for like.
import { percentile } from "../../cli/bench/latency.js"
import { runFloor } from "./floor.js"

const rate = Number(process.env.FLOOR_RATE ?? 40_000)
const batch = Number(process.env.FLOOR_BATCH ?? 100)
const seconds = Number(process.env.FLOOR_SECONDS ?? 5)
const warmup = Number(process.env.FLOOR_WARMUP_SECONDS ?? 8)
const runs = Number(process.env.FLOOR_RUNS ?? 3)

const burnNote = process.env.FLOOR_BURN ? `, FLOOR_BURN=${process.env.FLOOR_BURN}` : ""
console.log(
  `\nraft floor: bench:raft's latency phase with bare grpc-js (${rate} orders/s in calls of ${batch}${burnNote})\n`
)
console.log("run   calls   p50 ms   p99 ms   max ms   CPU % of a core: follower, follower, leader, client")
const p99s: Array<number> = []
for (let i = 1; i <= runs; i++) {
  const { cpu, latencies } = await runFloor(rate, batch, seconds, warmup)
  const p99 = percentile(latencies, 0.99)
  p99s.push(p99)
  console.log(
    `${String(i).padStart(3)} ${String(latencies.length).padStart(7)} ${
      percentile(latencies, 0.5).toFixed(1).padStart(8)
    } ` +
      `${p99.toFixed(1).padStart(8)} ${latencies.at(-1)!.toFixed(1).padStart(8)}   ${cpu.join(", ")}`
  )
}
console.log(`\nmedian p99 over ${runs} runs: ${percentile(p99s.sort((a, b) => a - b), 0.5).toFixed(1)} ms`)
// grpc-js keeps its channels' timers alive
process.exit(0)
