// Publishes outbox rows to `orders.events` (keyed by order id, with the traceparent the
// executor stored) and marks them sent; prunes published rows by policy.
//
// Duplicates on a crash between publish and mark (ADR 0081): a scan consumer (group
// `order-executor-v1.relay.<instance>`) reads `orders.events` continuously and marks every
// event it sees (by its registry index and event id) as published. The relay publishes only
// when that scan has read what was on the topic when the relay began to wait for it: at
// start, and again after any failed publish (an ambiguous produce may have
// landed). A row published but not marked before a crash is therefore found on the topic
// and marked, never sent twice.
import { type BusError, type Consumer, MessageBus, type OutgoingRecord, type RecordBatch } from "@trading/bus"
import { Health, Metrics } from "@trading/platform"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type { ExecutorSettings } from "./ExecutorConfig.js"
import * as EventWire from "./internal/eventWire.js"
import { Outbox, type StoredMessage } from "./outbox/Outbox.js"
import { relayScanGroup, type TopicNames } from "./Topics.js"

/** The scan's fetches wait for this much (or the longest fetch wait, 1 s by default). */
export const scanFetchMinBytes = 512 * 1024

/** Longest an idle relay sleeps without a commit waking it. */
const idleWait = Duration.millis(100)

const published = Metrics.counter("executor_events_published_total", "outbox rows published to the events topic")

const toRecord = (m: StoredMessage): OutgoingRecord => ({
  topic: m.topic,
  key: m.key,
  value: m.payload,
  headers: m.headers
})

/**
 * Every partition of the scan consumer is assigned and read up to `ends`: for each partition,
 * its end when this wait first saw it. Events appended after that are not what the wait is
 * for (the relay publishes nothing meanwhile; other executors' events are not this outbox's),
 * and the scan's committed offsets trail the end by up to a fetch wait (`fetchMinBytes`), so
 * a topic that other executors keep writing to would almost never show a lag of 0 (ADR 0081).
 */
export const caughtUp = (consumer: Consumer, ends: Map<string, number>) =>
  Effect.gen(function*() {
    const status = yield* consumer.status
    if (status.state !== "running" || status.assignments.length === 0) return false
    const lag = yield* consumer.lag
    if (lag.length !== status.assignments.length) return false
    let reached = true
    for (const p of lag) {
      const key = `${p.topic}/${p.partition}`
      const target = ends.get(key) ?? p.end
      ends.set(key, target)
      if (p.committed < target) reached = false
    }
    return reached
  })

/** Waits until the scan consumer has read what was on the topic when the wait began (polls; no timeout: health shows a stuck relay). */
export const awaitCaughtUp = (consumer: Consumer) =>
  Effect.suspend(() => {
    const ends = new Map<string, number>()
    return caughtUp(consumer, ends).pipe(
      Effect.catchAll(() => Effect.succeed(false)),
      Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("50 millis") }),
      Effect.asVoid
    )
  }).pipe(Effect.withSpan("relay.awaitScan", { captureStackTrace: false }))

/** The scan: marks every event found on `orders.events` as published in this outbox. */
export const startScan = (names: TopicNames, instance: string) =>
  Effect.gen(function*() {
    const bus = yield* MessageBus
    const outbox = yield* Outbox
    // made once and given each batch: a generator function made anew per batch would keep
    // its records through scavenges until a full collection (ADR 0093)
    function* markScannedSteps(batch: RecordBatch) {
      // only the keys matter (EventWire.eventKeyOf says why); not this consumer's
      // business to dead-letter foreign bytes: skip what has none
      const keys: Array<EventWire.EventKey> = []
      for (const r of batch.records) {
        const key = EventWire.eventKeyOf(r.value)
        if (key !== undefined) keys.push(key)
      }
      yield* outbox.markPublishedByKey(keys, yield* Clock.currentTimeMillis)
    }
    return yield* bus.consumeBatch(
      {
        group: relayScanGroup(names.group, instance),
        topics: [names.eventsTopic],
        fromBeginning: true,
        concurrency: 3,
        // Only its catching up matters (at start, after a failed publish), not how soon it
        // sees each event: let every fetch wait for a good share of a MiB (or the client's
        // longest fetch wait) instead of reading back each publish in a fetch, a batch, a
        // mark and an offset commit of its own (ADR 0081, update).
        fetchMinBytes: scanFetchMinBytes
      },
      (batch) => Effect.gen(() => markScannedSteps(batch))
    )
  })

