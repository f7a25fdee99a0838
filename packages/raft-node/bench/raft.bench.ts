// pnpm bench:raft: three raft-node processes on loopback and concurrent clients in this
// process recording unique orders through the client library.
//
// 1. peak throughput (closed loop, fixed concurrency) for single orders (`record`) and for
//    RecordOrders batches;
// 2. commit latency p50/p99 at 50% of the batched peak, or at BENCH_OPEN_RATE orders/s
//    (open loop at a fixed rate, after 2 s of the same open loop as warm-up), at 25% of the
//    peak (where the latency stands with more of the host idle), and at 1,000 orders/s in
//    calls of 10 (the order-executor's calls in bench:pipeline's latency phase);
// 3. failover: kill -9 of the leader -> the next successful commit, over N trials
//    (the killed node is restarted and the cluster healed between trials);
// 4. the host's floor at the latency phase's rate (floor.ts: the same flow with bare grpc-js
//    and plain callbacks, once the nodes are stopped; BENCH_FLOOR=0 skips it), a reference
//    taken the same minute for a host whose speed moves the tail.
// Prints a table; targets are in the issue (20,000 orders/s, p99 <= 20 ms, failover <= 1 s).
// `pnpm bench:raft` runs this process with `--no-allocation-site-pretenuring`, as every service
// runs (ADR 0053), the order-executor included, whose calls these are: with V8's default, the
// client's scavenges keep completed calls alive and pause it for 10-25 ms (ADR 0097).
// Also prints each process's CPU over the latency phase, how long each one's main thread ran
// and waited for a CPU in it (/proc/<pid>/schedstat), and each node's log fsyncs in it
// (count and bucket bounds of p50/p99, from the nodes' raft_storage_fsync_seconds histograms).
// BENCH_SAMPLES_FILE=<path>: the latency phase's calls are appended to it as CSV lines
// `sentAt,latencyMs` (sentAt in wall-clock ms, as in the pause logs), to set slow calls
// beside the processes' pauses.
// BENCH_PAUSE_LOG=1 also logs every node's (and this process's) GC pauses and event-loop
// stalls and prints their sums over the measured latency phase (packages/cli/bench/pauses.ts).
// BENCH_NODE_OUTPUT=<dir>: each node's whole stdout is written to <dir>/<id>.out at the end,
// for what a node prints besides its JSON logs (e.g. V8's --trace-gc-nvp, set at start by a
// module given in BENCH_SERVICE_ENV="NODE_OPTIONS=--import=<module>").
import type { OrderRecord } from "@trading/domain"
import { envPairs } from "@trading/platform/testing/ServiceProcess"
import { RaftClient } from "@trading/raft/client/index"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Pauses from "../../cli/bench/pauses.js"
import * as Procfs from "../../cli/bench/procfs.js"
import {
  agreedLeader,
  eventually,
  grpcAddr,
  makeSpec,
  type NodeProcess,
  type NodeSpec,
  start,
  stop
} from "../test/processes.js"
import { type FloorRun, runFloor } from "./floor.js"

const TRIALS = Number(process.env.BENCH_FAILOVER_TRIALS ?? 10)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const BATCH = Number(process.env.BENCH_BATCH ?? 100)
/**
 * BENCH_OPEN_RATE: run the latency phase at this many orders/s instead of half of the measured
 * peak. Half of peak moves with every change to the cost per call, so comparing two builds
 * at it compares different loads; at a fixed rate the CPU per process (printed) and the
 * latencies of two builds can be set side by side.
 */
const OPEN_RATE = Number(process.env.BENCH_OPEN_RATE ?? 0)
/** BENCH_FLOOR=0: skip the host's floor (floor.ts) at the end. */
const FLOOR = process.env.BENCH_FLOOR !== "0"
const FLOOR_WARMUP_SECONDS = 8
const LOW_RATE = 1_000
const LOW_BATCH = 10
/** Extra environment for every node, space-separated `NAME=value` pairs (e.g. `RAFT_SNAPSHOT_EVERY=100000`). */
const EXTRA_ENV = envPairs(process.env.BENCH_SERVICE_ENV ?? "", /\s+/)
/**
 * BENCH_CPU_PROF=1: every node profiles itself (cpu-profile.mjs) into this directory; the
 * nodes are then stopped with SIGTERM at the end (a killed process writes no profile).
 */
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF ? mkdtempSync(join(tmpdir(), "raft-bench-prof-")) : undefined
/** Profiled nodes write their profile on SIGTERM; otherwise they are simply killed. */
const stopSignal = CPU_PROF_DIR === undefined ? "SIGKILL" : "SIGTERM"
const cpuProfile = fileURLToPath(new URL("../../cli/bench/cpu-profile.mjs", import.meta.url))
const NODE_OPTIONS = [CPU_PROF_DIR === undefined ? "" : `--import=${cpuProfile}`, EXTRA_ENV.NODE_OPTIONS ?? ""]
  .join(" ").trim()

