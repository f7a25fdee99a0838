// pnpm bench:pipeline: the whole pipeline as separate processes on the Kafka broker
// (KAFKA_BROKERS): three raft-nodes, stream-processor, order-executor and a market-ingestor,
// each run from its bundle (`node <flags> packages/<svc>/dist/main.mjs`, as the start scripts
// do) with LOG_LEVEL=warn, on unique topics and groups.
//
// Ticks come from the ingestor's own synthetic feed (INGEST_RATE per symbol over
// BENCH_SYMBOLS symbols spread evenly over the 3 partitions): the ingestor paces itself on
// its clock and catches up in larger batches when a produce is slow, so the rate holds
// without the bench spending CPU on generating ticks. Each phase restarts the ingestor at
// the next rate; the processor, executor and raft-nodes run through all phases.
//
// Orders: the strategy is configured so that almost every tick is an order
// (STRATEGY_FAST_WINDOW=1, STRATEGY_SLOW_WINDOW=2, STRATEGY_MAX_POSITION=1e9,
// STRATEGY_MAX_ORDER_QUANTITY=1: once a symbol has two prices the signal is set, and the
// position, moving one unit per tick, never reaches its target, so each tick orders 1 unit).
//
// Per phase: ticks/s in, commands/s and events/s out over the phase, and the backlog of each
// stage at its end (from the broker's high watermarks and the groups' committed offsets).
// After each phase the ingestor stops and the pipeline drains before the next one.
// Each phase's ingestor is a new process: it runs BENCH_LEAD_IN_SECONDS (3) at the phase's
// rate before the phase's window opens, so that the window measures the pipeline at that
// rate, not a process starting (its JIT, its first produce requests). The latency phase's
// figures with the lead-in's ticks included are printed too.
// Latency (tick generated -> event on the topic) is computed for the BENCH_LATENCY_RATE
// phase from the records themselves (see latency.ts). RSS from /proc for every process.
// BENCH_PAUSE_LOG=1: every process's GC pauses and event-loop stalls over that phase (pauses.ts).
// BENCH_SAMPLES_FILE=<path>: that phase's samples are appended to it as CSV lines
// `tickAt,toCommandMs,toEventMs` (one per order), to look at their spread over time.
import { Partitioner } from "@trading/bus"
import { envPairs, eventually, healthzOk, type ServiceName } from "@trading/platform/testing/ServiceProcess"
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { agreedLeader, freePort, grpcAddr, makeSpec, type NodeProcess } from "../../raft-node/test/processes.js"
import type { Service } from "../../stream-processor/test/processes.js"
import { brokers, kafka, pipelineEnv, Processes, unique } from "../test/pipeline/harness.js"
import { backlog, slope, type Snapshot, snapshot, type Topics } from "./backlog.js"
import { percentile, tickToEvent } from "./latency.js"
import * as Pauses from "./pauses.js"
import * as Procfs from "./procfs.js"

const numbers = (text: string) => text.split(",").map((s) => Number(s.trim())).filter((n) => n > 0)
const RATES = numbers(process.env.BENCH_RATES ?? "1000,2000,5000,10000,20000")
const SECONDS = Number(process.env.BENCH_SECONDS ?? 15)
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 5)
const LEAD_IN_SECONDS = Number(process.env.BENCH_LEAD_IN_SECONDS ?? 3)
const DRAIN_SECONDS = Number(process.env.BENCH_DRAIN_SECONDS ?? 60)
const LATENCY_RATE = Number(process.env.BENCH_LATENCY_RATE ?? 1000)
const SYMBOL_COUNT = Number(process.env.BENCH_SYMBOLS ?? 12)
/** Comma-separated service names (`stream-processor`, `order-executor`, `market-ingestor`, `raft-node`) to run with --cpu-prof. */
const CPU_PROF = (process.env.BENCH_CPU_PROF ?? "").split(",").filter((s) => s !== "")
/** Comma-separated service names to run with TRACE=console; their span trees go to /tmp/pipeline-trace-<service>.log (raft-nodes: -raft-node-<id>). */
const TRACE = (process.env.BENCH_TRACE ?? "").split(",").filter((s) => s !== "")
const PARTITIONS = 3

