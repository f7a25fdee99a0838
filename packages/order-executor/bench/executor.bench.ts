// The order-executor alone, for its CPU per order: its bundle as a real process on the Kafka
// broker (KAFKA_BROKERS, default 127.0.0.1:9092) with a real raft-node cluster, fed commands
// at a fixed rate by this script (no ingestor, no processor), so the executor's cost can be
// measured without the rest of the pipeline on the same two cores.
//
//   node --import tsx packages/order-executor/bench/executor.bench.ts
//
// EXEC_BENCH_RATE (commands/s, default 2000; several comma-separated run one phase each),
// EXEC_BENCH_SECONDS (per phase, default 15), EXEC_BENCH_RAFT_NODES (default 3),
// EXEC_BENCH_CPU_PROF=1 (a .cpuprofile of the executor in /tmp/executor-bench-prof on exit),
// EXEC_BENCH_REJECT_EVERY (every n-th command invalid, REJECTED; default 0: none),
// EXEC_BENCH_NODE_OPTIONS (NODE_OPTIONS of the executor, for experiments with V8 flags),
// EXEC_BENCH_ENV (more variables for the executor, `NAME=value,NAME=value`),
// EXEC_BENCH_PERF=<file> (`perf record -g` of the executor over the measured phases; with
// EXEC_BENCH_NODE_OPTIONS=--perf-basic-prof for JavaScript names).
//
// Per phase: the executor's CPU (user + system jiffies from /proc) over the phase and until
// every event is on the events topic and the relay's scan has read it, per 1,000 orders,
// and net of its idle CPU (heartbeats, relay polls) measured just before; command-to-event
// latency (the command's creation time, stamped when this script sends it, to the event's
// Kafka timestamp); RSS now and peak.
import { Partitioner } from "@trading/bus"
import { DeterministicId, Fields, OrderCommand, OrderEvent } from "@trading/domain"
import { envPairs, eventually, healthzOk } from "@trading/platform/testing/ServiceProcess"
import { spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import type * as KafkaJs from "../../bus/node_modules/kafkajs/types/index.js"
import { readTopic } from "../../cli/bench/latency.js"
import * as Procfs from "../../cli/bench/procfs.js"
import {
  agreedLeader,
  freePort,
  grpcAddr,
  makeSpec,
  type NodeProcess,
  start as startRaft
} from "../../raft-node/test/processes.js"
import { type Proc, run } from "../test/processes.js"

const kafkajs = createRequire(new URL("../../bus/package.json", import.meta.url))("kafkajs") as typeof KafkaJs
const brokers = process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"
const RATES = (process.env.EXEC_BENCH_RATE ?? "2000").split(",").map(Number).filter((n) => n > 0)
const SECONDS = Number(process.env.EXEC_BENCH_SECONDS ?? 15)
const RAFT_NODES = Number(process.env.EXEC_BENCH_RAFT_NODES ?? 3)
const CPU_PROF = process.env.EXEC_BENCH_CPU_PROF === "1"
const REJECT_EVERY = Number(process.env.EXEC_BENCH_REJECT_EVERY ?? 0)
const NODE_OPTIONS = process.env.EXEC_BENCH_NODE_OPTIONS ?? ""
const PERF = process.env.EXEC_BENCH_PERF ?? ""
// a value may contain "=" (split("=", 2) cut it there)
const EXTRA_ENV = envPairs(process.env.EXEC_BENCH_ENV ?? "", ",")
const PARTITIONS = 3

/** Twelve symbols, four on each partition (Kafka's murmur2 of the key), so the partitions share the load. */
const SYMBOLS = (() => {
  const byPartition: Array<Array<string>> = Array.from({ length: PARTITIONS }, () => [])
  for (let i = 0; byPartition.some((p) => p.length < 4); i++) {
    const symbol = `SYM${i}`
    const p = byPartition[Partitioner.partitionForKey(new TextEncoder().encode(symbol), PARTITIONS)]!
    if (p.length < 4) p.push(symbol)
  }
  return byPartition.flat()
})()

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const id = `exec-bench-${Date.now().toString(36)}`
const dir = mkdtempSync(join(tmpdir(), "executor-bench-"))
const kafka = new kafkajs.Kafka({ clientId: "executor-bench", brokers: brokers.split(","), logLevel: 0 })
const topics = { commands: `${id}.commands`, events: `${id}.events` }
const children: Array<{ process: { kill: (s: NodeJS.Signals) => boolean }; exited: Promise<unknown> }> = []

const startCluster = async () => {
  const specs = await Promise.all(
    Array.from({ length: RAFT_NODES }, (_, i) => makeSpec(`e${i + 1}`, join(dir, "raft")))
  )
  const nodes: Array<NodeProcess> = [startRaft(specs[0]!, { LOG_LEVEL: "warn", RAFT_BOOTSTRAP: "true" })]
  await eventually("raft e1 healthy", () => healthzOk(specs[0]!.httpPort), 120_000, 100)
  for (const spec of specs.slice(1)) {
    nodes.push(startRaft(spec, { LOG_LEVEL: "warn", RAFT_JOIN_ADDR: grpcAddr(specs[0]!) }))
  }
  children.push(...nodes)
  await eventually("raft cluster healthy", () => agreedLeader(nodes, RAFT_NODES), 120_000, 100)
  return specs.map(grpcAddr).join(",")
}

const profileDir = join(tmpdir(), "executor-bench-prof")

const startExecutor = async (raftAddrs: string) => {
  const [grpcPort, httpPort] = [await freePort(), await freePort()]
  const profiling: Record<string, string> = {}
  const nodeOptions = [NODE_OPTIONS]
  if (CPU_PROF) {
    mkdirSync(profileDir, { recursive: true })
    const loader = fileURLToPath(new URL("../../cli/bench/cpu-profile.mjs", import.meta.url))
    nodeOptions.push(`--import=${loader}`)
    profiling.BENCH_CPU_PROF_DIR = profileDir
  }
  if (nodeOptions.join("") !== "") profiling.NODE_OPTIONS = nodeOptions.join(" ").trim()
  const executor: Proc = run("order-executor", [], {
    ...profiling,
    KAFKA_BROKERS: brokers,
    COMMANDS_TOPIC: topics.commands,
    EVENTS_TOPIC: topics.events,
    EXECUTOR_GROUP: `${id}-executor`,
    EXECUTOR_DB_PATH: join(dir, "outbox.sqlite"),
    RAFT_NODE_GRPC_ADDR: raftAddrs,
    KAFKA_SESSION_TIMEOUT_MS: "6000",
    LOG_LEVEL: "warn",
    PORT_GRPC: String(grpcPort),
    PORT_HTTP: String(httpPort),
    HEALTH_INTERVAL_MS: "500",
    ...EXTRA_ENV
  })
  children.push({ process: executor.child, exited: executor.exited })
  await eventually("executor healthy", () => healthzOk(httpPort), 120_000, 100)
  return { executor, httpPort }
}

/** `executor_batch_seconds` count and sum from the executor's Prometheus page. */
const batchStats = async (httpPort: number) => {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? 0)
  const recordOrders = (suffix: string) =>
    Number(
      new RegExp(`^grpc_client_call_seconds_${suffix}\\{[^}]*RecordOrders[^}]*\\} (\\S+)$`, "m").exec(text)?.[1] ?? 0
    )
  return {
    count: value("executor_batch_seconds_count"),
    sum: value("executor_batch_seconds_sum"),
    raftCount: recordOrders("count"),
    raftSum: recordOrders("sum")
  }
}

