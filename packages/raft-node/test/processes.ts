// raft-node processes for the integration tests and the benchmark: real child processes
// on loopback with free ports, JSON logs collected from stdout.
//
// Started as `node --import tsx main.ts` rather than through the `tsx` CLI: the CLI runs
// the program in a second process and only relays signals, so `kill -9` would kill the
// wrapper and leave the node running.
import { type ChildProcess, spawn } from "node:child_process"
import * as net from "node:net"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../../", import.meta.url))
const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))

export interface LogLine {
  readonly message: string
  readonly logLevel: string
  readonly timestamp: string
  readonly annotations: Record<string, unknown>
}

/** A port nobody listens on right now (the OS picks it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address() as net.AddressInfo
      server.close(() => resolve(address.port))
    })
  })

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

export interface NodeProcess {
  readonly spec: NodeSpec
  readonly process: ChildProcess
  readonly pid: number
  readonly stdout: () => string
  readonly stderr: () => string
  readonly lines: () => ReadonlyArray<LogLine>
  /** Resolves with the first log line matching, failing if the process exits first. */
  readonly waitFor: (predicate: (line: LogLine) => boolean, what: string, timeoutMs?: number) => Promise<LogLine>
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
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

export const start = (spec: NodeSpec, extraEnv: Record<string, string> = {}): NodeProcess => {
  const child = spawn(process.execPath, ["--import", "tsx", main], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
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
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  let parsed: Array<LogLine> = []
  let parsedUpTo = 0
  const waiters = new Set<() => void>()
  child.stdout!.on("data", (chunk) => {
    stdout += chunk
    waiters.forEach((wake) => wake())
  })
  child.stderr!.on("data", (chunk) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => {
      resolve({ code, signal })
      waiters.forEach((wake) => wake())
    })
  )
  const lines = () => {
    const end = stdout.lastIndexOf("\n") + 1
    if (end > parsedUpTo) {
      const fresh = stdout.slice(parsedUpTo, end).split("\n").filter((l) => l.trim() !== "")
      parsed = [...parsed, ...fresh.map((l) => JSON.parse(l) as LogLine)]
      parsedUpTo = end
    }
    return parsed
  }
  const waitFor = (predicate: (line: LogLine) => boolean, what: string, timeoutMs = 30_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const found = lines().find(predicate)
        if (found !== undefined) {
          done()
          resolve(found)
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done()
          reject(new Error(`${spec.id} exited before ${what}\nstdout:\n${stdout.slice(-4000)}\nstderr:\n${stderr}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(
          new Error(`${spec.id}: no ${what} within ${timeoutMs}ms\nstdout:\n${stdout.slice(-4000)}\nstderr:\n${stderr}`)
        )
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
      check()
    })
  const healthz = async () => {
    const response = await fetch(`http://127.0.0.1:${spec.httpPort}/healthz`)
    return { status: response.status, body: await response.json() as HealthBody }
  }
  const metrics = async () => (await fetch(`http://127.0.0.1:${spec.httpPort}/metrics`)).text()
  return {
    spec,
    process: child,
    pid: child.pid!,
    stdout: () => stdout,
    stderr: () => stderr,
    lines,
    waitFor,
    exited,
    healthz,
    metrics
  }
}

/** Polls `probe` every `everyMs` until it returns a value (not undefined) or the time is up. */
export const eventually = async <A>(
  what: string,
  probe: () => Promise<A | undefined>,
  timeoutMs = 20_000,
  everyMs = 50
): Promise<A> => {
  const end = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (e) {
      last = e
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs}ms (last error: ${String(last)})`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export const stop = async (node: NodeProcess, signal: NodeJS.Signals = "SIGTERM") => {
  if (node.process.exitCode === null && node.process.signalCode === null) node.process.kill(signal)
  return node.exited
}