const STRATEGY: Record<string, string> = {
  STRATEGY_FAST_WINDOW: "1",
  STRATEGY_SLOW_WINDOW: "2",
  STRATEGY_MAX_POSITION: "1000000000",
  STRATEGY_MAX_ORDER_QUANTITY: "1"
}

const dir = mkdtempSync(join(tmpdir(), "pipeline-bench-"))
const procs = new Processes()
const admin = kafka.admin()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const running = (s: Service) => s.process.exitCode === null && s.process.signalCode === null

const profileDir = (name: string) => join(tmpdir(), `pipeline-prof-${name}`)
/** Extra V8/Node flags for every service (e.g. `--max-old-space-size=256`), to try settings without editing the start scripts. */
const EXTRA_NODE_OPTIONS = process.env.BENCH_NODE_OPTIONS ?? ""
/** Extra environment for every service, space-separated `NAME=value` pairs (e.g. `MALLOC_ARENA_MAX=2`). */
const EXTRA_ENV = envPairs(process.env.BENCH_SERVICE_ENV ?? "", /\s+/)
/** BENCH_PAUSE_LOG=1: every process logs its GC pauses and event-loop stalls here (pauses.ts). */
const pauseDir = await Pauses.setup("pipeline-bench")
const profiled = (name: string): Record<string, string> => {
  const cpuProfiled = CPU_PROF.includes(name)
  if (cpuProfiled) mkdirSync(profileDir(name), { recursive: true })
  const nodeOptions = [
    ...(cpuProfiled ? [`--import=${fileURLToPath(new URL("cpu-profile.mjs", import.meta.url))}`] : []),
    EXTRA_NODE_OPTIONS
  ].join(" ").trim()
  return {
    ...EXTRA_ENV,
    ...(nodeOptions === "" ? {} : { NODE_OPTIONS: nodeOptions }),
    ...(cpuProfiled ? { BENCH_CPU_PROF_DIR: profileDir(name) } : {}),
    ...(pauseDir !== undefined ? Pauses.env(pauseDir, nodeOptions) : {})
  }
}

/**
 * `waiting`, failing with the last `/healthz` answer and the tails of the processes' output:
 * a process that never became healthy says why only there (once, a raft node stayed
 * unhealthy for 120 s and the run said nothing more).
 */
