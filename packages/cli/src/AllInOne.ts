// `pnpm start`: the whole pipeline in one process. Each service keeps its own settings,
// gRPC server (loopback, free port) and Health; they share one MessageBus (embedded, or
// Kafka when KAFKA_BROKERS is set) and the executor records orders in an in-process
// three-node Raft cluster over loopback gRPC. The process's /healthz (PORT_HTTP, default
// 8080) aggregates every service's health and shows each raft node's view under
// `raft.<node id>`. Built in pipeline order from the bottom (raft, executor, processor,
// ingestor), so Ctrl-C stops the input first and the registry last.
import { EmbeddedBus, KafkaBus, MessageBus } from "@trading/bus"
import { FeedsLive, IngestGrpcLive } from "@trading/market-ingestor"
import { executorConfig, OrderExecutorService, RaftRegistry } from "@trading/order-executor"
import { GrpcServer, Health, ServerConfig } from "@trading/platform"
import { ConsumerLive, ProcessorGrpcLive } from "@trading/stream-processor"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import * as RaftCluster from "./RaftCluster.js"

/** Settings of the all-in-one run itself. */
export const AllInOneConfig = Config.all({
  kafkaBrokers: Config.option(Config.nonEmptyString("KAFKA_BROKERS")),
  dataDir: Config.nonEmptyString("DATA_DIR").pipe(Config.withDefault("./.data"))
})

/** The environment, with `overrides` on top and `defaults` below it. */
const provider = (overrides: ReadonlyMap<string, string>, defaults: ReadonlyMap<string, string> = new Map()) =>
  ConfigProvider.fromMap(new Map(overrides)).pipe(
    ConfigProvider.orElse(() => ConfigProvider.fromEnv()),
    ConfigProvider.orElse(() => ConfigProvider.fromMap(new Map(defaults)))
  )

interface Running {
  readonly name: string
  readonly grpcPort: number
  readonly health: Health.HealthApi
}

/** Builds one service with its own ServerConfig, Health and config overlay, in the current scope. */
const start = <A, E, R>(
  name: string,
  layer: Layer.Layer<A, E, R>,
  vars: { readonly overrides?: ReadonlyMap<string, string>; readonly defaults?: ReadonlyMap<string, string> } = {}
) =>
  Effect.gen(function*() {
    const base = yield* ServerConfig.ServerConfig
    const ctx = yield* Layer.build(
      (layer as Layer.Layer<A | GrpcServer.GrpcServer, E, R>).pipe(
        Layer.provideMerge(Health.layer),
        Layer.provideMerge(
          Layer.succeed(ServerConfig.ServerConfig, { ...base, service: name, grpcPort: 0, host: "127.0.0.1" })
        ),
        Layer.provide(Layer.setConfigProvider(provider(vars.overrides ?? new Map(), vars.defaults))),
        // one logger for the process: say which service a line is from
        Layer.annotateLogs("svc", name)
      )
    )
    return {
      name,
      grpcPort: Context.get(ctx as Context.Context<GrpcServer.GrpcServer>, GrpcServer.GrpcServer).port,
      health: Context.get(ctx as Context.Context<Health.Health>, Health.Health)
    } satisfies Running
  })

/** `/healthz` of the process: one check per service (and raft node), from its own report. */
const aggregate = (name: string, health: Health.HealthApi) =>
  Health.check(
    name,
    Effect.flatMap(health.report, (r) => {
      const bad = [
        ...r.components.filter((c) => c.state !== "running").map((c) => `${c.name} ${c.state}`),
        ...r.checks.filter((c) => c.state !== "ok").map((c) =>
          `${c.name} ${c.state}${"detail" in c ? `: ${c.detail.slice(0, 200)}` : ""}`
        )
      ]
      const summary = `${r.components.length} workers, ${r.checks.length} checks`
      return r.serving ? Effect.succeed(`serving (${summary})`) : Effect.fail(`not serving: ${bad.join("; ")}`)
    }),
    { interval: "500 millis" }
  )

