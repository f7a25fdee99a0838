// `pnpm start` smoke test: the all-in-one process (embedded bus, three in-process raft nodes
// over loopback gRPC) becomes healthy, shows each raft node's view in /healthz, order events
// flow, and SIGINT stops it with exit 0 and no leadership transfer attempt (ADR 0084).
import { describe, expect, it } from "vitest"
import { freePort, run, stop } from "../../order-executor/test/processes.js"

const metric = (text: string, name: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1))
}

interface RaftView {
  readonly role: string
  readonly term: number
  readonly leaderId: string | null
  readonly commitIndex: number
  readonly appliedIndex: number
  readonly members: ReadonlyArray<{ nodeId: string; grpcAddr: string; raftAddr: string; voter: boolean }>
}

interface HealthBody {
  readonly checks: ReadonlyArray<{ name: string; state: string }>
  readonly raft: Readonly<Record<string, RaftView>>
}

const nodeIds = ["node-1", "node-2", "node-3"]

const poll = async <A>(what: string, probe: () => Promise<A | undefined>, timeoutMs: number): Promise<A> => {
  const end = Date.now() + timeoutMs
  for (;;) {
    const found = await probe().catch(() => undefined)
    if (found !== undefined) return found
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

/** The body of the first 200 from /healthz. */
const healthy = (port: number) =>
  poll("a healthy /healthz", async () => {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`)
    return res.status === 200 ? (await res.json()) as HealthBody : undefined
  }, 60_000)

describe("pnpm start (all in one process)", () => {
  it("is healthy with every raft node's view, publishes order events, and stops cleanly on SIGINT", async () => {
    const port = await freePort()
    // no KAFKA_BROKERS: the embedded bus
    const proc = run("cli", ["start"], { PORT_HTTP: String(port) })
    try {
      await proc.waitFor("Ctrl-C stops everything.", 90_000)
      expect(proc.output()).toContain("bus: embedded, in-process")
      expect(proc.output()).toContain("Raft, 3 nodes in this process over loopback gRPC")
      const health = await healthy(port)
      expect(health.checks.map((c) => c.name).sort()).toEqual([
        "market-ingestor",
        "order-executor",
        "raft-node-1",
        "raft-node-2",
        "raft-node-3",
        "stream-processor"
      ])
      // each node's own view (as its /healthz has it under `raft`), keyed by node id
      expect(Object.keys(health.raft).sort()).toEqual(nodeIds)
      const published = await poll("order events", async () => {
        const n = metric(
          await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
          "executor_events_published_total"
        )
        return n > 0 ? n : undefined
      }, 90_000)
      expect(published).toBeGreaterThan(0)

      // orders have been committed through the cluster, so every node has joined as a voter;
      // the views of one healthy /healthz (all three read in the same request)
      const { raft } = await healthy(port)
      expect(Object.keys(raft).sort()).toEqual(nodeIds)
      for (const id of nodeIds) {
        const view = raft[id]!
        expect(view).toMatchObject({
          role: expect.any(String),
          term: expect.any(Number),
          commitIndex: expect.any(Number),
          appliedIndex: expect.any(Number)
        })
        expect(view.commitIndex).toBeGreaterThan(0)
        expect(view.appliedIndex).toBeGreaterThan(0)
        expect(view.members.map((m) => [m.nodeId, m.voter]).sort()).toEqual(nodeIds.map((n) => [n, true]))
      }
      const leaders = nodeIds.filter((id) => raft[id]!.role === "leader")
      expect(leaders).toHaveLength(1)
      expect(nodeIds.map((id) => raft[id]!.leaderId)).toEqual(nodeIds.map(() => leaders[0]))
    } finally {
      proc.child.kill("SIGINT")
    }
    const signalled = Date.now()
    const exit = await proc.exited
    // printed, not asserted: the machine's load decides it
    console.log(`all-in-one stopped ${Date.now() - signalled} ms after SIGINT`)
    expect(proc.output()).toContain("service stopped")
    // the nodes stop together: no leader tries to hand over to a peer that is already gone
    expect(proc.output()).not.toContain("leadership transfer failed")
    expect(exit.code).toBe(0)
    await stop(proc)
  }, 180_000)
})
