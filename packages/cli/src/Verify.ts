// `verify`: reads orders.commands, orders.events and orders.commands.dlq from the start
// (a fresh consumer group each run, so it never disturbs the services' groups) until it has
// caught up with every partition, then reports. With a wait, it keeps reading until the
// stream is clean or the wait is over (commands still in flight are not failures yet).
import { type BusError, type Consumer, DeadLetter, MessageBus } from "@trading/bus"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { Accumulator, type Findings, isClean } from "./VerifyReport.js"

/** The topics read (COMMANDS_TOPIC / EVENTS_TOPIC, as the services name them). */
export const VerifyTopics = Config.all({
  commandsTopic: Config.string("COMMANDS_TOPIC").pipe(Config.withDefault("orders.commands")),
  eventsTopic: Config.string("EVENTS_TOPIC").pipe(Config.withDefault("orders.events"))
})

/** Every partition of every topic is assigned and read to the end. */
const caughtUp = (consumer: Consumer, partitions: number) =>
  Effect.gen(function*() {
    const status = yield* consumer.status
    if (status.state !== "running" || status.assignments.length < partitions) return false
    const lag = yield* consumer.lag
    return lag.length >= partitions && lag.every((p) => p.lag === 0)
  }).pipe(Effect.catchAll(() => Effect.succeed(false)))

export interface VerifyOptions {
  /** Keep reading up to this long for the stream to become clean (default 0: one pass). */
  readonly wait?: Duration.DurationInput | undefined
  /** Total partitions of the three topics (default 9: 3 each). */
  readonly partitions?: number | undefined
}

export const run = (
  options: VerifyOptions = {}
): Effect.Effect<Findings, BusError | ConfigError.ConfigError, MessageBus> =>
  Effect.scoped(Effect.gen(function*() {
    const bus = yield* MessageBus
    const { commandsTopic, eventsTopic } = yield* VerifyTopics
    // creates nothing that exists; a fresh cluster gets the topics (and the .dlq) it reads
    yield* bus.ensureTopics([{ name: commandsTopic, partitions: 3 }, { name: eventsTopic, partitions: 3 }])
    const acc = new Accumulator()
    const dlq = DeadLetter.topicFor(commandsTopic)
    const group = `verify-${yield* Clock.currentTimeMillis}-${Math.floor(Math.random() * 1e6)}`
    const consumer = yield* bus.consumeBatch(
      { group, topics: [commandsTopic, eventsTopic, dlq], fromBeginning: true, concurrency: 9 },
      (batch) =>
        Effect.sync(() => {
          for (const r of batch.records) {
            if (batch.topic === commandsTopic) acc.addCommand(r.value)
            else if (batch.topic === eventsTopic) acc.addEvent(r.value)
            else acc.addDeadLetter(r.value)
          }
        })
    )
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(options.wait ?? 0)
    const partitions = options.partitions ?? 9
    for (;;) {
      yield* caughtUp(consumer, partitions).pipe(
        Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("100 millis") })
      )
      const findings = acc.findings()
      if (isClean(findings) || (yield* Clock.currentTimeMillis) >= deadline) return findings
      yield* Effect.sleep("500 millis")
    }
  }))
