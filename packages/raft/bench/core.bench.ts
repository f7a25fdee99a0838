/**
 * `pnpm bench:raft-core`: throughput of the pure core and of the simulator, per CPU second.
 * 1. A 3-node cluster in memory: the leader takes batched proposals, messages are delivered
 *    in order, every persist goes to an in-memory store (write + sync); we count entries
 *    committed by the leader. Target: >= 200,000 entries/s.
 * 2. The deterministic simulator with faults, 10,000 steps per seed. Target: >= 20 seeds/s.
 * Each figure is the median of several runs.
 */
import * as Core from "../src/core/RaftCore.js"
import type { Input, Message, Options, Output } from "../src/core/Types.js"
import { defaultOptions } from "../src/core/Types.js"
import * as Store from "../src/internal/MemoryLogStore.js"
import { runSeed } from "../src/sim/Simulation.js"

const cpuSeconds = (f: () => void): number => {
  const start = process.cpuUsage()
  f()
  const used = process.cpuUsage(start)
  return (used.user + used.system) / 1e6
}

const median = (xs: Array<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

const clusterRun = (entries: number, batch: number, payload: number, options: Options): number => {
  const ids = ["n1", "n2", "n3"]
  const boot = Core.bootstrap(ids)
  const nodes = new Map(ids.map((id) => [id, Core.init(id, options, boot)]))
  const stores = new Map(ids.map((id) => [id, Store.makeMemoryLogStore()]))
  const queue: Array<Message> = []
  let head = 0
  const feed = (id: string, outputs: ReadonlyArray<Output>) => {
    const store = stores.get(id)!
    let wrote = false
    for (const o of outputs) {
      if (Store.isPersist(o)) {
        Store.write(store, o)
        wrote = true
      } else {
        if (wrote) {
          Store.sync(store)
          wrote = false
        }
        if (o._tag === "Send") queue.push(o.message)
      }
    }
    if (wrote) Store.sync(store)
  }
  const stepNode = (id: string, input: Input) => {
    const r = Core.step(nodes.get(id)!, input)
    nodes.set(id, r.state)
    feed(id, r.outputs)
  }
  const deliver = () => {
    while (head < queue.length) {
      const m = queue[head++]!
      stepNode(m.to, { _tag: "Receive", message: m })
    }
    queue.length = 0
    head = 0
  }
  for (let i = 0; i < options.electionTicks; i++) stepNode("n1", { _tag: "Tick", jitter: 0 })
  deliver()
  const leader = nodes.get("n1")!
  if (leader.role !== "leader") throw new Error("n1 did not become leader")
  const commands = Array.from({ length: batch }, (_, i) => new Uint8Array(payload).fill(i & 0xff))
  const startCommit = leader.commitIndex
  let reqId = 0
  let proposed = 0
  while (proposed < entries) {
    stepNode("n1", { _tag: "Propose", reqId: reqId++, commands })
    proposed += batch
    deliver()
  }
  return nodes.get("n1")!.commitIndex - startCommit
}

const runs = 5
const rows: Array<[string, string, string]> = []

for (const batch of [64, 256]) {
  const rates: Array<number> = []
  for (let r = 0; r < runs; r++) {
    let committed = 0
    const secs = cpuSeconds(() => {
      committed = clusterRun(400_000, batch, 16, { ...defaultOptions, maxEntriesPerMessage: 256, maxInflight: 8 })
    })
    rates.push(committed / secs)
  }
  rows.push([
    `core: 3-node cluster, batches of ${batch} x 16 B`,
    `${Math.round(median(rates)).toLocaleString("en-US")} entries/s`,
    ">= 200,000"
  ])
}

const seedRates: Array<number> = []
for (let r = 0; r < runs; r++) {
  const seeds = 20
  const secs = cpuSeconds(() => {
    for (let s = 1; s <= seeds; s++) {
      const result = runSeed({ seed: 1000 * r + s, steps: 10_000 })
      if (result.violation !== null) throw new Error(`seed ${result.seed}: ${result.violation.property}`)
    }
  })
  seedRates.push(seeds / secs)
}
rows.push(["simulator: seeds of 10,000 steps with faults", `${median(seedRates).toFixed(1)} seeds/s`, ">= 20"])

const widths = [0, 1, 2].map((i) =>
  Math.max(...[["benchmark", "median of 5 (per CPU second)", "target"], ...rows].map((r) => r[i]!.length))
)
const line = (r: ReadonlyArray<string>) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ")
console.log(line(["benchmark", "median of 5 (per CPU second)", "target"]))
console.log(widths.map((w) => "-".repeat(w)).join("  "))
for (const r of rows) console.log(line(r))
