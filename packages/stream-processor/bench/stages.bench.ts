// The first two stages alone, as real processes on the Kafka broker (KAFKA_BROKERS): a
// market-ingestor producing its synthetic feed at RATE ticks/s and a stream-processor
// turning every tick into a command (the pipeline bench's strategy settings). Nothing
// consumes the commands, so the figures are these two services' own cost, without the
// executor and the raft nodes competing for the cores.
//
//   pnpm exec tsx packages/stream-processor/bench/stages.bench.ts
//   RATE=10000 SECONDS=15 WARMUP=5 ROUNDS=3 pnpm exec tsx packages/stream-processor/bench/stages.bench.ts
//   PROFILE=stream-processor,market-ingestor ...   (.cpuprofile files in /tmp/stages-prof-<service>/)
//   PERF=stream-processor,... ...   (`perf record` of the measured window: /tmp/stages-perf-<service>.data,
//                                    with --perf-basic-prof so JavaScript frames have names)
//
// Per round (fresh topics, group and state file): both services start, the ingestor runs
// WARMUP seconds, then CPU (user + system jiffies from /proc), ticks published and ticks
// applied (each service's own counters on /metrics) are taken over SECONDS. Printed: CPU
// microseconds per tick for each service and RSS; with ROUNDS > 1 the median of the rounds.
import { Partitioner } from "@trading/bus"
import * as ServiceProcess from "@trading/platform/testing/ServiceProcess"
import { execFileSync, spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type * as KafkaJs from "../../bus/node_modules/kafkajs/types/index.js"
import * as Procfs from "../../cli/bench/procfs.js"

const kafkajs = createRequire(new URL("../../bus/package.json", import.meta.url))("kafkajs") as typeof KafkaJs

const RATE = Number(process.env.RATE ?? 2000)
const SECONDS = Number(process.env.SECONDS ?? 15)
const WARMUP = Number(process.env.WARMUP ?? 5)
const ROUNDS = Number(process.env.ROUNDS ?? 1)
const SYMBOLS = Number(process.env.SYMBOLS ?? 12)
const PROFILE = (process.env.PROFILE ?? "").split(",").filter((s) => s !== "")
const PERF = (process.env.PERF ?? "").split(",").filter((s) => s !== "")
const brokers = process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"
const PARTITIONS = 3

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// the services run for the whole bench: a missing /proc entry reads as NaN
const cpuSeconds = (pid: number) => Procfs.cpuSeconds(pid) ?? NaN
const rssMb = (pid: number) => Procfs.rss(pid)?.currentMb ?? NaN

const counter = async (port: number, name: string) => {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
  let total = 0
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm"))) total += Number(match[1])
  return total
}

/** Extra node options for both services (`SERVICE_NODE_OPTIONS=--max-old-space-size=96`), to compare heap settings. */
const extraOptions = process.env.SERVICE_NODE_OPTIONS ?? ""

const profileEnv = (name: string): Record<string, string> => {
  const env = profileEnvOf(name)
  return extraOptions === "" ? env : { ...env, NODE_OPTIONS: `${env.NODE_OPTIONS ?? ""} ${extraOptions}`.trim() }
}

const profileEnvOf = (name: string): Record<string, string> => {
  if (PERF.includes(name)) return { NODE_OPTIONS: "--perf-basic-prof" }
  // a script of your own that records memory figures (e.g. process.memoryUsage() to $MEM_LOG)
  if (process.env.MEM_PROBE !== undefined) {
    return { NODE_OPTIONS: `--import=${process.env.MEM_PROBE}`, MEM_LOG: join(tmpdir(), `stages-mem-${name}.jsonl`) }
  }
  if (!PROFILE.includes(name)) return {}
  const dir = join(tmpdir(), `stages-prof-${name}`)
  mkdirSync(dir, { recursive: true })
  const loader = fileURLToPath(new URL("../../cli/bench/cpu-profile.mjs", import.meta.url))
  return { NODE_OPTIONS: `--import=${loader}`, BENCH_CPU_PROF_DIR: dir }
}

interface Round {
  readonly ticksPerSecond: number
  readonly appliedPerSecond: number
  readonly processorUs: number
  readonly ingestorUs: number
  readonly processorCpu: number
  readonly ingestorCpu: number
  readonly processorRss: number
  readonly ingestorRss: number
  readonly lagEnd: number
}

const startService = async (name: ServiceProcess.ServiceName, env: Record<string, string>) => {
  const httpPort = await ServiceProcess.freePort()
  const proc = ServiceProcess.start(ServiceProcess.service(name), {
    ...env,
    ...profileEnv(name),
    LOG_LEVEL: "warn",
    BIND_HOST: "127.0.0.1",
    PORT_GRPC: "0",
    PORT_HTTP: String(httpPort),
    HEALTH_INTERVAL_MS: "500"
  })
  await ServiceProcess.eventually(
    `${name} healthy`,
    () => ServiceProcess.healthzOk(httpPort),
    60_000,
    100,
    proc.running
  )
    .catch((e: Error) => {
      throw new Error(`${e.message}\n${proc.output()}`)
    })
  return { proc, httpPort }
}

const round = async (admin: KafkaJs.Admin, index: number): Promise<Round> => {
  const id = `stages-${Date.now().toString(36)}-${index}`
  const dir = mkdtempSync(join(tmpdir(), "stages-"))
  const symbols = Partitioner.evenKeys("SYM", SYMBOLS, PARTITIONS)
  const env = {
    KAFKA_BROKERS: brokers,
    TICKS_TOPIC: `${id}.ticks`,
    COMMANDS_TOPIC: `${id}.commands`,
    PROCESSOR_GROUP: `${id}-processor`,
    PROCESSOR_STATE_FILE: join(dir, "processor.sqlite"),
    KAFKA_SESSION_TIMEOUT_MS: "6000",
    STRATEGY_FAST_WINDOW: "1",
    STRATEGY_SLOW_WINDOW: "2",
    STRATEGY_MAX_POSITION: "1000000000",
    STRATEGY_MAX_ORDER_QUANTITY: "1"
  }
  const processor = await startService("stream-processor", env)
  const ingestor = await startService("market-ingestor", {
    ...env,
    INGEST_SYMBOLS: symbols.join(","),
    INGEST_RATE: String(RATE / symbols.length),
    INGEST_SEED: String(index + 1)
  })
  try {
    await sleep(WARMUP * 1000)
    const pids = [processor.proc.pid, ingestor.proc.pid]
    const read = async () => ({
      at: performance.now(),
      cpu: pids.map(cpuSeconds),
      published: await counter(ingestor.httpPort, "ingest_ticks_published_total"),
      applied: await counter(processor.httpPort, "processor_ticks_total")
    })
    // on-CPU samples (kernel included) of the measured window, unlike the inspector's wall-clock profile
    const perf = [["stream-processor", pids[0]!], ["market-ingestor", pids[1]!]].filter(([name]) =>
      PERF.includes(String(name))
    ).map(([name, pid]) =>
      spawn(
        "perf",
        ["record", "-F", "999", "-g", "-p", String(pid), "-o", join(tmpdir(), `stages-perf-${name}.data`)],
        {
          stdio: "ignore"
        }
      )
    )
    const before = await read()
    let processorRss = 0
    let ingestorRss = 0
    for (let i = 0; i < SECONDS; i++) {
      await sleep(1000)
      processorRss = Math.max(processorRss, rssMb(pids[0]!))
      ingestorRss = Math.max(ingestorRss, rssMb(pids[1]!))
    }
    const after = await read()
    for (const p of perf) p.kill("SIGINT")
    await Promise.all(perf.map((p) => new Promise((r) => p.once("exit", r))))
    const seconds = (after.at - before.at) / 1000
    const published = after.published - before.published
    const applied = after.applied - before.applied
    return {
      ticksPerSecond: published / seconds,
      appliedPerSecond: applied / seconds,
      processorUs: (1e6 * (after.cpu[0]! - before.cpu[0]!)) / applied,
      ingestorUs: (1e6 * (after.cpu[1]! - before.cpu[1]!)) / published,
      processorCpu: (100 * (after.cpu[0]! - before.cpu[0]!)) / seconds,
      ingestorCpu: (100 * (after.cpu[1]! - before.cpu[1]!)) / seconds,
      processorRss,
      ingestorRss,
      lagEnd: after.published - after.applied
    }
  } finally {
    await ingestor.proc.stop("SIGTERM")
    await processor.proc.stop("SIGTERM")
    rmSync(dir, { recursive: true, force: true })
    const topics = [env.TICKS_TOPIC, env.COMMANDS_TOPIC].flatMap((t) => [t, `${t}.dlq`])
    await admin.deleteTopics({ topics }).catch(() => undefined)
  }
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const main = async () => {
  execFileSync(process.execPath, ["infra/bundle.mjs", "market-ingestor", "stream-processor"], {
    cwd: ServiceProcess.repoRoot,
    stdio: "inherit"
  })
  const kafka = new kafkajs.Kafka({ clientId: "stages-bench", brokers: brokers.split(","), logLevel: 0 })
  const admin = kafka.admin()
  await admin.connect()
  const rounds: Array<Round> = []
  const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")
  console.log(`stages bench: ${RATE} ticks/s over ${SYMBOLS} symbols, ${WARMUP} s warm-up, ${SECONDS} s measured`)
  const row = (r: Round) =>
    [
      r.ticksPerSecond.toFixed(0).padStart(8),
      r.appliedPerSecond.toFixed(0).padStart(8),
      `${r.ingestorUs.toFixed(1)} µs`.padStart(10),
      `${r.processorUs.toFixed(1)} µs`.padStart(10),
      `${r.ingestorCpu.toFixed(0)}%`.padStart(6),
      `${r.processorCpu.toFixed(0)}%`.padStart(6),
      `${r.ingestorRss.toFixed(0)} MB`.padStart(8),
      `${r.processorRss.toFixed(0)} MB`.padStart(8),
      String(r.lagEnd).padStart(7)
    ].join("  ")
  console.log("   in/s  applied/s  ingest/tick  proc/tick  ingest   proc  ing RSS  proc RSS  lag end")
  try {
    for (let i = 0; i < ROUNDS; i++) {
      const r = await round(admin, i)
      rounds.push(r)
      console.log(`${row(r)}   (load ${load()})`)
    }
  } finally {
    await admin.disconnect()
  }
  if (rounds.length > 1) {
    const m = (f: (r: Round) => number) => median(rounds.map(f))
    console.log(
      `${
        row({
          ticksPerSecond: m((r) => r.ticksPerSecond),
          appliedPerSecond: m((r) => r.appliedPerSecond),
          ingestorUs: m((r) => r.ingestorUs),
          processorUs: m((r) => r.processorUs),
          ingestorCpu: m((r) => r.ingestorCpu),
          processorCpu: m((r) => r.processorCpu),
          ingestorRss: m((r) => r.ingestorRss),
          processorRss: m((r) => r.processorRss),
          lagEnd: m((r) => r.lagEnd)
        })
      }   (median)`
    )
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
