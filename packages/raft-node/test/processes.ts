// raft-node processes for the integration tests and the benchmarks: the raft-node bundle as
// real child processes (shared helper, ADR 0052) on loopback with free ports, JSON logs
// collected from stdout.
import * as ServiceProcess from "@trading/platform/testing/ServiceProcess"

import { eventually, freePort } from "@trading/platform/testing/ServiceProcess"

export { eventually, freePort }
export type LogLine = ServiceProcess.LogLine

export interface NodeSpec {
  readonly id: string
  readonly raftPort: number
  readonly grpcPort: number
  readonly httpPort: number
  readonly dataDir: string
  readonly env: Record<string, string>
}

export const grpcAddr = (spec: NodeSpec) => `127.0.0.1:${spec.grpcPort}`

export const makeSpec = async (
  id: string,
  dataRoot: string,
  env: Record<string, string> = {}
): Promise<NodeSpec> => ({
  id,
  raftPort: await freePort(),
  grpcPort: await freePort(),
  httpPort: await freePort(),
  dataDir: `${dataRoot}/${id}`,
  env
})

export interface NodeProcess extends ServiceProcess.ServiceProcess {
  readonly spec: NodeSpec
  readonly healthz: () => Promise<{ status: number; body: HealthBody }>
  readonly metrics: () => Promise<string>
}

export interface RaftView {
  readonly role: string
  readonly term: number
  readonly leaderId: string | null
  readonly commitIndex: number
  readonly appliedIndex: number
  readonly members: ReadonlyArray<{ nodeId: string; grpcAddr: string; raftAddr: string; voter: boolean }>
}

export interface HealthBody {
  readonly serving: boolean
  readonly checks: ReadonlyArray<{ name: string; state: string; detail?: string }>
  /** The node's view, a top-level field of /healthz (present whether or not it is healthy). */
  readonly raft: RaftView
}

/** The raft view carried as `body.raft` of /healthz. */
export const raftView = (body: HealthBody): RaftView => body.raft

/**
 * The leader all `nodes` agree on, once each answers /healthz with 200, names that same
 * leader and counts `voters` voters; undefined until then (a node that does not answer yet
 * counts as not ready). A probe for `eventually`.
 */
export const agreedLeader = async (
  nodes: ReadonlyArray<Pick<NodeProcess, "healthz">>,
  voters: number
): Promise<string | undefined> => {
  const views = await Promise.all(nodes.map(async (n) => {
    try {
      const { body, status } = await n.healthz()
      return status === 200 ? raftView(body) : undefined
    } catch {
      return undefined
    }
  }))
  const leaders = new Set(views.map((v) => v?.leaderId))
  const [leader] = leaders
  if (leaders.size !== 1 || leader === null || leader === undefined) return undefined
  return views.every((v) => v!.members.filter((m) => m.voter).length === voters) ? leader : undefined
}

export const start = (spec: NodeSpec, extraEnv: Record<string, string> = {}): NodeProcess => {
  const proc = ServiceProcess.start(ServiceProcess.service("raft-node"), {
    LOG_FORMAT: "json",
    BIND_HOST: "127.0.0.1",
    RAFT_NODE_ID: spec.id,
    RAFT_BIND_ADDR: `127.0.0.1:${spec.raftPort}`,
    RAFT_DATA_DIR: spec.dataDir,
    PORT_GRPC: String(spec.grpcPort),
    PORT_HTTP: String(spec.httpPort),
    HEALTH_INTERVAL_MS: "500",
    ...spec.env,
    ...extraEnv
  })
  const healthz = async () => {
    const response = await fetch(`http://127.0.0.1:${spec.httpPort}/healthz`)
    return { status: response.status, body: await response.json() as HealthBody }
  }
  const metrics = async () => (await fetch(`http://127.0.0.1:${spec.httpPort}/metrics`)).text()
  return { ...proc, name: spec.id, spec, healthz, metrics }
}

export const stop = async (node: NodeProcess, signal: NodeJS.Signals = "SIGTERM") => {
  if (node.process.exitCode === null && node.process.signalCode === null) node.process.kill(signal)
  return node.exited
}
