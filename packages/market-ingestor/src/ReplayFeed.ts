// File replay as a supervised worker: streams INGEST_REPLAY_FILE line by line (files of any
// size), validates each line, logs and counts bad ones (never published), and publishes the
// rest at the recorded pace scaled by INGEST_REPLAY_SPEED, or as fast as the bus takes them
// (`max`). Recorded timestamps are kept: a replay is history, so the future-skew check of
// live sources does not apply. When the file is done the worker idles (still healthy).
import type { Tick } from "@trading/domain/Tick"
import { Health } from "@trading/platform"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { createReadStream } from "node:fs"
import { createInterface } from "node:readline"
import { IngestorConfig, type ReplaySpeed } from "./IngestorConfig.js"
import * as ReplayParser from "./ReplayParser.js"
import { rejectedTotal, TickPublisher } from "./TickPublisher.js"

export class ReplayError extends Data.TaggedError("ReplayError")<{ readonly file: string; readonly reason: string }> {
  override get message(): string {
    return `replay of ${this.file}: ${this.reason}`
  }
}

export interface ReplaySummary {
  readonly published: number
  readonly rejected: number
}

const CHUNK = 500

/** The file's lines, numbered from 1, read lazily. */
const lines = (file: string) =>
  Stream.fromAsyncIterable(
    createInterface({ input: createReadStream(file), crlfDelay: Infinity }),
    (cause) => new ReplayError({ file, reason: cause instanceof Error ? cause.message : String(cause) })
  ).pipe(Stream.zipWithIndex, Stream.map(([text, index]) => [text, index + 1] as const))

/** Replays one file once; returns what was published and rejected. */
export const replay = (file: string, speed: ReplaySpeed, heartbeat: Effect.Effect<void> = Effect.void) =>
  Effect.gen(function*() {
    const publisher = yield* TickPublisher
    const format = yield* Either.match(ReplayParser.formatOf(file), {
      onLeft: (reason) => Effect.fail(new ReplayError({ file, reason })),
      onRight: Effect.succeed
    })
    const parse = ReplayParser.makeLineParser(format, { file })
    const label = ReplayParser.fileLabel(file)
    const startedAt = yield* Clock.currentTimeMillis
    let firstObserved: number | undefined
    let published = 0
    let rejected = 0

    const flush = (batch: Array<Tick>) =>
      batch.length === 0 ? Effect.void : publisher.publish(batch.splice(0)).pipe(
        Effect.tap((done) => {
          published += done.length
        }),
        Effect.tapError((error) => Effect.logWarning("replay publish failed; retrying", error)),
        Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))),
        // each flush starts its own trace: under the replay's span every tick of the file
        // would share one trace, printed only when the replay ends
        Effect.withSpan("ingest.replay.flush", { root: true, attributes: { file: label } }),
        Effect.zipRight(heartbeat)
      )

    // made once per replay and given each chunk: a generator function made anew per chunk
    // would keep the chunk's lines and ticks through scavenges until a full collection (ADR 0093)
    function* chunkSteps(chunk: Chunk.Chunk<readonly [string, number]>) {
      const batch: Array<Tick> = []
      for (const [text, line] of Chunk.toReadonlyArray(chunk)) {
        const result = parse(text, line)
        if (result._tag === "Skip") continue
        if (result._tag === "Fatal") {
          return yield* new ReplayError({ file, reason: `line ${result.error.line}: ${result.error.reason}` })
        }
        if (result._tag === "Bad") {
          rejected++
          yield* Metric.update(rejectedTotal.pipe(Metric.tagged("source", "replay")), 1)
          yield* Effect.logWarning("replay line rejected").pipe(
            Effect.annotateLogs({
              file: label,
              line: result.error.line,
              fields: result.error.fields.join(","),
              reason: result.error.reason
            })
          )
          continue
        }
        if (speed !== "max") {
          firstObserved ??= result.tick.observedAtUnixMs
          const due = startedAt + (result.tick.observedAtUnixMs - firstObserved) / speed
          const now = yield* Clock.currentTimeMillis
          if (due > now) {
            yield* flush(batch)
            yield* Effect.sleep(Math.ceil(due - now))
          }
        }
        batch.push(result.tick)
      }
      yield* flush(batch)
    }

    yield* Effect.logInfo("replay started").pipe(Effect.annotateLogs({ file, format, speed: String(speed) }))
    yield* lines(file).pipe(
      Stream.grouped(CHUNK),
      Stream.runForEach((chunk) => Effect.gen(() => chunkSteps(chunk)))
    )
    const summary: ReplaySummary = { published, rejected }
    yield* Effect.logInfo("replay finished").pipe(Effect.annotateLogs({ file: label, published, rejected }))
    return summary
  }).pipe(Effect.withSpan("ingest.replay", { attributes: { file } }))

/** Registers the `replay` worker when INGEST_REPLAY_FILE is set. */
export const layer = Layer.scopedDiscard(Effect.gen(function*() {
  const { replayFile, replaySpeed } = yield* IngestorConfig
  if (Option.isNone(replayFile)) return
  yield* Health.worker(
    "replay",
    (heartbeat) => Effect.zipRight(replay(replayFile.value, replaySpeed, heartbeat), Effect.never),
    {}
  )
}))