// made once, like the scan's steps: the relay calls publishOnce every round (ADR 0093)
function* publishSteps(limit: number) {
  const bus = yield* MessageBus
  const outbox = yield* Outbox
  const rows = yield* outbox.pending(limit)
  if (rows.length === 0) return 0
  yield* bus.produceBatch(rows.map(toRecord))
  yield* outbox.markPublished(rows.map((r) => r.seq), yield* Clock.currentTimeMillis)
  yield* Metric.incrementBy(published, rows.length)
  return rows.length
}

/** One publish round: up to `limit` pending rows, published then marked. Returns how many. */
export const publishOnce = (limit: number) =>
  Effect.gen(() => publishSteps(limit)).pipe(Effect.withSpan("relay.publish", { captureStackTrace: false }))

export const layer = (settings: ExecutorSettings) =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const outbox = yield* Outbox
    const scan = yield* startScan(settings, settings.instance)
    yield* Health.worker("relay-scan", (heartbeat) =>
      Effect.zipRight(
        heartbeat,
        Effect.flatMap(scan.fiber.await, (exit) => Effect.fail(`scan consumer stopped: ${String(exit._tag)}`))
      ))

    const loop = (heartbeat: Effect.Effect<void>) =>
      Effect.gen(function*() {
        yield* awaitCaughtUp(scan)
        yield* Effect.logInfo("outbox relay started (scan caught up)")
        const interval = Duration.toMillis(settings.relayInterval)
        let roundAt = 0
        for (;;) {
          roundAt = yield* Clock.currentTimeMillis
          const published = yield* publishOnce(settings.relayBatch).pipe(
            Effect.map(Either.right),
            Effect.catchAll((e: BusError | { readonly _tag: string; readonly message: string }) =>
              Effect.succeed(Either.left(e))
            )
          )
          yield* heartbeat
          if (Either.isLeft(published)) {
            // the produce may have landed (ambiguous): wait for the scan to see what did
            yield* Effect.logWarning("outbox publish failed; rescanning before retrying").pipe(
              Effect.annotateLogs({ error: published.left.message })
            )
            yield* Effect.sleep("500 millis")
            yield* awaitCaughtUp(scan)
          } else if (published.right < settings.relayBatch) {
            // Nothing more for now: go again when the executor commits new rows, but not
            // sooner than relayInterval after this round began. An idle relay publishes a
            // commit at once; a busy one gathers the commits of one interval into one produce
            // request (and one mark, and one batch for its scan to read back) instead of one
            // round per commit. The idle timeout only matters for rows that become pending
            // without a commit (a failed publish leaves them); it is not a polling rate.
            yield* outbox.awaitWrites(Duration.max(settings.relayInterval, idleWait))
            const wait = roundAt + interval - (yield* Clock.currentTimeMillis)
            if (wait > 0) yield* Effect.sleep(wait)
          }
        }
      })
    yield* Health.worker("outbox-relay", loop, { staleAfter: "30 seconds" })

    const policy = {
      retainPublishedMs: Duration.toMillis(settings.retainPublished),
      keepPublished: settings.keepPublished,
      rememberIdsMs: Duration.toMillis(settings.rememberIds)
    }
    yield* Health.worker("outbox-pruner", (heartbeat) =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => outbox.prune(policy, now)),
        Effect.tap((n) =>
          n > 0 ? Effect.logDebug("outbox pruned").pipe(Effect.annotateLogs({ rows: n })) : Effect.void
        ),
        Effect.catchAll((e) => Effect.logWarning("outbox prune failed", e)),
        Effect.zipRight(heartbeat),
        Effect.repeat(Schedule.spaced("10 seconds"))
      ), { staleAfter: "2 minutes" })

    // on shutdown (the commands consumer, built after the relay, has stopped by then) give the
    // running relay loop a moment to publish what is left; whatever remains waits for the
    // next start, it is durable
    yield* Effect.addFinalizer(() =>
      outbox.lag.pipe(
        Effect.repeat({ until: (l) => l.pending === 0, schedule: Schedule.spaced("20 millis") }),
        Effect.timeout("3 seconds"),
        Effect.interruptible,
        Effect.catchAllCause(() => Effect.void),
        Effect.zipRight(Effect.logInfo("outbox relay flushed"))
      )
    )

    yield* Health.check(
      "outbox-lag",
      Effect.gen(function*() {
        const lag = yield* outbox.lag
        const now = yield* Clock.currentTimeMillis
        const age = Option.match(lag.oldestPendingAt, { onNone: () => 0, onSome: (t) => now - t })
        const detail = `${lag.pending} pending, oldest ${age} ms`
        return age > Duration.toMillis(settings.maxOutboxLag)
          ? yield* Effect.fail(`${detail} (limit ${Duration.toMillis(settings.maxOutboxLag)} ms)`)
          : detail
      })
    )
  }))
