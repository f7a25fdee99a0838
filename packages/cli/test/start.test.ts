// `pnpm start` smoke test: the all-in-one process (embedded bus, three in-process raft nodes
// over loopback gRPC) becomes healthy, order events flow, and SIGINT stops it with exit 0.
import { describe, expect, it } from "vitest"
import { freePort, run, stop } from "../../order-executor/test/processes.js"

const metric = (text: string, name: string) => {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1))
}

const poll = async <A>(what: string, probe: () => Promise<A | undefined>, timeoutMs: number): Promise<A> => {
  const end = Date.now() + timeoutMs
  for (;;) {
    const found = await probe().catch(() => undefined)
    if (found !== undefined) return found
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

describe("pnpm start (all in one process)", () => {
  it("is healthy, publishes order events, and stops cleanly on SIGINT", async () => {
    const port = await freePort()
    // no KAFKA_BROKERS: the embedded bus
    const proc = run("packages/cli/src/main.ts", ["start"], { PORT_HTTP: String(port) })
    try {
      await proc.waitFor("Ctrl-C stops everything.", 90_000)
      expect(proc.output()).toContain("bus: embedded, in-process")
      expect(proc.output()).toContain("Raft, 3 nodes in this process over loopback gRPC")
      const health = await poll("a healthy /healthz", async () => {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`)
        return res.status === 200
          ? (await res.json()) as { checks: ReadonlyArray<{ name: string; state: string }> }
          : undefined
      }, 60_000)
      expect(health.checks.map((c) => c.name).sort()).toEqual([
        "market-ingestor",
        "order-executor",
        "raft-node-1",
        "raft-node-2",
        "raft-node-3",
        "stream-processor"
      ])
      const published = await poll("order events", async () => {
        const n = metric(
          await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
          "executor_events_published_total"
        )
        return n > 0 ? n : undefined
      }, 90_000)
      expect(published).toBeGreaterThan(0)
    } finally {
      proc.child.kill("SIGINT")
    }
    const exit = await proc.exited
    expect(proc.output()).toContain("service stopped")
    expect(exit.code).toBe(0)
    await stop(proc)
  }, 180_000)
})