let sequence = 0
const command = (createdAt: number): { key: string; value: Buffer; headers: Record<string, string> } => {
  const n = sequence++
  const symbol = SYMBOLS[n % SYMBOLS.length]!
  const ids = DeterministicId.decisionIds("bench", `${id}-${n}`)
  const value = OrderCommand.toBytes({
    schemaVersion: Fields.SCHEMA_VERSION,
    commandId: ids.commandId,
    orderId: ids.orderId,
    symbol: REJECT_EVERY > 0 && n % REJECT_EVERY === 0 ? "bad symbol" : symbol,
    side: n % 2 === 0 ? "BUY" : "SELL",
    quantity: 1,
    limitPriceMicros: 100_000_000 + (n % 1000),
    createdAtUnixMs: createdAt,
    sourceTickId: `${symbol}-${n}`,
    strategy: "sma-crossover"
  })
  // a traceparent per command, as the stream-processor's produce carries one
  const hex = (bytes: number) =>
    Array.from({ length: bytes }, () => Math.floor(Math.random() * 256).toString(16).padStart(2, "0")).join("")
  return { key: symbol, value: Buffer.from(value), headers: { traceparent: `00-${hex(16)}-${hex(8)}-01` } }
}

/** Sum of the high watermarks of a topic's partitions. */
const produced = async (admin: KafkaJs.Admin, topic: string) =>
  (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0)

