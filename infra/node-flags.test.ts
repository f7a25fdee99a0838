// The node flags and environment of the services (ADR 0053) live in three places that must
// agree: the root `start` scripts, the raft-cluster launcher and the test helper that spawns
// the services (so the tests and the benchmarks run what users run).
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { nodeEnv, nodeFlagsFor, type ServiceName } from "../packages/platform/src/testing/ServiceProcess.js"

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), "utf8")
const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts

describe("service node flags", () => {
  it("every script that runs a bundle passes the helper's environment and flags, in order", () => {
    const runs = Object.entries(scripts).filter(([, command]) => command.includes("dist/main.mjs"))
    expect(runs.map(([name]) => name).sort()).toEqual(
      [
        "start",
        "start:market-ingestor",
        "start:order-executor",
        "start:raft-node",
        "start:stream-processor",
        "verify"
      ]
    )
    const env = Object.entries(nodeEnv).map(([key, value]) => `${key}=${value}`)
    for (const [name, command] of runs) {
      const run = /exec env ((?:\S+=\S+ )*)node ((?:--\S+ )*)packages\/([a-z-]+)\/dist\/main\.mjs/.exec(command)
      expect(run?.[1]?.trim().split(" "), name).toEqual(env)
      expect(run?.[2]?.trim().split(" "), name).toEqual([...nodeFlagsFor(run?.[3] as ServiceName)])
    }
  })

  it("the raft-cluster launcher starts its nodes with the same flags and environment", () => {
    const launcher = read("packages/raft-node/scripts/cluster.ts")
    const flags = /spawn\(process\.execPath, \[\s*((?:"--[^"]+",\s*)*)main\s*\]/.exec(launcher)?.[1]
    expect(flags?.split(",").map((f) => f.trim()).filter((f) => f !== "").map((f) => JSON.parse(f) as string))
      .toEqual([...nodeFlagsFor("raft-node")])
    for (const [key, value] of Object.entries(nodeEnv)) expect(launcher).toContain(`${key}: ${JSON.stringify(value)}`)
  })
})
