// The one conformance suite, run against every MessageBus implementation: the embedded bus
// (unit project, src/EmbeddedBus.test.ts) and Kafka on a real broker (integration project,
// test/KafkaBus.test.ts). Every test uses its own topics and groups so runs never interfere.
import { expect, layer } from "@effect/vitest"
import * as Traceparent from "@trading/platform/Traceparent"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { BusError, PoisonMessage } from "../src/BusError.js"
import * as DeadLetter from "../src/DeadLetter.js"
import type { ConsumeOptions, Consumer, ConsumerStatus } from "../src/MessageBus.js"
import { MessageBus } from "../src/MessageBus.js"
import { partitionForKey } from "../src/Partitioner.js"
import type { ConsumedRecord, OutgoingRecord } from "../src/Record.js"
import { encodeText, keyText, valueText } from "../src/Record.js"

export interface ConformanceOptions {
  /** Upper bound for one wait on the bus (a guard against hangs, not a speed assertion). */
  readonly waitTimeout: Duration.DurationInput
}

let counter = 0
const unique = (prefix: string) =>
  `${prefix}-${Date.now().toString(36)}-${(counter++).toString(36)}-${Math.random().toString(36).slice(2, 6)}`

interface Payload {
  readonly key: string
  readonly seq: number
}

const payload = (key: string, seq: number): OutgoingRecord => ({
  topic: "",
  key,
  value: encodeText(JSON.stringify({ key, seq }))
})
const parse = (record: ConsumedRecord): Payload => JSON.parse(valueText(record)) as Payload
const idOf = (record: ConsumedRecord) => {
  const p = parse(record)
  return `${p.key}#${p.seq}`
}

const records = (topic: string, keys: ReadonlyArray<string>, perKey: number, from = 0): Array<OutgoingRecord> => {
  const out: Array<OutgoingRecord> = []
  for (let seq = from; seq < from + perKey; seq++) for (const key of keys) out.push({ ...payload(key, seq), topic })
  return out
}

