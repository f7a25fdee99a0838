// pnpm start:raft-cluster: a local three-node raft-node cluster in one terminal, with the
// port plan's addresses (gRPC 50070-50072, HTTP 8090-8092, Raft 7000-7002). Node 1
// bootstraps, nodes 2 and 3 join through node 1; every line is prefixed with its node.
// Ctrl-C sends SIGTERM to all three and waits. They stop together, so the leader does not
// hand over first (RAFT_TRANSFER_ON_STOP=false, as in the all-in-one process, ADR 0084).
// Data lives in ./.data/raft/<id>, so a second start restarts the same cluster.
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("../../../", import.meta.url))
// the bundle `pnpm start:raft-cluster` builds first (ADR 0052)
const main = fileURLToPath(new URL("../dist/main.mjs", import.meta.url))
const colors = ["\x1b[36m", "\x1b[35m", "\x1b[33m"]
const reset = "\x1b[0m"
const tty = process.stdout.isTTY === true

const nodes = [1, 2, 3].map((n) => ({
  id: `raft-${n}`,
  env: {
    RAFT_NODE_ID: `raft-${n}`,
    RAFT_BIND_ADDR: `127.0.0.1:${6999 + n}`,
    PORT_GRPC: String(50069 + n),
    PORT_HTTP: String(8089 + n),
    BIND_HOST: "127.0.0.1",
    RAFT_TRANSFER_ON_STOP: "false",
    ...(n === 1 ? { RAFT_BOOTSTRAP: "true" } : { RAFT_JOIN_ADDR: "127.0.0.1:50070" })
  }
}))

// the caller's settings that make sense for every node (log level, tracing, TLS, secret)
const passThrough = () =>
  Object.fromEntries(
    Object.entries(process.env).filter(([key]) =>
      key === "PATH" || key === "HOME" ||
      /^(LOG_|TRACE|GRPC_|SHUTDOWN_|HEALTH_|RAFT_(CLUSTER_SECRET|TICK_MS|ELECTION_TICKS|HEARTBEAT_TICKS|SNAPSHOT_EVERY|MAX_APPLIED_LAG|RETENTION_))/
        .test(key)
    )
  )

const children: Array<ChildProcess> = []
nodes.forEach((node, i) => {
  // the node flags and malloc setting of `pnpm start:raft-node` (ADR 0053, ADR 0101)
  const child = spawn(process.execPath, [
    "--max-semi-space-size=1",
    "--heap-growing-percent=30",
    "--single-threaded-gc",
    "--no-allocation-site-pretenuring",
    main
  ], {
    cwd: root,
    env: {
      ...passThrough(),
      MALLOC_MMAP_THRESHOLD_: "131072",
      LOG_FORMAT: process.env.LOG_FORMAT ?? "json",
      ...node.env
    },
    stdio: ["ignore", "pipe", "pipe"],
    // a process group of its own: Ctrl-C reaches only this launcher, which sends each node
    // one SIGTERM (a second signal would cut a graceful stop short)
    detached: true
  })
  children.push(child)
  const prefix = tty ? `${colors[i]}[${node.id}]${reset} ` : `[${node.id}] `
  for (const stream of [child.stdout!, child.stderr!]) {
    let pending = ""
    stream.setEncoding("utf8")
    stream.on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n")
      pending = lines.pop()!
      if (lines.length > 0) process.stdout.write(lines.map((line) => `${prefix}${line}\n`).join(""))
    })
  }
  child.on("exit", (code, signal) => process.stdout.write(`${prefix}exited (${signal ?? code})\n`))
})

let stopping = false
const shutdown = () => {
  if (stopping) return
  stopping = true
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM")
}
process.on("SIGINT", shutdown)
process.on("SIGTERM", shutdown)
await Promise.all(children.map((c) => new Promise((resolve) => c.on("exit", resolve))))
process.exit(children.every((c) => c.exitCode === 0) ? 0 : 1)
