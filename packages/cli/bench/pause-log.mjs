// Loaded with NODE_OPTIONS=--import=<this file> by the benchmarks when BENCH_PAUSE_LOG is set:
// appends every garbage collection and every event-loop stall of the process to
// BENCH_PAUSE_LOG_DIR/<pid>.log, one line each: `<wall ms> <duration ms> <kind>`, kind one of
// scavenge, minor-ms, mark-compact, incremental, weakcb, stall. Lines are written as they
// come (batched by the observer), so a process killed with SIGKILL leaves its log behind.
//
// A stall is a 5 ms timer firing more than 10 ms late: its duration is the lateness, i.e.
// how long the event loop could not run anything (a long task, a GC pause, or the process
// waiting for a core). `packages/cli/bench/pauses.ts` reads the logs back.
import { appendFileSync } from "node:fs"
import { join } from "node:path"
import { performance, PerformanceObserver } from "node:perf_hooks"
import { setInterval } from "node:timers"

const file = join(process.env.BENCH_PAUSE_LOG_DIR ?? ".", `${process.pid}.log`)
const kinds = { 1: "scavenge", 2: "minor-ms", 4: "mark-compact", 8: "incremental", 16: "weakcb" }
const at = (startTime) => (performance.timeOrigin + startTime).toFixed(1)

new PerformanceObserver((list) => {
  let lines = ""
  for (const entry of list.getEntries()) {
    lines += `${at(entry.startTime)} ${entry.duration.toFixed(2)} ${kinds[entry.detail?.kind] ?? "gc"}\n`
  }
  appendFileSync(file, lines)
}).observe({ entryTypes: ["gc"] })

const EVERY_MS = 5
let last = performance.now()
setInterval(() => {
  const now = performance.now()
  const late = now - last - EVERY_MS
  if (late > 10) appendFileSync(file, `${at(last + EVERY_MS)} ${late.toFixed(2)} stall\n`)
  last = now
}, EVERY_MS).unref()