const Pipeline = Layer.scopedDiscard(Effect.gen(function*() {
  const { dataDir: dataRoot, kafkaBrokers } = yield* AllInOneConfig
  const base = yield* ServerConfig.ServerConfig
  const embedded = Option.isNone(kafkaBrokers)
  // embedded: everything is in memory or in a temporary directory, so each start is fresh;
  // Kafka: topics and consumer groups persist, so state (processor, outbox, raft) persists too
  const dataDir = embedded
    ? yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "trading-all-in-one-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    : resolve(dataRoot, "all-in-one")
  mkdirSync(dataDir, { recursive: true })

  const ports = embedded ? yield* RaftCluster.freePorts : yield* RaftCluster.persistentPorts(dataDir)
  const cluster = yield* Layer.build(RaftCluster.layer(dataDir, ports)).pipe(
    Effect.map((ctx) => Context.get(ctx, RaftCluster.RaftCluster))
  )
  for (const node of cluster.nodes) yield* aggregate(`raft-${node.nodeId}`, node.health)
  // what each node's own /healthz has under `raft`, keyed by node id (ADR 0084)
  yield* Health.info("raft", RaftCluster.raftViews(cluster.nodes))

  const settings = yield* executorConfig.pipe(
    Effect.map((s) => ({ ...s, dbPath: join(dataDir, "order-executor", "outbox.db") }))
  )
  const executor = yield* start(
    "order-executor",
    OrderExecutorService.layer(settings).pipe(Layer.provide(RaftRegistry.layerWith({ seeds: cluster.seeds })))
  )
  const processor = yield* start(
    "stream-processor",
    GrpcServer.layer(ProcessorGrpcLive).pipe(Layer.provideMerge(ConsumerLive)),
    {
      overrides: new Map([["PROCESSOR_STATE_FILE", join(dataDir, "stream-processor", "state.sqlite")]])
    }
  )
  // ten ticks per second per symbol unless INGEST_RATE says otherwise: orders start within seconds
  const ingestor = yield* start(
    "market-ingestor",
    GrpcServer.layer(IngestGrpcLive).pipe(Layer.provideMerge(FeedsLive)),
    {
      defaults: new Map([["INGEST_RATE", "10"]])
    }
  )
  for (const s of [executor, processor, ingestor]) yield* aggregate(s.name, s.health)

  const line = (name: string, where: string) => `  ${name.padEnd(18)} ${where}`
  yield* Console.log([
    "",
    `trading pipeline, all in one process (bus: ${
      Option.match(kafkaBrokers, { onNone: () => "embedded, in-process", onSome: (b) => `Kafka ${b}` })
    })`,
    line("market-ingestor", `gRPC 127.0.0.1:${ingestor.grpcPort}  -> market.ticks`),
    line("stream-processor", `gRPC 127.0.0.1:${processor.grpcPort}  market.ticks -> orders.commands`),
    line("order-executor", `gRPC 127.0.0.1:${executor.grpcPort}  orders.commands -> orders.events`),
    ...cluster.nodes.map((n) => line(`raft ${n.nodeId}`, `gRPC ${n.grpcAddr}  raft ${n.raftAddr}`)),
    line("order registry", `Raft, 3 nodes in this process over loopback gRPC`),
    line("health", `http://127.0.0.1:${base.httpPort}/healthz (all of the above)`),
    line("data", `${dataDir}${embedded ? " (temporary, removed on exit)" : ""}`),
    "Ctrl-C stops everything.",
    ""
  ].join("\n"))
}))

/** The bus every service shares: Kafka when KAFKA_BROKERS is set, else the embedded one. */
export const BusLive = Layer.unwrapEffect(
  Effect.map(
    AllInOneConfig,
    ({ kafkaBrokers }) =>
      Option.isSome(kafkaBrokers) ? KafkaBus.layer : (EmbeddedBus.layer as Layer.Layer<MessageBus, never>)
  )
)

export const layer = Pipeline.pipe(Layer.provide(BusLive))
