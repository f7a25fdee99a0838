// The `orders.commands` consumer (group order-executor-v1): one Executor.handleBatch per
// partition batch; the bus commits the batch's offsets only after it returned, i.e. after
// the outbox transaction. Its health follows the consumer's state.
import { MessageBus } from "@trading/bus"
import { Health } from "@trading/platform"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { Executor } from "./Executor.js"
import type { TopicNames } from "./Topics.js"

export const layer = (names: TopicNames) =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const bus = yield* MessageBus
    const executor = yield* Executor
    const consumer = yield* bus.consumeBatch(
      { group: names.group, topics: [names.commandsTopic], concurrency: 3 },
      executor.handleBatch
    )
    yield* Health.worker("orders-consumer", (heartbeat) =>
      Effect.raceFirst(
        // the consumer's own fiber ending means it died (it runs until this scope closes)
        Effect.flatMap(consumer.fiber.await, (exit) => Effect.fail(`consumer stopped: ${exit._tag}`)),
        Effect.flatMap(consumer.status, (s) =>
          s.state === "failed"
            ? Effect.fail(`consumer failed: ${s.failure ?? "unknown"}`)
            : s.state === "stopped" || s.state === "stopping"
            ? Effect.void
            : heartbeat).pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.zipRight(Effect.never))
      ), { staleAfter: "30 seconds" })
  }))