/** Sends `rate` commands/s for `seconds` in 10 ms steps. */
const feed = async (producer: KafkaJs.Producer, rate: number, seconds: number) => {
  const start = performance.now()
  let sent = 0
  const total = rate * seconds
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate))
    if (due > sent) {
      const now = Date.now()
      const messages = Array.from({ length: due - sent }, () => command(now))
      sent = due
      await producer.send({ topic: topics.commands, acks: -1, messages })
    }
    await sleep(10)
  }
  return sent
}

interface Phase {
  readonly rate: number
  readonly orders: number
  readonly cpuSeconds: number
  readonly idleCpuPerSecond: number
  readonly seconds: number
  readonly rssMb: number
  readonly batches: number
  readonly batchMs: number
  readonly raftMs: number
}

const percentile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

const main = async () => {
  const admin = kafka.admin()
  await admin.connect()
  // the commands topic is created here so that this script can produce before the executor's first batch
  await admin.createTopics({
    waitForLeaders: true,
    topics: [topics.commands, topics.events].map((topic) => ({ topic, numPartitions: PARTITIONS }))
  })
  const raftAddrs = await startCluster()
  const { executor, httpPort } = await startExecutor(raftAddrs)
  const pid = executor.child.pid!
  const producer = kafka.producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  console.log(`executor bench: ${brokers}, topics ${id}.*, ${RAFT_NODES} raft node(s)`)

  const settle = async (expected: number) => {
    const end = Date.now() + 120_000
    while ((await produced(admin, topics.events)) < expected) {
      if (Date.now() > end) {
        throw new Error(
          `events did not reach ${expected} (${await produced(admin, topics.events)}); executor output:\n` +
            executor.output().slice(-4000)
        )
      }
      await sleep(100)
    }
    await sleep(1500) // the relay's scan reads the last events back
  }

  // warm-up (JIT, SQLite pages, connections)
  const warm = await feed(producer, 1000, 3)
  await settle(warm)

  const measuredFrom = Date.now()
  const perf = PERF === "" ? undefined : spawn("perf", ["record", "-F", "499", "-g", "-o", PERF, "-p", String(pid)], {
    stdio: "ignore"
  })
  const phases: Array<Phase> = []
  let rssPeak = 0
  for (const rate of RATES) {
    const idleFrom = Procfs.cpuSeconds(pid)!
    await sleep(3000)
    const idleCpuPerSecond = (Procfs.cpuSeconds(pid)! - idleFrom) / 3
    const before = await produced(admin, topics.events)
    const batchesBefore = await batchStats(httpPort)
    const cpuBefore = Procfs.cpuSeconds(pid)!
    const started = performance.now()
    const rssTimer = setInterval(() => {
      rssPeak = Math.max(rssPeak, Procfs.rss(pid)?.currentMb ?? 0)
    }, 500)
    const sent = await feed(producer, rate, SECONDS)
    await settle(before + sent)
    clearInterval(rssTimer)
    const seconds = (performance.now() - started) / 1000
    const cpuSeconds = Procfs.cpuSeconds(pid)! - cpuBefore
    const after = await produced(admin, topics.events)
    const batchesAfter = await batchStats(httpPort)
    const batches = batchesAfter.count - batchesBefore.count
    phases.push({
      batches,
      batchMs: (1000 * (batchesAfter.sum - batchesBefore.sum)) / batches,
      raftMs: (1000 * (batchesAfter.raftSum - batchesBefore.raftSum)) /
        (batchesAfter.raftCount - batchesBefore.raftCount),
      rate,
      orders: after - before,
      cpuSeconds,
      idleCpuPerSecond,
      seconds,
      rssMb: Procfs.rss(pid)?.currentMb ?? NaN
    })
  }

  if (perf !== undefined) {
    perf.kill("SIGINT")
    await new Promise((resolve) => perf.once("exit", resolve))
  }

  // latency per phase: the event's Kafka timestamp minus the command's creation (both this machine's clock)
  const latencies: Array<number> = []
  await readTopic(kafka, topics.events, (m) => {
    // the event's occurred-at is the command's creation time (the registry's logical time)
    const decoded = OrderEvent.fromBytes(m.value!)
    if (decoded._tag === "Right" && decoded.right.occurredAtUnixMs >= measuredFrom) {
      latencies.push(Number(m.timestamp) - decoded.right.occurredAtUnixMs)
    }
  })
  const sorted = latencies.sort((a, b) => a - b)
  const rss = Procfs.rss(pid)

  console.log(
    "\nrate/s  orders  seconds  CPU s  µs/order  µs/order net of idle  idle CPU %  RSS MB  batches  orders/batch  ms/batch  raft ms"
  )
  for (const p of phases) {
    const perOrder = (1e6 * p.cpuSeconds) / p.orders
    const net = (1e6 * (p.cpuSeconds - p.idleCpuPerSecond * p.seconds)) / p.orders
    console.log(
      [
        String(p.rate).padStart(6),
        String(p.orders).padStart(7),
        p.seconds.toFixed(1).padStart(8),
        p.cpuSeconds.toFixed(2).padStart(6),
        perOrder.toFixed(1).padStart(9),
        net.toFixed(1).padStart(21),
        (100 * p.idleCpuPerSecond).toFixed(1).padStart(11),
        p.rssMb.toFixed(0).padStart(7),
        String(p.batches).padStart(8),
        (p.orders / p.batches).toFixed(1).padStart(13),
        p.batchMs.toFixed(1).padStart(9),
        p.raftMs.toFixed(1).padStart(8)
      ].join(" ")
    )
  }
  console.log(
    `command-to-event latency over all phases (${sorted.length} orders): p50 ${percentile(sorted, 0.5)} ms, ` +
      `p99 ${percentile(sorted, 0.99)} ms, max ${sorted.at(-1)} ms`
  )
  console.log(
    `RSS: peak sampled ${rssPeak.toFixed(0)} MB, VmHWM ${rss?.peakMb.toFixed(0)} MB, now ${
      rss?.currentMb.toFixed(0)
    } MB`
  )
  await producer.disconnect()
  await admin.deleteTopics({
    topics: [topics.commands, topics.events, `${topics.commands}.dlq`, `${topics.events}.dlq`]
  })
    .catch(() => undefined)
  await admin.disconnect()
}

const cleanup = async () => {
  // SIGTERM first: a profile is written only on a normal exit
  for (const c of children.reverse()) c.process.kill("SIGTERM")
  await Promise.race([Promise.all(children.map((c) => c.exited)), sleep(15_000)])
  for (const c of children) c.process.kill("SIGKILL")
  rmSync(dir, { recursive: true, force: true })
  if (CPU_PROF) console.log(`CPU profile: ${profileDir}`)
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
}).finally(() => cleanup().then(() => process.exit()))