export const conformance = <E>(name: string, busLayer: Layer.Layer<MessageBus, E>, options: ConformanceOptions) =>
  layer(busLayer, { excludeTestServices: true, timeout: "120 seconds" })(`MessageBus conformance: ${name}`, (it) => {
    const within = <A, E2, R>(effect: Effect.Effect<A, E2, R>, what: string) =>
      effect.pipe(
        Effect.timeoutFail({
          duration: options.waitTimeout,
          onTimeout: () => new Error(`timed out waiting for ${what}`)
        })
      )

    /** Takes exactly `n` items from `queue`. */
    const takeN = <A>(queue: Queue.Queue<A>, n: number, what: string) =>
      within(Effect.map(Queue.takeBetween(queue, n, n), Chunk.toReadonlyArray), what)

    /** Waits for the first status matching `predicate`. */
    const awaitStatus = (consumer: Consumer, predicate: (s: ConsumerStatus) => boolean, what: string) =>
      within(
        consumer.changes.pipe(Stream.filter(predicate), Stream.runHead, Effect.flatMap(Effect.orDie)),
        what
      )

    const setup = (partitions: number) =>
      Effect.gen(function*() {
        const bus = yield* MessageBus
        const topic = unique("conf")
        yield* bus.ensureTopics([{ name: topic, partitions }])
        return { bus, topic, group: unique("group") }
      })

    /** A consumer in its own scope, so a test can stop (or crash) it on purpose. */
    const startIn = (scope: Scope.Scope, run: Effect.Effect<Consumer, BusError, Scope.Scope>) =>
      Scope.extend(run, scope)

    it.scoped("creates topics idempotently, with a dead-letter twin, and rejects a partition mismatch", () =>
      Effect.gen(function*() {
        const bus = yield* MessageBus
        const topic = unique("admin")
        yield* bus.ensureTopics([{ name: topic, partitions: 3 }])
        yield* bus.ensureTopics([{ name: topic, partitions: 3 }]) // again: no error
        const landed = yield* bus.produce({ topic, key: "k", value: encodeText("v") })
        expect(landed.partition).toBe(partitionForKey(encodeText("k"), 3))
        yield* bus.produce({ topic: DeadLetter.topicFor(topic), key: "k", value: encodeText("v") })
        const mismatch = yield* Effect.flip(bus.ensureTopics([{ name: topic, partitions: 5 }]))
        expect(mismatch).toBeInstanceOf(BusError)
        expect(mismatch.message).toContain(topic)
        const unknown = yield* Effect.flip(bus.produce({ topic: unique("missing"), value: encodeText("v") }))
        expect(unknown).toBeInstanceOf(BusError)
        expect(unknown.message).toContain("unknown topic")
        const missing = unique("missing")
        const unsubscribable = yield* Effect.flip(
          bus.consume({ group: unique("g"), topics: [missing] }, () => Effect.void)
        )
        expect(unsubscribable.message).toContain(missing)
      }))

    it.scoped("keeps order per key, and partitions keys like Kafka's murmur2 partitioner", () =>
      Effect.gen(function*() {
        const { bus, group, topic } = yield* setup(3)
        const keys = ["AAPL", "MSFT", "GOOG", "TSLA", "AMZN", "NVDA"]
        yield* bus.produceBatch(records(topic, keys, 20))
        for (const record of records(topic, keys, 10, 20)) yield* bus.produce(record)
        const seen = yield* Queue.unbounded<ConsumedRecord>()
        yield* bus.consume({ group, topics: [topic], concurrency: 3 }, (record) => Queue.offer(seen, record))
        const got = yield* takeN(seen, keys.length * 30, "all records")
        for (const key of keys) {
          const mine = got.filter((r) => keyText(r) === key)
          expect(mine.map((r) => parse(r).seq)).toEqual(Array.from({ length: 30 }, (_, i) => i))
          expect(new Set(mine.map((r) => r.partition))).toEqual(new Set([partitionForKey(encodeText(key), 3)]))
          const offsets = mine.map((r) => r.offset)
          expect([...offsets].sort((a, b) => a - b)).toEqual(offsets)
        }
      }))

    it.scoped("redelivers records whose handler never finished (crash before commit)", () =>
      Effect.gen(function*() {
        const { bus, group, topic } = yield* setup(1)
        yield* bus.produceBatch(records(topic, ["K"], 10))
        const first = yield* Queue.unbounded<ConsumedRecord>()
        const scope = yield* Scope.make()
        // offsets 0..4 succeed; offset 5 hangs, like a process that dies mid-record
        yield* startIn(
          scope,
          bus.consume(
            { group, topics: [topic], drainTimeout: "10 millis" },
            (record) => Effect.zipRight(Queue.offer(first, record), record.offset >= 5 ? Effect.never : Effect.void)
          )
        )
        const before = yield* takeN(first, 6, "first consumer to reach offset 5")
        expect(before.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5])
        yield* Scope.close(scope, Exit.void)

        const second = yield* Queue.unbounded<ConsumedRecord>()
        yield* bus.consume({ group, topics: [topic] }, (record) => Queue.offer(second, record))
        const after = yield* takeN(second, 5, "redelivery to the restarted consumer")
        // committed records are not redelivered; the one in flight is
        expect(after.map((r) => r.offset)).toEqual([5, 6, 7, 8, 9])
        expect(yield* Queue.size(second)).toBe(0)
      }))

    it.scoped("loses nothing across a graceful consumer restart", () =>
      Effect.gen(function*() {
        const { bus, group, topic } = yield* setup(3)
        const keys = Array.from({ length: 12 }, (_, i) => `key-${i}`)
        yield* bus.produceBatch(records(topic, keys, 25))
        const seen = yield* Queue.unbounded<ConsumedRecord>()
        const scope = yield* Scope.make()
        yield* startIn(scope, bus.consume({ group, topics: [topic] }, (record) => Queue.offer(seen, record)))
        const early = yield* takeN(seen, 100, "the first consumer to make progress")
        yield* Scope.close(scope, Exit.void)
        yield* bus.produceBatch(records(topic, keys, 25, 25))

        yield* bus.consume({ group, topics: [topic] }, (record) => Queue.offer(seen, record))
        const all = new Map<string, number>(early.map((r) => [idOf(r), 1]))
        while (all.size < keys.length * 50) {
          const [record] = yield* takeN(seen, 1, `all ${keys.length * 50} records (have ${all.size})`)
          all.set(idOf(record!), (all.get(idOf(record!)) ?? 0) + 1)
        }
        expect(all.size).toBe(600)
        // a graceful stop commits what it handled: nothing is seen twice
        expect([...all.values()].every((n) => n === 1)).toBe(true)
        expect(yield* Queue.size(seen)).toBe(0)
      }))

    it.scoped("rebalances a group across two members, and back to the survivor when one leaves", () =>
      Effect.gen(function*() {
        const { bus, group, topic } = yield* setup(4)
        const seen = yield* Queue.unbounded<readonly ["a" | "b", ConsumedRecord]>()
        const a = yield* bus.consume({ group, topics: [topic] }, (record) => Queue.offer(seen, ["a", record]))
        const scopeB = yield* Scope.make()
        const b = yield* startIn(scopeB, bus.consume({ group, topics: [topic] }, (r) => Queue.offer(seen, ["b", r])))
        // settled: both own partitions, together all four, none twice
        const settled = Effect.gen(function*() {
          const [sa, sb] = [yield* a.status, yield* b.status]
          const owned = [...sa.assignments, ...sb.assignments].map((tp) => tp.partition).sort()
          return sa.assignments.length > 0 && sb.assignments.length > 0 && owned.join() === "0,1,2,3"
        })
        yield* within(
          settled.pipe(Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (ok) => ok })),
          "both members to own partitions"
        )
        const keys = Array.from({ length: 40 }, (_, i) => `sym-${i}`)
        yield* bus.produceBatch(records(topic, keys, 5))
        const counts = new Map<string, number>()
        let [fromA, fromB] = [0, 0]
        while (fromA + fromB < 200) {
          const [got] = yield* takeN(seen, 1, "records for the group")
          if (got![0] === "a") fromA++
          else fromB++
          counts.set(idOf(got![1]), (counts.get(idOf(got![1])) ?? 0) + 1)
        }
        expect(fromA).toBeGreaterThan(0)
        expect(fromB).toBeGreaterThan(0)
        expect(counts.size).toBe(200)
        expect([...counts.values()].every((n) => n === 1)).toBe(true)

        yield* Scope.close(scopeB, Exit.void)
        yield* awaitStatus(a, (s) => s.assignments.length === 4, "the survivor to own all partitions")
        yield* bus.produceBatch(records(topic, keys, 2, 5))
        const rest = yield* takeN(seen, 80, "records after the rebalance")
        expect(rest.every(([who]) => who === "a")).toBe(true)
        expect(new Set(rest.map(([, r]) => idOf(r))).size).toBe(80)
      }))

    it.scoped("dead-letters poison with its original bytes and the reason in headers, and carries on", () =>
      Effect.gen(function*() {
        const { bus, group, topic } = yield* setup(2)
        const poisonBytes = new Uint8Array([0xff, 0x00, 0xfe, 0x10, 0x80])
        yield* bus.produceBatch([
          { ...payload("k1", 0), topic },
          { topic, key: "k1", value: poisonBytes, headers: { "x-origin": "test" } },
          { ...payload("k1", 1), topic },
          { ...payload("k2", 0), topic }
        ])
        const good = yield* Queue.unbounded<ConsumedRecord>()
        yield* bus.consume({ group, topics: [topic] }, (record) =>
          record.value[0] === 0xff
            ? Effect.fail(new PoisonMessage({ reason: "not JSON", errorTag: "DecodeError" }))
            : Queue.offer(good, record))
        const handled = yield* takeN(good, 3, "the good records")
        expect(handled.map(idOf).sort()).toEqual(["k1#0", "k1#1", "k2#0"])

        const dead = yield* Queue.unbounded<ConsumedRecord>()
        yield* bus.consume(
          { group: unique("dlq-reader"), topics: [DeadLetter.topicFor(topic)] },
          (record) => Queue.offer(dead, record)
        )
        const [letter] = yield* takeN(dead, 1, "the dead letter")
        const original = handled.find((r) => idOf(r) === "k1#0")!
        expect(letter!.value).toEqual(poisonBytes)
        expect(keyText(letter!)).toBe("k1")
        expect(letter!.headers["x-origin"]).toBe("test")
        expect(letter!.headers[DeadLetter.headerNames.topic]).toBe(topic)
        expect(letter!.headers[DeadLetter.headerNames.partition]).toBe(String(original.partition))
        expect(letter!.headers[DeadLetter.headerNames.offset]).toBe(String(original.offset + 1))
        expect(letter!.headers[DeadLetter.headerNames.group]).toBe(group)
        expect(letter!.headers[DeadLetter.headerNames.errorTag]).toBe("DecodeError")
        expect(letter!.headers[DeadLetter.headerNames.reason]).toBe("not JSON")
      }))

    it.scoped("batch handler: one call per partition batch; poison splits the batch, nothing else is lost", () =>
      Effect.gen(function*() {
        const { bus, group, topic } = yield* setup(1)
        const batch = records(topic, ["K"], 30)
        batch[17] = { topic, key: "K", value: encodeText("garbage") }
        yield* bus.produceBatch(batch)
        const committed = yield* Ref.make<Array<number>>([])
        const calls = yield* Ref.make(0)
        const allDone = yield* Deferred.make<void>()
        yield* bus.consumeBatch({ group, topics: [topic] }, ({ records }) =>
          Effect.gen(function*() {
            yield* Ref.update(calls, (n) => n + 1)
            // decode everything first, like a transaction that rolls back on the first bad record
            for (const record of records) {
              if (valueText(record) === "garbage") {
                return yield* new PoisonMessage({ reason: "bad", offset: record.offset })
              }
            }
            const all = yield* Ref.updateAndGet(committed, (xs) => [...xs, ...records.map((r) => r.offset)])
            if (all.length === 29) yield* Deferred.succeed(allDone, undefined)
          }))
        yield* within(Deferred.await(allDone), "29 good records")
        const offsets = yield* Ref.get(committed)
        expect(offsets).toEqual(Array.from({ length: 30 }, (_, i) => i).filter((o) => o !== 17))
        // far fewer calls than records: the handler really gets batches
        expect(yield* Ref.get(calls)).toBeLessThan(15)
        const dead = yield* Queue.unbounded<ConsumedRecord>()
        yield* bus.consume({ group: unique("dlq"), topics: [DeadLetter.topicFor(topic)] }, (r) => Queue.offer(dead, r))
        const [letter] = yield* takeN(dead, 1, "the dead letter")
        expect(letter!.headers[DeadLetter.headerNames.offset]).toBe("17")
        expect(valueText(letter!)).toBe("garbage")
      }))

    it.scoped("retries a failing handler with backoff and never skips the record", () =>
      Effect.gen(function*() {
        const { bus, group, topic } = yield* setup(1)
        yield* bus.produceBatch(records(topic, ["K"], 5))
        const attempts = yield* Ref.make(0)
        const seen = yield* Queue.unbounded<number>()
        const options: ConsumeOptions = { group, topics: [topic], retryInitial: "5 millis", retryMax: "20 millis" }
        yield* bus.consume(options, (record) =>
          Effect.gen(function*() {
            if (record.offset === 2 && (yield* Ref.getAndUpdate(attempts, (n) => n + 1)) < 3) {
              return yield* Effect.fail(new Error("database is locked"))
            }
            if (record.offset === 3 && (yield* Ref.get(attempts)) < 4) return yield* Effect.die("defects retry too")
            yield* Queue.offer(seen, record.offset)
          }))
        expect(yield* takeN(seen, 5, "all five records")).toEqual([0, 1, 2, 3, 4])
        expect(yield* Ref.get(attempts)).toBe(4)
      }))

    it.scoped("applies backpressure: a blocked handler holds the partition, nothing is dropped", () =>
      Effect.gen(function*() {
        const { bus, group, topic } = yield* setup(1)
        const gate = yield* Deferred.make<void>()
        const seen = yield* Queue.unbounded<number>()
        const consumer = yield* bus.consume(
          { group, topics: [topic], concurrency: 1, drainTimeout: "100 millis" },
          (record) => Effect.zipRight(Queue.offer(seen, record.offset), Deferred.await(gate))
        )
        yield* bus.produceBatch(records(topic, ["K"], 50))
        expect(yield* takeN(seen, 1, "the first record")).toEqual([0])
        const waitLag = (predicate: (lag: number) => boolean, what: string) =>
          within(
            consumer.lag.pipe(
              Effect.map((lags) => lags.reduce((sum, l) => sum + l.lag, 0)),
              Effect.filterOrFail(predicate),
              Effect.retry({
                schedule: Schedule.spaced("50 millis"),
                while: (e) => e._tag === "NoSuchElementException"
              })
            ),
            what
          )
        expect(yield* waitLag((lag) => lag === 50, "lag to show the held records")).toBe(50)
        expect(yield* Queue.size(seen)).toBe(0)
        yield* Deferred.succeed(gate, undefined)
        const rest = yield* takeN(seen, 49, "the held records")
        expect(rest).toEqual(Array.from({ length: 49 }, (_, i) => i + 1))
        yield* waitLag((lag) => lag === 0, "everything to be committed")
      }))

    it.scoped("exposes liveness: running while consuming, stopped after its scope closes", () =>
      Effect.gen(function*() {
        const { bus, group, topic } = yield* setup(2)
        const scope = yield* Scope.make()
        const consumer = yield* startIn(scope, bus.consume({ group, topics: [topic] }, () => Effect.void))
        const running = yield* awaitStatus(consumer, (s) => s.state === "running", "the consumer to run")
        expect(running.group).toBe(group)
        expect(running.assignments.length).toBe(2)
        expect(Option.isNone(yield* Fiber.poll(consumer.fiber))).toBe(true)
        yield* Scope.close(scope, Exit.void)
        expect((yield* consumer.status).state).toBe("stopped")
        expect(yield* Fiber.await(consumer.fiber)).toEqual(Exit.void)
      }))

    it.scoped("propagates trace context: the handler's span is a child of the producer's", () =>
      Effect.gen(function*() {
        const { bus, group, topic } = yield* setup(1)
        const traceId = yield* bus.produce({ topic, key: "k", value: encodeText("traced") }).pipe(
          Effect.zipRight(Effect.currentSpan),
          Effect.map((span) => span.traceId),
          Effect.withSpan("test.origin")
        )
        const seen = yield* Queue.unbounded<readonly [ConsumedRecord, string, Option.Option<string>]>()
        yield* bus.consume(
          { group, topics: [topic] },
          (record) =>
            Effect.flatMap(Effect.currentSpan.pipe(Effect.orDie), (span) =>
              Queue.offer(seen, [
                record,
                span.traceId,
                Option.map(span.parent, (p) => p.spanId)
              ]))
        )
        const [[record, handlerTrace, parentSpanId]] = (yield* takeN(seen, 1, "the traced record")) as [
          readonly [ConsumedRecord, string, Option.Option<string>]
        ]
        const header = Traceparent.parse(record.headers[Traceparent.headerName])
        expect(Option.isSome(header)).toBe(true)
        expect(Option.getOrThrow(header).traceId).toBe(traceId)
        expect(handlerTrace).toBe(traceId)
        expect(parentSpanId).toEqual(Option.some(Option.getOrThrow(header).spanId))
      }))
  })
