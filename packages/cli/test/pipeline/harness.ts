// Pipeline-wide test harness: the whole pipeline as separate real processes on the real
// Kafka broker (KAFKA_BROKERS). Process handling comes from the services' own test helpers
// (all of them spawn the service's bundle with node itself, so a kill -9 hits the service).
// Each test run gets unique topic and group names and its own temporary folder. It does not
// import vitest: `pnpm bench:pipeline` uses it too (per-file setup is in fileSetup.ts).
import * as OrderCommand from "@trading/domain/OrderCommand"
import * as Strategy from "@trading/domain/Strategy"
import * as Tick from "@trading/domain/Tick"
import { GrpcClient } from "@trading/platform"
import type { ServiceName } from "@trading/platform/testing/ServiceProcess"
import { StreamProcessorServiceService } from "@trading/proto/gen/trading/v1/stream_processor"
import * as Effect from "effect/Effect"
import { mkdtempSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type * as KafkaJs from "../../../bus/node_modules/kafkajs/types/index.js"
import { run } from "../../../order-executor/test/processes.js"
import {
  agreedLeader,
  eventually,
  grpcAddr,
  makeSpec,
  type NodeProcess,
  type NodeSpec,
  start as startRaft
} from "../../../raft-node/test/processes.js"
import * as TestTicks from "../../../stream-processor/src/internal/testTicks.js"
import { type Service, startService } from "../../../stream-processor/test/processes.js"

// kafkajs is a dependency of @trading/bus, not of the cli: load the bus's copy. The tests
// use it as a plain client (no bus code) to inject raw bytes and inspect groups.
const kafkajs = createRequire(new URL("../../../bus/package.json", import.meta.url))("kafkajs") as typeof KafkaJs

export const brokers = process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"
export const SYMBOLS = ["ACME", "GLOBEX", "INITECH"]

export const kafka = new kafkajs.Kafka({
  clientId: "pipeline-test",
  brokers: brokers.split(","),
  logLevel: kafkajs.logLevel.NOTHING
})

export const unique = (tag: string) => `it-${tag}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`

/** Topic, group and file names of one pipeline (the services' environment). */
export const pipelineEnv = (id: string, dir: string): Record<string, string> => ({
  KAFKA_BROKERS: brokers,
  TICKS_TOPIC: `${id}.ticks`,
  COMMANDS_TOPIC: `${id}.commands`,
  EVENTS_TOPIC: `${id}.events`,
  PROCESSOR_GROUP: `${id}-processor`,
  EXECUTOR_GROUP: `${id}-executor`,
  PROCESSOR_STATE_FILE: join(dir, "processor.sqlite"),
  EXECUTOR_DB_PATH: join(dir, "outbox.sqlite"),
  // the broker's minimum: a killed consumer's partitions come back after at most 6 s
  KAFKA_SESSION_TIMEOUT_MS: "6000",
  INGEST_RATE: "0"
})

export const tempDir = (tag: string) => mkdtempSync(join(tmpdir(), `pipeline-${tag}-`))

/** The strategy's commands for each symbol's first `counts[symbol]` ticks (file order). */
export const expectedCommands = (
  ticks: ReadonlyArray<Tick.Tick>,
  counts: Record<string, number> = {}
): ReadonlyArray<OrderCommand.OrderCommand> => {
  const states = new Map<string, Strategy.SymbolState>()
  const seen = new Map<string, number>()
  const out: Array<OrderCommand.OrderCommand> = []
  for (const tick of ticks) {
    const n = seen.get(tick.symbol) ?? 0
    if (counts[tick.symbol] !== undefined && n >= counts[tick.symbol]!) continue
    seen.set(tick.symbol, n + 1)
    const [next, commands] = Strategy.step(
      states.get(tick.symbol) ?? Strategy.initial(tick.symbol),
      tick,
      Strategy.defaultConfig
    )
    states.set(tick.symbol, next)
    out.push(...commands)
  }
  return out
}

/** A JSONL replay file of `perSymbol` wave ticks per symbol, `spacingMs` apart (fixed content). */
export const replayFile = (id: string, dir: string, perSymbol: number, spacingMs: number) => {
  const ticks = TestTicks.wave(SYMBOLS, perSymbol, id).map((t, i) => ({
    ...t,
    observedAtUnixMs: TestTicks.BASE_TIME + Math.floor(i / SYMBOLS.length) * spacingMs
  }))
  const file = join(dir, "ticks.jsonl")
  writeFileSync(file, ticks.map((t) => Tick.toJsonText(t)).join("\n") + "\n")
  return { file, ticks }
}

export const commandKey = (c: OrderCommand.OrderCommand) =>
  `${c.commandId}|${c.orderId}|${c.symbol}|${c.side}|${c.quantity}|${c.limitPriceMicros}|${c.createdAtUnixMs}|${c.sourceTickId}`

export interface RawRecord {
  readonly partition: number
  readonly offset: string
  readonly key: string | null
  readonly value: Buffer | null
  readonly headers: Record<string, string>
}

/** Reads `topic` from the beginning until `until(records)` holds (fresh group, kafkajs only). */
export const readUntil = async (
  topic: string,
  until: (records: ReadonlyArray<RawRecord>) => boolean,
  timeoutMs = 60_000
): Promise<ReadonlyArray<RawRecord>> => {
  const consumer = kafka.consumer({
    groupId: unique("reader"),
    sessionTimeout: 6_000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 200
  })
  const records: Array<RawRecord> = []
  try {
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${topic}: condition not met in ${timeoutMs} ms (${records.length} records read)`)),
        timeoutMs
      )
      void consumer.run({
        eachMessage: async ({ message, partition }) => {
          const headers: Record<string, string> = {}
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v)
          records.push({
            partition,
            offset: message.offset,
            key: message.key?.toString() ?? null,
            value: message.value,
            headers
          })
          if (until(records)) {
            clearTimeout(timer)
            resolve()
          }
        }
      }).catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return records
}

/** Sum of the high watermarks of `topic`: how many records were ever produced to it. */
export const recordCount = async (topic: string) => {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic)
    return offsets.reduce((sum, p) => sum + Number(p.high), 0)
  } finally {
    await admin.disconnect()
  }
}

/** The consumer group's members as the broker sees them right now. */
export const groupMembers = async (group: string) => {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const { groups } = await admin.describeGroups([group])
    return { state: groups[0]!.state, members: groups[0]!.members.length }
  } finally {
    await admin.disconnect()
  }
}

/** `trading verify --wait <sec>` as a process: its exit code and report. */
export const verify = async (env: Record<string, string>, waitSeconds: number) => {
  const proc = run("cli", ["verify", "--wait", String(waitSeconds)], {
    KAFKA_BROKERS: brokers,
    COMMANDS_TOPIC: env.COMMANDS_TOPIC!,
    EVENTS_TOPIC: env.EVENTS_TOPIC!
  })
  const { code } = await proc.exited
  return { code, report: proc.output() }
}

/** Every service process started by a test, so the test's finalizer can kill what is left. */
export class Processes {
  private readonly services: Array<Service> = []
  private readonly nodes: Array<NodeProcess> = []

  service(name: ServiceName, env: Record<string, string>): Service {
    const s = startService(name, env)
    this.services.push(s)
    return s
  }

  raft(spec: NodeSpec, extra: Record<string, string>): NodeProcess {
    const n = startRaft(spec, extra)
    this.nodes.push(n)
    return n
  }

  /**
   * The stream-processor and the order-executor on a new raft cluster of `raftNodes` nodes
   * (data in `dir`/raft, `raftEnv` on every node), once both are ready. The processor needs
   * no raft: it starts while the cluster forms.
   */
  async pipeline(env: Record<string, string>, dir: string, raftNodes: number, raftEnv: Record<string, string> = {}) {
    const processor = this.service("stream-processor", env)
    const raft = new RaftCluster(this, `${dir}/raft`)
    await raft.start(raftNodes, raftEnv)
    const executorEnv = { ...env, RAFT_NODE_GRPC_ADDR: raft.addresses }
    const executor = this.service("order-executor", executorEnv)
    await Promise.all([processor.waitFor("service ready"), executor.waitFor("service ready")])
    return { processor, executor, executorEnv, raft }
  }

  /** A market-ingestor replaying `file` at its recorded pace. */
  replay(env: Record<string, string>, file: string): Service {
    return this.service("market-ingestor", { ...env, INGEST_REPLAY_FILE: file, INGEST_REPLAY_SPEED: "1" })
  }

  async killAll() {
    await Promise.all([
      ...this.services.map((s) => s.kill9()),
      ...this.nodes.map(async (n) => {
        if (n.process.exitCode === null && n.process.signalCode === null) n.process.kill("SIGKILL")
        await n.exited
      })
    ])
  }
}

const ready = (node: NodeProcess) => node.waitFor((l) => l.message === "service ready", "service ready", 60_000)

/** A raft cluster of `size` nodes: the first bootstraps, the others join through it. */
export class RaftCluster {
  readonly nodes = new Map<string, NodeProcess>()
  private readonly extras = new Map<string, Record<string, string>>()
  private readonly specs = new Map<string, NodeSpec>()

  constructor(private readonly procs: Processes, private readonly dataRoot: string) {}

  get addresses() {
    return [...this.specs.values()].map(grpcAddr).join(",")
  }

  /** `env`: extra environment of every node (e.g. `TRACE`). */
  async start(size: number, env: Record<string, string> = {}) {
    for (let i = 1; i <= size; i++) this.specs.set(`n${i}`, await makeSpec(`n${i}`, this.dataRoot, env))
    const first = this.specs.get("n1")!
    this.launch("n1", { RAFT_BOOTSTRAP: "true" })
    await ready(this.nodes.get("n1")!)
    for (let i = 2; i <= size; i++) this.launch(`n${i}`, { RAFT_JOIN_ADDR: grpcAddr(first) })
    await Promise.all([...this.nodes.values()].map(ready))
    await this.healthy()
  }

  /** (Re)starts a node with its original command line, as an operator would. */
  launch(id: string, extra?: Record<string, string>) {
    if (extra !== undefined) this.extras.set(id, extra)
    const node = this.procs.raft(this.specs.get(id)!, this.extras.get(id) ?? {})
    this.nodes.set(id, node)
    return node
  }

  /** Every node answers healthy with one leader and all voters; returns the leader's id. */
  healthy(timeoutMs = 30_000) {
    return eventually(
      "raft cluster healthy",
      () => agreedLeader([...this.nodes.values()], this.specs.size),
      timeoutMs,
      100
    )
  }
}

/** One tree printed by `TRACE=console` (format: internal/traceTree.ts in the platform package). */
export interface PrintedTrace {
  readonly service: string
  readonly traceId: string
  /** The span lines, root first, tree prefixes (`├─ `, `│  `, ...) removed. */
  readonly spans: ReadonlyArray<string>
}

const traceHeader = /^(?:\[([^\]]+)\] )?(?:\(late span\) )?trace ([0-9a-f]{32})$/

/**
 * The trees in a process's output. A tree runs from its header to the next header or JSON
 * log line (stdout may be mixed in); a tree still being written may lack its last lines.
 */
export const printedTraces = (output: string): ReadonlyArray<PrintedTrace> => {
  const traces: Array<{ service: string; traceId: string; spans: Array<string> }> = []
  let current: { service: string; traceId: string; spans: Array<string> } | undefined
  for (const line of output.split("\n")) {
    const header = traceHeader.exec(line)
    if (header !== null) {
      current = { service: header[1] ?? "", traceId: header[2]!, spans: [] }
      traces.push(current)
    } else if (line.startsWith("{") || line.trim() === "") {
      current = undefined
    } else if (current !== undefined) {
      current.spans.push(line.replace(/^[│├└─ ]+/, ""))
    }
  }
  return traces
}

/** The printed spans called `name` (a span line starts with its name and a space). */
export const spansNamed = (trace: PrintedTrace, name: string) => trace.spans.filter((s) => s.startsWith(`${name} `))

/** The value of attribute `key` on a printed span line (values without spaces or quotes). */
export const spanAttribute = (span: string, key: string): string | undefined =>
  new RegExp(`(?:^|\\s)${key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}=(\\S+)`).exec(span)?.[1]

/** A comma-separated attribute (`order.id=a,b`, `links=...`) as a list. */
export const spanAttributeList = (span: string, key: string): ReadonlyArray<string> =>
  spanAttribute(span, key)?.split(",") ?? []

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** How many ticks the processor has applied per symbol of `SYMBOLS`, from its gRPC query. */
export const ticksSeen = (processor: Service) =>
  Effect.gen(function*() {
    const listening = yield* Effect.promise(() => processor.waitFor("gRPC server listening"))
    const client = yield* GrpcClient.make(StreamProcessorServiceService, {
      address: `127.0.0.1:${listening.annotations.port as number}`
    })
    const states = yield* Effect.forEach(SYMBOLS, (symbol) => client.getSymbolState({ symbol }))
    return states.map((s) => s.ticksSeen)
  }).pipe(Effect.scoped, Effect.runPromise)
