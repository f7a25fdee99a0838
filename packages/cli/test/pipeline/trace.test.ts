// One order followed from tick to event across processes with TRACE=console: the whole
// pipeline as separate processes on the real broker (three raft-nodes, stream-processor,
// order-executor, market-ingestor replaying a small fixed file). The trace id in the
// `traceparent` header of one order's event must be the trace of the ingestor's publish of
// that order's tick, of the processor's decision on that tick and of the executor's span for
// that order; the raft call is batched, so its trace is an executor batch's: the batch of the
// order names it and links the order's trace, its registry span names the registry call that
// carried it (possibly merged with other batches, in the first batch's trace), and the raft
// node's group-commit entry that recorded it links that call's span, whose traceparent it
// received with the call (ADR 0095: one trace per entry, linking the calls it carries).
import * as OrderEvent from "@trading/domain/OrderEvent"
import * as Traceparent from "@trading/platform/Traceparent"
import * as Option from "effect/Option"
import { describe, expect, it } from "vitest"
import { eventually } from "../../../raft-node/test/processes.js"
import { fileSetup } from "./fileSetup.js"
import {
  expectedCommands,
  pipelineEnv,
  type PrintedTrace,
  printedTraces,
  readUntil,
  replayFile,
  spanAttribute,
  spanAttributeList,
  spansNamed,
  unique
} from "./harness.js"

const { dir, procs } = fileSetup("trace")

/** Waits until `output()` holds a printed tree matching `match` (trees are printed as spans end). */
const printed = (what: string, output: () => string, match: (trace: PrintedTrace) => boolean) =>
  eventually(what, () => Promise.resolve(printedTraces(output()).find(match)), 30_000, 100)

describe("console tracing across processes (real processes, real Kafka)", () => {
  it(
    "one order's event carries the trace of its tick's publish, its decision and its execution; the raft record is linked",
    async () => {
      const id = unique("trace")
      const env: Record<string, string> = { ...pipelineEnv(id, dir), TRACE: "console" }
      // under a second of ticks at the recorded pace: each flush publishes one time step (3 ticks)
      const { file, ticks } = replayFile(id, dir, 30, 25)
      const expected = expectedCommands(ticks)
      // a consumed batch links at most 32 of its records' traces (bus delivery): with fewer
      // commands than that, the executor's batch always links the chosen order's trace
      expect(expected.length).toBeGreaterThan(0)
      expect(expected.length).toBeLessThanOrEqual(32)
      // the strategy's first order of the file: the same one on every run
      const order = expected[0]!

      const { executor, processor, raft } = await procs.pipeline(env, dir, 3, { TRACE: "console" })
      const ingestor = procs.replay(env, file)

      const events = await readUntil(env.EVENTS_TOPIC!, (rs) => rs.some((r) => r.key === order.orderId))
      const event = events.find((r) => r.key === order.orderId)!
      const decoded = OrderEvent.fromBytes(event.value!)
      expect(decoded._tag === "Right" && decoded.right.orderId).toBe(order.orderId)
      const parent = Traceparent.parse(event.headers[Traceparent.headerName])
      expect(Option.isSome(parent), `traceparent header on the event: ${JSON.stringify(event.headers)}`).toBe(true)
      const traceId = Option.getOrThrow(parent).traceId

      // the ingestor: the publish of the order's tick starts the trace
      const published = await printed(
        "ingestor tree",
        ingestor.output,
        (t) =>
          t.traceId === traceId &&
          spansNamed(t, "ingest.publish").some((s) => spanAttributeList(s, "tick.id").includes(order.sourceTickId))
      )
      expect(published.service).toBe("market-ingestor")
      expect(published.spans[0]).toMatch(/^ingest\.replay\.flush /)

      // the processor: the decision on that tick, naming the order, continues it
      const decided = await printed(
        "processor tree",
        processor.output,
        (t) =>
          t.traceId === traceId &&
          spansNamed(t, "processor.decide").some((s) => spanAttribute(s, "tick.id") === order.sourceTickId)
      )
      expect(decided.service).toBe("stream-processor")
      const decision = spansNamed(decided, "processor.decide")[0]!
      expect(spanAttributeList(decision, "order.id")).toContain(order.orderId)
      expect(spanAttribute(decision, "symbol")).toBe(order.symbol)

      // the executor: the span of that order, whose child the event's traceparent is
      const executed = await printed(
        "executor tree",
        executor.output,
        (t) =>
          t.traceId === traceId &&
          spansNamed(t, "executor.order").some((s) => spanAttribute(s, "order.id") === order.orderId)
      )
      expect(executed.service).toBe("order-executor")
      expect(spanAttribute(spansNamed(executed, "executor.order")[0]!, "order.status")).toBe(
        decoded._tag === "Right" ? decoded.right.status : undefined
      )

      // the raft record: the executor's batch trace names the order and links the command's
      // trace; its registry.record span names the registry call that carried it (merged with
      // other partitions' batches, ADR 0088), and the leader printed the log entry that
      // recorded that call (a message of the client's RecordOrdersStream, ADR 0091) as a trace
      // of its own linking the call's span (ADR 0095)
      const found = await eventually(
        "executor batch tree, its registry call and the call on a raft node",
        () => {
          const trees = printedTraces(executor.output())
          for (const batch of trees) {
            if (batch.traceId === traceId) continue
            const recorded = spansNamed(batch, "registry.record")
              .find((s) => spanAttributeList(s, "order.id").includes(order.orderId))
            const callId = recorded === undefined ? undefined : spanAttribute(recorded, "registry.call")
            if (callId === undefined) continue
            const callTraceId = callId.split("-")[0]
            const call = trees.find((t) => t.traceId === callTraceId && spansNamed(t, "registry.call").length > 0)
            if (call === undefined) continue
            for (const node of raft.nodes.values()) {
              const served = printedTraces(node.stderr()).find((t) =>
                t.spans[0]?.startsWith("registry.propose ") === true &&
                spanAttributeList(t.spans[0], "links").some((link) => link.split("-")[0] === callTraceId)
              )
              if (served !== undefined) return Promise.resolve({ batch, call, served })
            }
          }
          return Promise.resolve(undefined)
        },
        30_000,
        100
      )
      const handled = spansNamed(found.batch, "bus.handleBatch")[0]!
      expect(spanAttributeList(handled, "links").map((l) => l.split("-")[0])).toContain(traceId)
      expect(found.served.service).toMatch(/raft-node/)
      // the entry committed without a failure, and carried at least the call's records (an
      // entry may carry several calls)
      expect(found.served.spans[0]).not.toMatch(/✗|⊘/)
      expect(spansNamed(found.served, "raft.propose")).toHaveLength(1)
      expect(Number(spanAttribute(found.served.spans[0]!, "orders.count"))).toBeGreaterThanOrEqual(
        Number(spanAttribute(spansNamed(found.call, "registry.call")[0]!, "records"))
      )
    },
    120_000
  )
})