const explained = <A>(
  waiting: Promise<A>,
  processes: ReadonlyArray<{ readonly name: string; readonly output: () => string }>,
  httpPort?: number
) =>
  waiting.catch(async (e: unknown) => {
    const health = httpPort === undefined ?
      "" :
      await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
        async (r) => `/healthz on ${httpPort}: ${r.status} ${await r.text()}\n`,
        (cause: unknown) => `/healthz on ${httpPort}: ${String(cause)}\n`
      )
    const tails = processes.map((p) => `--- ${p.name}\n${p.output().slice(-3000)}`).join("\n")
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${health}${tails}`)
  })

/** A service on fixed free ports, healthy (HTTP 200) before this returns. */
const traced: Array<{ readonly name: string; readonly output: () => string }> = []
const startService = async (name: ServiceName, env: Record<string, string>) => {
  const [grpcPort, httpPort] = [await freePort(), await freePort()]
  const service = procs.service(name, {
    ...env,
    ...profiled(name),
    ...(TRACE.includes(name) ? { TRACE: "console" } : {}),
    LOG_LEVEL: "warn",
    PORT_GRPC: String(grpcPort),
    PORT_HTTP: String(httpPort),
    HEALTH_INTERVAL_MS: "500"
  })
  if (TRACE.includes(name)) traced.push(service)
  await explained(
    eventually(`${name} healthy`, () => healthzOk(httpPort), 120_000, 100, () => running(service)),
    [{ name, output: service.output }],
    httpPort
  )
  return { service, httpPort }
}

const startRaft = async () => {
  const specs = await Promise.all(["b1", "b2", "b3"].map((id) => makeSpec(id, join(dir, "raft"))))
  const nodes: Array<NodeProcess> = []
  const extra = {
    LOG_LEVEL: "warn",
    ...profiled("raft-node"),
    ...(TRACE.includes("raft-node") ? { TRACE: "console" } : {})
  }
  nodes.push(procs.raft(specs[0]!, { ...extra, RAFT_BOOTSTRAP: "true" }))
  const alive = () => nodes.every((n) => n.process.exitCode === null && n.process.signalCode === null)
  const named = () => nodes.map((n) => ({ name: `raft-node ${n.spec.id}`, output: n.output }))
  await explained(
    eventually("raft b1 healthy", () => healthzOk(specs[0]!.httpPort), 120_000, 100, alive),
    named(),
    specs[0]!.httpPort
  )
  for (const spec of specs.slice(1)) nodes.push(procs.raft(spec, { ...extra, RAFT_JOIN_ADDR: grpcAddr(specs[0]!) }))
  if (TRACE.includes("raft-node")) {
    traced.push(...nodes.map((n) => ({ name: `raft-node-${n.spec.id}`, output: n.output })))
  }
  // every node healthy, agreeing on one leader, with three voters
  await explained(eventually("raft cluster healthy", () => agreedLeader(nodes, 3), 120_000, 100, alive), named())
  return { nodes, addresses: specs.map(grpcAddr).join(",") }
}

interface PhaseResult {
  readonly rate: number
  readonly seconds: number
  readonly ticksPerSecond: number
  readonly commandsPerSecond: number
  readonly eventsPerSecond: number
  /** Best one-second window of events/s during the phase. */
  readonly peakEventsPerSecond: number
  readonly end: ReturnType<typeof backlog>
  /** Growth of the total backlog per second over the phase (least squares). */
  readonly growthPerSecond: number
  readonly keptUp: boolean
  readonly ingestorFellBehind: boolean
  readonly drainSeconds: number
  readonly drained: boolean
  /** Wall-clock window of the phase, for selecting its latency samples. */
  /** When the phase's ingestor was up (its lead-in began). */
  readonly startedAt: number
  readonly from: number
  readonly to: number
  /** The processes of the phase, by label. */
  readonly pids: ReadonlyArray<readonly [string, number]>
  /** CPU use of each process over the phase (100 = one core), and of the whole machine (200 = both cores). */
  readonly cpu: ReadonlyMap<string, number>
  readonly machineCpu: number
  /** The executor's batches during the phase (executor_batch_seconds) and their mean time. */
  readonly executorBatches: number
  readonly executorBatchMs: number
  /** Largest RSS sampled per process during the phase and its drain (MB). */
  readonly rssMb: ReadonlyMap<string, number>
}

/** Busy and total jiffies of all CPUs since boot (/proc/stat): the machine, other work included. */
const machineJiffies = () => {
  const [, ...values] = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/)
  const n = values.map(Number)
  const idle = n[3]! + n[4]!
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0)
  return { busy: total - idle, total }
}

/** `executor_batch_seconds` count and sum from a Prometheus text page. */
const batchStats = async (httpPort: number) => {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? 0)
  return { count: value("executor_batch_seconds_count"), sum: value("executor_batch_seconds_sum") }
}

/** Largest RSS seen and the kernel's high-water mark, per process label. */
const memory = new Map<string, { pid: number; currentMb: number; peakMb: number; sampledMaxMb: number }>()
/** Largest RSS sampled per process since the current phase began (reset by each phase). */
const phaseMemory = new Map<string, number>()
const sampleRss = (label: string, pid: number) => {
  const rss = Procfs.rss(pid)
  if (rss === undefined) return
  phaseMemory.set(label, Math.max(rss.currentMb, phaseMemory.get(label) ?? 0))
  const prior = memory.get(label)
  memory.set(label, {
    pid,
    currentMb: rss.currentMb,
    // a label may be several processes over time (the ingestor restarts each phase): the largest counts
    peakMb: Math.max(rss.peakMb, prior?.peakMb ?? 0),
    sampledMaxMb: Math.max(rss.currentMb, prior?.sampledMaxMb ?? 0)
  })
}

const main = async () => {
  await admin.connect()
  const id = unique("bench")
  const env = pipelineEnv(id, dir)
  const topics: Topics = {
    ticks: env.TICKS_TOPIC!,
    commands: env.COMMANDS_TOPIC!,
    events: env.EVENTS_TOPIC!,
    processorGroup: env.PROCESSOR_GROUP!,
    executorGroup: env.EXECUTOR_GROUP!
  }
  benchTopics = [topics.ticks, topics.commands, topics.events].flatMap((t) => [t, `${t}.dlq`])
  const symbols = Partitioner.evenKeys("SYM", SYMBOL_COUNT, PARTITIONS)
  const strategy = { ...STRATEGY }
  for (const key of Object.keys(STRATEGY)) if (process.env[key] !== undefined) strategy[key] = process.env[key]!

  console.log(`pipeline benchmark: broker ${brokers}, topics ${id}.*, data ${dir}`)
  const raft = await startRaft()
  const { service: processor } = await startService("stream-processor", { ...env, ...strategy })
  const { httpPort: executorHttp, service: executor } = await startService("order-executor", {
    ...env,
    RAFT_NODE_GRPC_ADDR: raft.addresses
  })
  const services: Array<[string, () => number | undefined]> = [
    ...raft.nodes.map((n, i): [string, () => number] => [`raft-node ${i + 1}`, () => n.pid]),
    ["stream-processor", () => processor.process.pid],
    ["order-executor", () => executor.process.pid]
  ]
  let ingestor: Service | undefined
  const sampleAll = () => {
    for (const [label, pid] of services) if (pid() !== undefined) sampleRss(label, pid()!)
    if (ingestor !== undefined && running(ingestor)) sampleRss("market-ingestor", ingestor.process.pid!)
  }
  const pipelineAlive = () => {
    const dead = [processor, executor].find((s) => !running(s)) ??
      raft.nodes.find((n) => n.process.exitCode !== null || n.process.signalCode !== null)
    if (dead !== undefined) {
      throw new Error(`a service exited during the benchmark:\n${dead.output()}`)
    }
  }

  const drain = async () => {
    const started = performance.now()
    const end = started + DRAIN_SECONDS * 1000
    for (;;) {
      pipelineAlive()
      sampleAll()
      const s = await snapshot(admin, topics)
      if (backlog(s).total === 0) return { drained: true, seconds: (performance.now() - started) / 1000 }
      if (performance.now() > end) return { drained: false, seconds: (performance.now() - started) / 1000 }
      await sleep(250)
    }
  }

  /** Ingestor at `rate` ticks/s for `seconds`; snapshots every second; drained afterwards. */
  const phase = async (rate: number, seconds: number): Promise<PhaseResult> => {
    ingestor = (await startService("market-ingestor", {
      ...env,
      INGEST_SYMBOLS: symbols.join(","),
      INGEST_RATE: String(rate / symbols.length),
      INGEST_SEED: String(rate)
    })).service
    const startedAt = Date.now()
    await sleep(LEAD_IN_SECONDS * 1000)
    phaseMemory.clear()
    const from = Date.now()
    const pids: Array<[string, number]> = [
      ...services.map(([label, pid]): [string, number] => [label, pid()!]),
      ["market-ingestor", ingestor.process.pid!]
    ]
    const cpuBefore = pids.map(([, pid]) => Procfs.cpuSeconds(pid) ?? 0)
    const machineBefore = machineJiffies()
    const batchesBefore = await batchStats(executorHttp)
    const samples: Array<Snapshot> = [await snapshot(admin, topics)]
    for (let i = 1; i <= seconds; i++) {
      // one-second steps from the phase's start, whatever each snapshot took
      await sleep(Math.max(0, samples[0]!.at + i * 1000 - performance.now()))
      pipelineAlive()
      sampleAll()
      samples.push(await snapshot(admin, topics))
    }
    const to = Date.now()
    const first = samples[0]!
    const last = samples.at(-1)!
    const elapsed = (last.at - first.at) / 1000
    const cpu = new Map(
      pids.map(([label, pid], i) => [label, (100 * ((Procfs.cpuSeconds(pid) ?? 0) - cpuBefore[i]!)) / elapsed])
    )
    const machineAfter = machineJiffies()
    const machineCpu = (200 * (machineAfter.busy - machineBefore.busy)) / (machineAfter.total - machineBefore.total)
    const batchesAfter = await batchStats(executorHttp)
    const executorBatches = batchesAfter.count - batchesBefore.count
    const ingestorFellBehind = ingestor.output().includes("synthetic feed fell behind")
    sampleAll()
    await ingestor.stop()
    const { drained, seconds: drainSeconds } = await drain()
    const end = backlog(last)
    let peakEventsPerSecond = 0
    for (let i = 1; i < samples.length; i++) {
      const s = samples[i]!
      const p = samples[i - 1]!
      peakEventsPerSecond = Math.max(peakEventsPerSecond, (s.events - p.events) / ((s.at - p.at) / 1000))
    }
    const ticksPerSecond = (last.ticks - first.ticks) / elapsed
    return {
      rate,
      seconds: elapsed,
      ticksPerSecond,
      commandsPerSecond: (last.commands - first.commands) / elapsed,
      eventsPerSecond: (last.events - first.events) / elapsed,
      peakEventsPerSecond,
      end,
      growthPerSecond: slope(samples.map((s) => s.at / 1000), samples.map((s) => backlog(s).total)),
      // at most one second of input still on its way at the end of the phase
      keptUp: end.total <= ticksPerSecond,
      ingestorFellBehind,
      drainSeconds,
      drained,
      startedAt,
      from,
      pids,
      to,
      cpu,
      machineCpu,
      executorBatches,
      executorBatchMs: executorBatches === 0 ? NaN : (1000 * (batchesAfter.sum - batchesBefore.sum)) / executorBatches,
      rssMb: new Map(phaseMemory)
    }
  }

  if (WARMUP_SECONDS > 0) {
    console.log(`warm-up: ${WARMUP_SECONDS} s at ${LATENCY_RATE} ticks/s`)
    await phase(LATENCY_RATE, WARMUP_SECONDS)
  }
  const rates = RATES.includes(LATENCY_RATE) ? RATES : [LATENCY_RATE, ...RATES]
  const results: Array<PhaseResult> = []
  let latencyWindow: PhaseResult | undefined
  for (const rate of rates) {
    console.log(`phase: ${rate} ticks/s for ${SECONDS} s`)
    const result = await phase(rate, SECONDS)
    results.push(result)
    if (rate === LATENCY_RATE && latencyWindow === undefined) latencyWindow = result
    if (!result.drained) {
      console.log(`  backlog not drained in ${DRAIN_SECONDS} s: later phases skipped`)
      break
    }
  }

  // latency of the orders whose tick was generated inside the latency phase
  const all = await tickToEvent(kafka, topics.commands, topics.events)
  const inWindow = all
    .filter((s) => latencyWindow !== undefined && s.tickAt >= latencyWindow.from && s.tickAt <= latencyWindow.to)
  const withLeadIn = all
    .filter((s) => latencyWindow !== undefined && s.tickAt >= latencyWindow.startedAt && s.tickAt <= latencyWindow.to)
    .map((s) => s.latencyMs).sort((a, b) => a - b)
  if (process.env.BENCH_SAMPLES_FILE) {
    appendFileSync(
      process.env.BENCH_SAMPLES_FILE,
      inWindow.map((s) => `${s.tickAt},${s.toCommandMs},${s.toEventMs}\n`).join("")
    )
  }
  const sorted = (f: (s: (typeof inWindow)[number]) => number) => inWindow.map(f).sort((a, b) => a - b)
  const samples = sorted((s) => s.latencyMs)
  const toCommand = sorted((s) => s.toCommandMs)
  const toEvent = sorted((s) => s.toEventMs)
  sampleAll()

  const fmt = (n: number) => Math.round(n).toLocaleString("en-US")
  console.log(`\npipeline benchmark: 6 processes on loopback + Kafka at ${brokers}, ${SECONDS} s per phase`)
  console.log(
    `orders: every tick of the synthetic feed (${symbols.length} symbols) becomes one 1-unit order ` +
      `(${Object.entries(strategy).map(([k, v]) => `${k}=${v}`).join(" ")})\n`
  )
  const header = [
    "ticks/s target",
    "ticks/s in",
    "commands/s",
    "events/s",
    "best 1 s",
    "backlog end p/e/r",
    "growth/s",
    "drain",
    "kept up"
  ]
  const rows = results.map((r) => [
    fmt(r.rate),
    fmt(r.ticksPerSecond) + (r.ingestorFellBehind ? "*" : ""),
    fmt(r.commandsPerSecond),
    fmt(r.eventsPerSecond),
    fmt(r.peakEventsPerSecond),
    `${fmt(r.end.processor)}/${fmt(r.end.executor)}/${fmt(r.end.relay)}`,
    fmt(r.growthPerSecond),
    r.drained ? `${r.drainSeconds.toFixed(1)} s` : `> ${DRAIN_SECONDS} s`,
    r.keptUp ? "yes" : "no"
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  console.log(header.map((h, i) => h.padStart(widths[i]!)).join("  "))
  for (const row of rows) console.log(row.map((c, i) => c.padStart(widths[i]!)).join("  "))
  console.log(
    "backlog p/e/r: ticks not committed by the processor / commands not committed by the executor / " +
      "committed commands without their event yet"
  )
  if (results.some((r) => r.ingestorFellBehind)) console.log("* the ingestor logged that its feed fell behind")

  // where the CPU went: a process near 100 is bound on its one JS thread, a machine near 200 on both cores
  const labels = [...(results[0]?.cpu.keys() ?? [])]
  const cpuHeader = ["ticks/s target", ...labels, "machine", "executor batches", "mean batch"]
  const cpuRows = results.map((r) => [
    fmt(r.rate),
    ...labels.map((l) => `${fmt(r.cpu.get(l) ?? 0)}%`),
    `${fmt(r.machineCpu)}%`,
    `${fmt(r.executorBatches)}`,
    `${fmt(r.ticksPerSecond * r.seconds / Math.max(1, r.executorBatches))} x ${r.executorBatchMs.toFixed(1)} ms`
  ])
  const cpuWidths = cpuHeader.map((h, i) => Math.max(h.length, ...cpuRows.map((r) => r[i]!.length)))
  console.log("\nCPU per process over each phase (100% = one core; machine: 200% = both cores, other work included)")
  console.log(cpuHeader.map((h, i) => h.padStart(cpuWidths[i]!)).join("  "))
  for (const row of cpuRows) console.log(row.map((c, i) => c.padStart(cpuWidths[i]!)).join("  "))

  // memory per phase: a steady rate and an overload (a backlog in flight) hold different amounts
  const rssLabels = [...new Set(results.flatMap((r) => [...r.rssMb.keys()]))]
  const rssHeader = ["ticks/s target", ...rssLabels]
  const rssRows = results.map((r) => [fmt(r.rate), ...rssLabels.map((l) => `${fmt(r.rssMb.get(l) ?? NaN)} MB`)])
  const rssWidths = rssHeader.map((h, i) => Math.max(h.length, ...rssRows.map((r) => r[i]!.length)))
  console.log("\nRSS per process, largest sampled during each phase (every second) and its drain (every 250 ms)")
  console.log(rssHeader.map((h, i) => h.padStart(rssWidths[i]!)).join("  "))
  for (const row of rssRows) console.log(row.map((c, i) => c.padStart(rssWidths[i]!)).join("  "))

  const kept = results.filter((r) => r.keptUp)
  const sustained = kept.length === 0 ? 0 : Math.max(...kept.map((r) => r.eventsPerSecond))
  const summary: Array<[string, string, string]> = [
    ["sustained orders/s (events/s of the fastest phase that kept up)", `${fmt(sustained)} orders/s`, ">= 10,000"],
    [
      `tick-to-event p50 at ${fmt(LATENCY_RATE)} ticks/s (${fmt(samples.length)} orders)`,
      `${percentile(samples, 0.5).toFixed(1)} ms`,
      ""
    ],
    [`tick-to-event p99 at ${fmt(LATENCY_RATE)} ticks/s`, `${percentile(samples, 0.99).toFixed(1)} ms`, "<= 50 ms"],
    [`tick-to-event max at ${fmt(LATENCY_RATE)} ticks/s`, `${(samples.at(-1) ?? NaN).toFixed(1)} ms`, ""],
    [
      `  with the ingestor's ${LEAD_IN_SECONDS} s lead-in too (${fmt(withLeadIn.length)} orders), p50 / p99`,
      `${percentile(withLeadIn, 0.5).toFixed(1)} / ${percentile(withLeadIn, 0.99).toFixed(1)} ms`,
      ""
    ],
    [
      "  of which tick -> command on its topic, p50 / p99",
      `${percentile(toCommand, 0.5).toFixed(1)} / ${percentile(toCommand, 0.99).toFixed(1)} ms`,
      ""
    ],
    [
      "  of which command on its topic -> event on its topic, p50 / p99",
      `${percentile(toEvent, 0.5).toFixed(1)} / ${percentile(toEvent, 0.99).toFixed(1)} ms`,
      ""
    ]
  ]
  for (const [label, m] of memory) {
    summary.push([
      `RSS ${label}: peak (VmHWM) / max sampled / now`,
      `${m.peakMb.toFixed(0)} / ${m.sampledMaxMb.toFixed(0)} / ${m.currentMb.toFixed(0)} MB`,
      "< 150 MB"
    ])
  }
  const width = Math.max(...summary.map((r) => r[0].length))
  console.log(`\n${"measure".padEnd(width)}  ${"result".padStart(20)}  target`)
  for (const [name, value, target] of summary) console.log(`${name.padEnd(width)}  ${value.padStart(20)}  ${target}`)
  if (CPU_PROF.length > 0) console.log(`\nCPU profiles (written at exit): ${CPU_PROF.map(profileDir).join(", ")}`)
  if (pauseDir !== undefined && latencyWindow !== undefined) {
    Pauses.print(
      `pauses during the ${fmt(LATENCY_RATE)} ticks/s phase`,
      pauseDir,
      [...latencyWindow.pids, ["bench", process.pid]],
      latencyWindow.from,
      latencyWindow.to
    )
  }
  return { processor, executor, raft }
}

