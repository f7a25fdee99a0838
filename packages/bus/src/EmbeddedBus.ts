// The in-process bus: same semantics as the Kafka one (partitions by murmur2 key hash,
// consumer groups with committed offsets, rebalancing, redelivery of uncommitted records)
// with no broker, for the zero-dependency quick start and unit tests.
//
// The logs are plain arrays mutated only inside `Effect.sync` blocks (atomic on the single
// JS thread): Refs per record would cost the throughput this bus exists to offer. All state
// belongs to one layer instance; nothing is global.
import * as Traceparent from "@trading/platform/Traceparent"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import { BusError, type PoisonMessage } from "./BusError.js"
import * as DeadLetter from "./DeadLetter.js"
import * as ConsumerStatus from "./internal/consumerStatus.js"
import * as Delivery from "./internal/delivery.js"
import type { ConsumeOptions, Consumer, MessageBusShape, RecordMetadata } from "./MessageBus.js"
import { MessageBus } from "./MessageBus.js"
import { partitionForKey } from "./Partitioner.js"
import type { ConsumedRecord, Headers, OutgoingRecord, PartitionLag, TopicPartition, TopicSpec } from "./Record.js"
import { keyBytes } from "./Record.js"

/**
 * A record as kept in the log: the value stays a range of its produce call's buffer and
 * becomes a `Uint8Array` view only when delivered (a million long-lived views cost the
 * garbage collector more than making short-lived ones on the way out).
 */
interface StoredRecord {
  readonly key: Uint8Array | null
  readonly arena: Uint8Array
  readonly start: number
  readonly end: number
  readonly headers: Headers
  readonly timestamp: number
}

const deliver = (topic: string, partition: number, from: number, stored: ReadonlyArray<StoredRecord>) => {
  const out: Array<ConsumedRecord> = new Array(stored.length)
  for (let i = 0; i < stored.length; i++) {
    const r = stored[i]!
    out[i] = {
      topic,
      partition,
      offset: from + i,
      key: r.key,
      value: r.arena.subarray(r.start, r.end),
      headers: r.headers,
      timestamp: r.timestamp
    }
  }
  return out
}

interface PartitionLog {
  readonly records: Array<StoredRecord>
  /** Completed (and cleared) on the next append; idle consumers wait on it. */
  waiter: Deferred.Deferred<void> | undefined
}

interface TopicLog {
  readonly partitions: ReadonlyArray<PartitionLog>
  roundRobin: number
}

interface Assignment {
  readonly generation: number
  readonly partitions: ReadonlyArray<TopicPartition>
}

interface Member {
  readonly id: string
  readonly topics: ReadonlyArray<string>
  readonly assignment: SubscriptionRef.SubscriptionRef<Assignment>
}

interface Group {
  readonly members: Map<string, Member>
  generation: number
  /** `topic/partition` -> next offset to read. */
  readonly committed: Map<string, number>
  /** One permit per partition: a new owner starts only after the previous one let go. */
  readonly owners: Map<string, Effect.Semaphore>
  /** Serialises joins and leaves so assignments are published in generation order. */
  readonly coordinator: Effect.Semaphore
}

const tpKey = (topic: string, partition: number) => `${topic}/${partition}`

const fail = (op: string, message: string) => new BusError({ op, message })

/** Round-robin over sorted members per topic: deterministic, and every member of a topic gets a share. */
const assign = (group: Group, topics: ReadonlyMap<string, TopicLog>): Map<string, Array<TopicPartition>> => {
  const result = new Map<string, Array<TopicPartition>>()
  const members = [...group.members.values()].sort((a, b) => a.id < b.id ? -1 : 1)
  for (const member of members) result.set(member.id, [])
  const allTopics = [...new Set(members.flatMap((m) => m.topics))].sort()
  let next = 0
  for (const topic of allTopics) {
    const subscribers = members.filter((m) => m.topics.includes(topic))
    const log = topics.get(topic)
    if (log === undefined || subscribers.length === 0) continue
    for (let partition = 0; partition < log.partitions.length; partition++) {
      result.get(subscribers[next++ % subscribers.length]!.id)!.push({ topic, partition })
    }
  }
  return result
}

