// The whole pipeline as separate processes (three raft-nodes, stream-processor,
// order-executor, market-ingestor replaying a fixed file at its recorded pace) while the
// executor, the processor and the raft leader are killed with SIGKILL at random moments,
// two rounds, each restarted on its own data. After the drain, `verify` must be clean and
// every tick of the file must have been applied exactly once, with exactly the commands the
// strategy computes from the file (the kill order and delays come from a seeded generator).
import * as OrderCommand from "@trading/domain/OrderCommand"
import { describe, expect, it } from "vitest"
import { eventually } from "../../../raft-node/test/processes.js"
import { fileSetup } from "./fileSetup.js"
import {
  commandKey,
  expectedCommands,
  pipelineEnv,
  readUntil,
  replayFile,
  sleep,
  SYMBOLS,
  ticksSeen,
  unique,
  verify
} from "./harness.js"

const { dir, procs } = fileSetup("crash")

// mulberry32: the kill schedule is the same on every run (only the OS timing varies)
const seeded = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const PER_SYMBOL = 250

describe("full pipeline under kill -9 (real processes, real Kafka)", () => {
  it("executor, processor and raft leader killed twice: verify clean, every tick applied once", async () => {
    const random = seeded(20_260_125)
    const id = unique("crash")
    const env = pipelineEnv(id, dir)
    // about 25 s of ticks at the recorded pace: the kills land mid-stream
    const { file, ticks } = replayFile(id, dir, PER_SYMBOL, 100)
    const expected = expectedCommands(ticks)
    expect(expected.length).toBeGreaterThan(20)

    const started = await procs.pipeline(env, dir, 3)
    const { executorEnv, raft } = started
    let { executor, processor } = started
    const ingestor = procs.replay(env, file)
    await ingestor.waitFor("replay started")

    const victims = ["executor", "processor", "leader"] as const
    for (let round = 0; round < 2; round++) {
      const order = [...victims].sort(() => random() - 0.5)
      for (const victim of order) {
        await sleep(200 + Math.floor(random() * 900))
        // each kill happens while the replay is still running
        expect(ingestor.output()).not.toContain("replay finished")
        if (victim === "executor") {
          await executor.kill9()
          expect((await executor.exited).signal).toBe("SIGKILL")
          executor = procs.service("order-executor", executorEnv)
        } else if (victim === "processor") {
          await processor.kill9()
          expect((await processor.exited).signal).toBe("SIGKILL")
          processor = procs.service("stream-processor", env)
        } else {
          const leaderId = await raft.healthy()
          const leader = raft.nodes.get(leaderId)!
          leader.process.kill("SIGKILL")
          expect((await leader.exited).signal).toBe("SIGKILL")
          raft.launch(leaderId)
        }
      }
      await Promise.all([processor.waitFor("service ready"), executor.waitFor("service ready"), raft.healthy()])
    }
    await ingestor.waitFor("replay finished", 60_000)

    // every command of the strategy on the topic, each copy identical to the computed one
    const records = await readUntil(
      env.COMMANDS_TOPIC!,
      (rs) => new Set(rs.map((r) => r.key)).size >= expected.length,
      90_000
    )
    const expectedKeys = new Set(expected.map(commandKey))
    const seen = new Set<string>()
    for (const r of records) {
      const decoded = OrderCommand.fromBytes(r.value!)
      expect(decoded._tag).toBe("Right")
      if (decoded._tag === "Right") {
        expect(expectedKeys.has(commandKey(decoded.right))).toBe(true)
        seen.add(commandKey(decoded.right))
      }
    }
    expect(seen).toEqual(expectedKeys)

    // no tick lost or applied twice across the processor's crashes
    // (polled: the last ticks after the last command may still be in flight)
    const counts = await eventually(
      "all ticks applied",
      async () => {
        const c = await ticksSeen(processor)
        return c.every((n) => n >= PER_SYMBOL) ? c : undefined
      },
      60_000,
      200
    )
    expect(counts).toEqual(SYMBOLS.map(() => PER_SYMBOL))

    // every command has exactly one event, no order has two outcomes, no event id twice
    const { code, report } = await verify(env, 90)
    expect(report).toContain(`(${expected.length} orders, 0 undecodable), ${expected.length} events`)
    expect(report).toContain("commands without an event: 0")
    expect(report).toContain("orders with two different outcomes: 0")
    expect(report).toContain("duplicate event ids: 0")
    expect(code).toBe(0)
  }, 180_000)
})
