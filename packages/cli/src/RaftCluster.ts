// Three raft-node services in this process, talking gRPC over loopback exactly as separate
// processes would (consensus transport on RAFT_BIND_ADDR, client API on PORT_GRPC). Each
// node gets its own settings (through its own ConfigProvider), its own data directory and
// its own Health, which the all-in-one /healthz aggregates (checks, and the raft views).
// The nodes stop together with the process, so none hands leadership to another on the
// way out (RAFT_TRANSFER_ON_STOP=false, ADR 0084): its peers are stopping too.
import { Health, ServerConfig } from "@trading/platform"
import * as LoopbackPorts from "@trading/platform/LoopbackPorts"
import { RaftNodeService } from "@trading/raft-node"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"

export interface ClusterNode {
  readonly nodeId: string
  readonly grpcAddr: string
  readonly raftAddr: string
  readonly health: Health.HealthApi
  /** The node's Raft view, as its own /healthz shows it under `raft`. */
  readonly raftView: Effect.Effect<unknown>
}

export interface ClusterPorts {
  readonly grpc: ReadonlyArray<number>
  readonly raft: ReadonlyArray<number>
}

export class RaftCluster extends Context.Tag("@trading/cli/RaftCluster")<RaftCluster, {
  readonly nodes: ReadonlyArray<ClusterNode>
  readonly seeds: ReadonlyArray<string>
}>() {}

/** Every node's Raft view by node id: `{ "node-1": { role, term, leaderId, ... }, ... }`. */
export const raftViews = (nodes: ReadonlyArray<ClusterNode>): Effect.Effect<Readonly<Record<string, unknown>>> =>
  Effect.forEach(nodes, (n) => Effect.map(n.raftView, (view) => [n.nodeId, view] as const), {
    concurrency: "unbounded"
  }).pipe(Effect.map((entries) => Object.fromEntries(entries)))

/**
 * Ports kept with a persistent data directory: the cluster's membership (with addresses) is
 * persisted, so a restart must use the same ones. Chosen free on the first start.
 */
export const persistentPorts = (dataDir: string): Effect.Effect<ClusterPorts, Error> =>
  Effect.gen(function*() {
    const file = join(dataDir, "raft-ports.json")
    if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as ClusterPorts
    const ports = yield* freePorts
    mkdirSync(dataDir, { recursive: true })
    writeFileSync(file, JSON.stringify(ports))
    return ports
  })

/**
 * Six distinct free ports outside the kernel's ephemeral range (LoopbackPorts): a node that
 * restarts must find its port still free, not taken by an outgoing connection.
 */
export const freePorts: Effect.Effect<ClusterPorts, Error> = Effect.map(
  LoopbackPorts.reserve(6),
  (ports) => ({ grpc: ports.slice(0, 3), raft: ports.slice(3) })
)

/** Node 1 bootstraps, nodes 2 and 3 join through node 1 (as in the six-terminal setup). */
export const layer = (dataDir: string, ports: ClusterPorts) =>
  Layer.scoped(
    RaftCluster,
    Effect.gen(function*() {
      const base = yield* ServerConfig.ServerConfig
      const nodes: Array<ClusterNode> = []
      for (let i = 0; i < 3; i++) {
        const nodeId = `node-${i + 1}`
        const grpcAddr = `127.0.0.1:${ports.grpc[i]}`
        const raftAddr = `127.0.0.1:${ports.raft[i]}`
        const vars = new Map<string, string>([
          ["RAFT_NODE_ID", nodeId],
          ["RAFT_BIND_ADDR", raftAddr],
          ["PORT_GRPC", String(ports.grpc[i])],
          ["RAFT_DATA_DIR", join(dataDir, "raft", nodeId)],
          ["RAFT_BOOTSTRAP", i === 0 ? "true" : "false"],
          // the whole cluster stops at once: a transfer would wait for peers already gone
          ["RAFT_TRANSFER_ON_STOP", "false"]
        ])
        if (i > 0) vars.set("RAFT_JOIN_ADDR", nodes[0]!.grpcAddr)
        const provider = ConfigProvider.fromMap(vars).pipe(ConfigProvider.orElse(() => ConfigProvider.fromEnv()))
        const ctx = yield* Layer.build(
          RaftNodeService.layer.pipe(
            Layer.provideMerge(Health.layer),
            Layer.provideMerge(
              Layer.succeed(ServerConfig.ServerConfig, {
                ...base,
                service: "raft-node",
                nodeId,
                grpcPort: ports.grpc[i]!,
                host: "127.0.0.1"
              })
            ),
            Layer.provide(Layer.setConfigProvider(provider)),
            Layer.annotateLogs("svc", `raft-${nodeId}`)
          )
        )
        const health = Context.get(ctx, Health.Health)
        nodes.push({ nodeId, grpcAddr, raftAddr, health, raftView: Effect.map(health.infos, (views) => views.raft) })
      }
      return { nodes, seeds: nodes.map((n) => n.grpcAddr) }
    })
  )