export const make: Effect.Effect<MessageBusShape> = Effect.gen(function*() {
  const topics = new Map<string, TopicLog>()
  const groups = new Map<string, Group>()
  let memberCounter = 0

  const groupFor = (id: string): Group => {
    let group = groups.get(id)
    if (group === undefined) {
      group = {
        members: new Map(),
        generation: 0,
        committed: new Map(),
        owners: new Map(),
        coordinator: Effect.unsafeMakeSemaphore(1)
      }
      groups.set(id, group)
    }
    return group
  }

  const ownerLock = (group: Group, key: string): Effect.Semaphore => {
    let lock = group.owners.get(key)
    if (lock === undefined) {
      lock = Effect.unsafeMakeSemaphore(1)
      group.owners.set(key, lock)
    }
    return lock
  }

  const rebalance = (group: Group) =>
    Effect.suspend(() => {
      group.generation++
      const generation = group.generation
      const plan = assign(group, topics)
      return Effect.forEach(
        group.members.values(),
        (member) => SubscriptionRef.set(member.assignment, { generation, partitions: plan.get(member.id) ?? [] }),
        { discard: true }
      )
    })

  const ensureTopics = (specs: ReadonlyArray<TopicSpec>) =>
    Effect.suspend(() => {
      for (const spec of DeadLetter.withDeadLetterTopics(specs)) {
        if (spec.name.length === 0) return Effect.fail(fail("ensureTopics", "topic name must not be empty"))
        if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
          return Effect.fail(fail("ensureTopics", `topic ${spec.name}: partitions must be a positive integer`))
        }
        const existing = topics.get(spec.name)
        if (existing !== undefined && existing.partitions.length !== spec.partitions) {
          return Effect.fail(fail(
            "ensureTopics",
            `topic ${spec.name} has ${existing.partitions.length} partitions, expected ${spec.partitions}`
          ))
        }
      }
      for (const spec of DeadLetter.withDeadLetterTopics(specs)) {
        if (!topics.has(spec.name)) {
          topics.set(spec.name, {
            partitions: Array.from({ length: spec.partitions }, () => ({ records: [], waiter: undefined })),
            roundRobin: 0
          })
        }
      }
      return Effect.void
    }).pipe(Effect.withSpan("bus.ensureTopics"))

  const nextAppendTime = Clock.currentTimeMillis

  /** Appends synchronously; returns where each record landed. */
  const append = (
    records: ReadonlyArray<OutgoingRecord>,
    traceparent: string | undefined,
    now: number,
    withMetadata: boolean
  ) => {
    // validate all first so a bad record does not leave half a batch appended
    for (const record of records) {
      const log = topics.get(record.topic)
      if (log === undefined) return Exit.fail(fail("produce", `unknown topic ${record.topic}`))
      if (
        record.partition !== undefined &&
        (!Number.isInteger(record.partition) || record.partition < 0 || record.partition >= log.partitions.length)
      ) {
        return Exit.fail(fail("produce", `topic ${record.topic} has no partition ${record.partition}`))
      }
    }
    // one backing buffer for all copied bytes of the call: a small ArrayBuffer per record
    // would cost an allocation each and drive the GC (external memory) hard
    let total = 0
    const keys: Array<Uint8Array | null> = new Array(records.length)
    // a batch usually repeats a few keys (symbols): encode each once
    const encoded = new Map<string, Uint8Array>()
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!
      let key: Uint8Array | null
      if (typeof record.key === "string") {
        key = encoded.get(record.key) ?? null
        if (key === null) {
          key = Buffer.from(record.key, "utf8")
          encoded.set(record.key, key)
        }
      } else {
        key = keyBytes(record.key)
      }
      keys[i] = key
      total += record.value.byteLength + (key?.byteLength ?? 0)
    }
    // records of one call with the same key share one copy of it (consumers treat bytes as read-only)
    const copiedKeys = new Map<Uint8Array, Uint8Array>()
    const arena = new Uint8Array(total)
    let at = 0
    const copy = (bytes: Uint8Array) => {
      arena.set(bytes, at)
      const view = arena.subarray(at, at + bytes.byteLength)
      at += bytes.byteLength
      return view
    }
    // records without headers of their own share one headers object
    const shared: Headers = traceparent === undefined ? {} : { [Traceparent.headerName]: traceparent }
    const landed: Array<RecordMetadata> = withMetadata ? new Array(records.length) : []
    const touched = new Set<PartitionLog>()
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!
      const log = topics.get(record.topic)!
      const key = keys[i]!
      const partition = record.partition ??
        (key === null ? log.roundRobin++ % log.partitions.length : partitionForKey(key, log.partitions.length))
      const target = log.partitions[partition]!
      const headers: Headers = record.headers === undefined
        ? shared
        : traceparent === undefined || record.headers[Traceparent.headerName] !== undefined
        ? { ...record.headers }
        : { ...record.headers, [Traceparent.headerName]: traceparent }
      const offset = target.records.length
      // copied, as a broker would: later mutation by the producer must not show
      const storedKey = key === null ? null : copiedKeys.get(key) ?? copiedKeys.set(key, copy(key)).get(key)!
      const start = at
      arena.set(record.value, at)
      at += record.value.byteLength
      target.records.push({
        key: storedKey,
        arena,
        start,
        end: at,
        headers,
        timestamp: now
      })
      touched.add(target)
      if (withMetadata) landed[i] = { topic: record.topic, partition, offset }
    }
    for (const target of touched) {
      const waiter = target.waiter
      target.waiter = undefined
      if (waiter !== undefined) Deferred.unsafeDone(waiter, Exit.void)
    }
    return Exit.succeed(landed)
  }

  const produceMany = (records: ReadonlyArray<OutgoingRecord>, withMetadata: boolean) =>
    Effect.flatMap(
      Traceparent.current,
      (traceparent) =>
        Effect.flatMap(nextAppendTime, (now) =>
          Effect.suspend(() =>
            append(records, traceparent._tag === "Some" ? traceparent.value : undefined, now, withMetadata)
          ))
    )

  const produce = (record: OutgoingRecord) =>
    produceMany([record], true).pipe(
      Effect.map((landed) => landed[0]!),
      Effect.withSpan("bus.produce", { kind: "producer", attributes: { "messaging.destination": record.topic } })
    )

  const produceBatch = (records: ReadonlyArray<OutgoingRecord>) =>
    produceMany(records, false).pipe(
      Effect.asVoid,
      Effect.withSpan("bus.produceBatch", {
        kind: "producer",
        attributes: { "messaging.batch.message_count": records.length }
      })
    )

  const deadLetter = (record: ConsumedRecord, poison: PoisonMessage, group: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => produce(DeadLetter.make(record, poison, group, now))).pipe(
      Effect.asVoid
    )

  type RunRecords<R> = (
    topic: string,
    partition: number,
    records: ReadonlyArray<ConsumedRecord>,
    ctx: Delivery.DeliveryContext
  ) => Effect.Effect<void, never, R>

  const consumeWith = <R>(options: ConsumeOptions, run: RunRecords<R>) =>
    Effect.gen(function*() {
      if (options.group.length === 0) return yield* fail("consume", "group must not be empty")
      if (options.topics.length === 0) return yield* fail("consume", `group ${options.group}: topics must not be empty`)
      for (const topic of options.topics) {
        if (!topics.has(topic)) return yield* fail("consume", `group ${options.group}: unknown topic ${topic}`)
      }
      const concurrency = options.concurrency ?? Delivery.defaults.concurrency
      const maxBatchSize = options.maxBatchSize ?? Delivery.defaults.maxBatchSize
      if (!Number.isInteger(concurrency) || concurrency < 1) {
        return yield* fail("consume", "concurrency must be a positive integer")
      }
      if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
        return yield* fail("consume", "maxBatchSize must be a positive integer")
      }
      // accepted for the Kafka bus's sake; records are handed over at once here
      const fetchMinBytes = options.fetchMinBytes ?? 1
      if (!Number.isInteger(fetchMinBytes) || fetchMinBytes < 1) {
        return yield* fail("consume", "fetchMinBytes must be a positive integer")
      }
      const drainTimeout = options.drainTimeout ?? Delivery.defaults.drainTimeout
      const retry = Delivery.retrySchedule(options)
      const group = groupFor(options.group)
      const handlerPermits = yield* Effect.makeSemaphore(concurrency)
      const status = yield* ConsumerStatus.make(options.group)
      const done = yield* Deferred.make<void, BusError>()
      const runtimeContext = yield* Effect.context<R>()
      const outer = yield* Effect.scope
      const workersScope = yield* Scope.fork(outer, ExecutionStrategy.sequential)

      interface WorkerState {
        /** True once it owns the partition; before that there is nothing in flight to drain. */
        owning: boolean
        stopping: boolean
      }
      interface Worker {
        readonly stop: Deferred.Deferred<void>
        readonly fiber: Fiber.RuntimeFiber<void>
        readonly state: WorkerState
      }
      const workers = new Map<string, Worker>()

      const startWorker = (tp: TopicPartition) =>
        Effect.gen(function*() {
          const key = tpKey(tp.topic, tp.partition)
          const log = topics.get(tp.topic)!.partitions[tp.partition]!
          const stop = yield* Deferred.make<void>()
          const state: WorkerState = { owning: false, stopping: false }
          const ctx: Delivery.DeliveryContext = {
            group: options.group,
            retry,
            firstRetryDelay: Delivery.firstRetryDelay(options),
            stopping: () => state.stopping,
            deadLetter: (record, poison) => deadLetter(record, poison, options.group),
            processed: (record) =>
              Effect.sync(() => {
                group.committed.set(key, record.offset + 1)
              })
          }
          const body = Effect.gen(function*() {
            state.owning = true
            while (!state.stopping) {
              // read the committed position each round: it is the only truth after a redelivery
              const position = group.committed.get(key) ??
                (options.fromBeginning === false ? log.records.length : 0)
              if (!group.committed.has(key)) group.committed.set(key, position)
              if (position < log.records.length) {
                const records = deliver(
                  tp.topic,
                  tp.partition,
                  position,
                  log.records.slice(position, position + maxBatchSize)
                )
                yield* handlerPermits.withPermits(1)(run(tp.topic, tp.partition, records, ctx))
                yield* status.touch
              } else {
                if (log.waiter === undefined) log.waiter = Deferred.unsafeMake<void>(FiberId.none)
                yield* Effect.raceFirst(Deferred.await(log.waiter), Deferred.await(stop))
              }
            }
          })
          const fiber = yield* ownerLock(group, key).withPermits(1)(body).pipe(
            Effect.provide(runtimeContext),
            Effect.tapDefect((defect) =>
              Effect.logError("embedded bus worker died", defect).pipe(
                Effect.zipRight(Deferred.fail(done, fail("consume", `worker ${key} died: ${String(defect)}`)))
              )
            ),
            Effect.forkIn(workersScope)
          )
          workers.set(key, { stop, fiber, state })
        })

      // graceful: finish the record/batch in hand (and commit it), within drainTimeout
      const stopWorker = (key: string) =>
        Effect.suspend(() => {
          const worker = workers.get(key)
          if (worker === undefined) return Effect.void
          worker.state.stopping = true
          const graceful = worker.state.owning
            ? Deferred.succeed(worker.stop, undefined).pipe(
              Effect.zipRight(Fiber.await(worker.fiber).pipe(Effect.timeout(drainTimeout), Effect.ignore))
            )
            : Effect.void
          return graceful.pipe(
            Effect.zipRight(Fiber.interrupt(worker.fiber)),
            Effect.ensuring(Effect.sync(() => workers.delete(key)))
          )
        })

      const applyAssignment = (assignment: Assignment) =>
        Effect.gen(function*() {
          if (assignment.generation < 0) return
          const wanted = new Map(assignment.partitions.map((tp) => [tpKey(tp.topic, tp.partition), tp]))
          const revoked = [...workers.keys()].filter((key) => !wanted.has(key))
          yield* Effect.forEach(revoked, stopWorker, { concurrency: "unbounded", discard: true })
          for (const [key, tp] of wanted) if (!workers.has(key)) yield* startWorker(tp)
          yield* status.setAssignments(assignment.partitions)
        })

      const memberId = `${options.group}-member-${++memberCounter}`
      const assignment = yield* SubscriptionRef.make<Assignment>({ generation: -1, partitions: [] })
      const member: Member = { id: memberId, topics: [...options.topics], assignment }

      const loop = yield* assignment.changes.pipe(
        Stream.runForEach(applyAssignment),
        Effect.zipRight(Effect.never),
        Effect.catchAllDefect((defect) => Deferred.fail(done, fail("consume", `member loop died: ${String(defect)}`))),
        Effect.forkIn(outer)
      )
      // idle members prove they are alive too (health watches lastActivityAt)
      yield* status.touch.pipe(Effect.repeat(Schedule.spaced("1 second")), Effect.forkIn(outer))

      yield* group.coordinator.withPermits(1)(
        Effect.suspend(() => {
          group.members.set(memberId, member)
          return rebalance(group)
        })
      )

      // a daemon, so closing the scope cannot interrupt it before it sees the graceful end;
      // `done` is always completed by `leave`, so it never outlives the consumer
      const fiber = yield* Deferred.await(done).pipe(
        Effect.tapError((error) => status.setState("failed", error.message)),
        Effect.forkDaemon
      )

      const leave = Effect.gen(function*() {
        yield* status.setState("stopping")
        yield* Fiber.interrupt(loop)
        yield* Effect.forEach([...workers.keys()], stopWorker, { concurrency: "unbounded", discard: true })
        yield* Scope.close(workersScope, Exit.void)
        yield* group.coordinator.withPermits(1)(
          Effect.suspend(() => {
            group.members.delete(memberId)
            return rebalance(group)
          })
        )
        yield* status.setState("stopped")
        yield* Deferred.succeed(done, undefined)
      })
      yield* Scope.addFinalizer(outer, leave)

      const lag = Effect.sync((): ReadonlyArray<PartitionLag> =>
        [...workers.keys()].map((key) => {
          const [topic, partition] = [key.slice(0, key.lastIndexOf("/")), Number(key.slice(key.lastIndexOf("/") + 1))]
          const end = topics.get(topic)!.partitions[partition]!.records.length
          const committed = group.committed.get(key) ?? 0
          return { topic, partition, committed, end, lag: end - committed }
        })
      )

      const consumer: Consumer = {
        group: options.group,
        status: status.status,
        changes: status.changes,
        lag,
        fiber
      }
      return consumer
    })

  const bus: MessageBusShape = {
    produce,
    produceBatch,
    ensureTopics,
    deadLetter,
    consume: (options, handler) =>
      consumeWith(options, (_topic, _partition, records, ctx) => Delivery.deliverEach(records, handler, ctx)),
    consumeBatch: (options, handler) =>
      consumeWith(
        options,
        (topic, partition, records, ctx) => Delivery.deliverBatch(topic, partition, records, handler, ctx)
      )
  }
  return bus
})

/** A fresh, empty embedded bus per layer build. */
export const layer: Layer.Layer<MessageBus> = Layer.effect(MessageBus, make)
