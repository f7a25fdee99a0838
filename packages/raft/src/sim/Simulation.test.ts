import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { bugNames } from "../core/Types.js"
import { runSeed } from "./Simulation.js"

describe("deterministic simulator", () => {
  it("replays a seed exactly: the same trace hash on every run", () => {
    const a = runSeed({ seed: 7, steps: 3000, hash: true })
    const b = runSeed({ seed: 7, steps: 3000, hash: true })
    expect(a.traceHash).not.toBeNull()
    expect(a.traceHash).toBe(b.traceHash)
    expect(runSeed({ seed: 8, steps: 3000, hash: true }).traceHash).not.toBe(a.traceHash)
  })

  it("the trace hash is a fixed value, so it is equal across machines and Node versions", () => {
    // Update this value only when the simulator or core changes behaviour on purpose.
    expect(runSeed({ seed: 1, steps: 2000, hash: true }).traceHash).toBe("932687ec76dd5236")
  })

  it("exercises faults and clients: leaders change, writes are acknowledged", () => {
    const r = runSeed({ seed: 3, steps: 10_000 })
    expect(r.violation).toBeNull()
    expect(r.stats.leadersElected).toBeGreaterThan(1)
    expect(r.stats.opsOk).toBeGreaterThan(50)
  })

  it("property: any seed, 3 or 5 nodes, passes every safety, linearizability and liveness check", () => {
    fc.assert(
      fc.property(fc.integer({ min: 10_000, max: 2 ** 31 - 1 }), fc.constantFrom(3, 5), (seed, nodes) => {
        const r = runSeed({ seed, nodes, steps: 3000 })
        if (r.violation !== null) throw new Error(`seed ${seed}: ${r.violation.property}: ${r.violation.detail}`)
      }),
      { numRuns: 40, seed: 42 }
    )
  })
})

describe("the checker has teeth", () => {
  for (const bug of bugNames) {
    it(`catches the injected bug "${bug}" within 2,000 seeds`, () => {
      let caught: number | null = null
      for (let seed = 1; seed <= 2000 && caught === null; seed++) {
        if (runSeed({ seed, steps: 10_000, bug }).violation !== null) caught = seed
      }
      expect(caught).not.toBeNull()
    }, 180_000)
  }
})