// Graceful stop first (a --cpu-prof profile is written only on a normal exit), SIGKILL for
// whatever is left; then the temporary folder and the bench's topics go.
let cleaned = false
let benchTopics: ReadonlyArray<string> = []
const cleanup = async (stopGracefully: () => Promise<void>) => {
  if (cleaned) return
  cleaned = true
  await Promise.race([stopGracefully(), sleep(20_000)]).catch(() => undefined)
  await procs.killAll()
  for (const service of traced) {
    const file = join(tmpdir(), `pipeline-trace-${service.name}.log`)
    appendFileSync(file, service.output())
    console.log(`traces of ${service.name}: ${file}`)
  }
  rmSync(dir, { recursive: true, force: true })
  // best effort: the topics have unique names, nobody else uses them
  await admin.deleteTopics({ topics: [...benchTopics] }).catch(() => undefined)
  await admin.disconnect().catch(() => undefined)
}

let stopGracefully = async () => {}
process.once("SIGINT", () => {
  void cleanup(async () => {}).finally(() => process.exit(130))
})

main().then(
  ({ executor, processor, raft }) => {
    stopGracefully = async () => {
      await Promise.all([processor.stop(), executor.stop()])
      await Promise.all(raft.nodes.map((n) => {
        n.process.kill("SIGTERM")
        return n.exited
      }))
    }
  },
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
).finally(() => cleanup(stopGracefully))