const dataRoot = mkdtempSync(join(tmpdir(), "raft-bench-"))
const pauseDir = await Pauses.setup("raft-bench")
const nodeEnv: Record<string, string> = {
  ...(NODE_OPTIONS === "" ? {} : { NODE_OPTIONS }),
  ...(CPU_PROF_DIR === undefined ? {} : { BENCH_CPU_PROF_DIR: CPU_PROF_DIR }),
  ...(pauseDir === undefined ? {} : Pauses.env(pauseDir, NODE_OPTIONS))
}
const scope = Effect.runSync(Scope.make())
const run = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Scope.extend(effect, scope))
const specs: Array<NodeSpec> = []
const nodes = new Map<string, NodeProcess>()

let seq = 0
const order = (): OrderRecord.OrderRecord => {
  seq++
  return {
    orderId: `bench-${seq}`,
    eventId: `bench-evt-${seq}`,
    commandId: `bench-cmd-${seq}`,
    status: "ACCEPTED",
    reason: "",
    filledQuantity: 0,
    fillPriceMicros: 0,
    recordedAtUnixMs: Date.now()
  }
}

/** A histogram's cumulative bucket counts (`le` in seconds, ascending) out of Prometheus text. */
const buckets = (metrics: string, name: string): Array<readonly [number, number]> =>
  [...metrics.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\d+)$`, "gm"))]
    .map((m) => [m[1] === "+Inf" ? Infinity : Number(m[1]), Number(m[2])] as const)
    .sort((a, b) => a[0] - b[0])

/**
 * What a histogram counted between two scrapes: the count, the upper bounds of the buckets
 * holding the median and the 99th percentile, and how many exceeded `overSeconds`.
 */
const histogramDelta = (before: string, after: string, name: string, overSeconds: number) => {
  const from = new Map(buckets(before, name))
  const delta = buckets(after, name).map(([le, n]) => [le, n - (from.get(le) ?? 0)] as const)
  const count = delta.at(-1)?.[1] ?? 0
  const bound = (p: number) => delta.find(([, n]) => n >= p * count)?.[0] ?? NaN
  const within = delta.find(([le]) => le >= overSeconds)?.[1] ?? count
  return { count, p50: bound(0.5), p99: bound(0.99), over: count - within }
}
const ms = (seconds: number) => seconds === Infinity ? "inf" : `${+(seconds * 1000).toFixed(1)} ms`

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
const median = (xs: ReadonlyArray<number>) => percentile([...xs].sort((a, b) => a - b), 0.5)

/** Every node healthy, agreeing on one leader, with three voters: the leader's id. */
const healthy = (ids: ReadonlyArray<string>) =>
  eventually("cluster healthy", () => agreedLeader(ids.map((id) => nodes.get(id)!), 3), 120_000, 100)

const launch = (spec: NodeSpec, env: Record<string, string> = {}) => {
  const node = start(spec, { LOG_LEVEL: "warn", ...EXTRA_ENV, ...nodeEnv, ...env })
  nodes.set(spec.id, node)
  return node
}

/** Closed loop: `concurrency` callers for `seconds`; returns orders/s and call latencies (ms). */
const closedLoop = (client: RaftClient.RaftClient, concurrency: number, batch: number, seconds: number) =>
  Effect.gen(function*() {
    const end = Date.now() + seconds * 1000
    const latencies: Array<number> = []
    let orders = 0
    const worker = Effect.gen(function*() {
      while (Date.now() < end) {
        const records = Array.from({ length: batch }, order)
        const t0 = performance.now()
        if (batch === 1) yield* client.record(records[0]!)
        else yield* client.recordBatch(records)
        latencies.push(performance.now() - t0)
        orders += batch
      }
    })
    const started = Date.now()
    yield* Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded", discard: true })
    return { rate: orders / ((Date.now() - started) / 1000), latencies }
  })

/**
 * Open loop at `rate` orders/s in batches: latency is measured per call, not queued behind
 * earlier ones. The loop itself is plain callbacks, as the floor's client (floor.ts) is: a
 * 2 ms timer sends the calls that are due, each one the library's effect run on a fiber of
 * its own (`Runtime.runCallback`); no fiber waits for the next tick or joins the calls. An
 * Effect loop forking every call cost the bench client about 4 % of a core more at 60,000
 * orders/s (forks, the sleeps' fibers), on the same host as the nodes it measures.
 */
const openLoop = (client: RaftClient.RaftClient, rate: number, batch: number, seconds: number) =>
  Effect.flatMap(Effect.runtime<never>(), (runtime) =>
    Effect.async<
      { latencies: Array<number>; samples: Array<readonly [number, number]> },
      never
    >((resume) => {
      const runCall = Runtime.runCallback(runtime)
      const callsPerSecond = rate / batch
      const latencies: Array<number> = []
      const sentAt: Array<number> = []
      const failures: Array<Cause.Cause<unknown>> = []
      let inFlight = 0
      let sending = true
      let timer: ReturnType<typeof setTimeout> | undefined
      const finish = () => {
        if (failures.length > 0) {
          return resume(Effect.dieMessage(`${failures.length} calls failed, the first: ${Cause.pretty(failures[0]!)}`))
        }
        resume(Effect.succeed({
          latencies: [...latencies].sort((a, b) => a - b),
          samples: latencies.map((l, i) => [sentAt[i]!, l] as const)
        }))
      }
      const started = performance.now()
      let sent = 0
      const send = () => {
        const elapsed = performance.now() - started
        if (elapsed >= seconds * 1000) {
          sending = false
          if (inFlight === 0) finish()
          return
        }
        const due = Math.floor((elapsed / 1000) * callsPerSecond)
        for (; sent < due; sent++) {
          const records = Array.from({ length: batch }, order)
          const t0 = performance.now()
          inFlight++
          // The outcomes are decoded and dropped (only the latency is kept): a completed root
          // fiber stays reachable from stale tables of the Effect runtime's Set of root fibers
          // until a full collection (ADR 0098), and would keep its exit value, 100 decoded
          // outcomes, alive through every scavenge. The order-executor makes these calls
          // inside its own fiber, where no root fiber is made per call.
          runCall(Effect.asVoid(client.recordBatch(records)), {
            onExit: (exit) => {
              if (Exit.isSuccess(exit)) {
                latencies.push(performance.now() - t0)
                sentAt.push(performance.timeOrigin + t0)
              } else failures.push(exit.cause)
              if (--inFlight === 0 && !sending) finish()
            }
          })
        }
        timer = setTimeout(send, 2)
      }
      send()
      return Effect.sync(() => clearTimeout(timer))
    }))

const main = Effect.gen(function*() {
  for (const id of ["b1", "b2", "b3"]) specs.push(yield* Effect.promise(() => makeSpec(id, dataRoot)))
  launch(specs[0]!, { RAFT_BOOTSTRAP: "true" })
  launch(specs[1]!, { RAFT_JOIN_ADDR: grpcAddr(specs[0]!) })
  launch(specs[2]!, { RAFT_JOIN_ADDR: grpcAddr(specs[0]!) })
  yield* Effect.promise(() => healthy(["b1", "b2", "b3"]))
  // closed before the floor's run, with the nodes
  const clientScope = yield* Scope.make()
  const client = yield* RaftClient.make({ seeds: specs.map(grpcAddr), deadline: "20 seconds", tls: "insecure" }).pipe(
    Scope.extend(clientScope)
  )

  // warm up (JIT, channels, leader discovery)
  yield* closedLoop(client, 16, BATCH, 1)
  const single = yield* closedLoop(client, 64, 1, SECONDS)
  const batched = yield* closedLoop(client, 32, BATCH, SECONDS)
  const half = OPEN_RATE > 0 ? OPEN_RATE : batched.rate / 2
  const phase = OPEN_RATE > 0 ? "at a fixed rate (BENCH_OPEN_RATE)" : "at 50% of peak"
  // the open loop's own warm-up at the same rate (its call pattern and the heap after the
  // closed loops differ from what was warmed so far); only the second run is measured
  yield* openLoop(client, half, BATCH, 2)
  const halfPids = [...nodes.values()].map((n) => [n.spec.id, n.process.pid!] as const)
  // the nodes', then this process's own (the bench client's)
  const phasePids = [...halfPids.map(([, pid]) => pid), process.pid]
  const cpuNow = () => phasePids.map((pid) => Procfs.cpuSeconds(pid) ?? NaN)
  const schedNow = () => phasePids.map((pid) => Procfs.schedstat(pid))
  const scrape = () => Effect.promise(() => Promise.all(halfPids.map(([id]) => nodes.get(id)!.metrics())))
  const metricsBefore = yield* scrape()
  const cpuBefore = cpuNow()
  const schedBefore = schedNow()
  const halfFrom = Date.now()
  const { latencies, samples } = yield* openLoop(client, half, BATCH, SECONDS)
  if (process.env.BENCH_SAMPLES_FILE) {
    appendFileSync(
      process.env.BENCH_SAMPLES_FILE,
      samples.map(([at, l]) => `${at.toFixed(1)},${l.toFixed(2)}\n`).join("")
    )
  }
  const halfTo = Date.now()
  const cpuAfter = cpuNow()
  const schedAfter = schedNow()
  const metricsAfter = yield* scrape()
  const halfLeader = yield* Effect.promise(() => healthy(["b1", "b2", "b3"]))
  // a point lower on the load curve: on a host with fewer cores than busy processes the tail
  // follows how busy the host is (docs/benchmarks.md), so this shows how far below half of
  // peak the same build keeps a shorter one
  const quarter = batched.rate / 4
  yield* openLoop(client, quarter, BATCH, 2)
  const { latencies: atQuarter } = yield* openLoop(client, quarter, BATCH, SECONDS)
  // the order-executor's pattern at bench:pipeline's latency phase: 1,000 orders/s in calls
  // of about 10 (three partitions' batches): the registry's share of that phase's latency
  yield* openLoop(client, LOW_RATE, LOW_BATCH, 2)
  const { latencies: low } = yield* openLoop(client, LOW_RATE, LOW_BATCH, SECONDS)

  const failovers: Array<number> = []
  for (let trial = 0; trial < TRIALS; trial++) {
    const leader = yield* Effect.promise(() => healthy(["b1", "b2", "b3"]))
    // make sure the client talks to the current leader before the kill
    yield* client.record(order())
    const victim = nodes.get(leader)!
    const killedAt = performance.now()
    victim.process.kill("SIGKILL")
    yield* client.record(order())
    failovers.push(performance.now() - killedAt)
    yield* Effect.promise(() => victim.exited)
    launch(victim.spec)
  }
  yield* Effect.promise(() => healthy(["b1", "b2", "b3"]))

  // The host's floor at the latency phase's rate, a minute later: the same flow with bare
  // grpc-js and plain callbacks (floor.ts), with the nodes and the client gone. On this
  // shared host the tail moves with the host's speed; the floor moves with it.
  let floor: FloorRun | undefined
  if (FLOOR) {
    yield* Scope.close(clientScope, Exit.void)
    yield* Effect.promise(() => Promise.all([...nodes.values()].map((n) => stop(n, stopSignal))))
    floor = yield* Effect.promise(() => runFloor(half, BATCH, SECONDS, FLOOR_WARMUP_SECONDS))
  }

  const rows: Array<[string, string, string]> = [
    [
      "throughput, single orders (record, 1 order/call, 64 callers)",
      `${Math.round(single.rate)} orders/s`,
      "(no target: one call per order)"
    ],
    [
      `throughput, RecordOrders (${BATCH}/call, 32 callers)`,
      `${Math.round(batched.rate)} orders/s`,
      ">= 20,000 orders/s"
    ],
    [
      `commit latency p50 ${phase} (${Math.round(half)} orders/s)`,
      `${percentile(latencies, 0.5).toFixed(1)} ms`,
      ""
    ],
    [
      `commit latency p99 ${phase}`,
      `${percentile(latencies, 0.99).toFixed(1)} ms`,
      OPEN_RATE > 0 ? "(target: at 50% of peak)" : "<= 20 ms"
    ],
    [
      `commit latency p50 / p99 at 25% of peak (${Math.round(quarter)} orders/s)`,
      `${percentile(atQuarter, 0.5).toFixed(1)} / ${percentile(atQuarter, 0.99).toFixed(1)} ms`,
      ""
    ],
    [
      `commit latency p50 / p99 at ${LOW_RATE} orders/s (${LOW_BATCH}/call)`,
      `${percentile(low, 0.5).toFixed(1)} / ${percentile(low, 0.99).toFixed(1)} ms`,
      ""
    ],
    ...(floor === undefined ? [] : [[
      `the host's floor at ${Math.round(half)} orders/s (bench:raft-floor), p50 / p99`,
      `${percentile(floor.latencies, 0.5).toFixed(1)} / ${percentile(floor.latencies, 0.99).toFixed(1)} ms`,
      "(reference: no Effect, no Raft core)"
    ]] as Array<[string, string, string]>),
    ...(failovers.length === 0 ? [] : [
      [`failover median over ${failovers.length} trials`, `${median(failovers).toFixed(0)} ms`, "<= 1000 ms"],
      ["failover min / max", `${Math.min(...failovers).toFixed(0)} / ${Math.max(...failovers).toFixed(0)} ms`, ""]
    ] as Array<[string, string, string]>)
  ]
  const width = Math.max(...rows.map((r) => r[0].length))
  console.log(`\nraft-node benchmark (3 processes on loopback, ${SECONDS}s per phase)\n`)
  console.log(`${"measure".padEnd(width)}  ${"result".padStart(18)}  target`)
  for (const [name, value, target] of rows) console.log(`${name.padEnd(width)}  ${value.padStart(18)}  ${target}`)
  if (failovers.length > 0) console.log(`\nfailover trials (ms): ${failovers.map((f) => f.toFixed(0)).join(", ")}`)
  const phaseSeconds = (halfTo - halfFrom) / 1000
  /** Seconds as a share of the latency phase, in % (100 % = one core for CPU time). */
  const pctOfPhase = (seconds: number) => ((seconds / phaseSeconds) * 100).toFixed(0)
  /** One reading per process of the latency phase: the nodes (leader marked), then the bench client. */
  const perProcess = (reading: (i: number) => string) =>
    `${halfPids.map(([id], i) => `${id}${id === halfLeader ? " (leader)" : ""} ${reading(i)}`).join(", ")}, ` +
    `bench client ${reading(halfPids.length)}`
  console.log(
    `CPU during the latency phase (${Math.round(half)} orders/s; % of one core): ${
      perProcess((i) => `${pctOfPhase(cpuAfter[i]! - cpuBefore[i]!)} %`)
    }`
  )
  // On a host with fewer cores than busy processes, every hop of a call (client, leader,
  // followers, and back) may wait for a CPU: the run-queue wait of each event loop.
  const sched = (i: number) => {
    const before = schedBefore[i]
    const after = schedAfter[i]
    if (before === undefined || after === undefined) return "n/a"
    return `${pctOfPhase(after.runSeconds - before.runSeconds)} / ${
      pctOfPhase(after.waitSeconds - before.waitSeconds)
    } %`
  }
  console.log(
    `main threads during the latency phase, on a CPU / waiting for one (% of the phase): ${perProcess(sched)}`
  )
  // the fsyncs every commit waits for, as the nodes' /metrics histograms counted them
  console.log(
    `log fsyncs during the latency phase (raft_storage_fsync_seconds; p50/p99 are bucket bounds): ${
      halfPids.map(([id], i) => {
        const f = histogramDelta(metricsBefore[i]!, metricsAfter[i]!, "raft_storage_fsync_seconds", 0.02)
        return `${id} ${f.count}, p50 <= ${ms(f.p50)}, p99 <= ${ms(f.p99)}, ${f.over} over 20 ms`
      }).join("; ")
    }`
  )
  if (floor !== undefined) {
    const [f1, f2, leader, client] = floor.cpu
    console.log(
      `CPU during the floor's phase (% of one core): followers ${f1} %, ${f2} %, leader ${leader} %, bench client ${client} %`
    )
  }
  if (CPU_PROF_DIR !== undefined) {
    console.log(`node pids during the latency phase: ${halfPids.map(([id, pid]) => `${id} ${pid}`).join(", ")}`)
  }
  if (pauseDir !== undefined) {
    Pauses.print(
      `pauses during the latency phase (${phaseSeconds.toFixed(1)} s)`,
      pauseDir,
      [
        ...halfPids.map(([id, pid]) => [`raft-node ${id}${id === halfLeader ? " (leader)" : ""}`, pid] as const),
        ["bench client", process.pid]
      ],
      halfFrom,
      halfTo
    )
  }
})

Effect.runPromise(Scope.extend(main, scope)).then(
  () => undefined,
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
).finally(async () => {
  await Promise.all([...nodes.values()].map((n) => stop(n, stopSignal)))
  const outputDir = process.env.BENCH_NODE_OUTPUT
  if (outputDir !== undefined) {
    for (const [id, node] of nodes) writeFileSync(join(outputDir, `${id}.out`), node.output())
  }
  if (CPU_PROF_DIR !== undefined) console.log(`\nCPU profiles of the nodes (pid.cpuprofile): ${CPU_PROF_DIR}`)
  await Effect.runPromise(Scope.close(scope, Exit.void))
  rmSync(dataRoot, { recursive: true, force: true })
})
void run
