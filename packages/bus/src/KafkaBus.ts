// MessageBus on Apache Kafka via kafkajs 2.2.4. One idempotent producer (acks from all
// in-sync replicas, one request in flight) and one admin client per layer; one kafkajs
// consumer per `consume` call, living in the caller's scope.
import * as Traceparent from "@trading/platform/Traceparent"
import * as Clock from "effect/Clock"
import type * as ConfigError from "effect/ConfigError"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import {
  type Admin,
  type Batch,
  type EachBatchPayload,
  type IHeaders,
  Kafka,
  type KafkaMessage,
  logLevel,
  Partitioners,
  type Producer
} from "kafkajs"
import { BusError, type PoisonMessage } from "./BusError.js"
import * as DeadLetter from "./DeadLetter.js"
import * as ConsumerStatus from "./internal/consumerStatus.js"
import * as Delivery from "./internal/delivery.js"
import { logCreatorFor } from "./internal/kafkaLogger.js"
import { produceRequests } from "./internal/produceRequests.js"
import { defaultTuning, KafkaConfig, type KafkaTuning } from "./KafkaConfig.js"
import type { ConsumeOptions, Consumer, MessageBusShape, RecordMetadata } from "./MessageBus.js"
import { MessageBus } from "./MessageBus.js"
import type { ConsumedRecord, Headers, OutgoingRecord, PartitionLag, TopicPartition, TopicSpec } from "./Record.js"

const describe = (cause: unknown) => cause instanceof Error ? cause.message : String(cause)

const attempt = <A>(op: string, run: () => Promise<A>) =>
  Effect.tryPromise({ try: run, catch: (cause) => new BusError({ op, message: `${op}: ${describe(cause)}`, cause }) })

const asBytes = (buffer: Buffer) => new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)

const headerText = (value: IHeaders[string]): string | undefined => {
  if (value === undefined) return undefined
  const last = Array.isArray(value) ? value[value.length - 1] : value
  return last === undefined ? undefined : typeof last === "string" ? last : last.toString("utf8")
}

const toRecord = (topic: string, partition: number) => (message: KafkaMessage): ConsumedRecord => {
  const headers: Record<string, string> = {}
  const raw = message.headers
  if (raw !== undefined) {
    for (const name in raw) {
      const text = headerText(raw[name])
      if (text !== undefined) headers[name] = text
    }
  }
  return {
    topic,
    partition,
    offset: Number(message.offset),
    key: message.key === null ? null : asBytes(message.key),
    value: message.value === null ? new Uint8Array(0) : asBytes(message.value),
    headers: headers as Headers,
    timestamp: Number(message.timestamp)
  }
}

/** A batch being handled: the keeper heartbeats for it and interrupts it on a rebalance. */
interface InFlight {
  readonly payload: EachBatchPayload
  readonly fiber: Fiber.RuntimeFiber<void>
  readonly state: { abandoned: boolean }
}

/** The topics of a batch of records, without an array per call (batches are mostly one topic). */
function* topicsOf(records: ReadonlyArray<OutgoingRecord>): Iterable<string> {
  let previous: string | undefined
  for (const record of records) {
    if (record.topic !== previous) yield (previous = record.topic)
  }
}

const isRebalancing = (error: unknown) =>
  error instanceof Error && (error as Error & { type?: string }).type === "REBALANCE_IN_PROGRESS"

