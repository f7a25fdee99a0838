// The synthetic source as a supervised worker: INGEST_RATE rounds per second (one tick per
// symbol per round) on the Effect Clock, so TestClock can drive it. A slow bus makes the
// feed catch up in larger batches; more than 5 s behind, it skips the backlog (a simulated
// market has no obligation to replay the past) and says so.
import type { Tick } from "@trading/domain/Tick"
import { Health } from "@trading/platform"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { IngestorConfig } from "./IngestorConfig.js"
import * as SyntheticWalk from "./SyntheticWalk.js"
import { TickPublisher } from "./TickPublisher.js"

const MAX_BEHIND_MS = 5_000
const MAX_TICKS_PER_BATCH = 10_000
/**
 * The feed's clock step: rounds that fall due within one step are generated (stamped with the
 * step's time) and published together. Every publish is a produce request acknowledged by all
 * replicas, whose cost does not depend on its size; at 10,000 ticks/s over a dozen symbols a
 * round is due every 1.2 ms, and one request per round cost more than the ticks in it (ADR 0074).
 */
const MIN_STEP_MS = 5

export const run = (heartbeat: Effect.Effect<void>) =>
  Effect.gen(function*() {
    const publisher = yield* TickPublisher
    const { rate, seed, symbols } = yield* IngestorConfig
    const intervalMs = 1000 / rate
    const maxRounds = Math.max(1, Math.floor(MAX_TICKS_PER_BATCH / symbols.length))
    let start = yield* Clock.currentTimeMillis
    const runId = start.toString(36)
    let walk = SyntheticWalk.initial(seed, symbols)
    let emitted = 0 // rounds since `start`
    yield* Effect.logInfo("synthetic feed started").pipe(
      Effect.annotateLogs({ symbols: symbols.join(","), rate, seed, runId })
    )
    while (true) {
      const now = yield* Clock.currentTimeMillis
      let due = Math.floor((now - start) / intervalMs) + 1
      if ((due - emitted) * intervalMs > MAX_BEHIND_MS) {
        yield* Effect.logWarning("synthetic feed fell behind; skipping the backlog").pipe(
          Effect.annotateLogs({ skippedRounds: due - emitted - 1 })
        )
        start = now
        emitted = 0
        due = 1
      }
      const rounds = Math.min(due - emitted, maxRounds)
      if (rounds > 0) {
        const generated: Array<Tick> = []
        for (let i = 0; i < rounds; i++) {
          const [next, ticks] = SyntheticWalk.nextRound(walk, { symbols, runId, seed, observedAtUnixMs: now })
          walk = next
          for (const tick of ticks) generated.push(tick)
        }
        // valid by construction; checked anyway, like every other source
        const batch = yield* publisher.validateAll(generated, { origin: "synthetic", checkClock: true })
        yield* publisher.publish(batch).pipe(
          Effect.tapError((error) => Effect.logWarning("synthetic publish failed; retrying", error)),
          Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("5 seconds"))))
        )
        emitted += rounds
      }
      yield* heartbeat
      const nextAt = start + emitted * intervalMs
      const after = yield* Clock.currentTimeMillis
      yield* Effect.sleep(Math.max(MIN_STEP_MS, Math.ceil(nextAt - after)))
    }
  }).pipe(
    // an invalid synthetic tick is a generator bug: the worker fails and health says so
    Effect.catchTag("InvalidTick", (error) =>
      Effect.dieMessage(`synthetic generator made an invalid tick: ${error.message}`))
  )

/** Registers the generator as the `synthetic-feed` worker when INGEST_RATE > 0. */
export const layer = Layer.scopedDiscard(Effect.gen(function*() {
  const { rate } = yield* IngestorConfig
  if (rate === 0) return
  yield* Health.worker("synthetic-feed", run, { staleAfter: "30 seconds" })
}))
