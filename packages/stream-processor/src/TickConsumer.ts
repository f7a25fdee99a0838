// The Kafka side: joins `stream-processor-v1` on the ticks topic and hands each partition
// batch to the TickProcessor. Health sees the consumer as a worker (failed when the
// consumer dies, stale when it stops showing activity) and probes the broker.
import { MessageBus } from "@trading/bus"
import { Health } from "@trading/platform"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { ProcessorConfig } from "./ProcessorConfig.js"
import { TickProcessor } from "./TickProcessor.js"

export const layer = Layer.scopedDiscard(Effect.gen(function*() {
  const bus = yield* MessageBus
  const processor = yield* TickProcessor
  const { group } = yield* ProcessorConfig
  const consumer = yield* bus.consumeBatch(
    { group, topics: [processor.ticksTopic], fromBeginning: true },
    processor.handleBatch
  )
  yield* Health.worker(
    "tick-consumer",
    (heartbeat) =>
      Effect.raceFirst(
        Fiber.join(consumer.fiber),
        // alive while the consumer runs or (re)joins; a failed consumer ends the join above
        consumer.status.pipe(
          Effect.flatMap((status) =>
            status.state === "running" || status.state === "joining" ? heartbeat : Effect.void
          ),
          Effect.repeat(Schedule.spaced("1 second"))
        )
      ),
    { staleAfter: "30 seconds" }
  )
}))
