// Graceful shutdown (SIGTERM) of every service of the pipeline mid-stream, as real
// processes on real Kafka: each exits 0; the processor and the executor leave their consumer
// group before they exit (the broker shows no member right after the exit, instead of
// holding the partitions for the 6 s session timeout); after the restarts nothing is lost:
// every tick the ingestor published was applied once, the commands are exactly the
// strategy's for those ticks, and `verify` is clean.
import * as OrderCommand from "@trading/domain/OrderCommand"
import { describe, expect, it } from "vitest"
import { eventually } from "../../../raft-node/test/processes.js"
import { fileSetup } from "./fileSetup.js"
import {
  commandKey,
  expectedCommands,
  groupMembers,
  pipelineEnv,
  readUntil,
  recordCount,
  replayFile,
  sleep,
  SYMBOLS,
  ticksSeen,
  unique,
  verify
} from "./harness.js"

const { dir, procs } = fileSetup("shutdown")

describe("graceful shutdown of each service mid-stream (real processes, real Kafka)", () => {
  it("SIGTERM: exit 0, the consumer group is left at once, nothing lost after the restarts", async () => {
    const id = unique("shutdown")
    const env = pipelineEnv(id, dir)
    const { file, ticks } = replayFile(id, dir, 300, 80) // about 24 s at the recorded pace
    const started = await procs.pipeline(env, dir, 1)
    const { executorEnv, raft } = started
    let { executor, processor } = started
    const ingestor = procs.replay(env, file)
    await ingestor.waitFor("replay started")
    // both consumers are working on the stream
    await Promise.all([
      readUntil(env.COMMANDS_TOPIC!, (rs) => rs.length > 0),
      readUntil(env.EVENTS_TOPIC!, (rs) => rs.length > 0)
    ])

    // the processor: drains, commits, leaves the group, exits 0
    expect(ingestor.output()).not.toContain("replay finished")
    expect(await processor.stop()).toBe(0)
    expect(await groupMembers(env.PROCESSOR_GROUP!)).toEqual({ state: "Empty", members: 0 })
    processor = procs.service("stream-processor", env)

    // the executor: the same, and its outbox is flushed to the events topic
    await sleep(500)
    expect(ingestor.output()).not.toContain("replay finished")
    expect(await executor.stop()).toBe(0)
    expect(executor.output()).toContain("outbox relay flushed")
    expect(await groupMembers(env.EXECUTOR_GROUP!)).toEqual({ state: "Empty", members: 0 })
    executor = procs.service("order-executor", executorEnv)

    // the raft node (the executor's registry) stops and comes back on its data
    await sleep(500)
    const node = raft.nodes.get("n1")!
    node.process.kill("SIGTERM")
    expect((await node.exited).code).toBe(0)
    raft.launch("n1")

    // the ingestor, still replaying: exits 0 with what it published on the topic
    await sleep(500)
    expect(ingestor.output()).not.toContain("replay finished")
    expect(await ingestor.stop()).toBe(0)
    const published = await recordCount(env.TICKS_TOPIC!)
    expect(published).toBeGreaterThan(0)
    expect(published).toBeLessThan(ticks.length)

    // the restarted services drain what was left behind
    await Promise.all([processor.waitFor("service ready"), executor.waitFor("service ready"), raft.healthy()])

    // every published tick applied exactly once (the ingestor publishes in file order)
    const counts = await eventually(
      "published ticks applied",
      async () => {
        const c = await ticksSeen(processor)
        return c.reduce((a, b) => a + b, 0) >= published ? c : undefined
      },
      60_000,
      200
    )
    expect(counts.reduce((a, b) => a + b, 0)).toBe(published)
    const expected = expectedCommands(ticks, Object.fromEntries(SYMBOLS.map((s, i) => [s, counts[i]!])))
    expect(expected.length).toBeGreaterThan(5)

    const records = await readUntil(
      env.COMMANDS_TOPIC!,
      (rs) => new Set(rs.map((r) => r.key)).size >= expected.length,
      60_000
    )
    const keys = records.map((r) => OrderCommand.fromBytes(r.value!)).map((d) =>
      d._tag === "Right" ? commandKey(d.right) : `undecodable: ${String(d.left)}`
    )
    expect(new Set(keys)).toEqual(new Set(expected.map(commandKey)))

    const { code, report } = await verify(env, 60)
    expect(report).toContain(`(${expected.length} orders, 0 undecodable), ${expected.length} events`)
    expect(report).toContain("commands without an event: 0")
    expect(report).toContain("orders with two different outcomes: 0")
    expect(report).toContain("duplicate event ids: 0")
    expect(code).toBe(0)
  }, 150_000)
})