export const make = (tuning: Partial<KafkaTuning> = {}) =>
  Effect.gen(function*() {
    const { brokers, clientId } = yield* KafkaConfig
    const settings: KafkaTuning = { ...defaultTuning, ...tuning }
    const runtime = yield* Effect.runtime<never>()
    const kafka = new Kafka({
      clientId,
      brokers,
      connectionTimeout: settings.connectionTimeout,
      requestTimeout: settings.requestTimeout,
      logLevel: logLevel.INFO,
      logCreator: logCreatorFor(runtime)
    })

    const producer: Producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      // kafkajs's DefaultPartitioner is the Java client's murmur2 one (the embedded bus uses the same)
      createPartitioner: Partitioners.DefaultPartitioner
    })
    yield* Effect.acquireRelease(
      attempt("connect producer", () => producer.connect()),
      () => attempt("disconnect producer", () => producer.disconnect()).pipe(Effect.catchAll(Effect.logWarning))
    )
    const admin: Admin = kafka.admin()
    yield* Effect.acquireRelease(
      attempt("connect admin", () => admin.connect()),
      () => attempt("disconnect admin", () => admin.disconnect()).pipe(Effect.catchAll(Effect.logWarning))
    )
    yield* Effect.logInfo("kafka bus connected").pipe(Effect.annotateLogs({ brokers: brokers.join(","), clientId }))

    // kafkajs's idempotent producer keeps one sequence per partition and is not safe for
    // overlapping sends: serialise them (maxInFlightRequests is 1 anyway).
    const sendLock = yield* Effect.makeSemaphore(1)

    // kafkajs retries a produce to a missing topic for ~10 s; look unknown names up once
    // (topics are created up front by ensureTopics) and fail at once with a clear error.
    // The partition counts also size produce requests.
    const partitionCounts = new Map<string, number>()
    const requireTopics = (op: string, names: Iterable<string>) =>
      Effect.suspend(() => {
        let unknown: Array<string> | undefined
        for (const name of names) {
          if (!partitionCounts.has(name) && !unknown?.includes(name)) (unknown ??= []).push(name)
        }
        if (unknown === undefined) return Effect.void
        return attempt("list topics", () => admin.listTopics()).pipe(
          Effect.flatMap((existing) => {
            const missing = unknown.filter((t) => !existing.includes(t))
            if (missing.length > 0) {
              return Effect.fail(new BusError({ op, message: `unknown topic ${missing.join(", ")}` }))
            }
            return attempt("fetch topic metadata", () => admin.fetchTopicMetadata({ topics: unknown }))
          }),
          Effect.map(({ topics }) => {
            for (const topic of topics) partitionCounts.set(topic.name, topic.partitions.length)
          })
        )
      })

    const limits = { maxPartitionBytes: settings.maxPartitionBytes, maxRequestBytes: settings.maxRequestBytes }
    const partitionCount = (topic: string) => partitionCounts.get(topic) ?? 1
    const sendAll = (records: ReadonlyArray<OutgoingRecord>) =>
      Effect.zipRight(requireTopics("produce", topicsOf(records)), Traceparent.current).pipe(
        Effect.flatMap((traceparent) => {
          const requests = produceRequests(records, partitionCount, Option.getOrUndefined(traceparent), limits)
          return Effect.forEach(
            requests,
            (topicMessages) => attempt("produce", () => producer.sendBatch({ topicMessages, acks: -1 }))
          ).pipe(sendLock.withPermits(1))
        })
      )

    const produce = (record: OutgoingRecord) =>
      sendAll([record]).pipe(
        Effect.map(([[first]]): RecordMetadata => ({
          topic: record.topic,
          partition: first!.partition,
          offset: Number(first!.baseOffset ?? first!.offset)
        })),
        Effect.withSpan("bus.produce", {
          kind: "producer",
          attributes: { "messaging.destination": record.topic },
          captureStackTrace: false
        })
      ) as Effect.Effect<RecordMetadata, BusError>

    const produceBatch = (records: ReadonlyArray<OutgoingRecord>) =>
      (records.length === 0 ? Effect.void : Effect.asVoid(sendAll(records))).pipe(
        Effect.withSpan("bus.produceBatch", {
          kind: "producer",
          attributes: { "messaging.batch.message_count": records.length },
          // a stack trace per call costs more than building the request (and says little)
          captureStackTrace: false
        })
      )

    const deadLetter = (record: ConsumedRecord, poison: PoisonMessage, group: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => produce(DeadLetter.make(record, poison, group, now))).pipe(
        Effect.asVoid
      )

    const ensureTopics = (specs: ReadonlyArray<TopicSpec>) =>
      Effect.gen(function*() {
        const all = DeadLetter.withDeadLetterTopics(specs)
        for (const spec of all) {
          if (spec.name.length === 0) return yield* new BusError({ op: "ensureTopics", message: "empty topic name" })
          if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
            return yield* new BusError({
              op: "ensureTopics",
              message: `topic ${spec.name}: partitions must be a positive integer`
            })
          }
        }
        const existing = new Set(yield* attempt("list topics", () => admin.listTopics()))
        const missing = all.filter((spec) => !existing.has(spec.name))
        if (missing.length > 0) {
          // false (not an error) when another process created them first
          yield* attempt("create topics", () =>
            admin.createTopics({
              waitForLeaders: true,
              topics: missing.map((spec) => ({
                topic: spec.name,
                numPartitions: spec.partitions,
                replicationFactor: spec.replicationFactor ?? -1
              }))
            }))
        }
        // every partition must exist with a leader before anyone produces or joins
        const names = all.map((spec) => spec.name)
        const check = Effect.gen(function*() {
          const { topics } = yield* attempt("fetch topic metadata", () => admin.fetchTopicMetadata({ topics: names }))
          for (const spec of all) {
            const meta = topics.find((t) => t.name === spec.name)
            const count = meta?.partitions.length ?? 0
            if (count !== spec.partitions) {
              return yield* Effect.fail(
                new BusError({
                  op: "ensureTopics",
                  message: `topic ${spec.name} has ${count} partitions, expected ${spec.partitions}`
                })
              )
            }
            const leaderless = meta!.partitions.filter((p) => p.leader < 0)
            if (leaderless.length > 0) {
              return yield* Effect.fail(
                new BusError({ op: "ensureTopics", message: `topic ${spec.name}: partitions without a leader` })
              )
            }
          }
        })
        yield* check.pipe(
          Effect.retry({
            schedule: Schedule.spaced("200 millis").pipe(Schedule.upTo("30 seconds")),
            while: (error) => !error.message.includes("expected")
          })
        )
      }).pipe(Effect.withSpan("bus.ensureTopics"))

    const consumeWith = <R>(
      options: ConsumeOptions,
      run: (
        batch: Batch,
        records: ReadonlyArray<ConsumedRecord>,
        ctx: Delivery.DeliveryContext
      ) => Effect.Effect<void, never, R>
    ) =>
      Effect.gen(function*() {
        if (options.group.length === 0) {
          return yield* new BusError({ op: "consume", message: "group must not be empty" })
        }
        if (options.topics.length === 0) {
          return yield* new BusError({ op: "consume", message: `group ${options.group}: topics must not be empty` })
        }
        const concurrency = options.concurrency ?? Delivery.defaults.concurrency
        if (!Number.isInteger(concurrency) || concurrency < 1) {
          return yield* new BusError({ op: "consume", message: "concurrency must be a positive integer" })
        }
        const fetchMinBytes = options.fetchMinBytes ?? 1
        if (!Number.isInteger(fetchMinBytes) || fetchMinBytes < 1) {
          return yield* new BusError({ op: "consume", message: "fetchMinBytes must be a positive integer" })
        }
        const drainTimeout = options.drainTimeout ?? Delivery.defaults.drainTimeout
        const retry = Delivery.retrySchedule(options)
        // kafkajs would retry a subscription to a missing topic for many seconds
        yield* requireTopics("consume", options.topics)
        const status = yield* ConsumerStatus.make(options.group)
        const done = yield* Deferred.make<void, BusError>()
        // handler fibers: tracked so shutdown can interrupt what does not drain in time
        const handlers = yield* FiberSet.make<void, never>()
        const runFork = yield* FiberSet.runtime(handlers)<R>()
        const heartbeatEvery = Duration.millis(settings.heartbeatInterval)
        const firstRetryDelay = Delivery.firstRetryDelay(options)

        const consumer = kafka.consumer({
          groupId: options.group,
          sessionTimeout: settings.sessionTimeout,
          rebalanceTimeout: settings.rebalanceTimeout,
          heartbeatInterval: settings.heartbeatInterval,
          maxWaitTimeInMs: settings.maxWaitTimeInMs,
          minBytes: fetchMinBytes,
          allowAutoTopicCreation: false
        })
        // kafkajs events arrive outside any fiber: note the activity without running an effect
        const touch = () => status.unsafeTouch(Date.now())
        consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
          const assignments: Array<TopicPartition> = []
          for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
            for (const partition of partitions) assignments.push({ topic, partition })
          }
          Runtime.runSync(runtime)(status.setAssignments(assignments))
        })
        consumer.on(consumer.events.REBALANCING, () => Runtime.runSync(runtime)(status.setAssignments([])))
        consumer.on(consumer.events.HEARTBEAT, touch)
        consumer.on(consumer.events.FETCH, touch)
        consumer.on(consumer.events.CRASH, ({ payload }) => {
          const message = `consumer ${options.group} crashed: ${describe(payload.error)}`
          Runtime.runFork(runtime)(
            payload.restart
              ? Effect.logWarning(`${message}; kafkajs restarts it`)
              : Deferred.fail(done, new BusError({ op: "consume", message, cause: payload.error }))
          )
        })

        // Batches being handled. One keeper fiber per consumer heartbeats while any batch is in
        // hand (kafkajs itself only heartbeats between batches) and gives them all back on a
        // rebalance: per batch this costs a Set entry, where a heartbeat loop raced against each
        // batch cost about 90 µs of forks, timers and interruptions (ADR 0024).
        const inFlight = new Set<InFlight>()
        const keeper = Effect.gen(function*() {
          for (;;) {
            yield* Effect.sleep(heartbeatEvery)
            const batches = [...inFlight]
            if (batches.length === 0) continue
            const beat = yield* Effect.either(attempt("heartbeat", () => batches[0]!.payload.heartbeat()))
            if (Either.isLeft(beat)) {
              if (isRebalancing(beat.left.cause)) {
                // a rebalance while handlers run (or retry): give the batches back; their
                // unresolved records are fetched again by whoever owns the partitions next
                for (const batch of batches) {
                  batch.state.abandoned = true
                  yield* Fiber.interruptFork(batch.fiber)
                }
              } else yield* Effect.logDebug("heartbeat failed", beat.left)
            }
            yield* status.touch
          }
        })
        // forked before the consumer connects, so it outlives `leave` (scopes close in reverse):
        // handlers draining at shutdown keep the membership alive
        yield* Effect.forkScoped(keeper)

        const eachBatch = (payload: EachBatchPayload) =>
          new Promise<void>((resolve) => {
            const { batch } = payload
            const records = batch.messages.map(toRecord(batch.topic, batch.partition))
            const state = { abandoned: false }
            const ctx: Delivery.DeliveryContext = {
              group: options.group,
              retry,
              firstRetryDelay,
              deadLetter: (record, poison) => deadLetter(record, poison, options.group),
              processed: (record) => Effect.sync(() => payload.resolveOffset(String(record.offset))),
              stopping: () => state.abandoned || !payload.isRunning() || payload.isStale()
            }
            // never reject: failures are handled inside; an interrupted batch simply resolves
            // with its unprocessed records unresolved, so they are fetched (and delivered) again
            const entry: InFlight = {
              payload,
              state,
              fiber: runFork(Effect.zipLeft(run(batch, records, ctx), status.touch))
            }
            inFlight.add(entry)
            entry.fiber.addObserver(() => {
              inFlight.delete(entry)
              resolve()
            })
          })

        const leave = Effect.gen(function*() {
          yield* status.setState("stopping")
          const disconnect = yield* Effect.fork(
            attempt("disconnect consumer", () => consumer.disconnect()).pipe(Effect.catchAll(Effect.logWarning))
          )
          // kafkajs waits for the running batches: they finish the record in hand (or are
          // interrupted after drainTimeout), their offsets are committed, then it leaves the group
          const drained = yield* Effect.interruptible(disconnect.await).pipe(
            Effect.timeout(drainTimeout),
            Effect.option
          )
          if (Option.isNone(drained)) {
            yield* Effect.logWarning("consumer did not drain in time; interrupting its handlers").pipe(
              Effect.annotateLogs({ group: options.group })
            )
            yield* FiberSet.clear(handlers)
            yield* disconnect.await
          }
          yield* status.setState("stopped")
          yield* Deferred.succeed(done, undefined)
        })
        yield* Effect.acquireRelease(attempt("connect consumer", () => consumer.connect()), () => leave)
        yield* attempt(
          "subscribe",
          () => consumer.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning ?? true })
        )
        yield* attempt("run consumer", () =>
          consumer.run({
            autoCommit: true, // commits resolved offsets after each batch, and before leaving
            eachBatchAutoResolve: false, // only what a handler finished is resolved
            partitionsConsumedConcurrently: concurrency,
            eachBatch
          }))

        // a daemon: closing the scope must not interrupt it before `leave` completes `done`
        const fiber = yield* Deferred.await(done).pipe(
          Effect.tapError((error) => status.setState("failed", error.message)),
          Effect.forkDaemon
        )

        const lag = Effect.gen(function*() {
          const { assignments } = yield* status.status
          const topics = [...new Set(assignments.map((tp) => tp.topic))]
          if (topics.length === 0) return []
          const committed = yield* attempt(
            "fetch offsets",
            () => admin.fetchOffsets({ groupId: options.group, topics })
          )
          const result: Array<PartitionLag> = []
          for (const topic of topics) {
            const ends = yield* attempt("fetch topic offsets", () => admin.fetchTopicOffsets(topic))
            for (const { partition } of assignments.filter((tp) => tp.topic === topic)) {
              const end = ends.find((e) => e.partition === partition)
              const at = committed.find((c) => c.topic === topic)?.partitions.find((p) => p.partition === partition)
              const high = Number(end?.high ?? 0)
              const low = Number(end?.low ?? 0)
              const position = at === undefined || Number(at.offset) < 0 ? low : Number(at.offset)
              result.push({ topic, partition, committed: position, end: high, lag: Math.max(0, high - position) })
            }
          }
          return result
        })

        const handle: Consumer = {
          group: options.group,
          status: status.status,
          changes: status.changes,
          lag,
          fiber
        }
        return handle
      })

    const bus: MessageBusShape = {
      produce,
      produceBatch,
      ensureTopics,
      deadLetter,
      consume: (options, handler) =>
        consumeWith(options, (_batch, records, ctx) => Delivery.deliverEach(records, handler, ctx)),
      consumeBatch: (options, handler) =>
        consumeWith(
          options,
          (batch, records, ctx) => Delivery.deliverBatch(batch.topic, batch.partition, records, handler, ctx)
        )
    }
    return bus
  })

/** Kafka bus from `KAFKA_BROKERS` / `KAFKA_CLIENT_ID`, with default client tuning. */
export const layer: Layer.Layer<MessageBus, BusError | ConfigError.ConfigError> = Layer.scoped(
  MessageBus,
  make()
)

/** Kafka bus with tuned client timings (tests use short group timeouts). */
export const layerWith = (tuning: Partial<KafkaTuning>) => Layer.scoped(MessageBus, make(tuning))
