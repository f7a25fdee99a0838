// `pnpm bench:bus`: produce and consume throughput and produce-to-consume latency for
// 200-byte messages on both MessageBus implementations. Figures, not assertions.
//
//   pnpm bench:bus [--only=embedded|kafka] [--runs=3] [--kafka-messages=300000] [--embedded-messages=1000000]
//                  [--produce-only]   (skip the consume and latency phases, e.g. when profiling produce)
//
// Kafka uses KAFKA_BROKERS (default 127.0.0.1:9092), e.g. a broker from `pnpm kafka:up`.
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as EmbeddedBus from "../src/EmbeddedBus.js"
import * as KafkaBus from "../src/KafkaBus.js"
import { MessageBus } from "../src/MessageBus.js"
import type { OutgoingRecord } from "../src/Record.js"

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback

const runs = Number(arg("runs", "3"))
const only = arg("only", "all")
const messageSize = 200
const symbols = Array.from({ length: 100 }, (_, i) => `SYM${i}`)
const partitions = 3
const produceOnly = process.argv.includes("--produce-only")

interface Figures {
  readonly produced: number // msg/s
  /** CPU of this process (all threads) per message: produce phase, batch-consume phase. */
  readonly produceCpuUs: number
  readonly consumeCpuUs: number
  readonly consumedBatch: number // msg/s
  readonly consumedEach: number // msg/s
  readonly p50: number // ms
  readonly p99: number // ms
}

const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`

const makeRecords = (topic: string, count: number): Array<OutgoingRecord> => {
  const out: Array<OutgoingRecord> = new Array(count)
  // one backing buffer, like serialised payloads in a producer's batch (a million separate
  // ArrayBuffers would make the benchmark measure the GC, not the bus)
  const arena = new Uint8Array(count * messageSize)
  const view = new DataView(arena.buffer)
  for (let i = 0; i < count; i++) {
    view.setUint32(i * messageSize, i)
    out[i] = { topic, key: symbols[i % symbols.length]!, value: arena.subarray(i * messageSize, (i + 1) * messageSize) }
  }
  return out
}

/** Consumes `count` records; the clock starts at the first delivery, so group joins do not count. */
const consumeRate = (topic: string, count: number, batch: boolean) =>
  Effect.scoped(Effect.gen(function*() {
    const bus = yield* MessageBus
    const done = yield* Deferred.make<number>()
    let seen = 0
    let first = 0
    const note = (n: number) =>
      Effect.suspend(() => {
        if (seen === 0) first = performance.now()
        seen += n
        return seen >= count ? Deferred.succeed(done, performance.now()) : Effect.void
      })
    const options = { group: unique("bench"), topics: [topic], concurrency: partitions, maxBatchSize: 5000 }
    const cpu = process.cpuUsage()
    if (batch) yield* bus.consumeBatch(options, ({ records }) => note(records.length))
    else yield* bus.consume(options, () => note(1))
    const last = yield* Deferred.await(done)
    const used = process.cpuUsage(cpu)
    return { rate: count / ((last - first) / 1000), cpuUs: (used.user + used.system) / count }
  }))

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

/** One record at a time through produce(), a consumer already running: end-to-end latency. */
const latency = (samples: number) =>
  Effect.scoped(Effect.gen(function*() {
    const bus = yield* MessageBus
    const topic = unique("bench-latency")
    yield* bus.ensureTopics([{ name: topic, partitions, deadLetter: false }])
    const delays = yield* Queue.unbounded<number>()
    const consumer = yield* bus.consume({ group: unique("bench-latency"), topics: [topic] }, (record) =>
      Queue.offer(delays, performance.now() - new DataView(record.value.buffer, record.value.byteOffset).getFloat64(0)))
    // wait until the group is joined, so the first samples do not include the join
    const warm = new Uint8Array(messageSize)
    new DataView(warm.buffer).setFloat64(0, performance.now())
    yield* consumer.changes.pipe(
      Stream.filter((s) =>
        s.assignments.length > 0
      ),
      Stream.runHead
    )
    yield* bus.produce({ topic, key: "warm", value: warm })
    yield* Queue.take(delays)
    for (let i = 0; i < samples; i++) {
      const value = new Uint8Array(messageSize)
      new DataView(value.buffer).setFloat64(0, performance.now())
      yield* bus.produce({ topic, key: symbols[i % symbols.length]!, value })
      // a real producer waits on I/O between records; without this the embedded bus's
      // consumer would only run when the producer loop gives up the thread
      yield* Effect.yieldNow()
    }
    const all = Chunk.toReadonlyArray(yield* Queue.takeBetween(delays, samples, samples)).slice().sort((a, b) => a - b)
    return { p50: percentile(all, 0.5), p99: percentile(all, 0.99) }
  }))

const once = (count: number, chunk: number, samples: number) =>
  Effect.gen(function*() {
    const bus = yield* MessageBus
    const topic = unique("bench")
    yield* bus.ensureTopics([{ name: topic, partitions, deadLetter: false }])
    const records = makeRecords(topic, count)
    const started = performance.now()
    const cpu = process.cpuUsage()
    for (let i = 0; i < count; i += chunk) yield* bus.produceBatch(records.slice(i, i + chunk))
    const used = process.cpuUsage(cpu)
    const produced = count / ((performance.now() - started) / 1000)
    const produceCpuUs = (used.user + used.system) / count
    if (produceOnly) {
      return { produced, produceCpuUs, consumeCpuUs: 0, consumedBatch: 0, consumedEach: 0, p50: 0, p99: 0 }
    }
    const consumed = yield* consumeRate(topic, count, true)
    const consumedEach = (yield* consumeRate(topic, count, false)).rate
    const { p50, p99 } = yield* latency(samples)
    return {
      produced,
      produceCpuUs,
      consumeCpuUs: consumed.cpuUs,
      consumedBatch: consumed.rate,
      consumedEach,
      p50,
      p99
    } satisfies Figures
  })

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const bench = <E>(name: string, layer: Layer.Layer<MessageBus, E>, count: number, chunk: number, samples: number) =>
  Effect.gen(function*() {
    const results: Array<Figures> = []
    for (let run = 1; run <= runs; run++) {
      // a fresh bus per run: the embedded one keeps every record in memory
      const figures = yield* once(count, chunk, samples).pipe(Effect.provide(layer))
      console.error(
        `${name} run ${run}: produce ${figures.produced.toFixed(0)}/s (${
          figures.produceCpuUs.toFixed(1)
        } µs CPU/msg), consume batch ${figures.consumedBatch.toFixed(0)}/s (${
          figures.consumeCpuUs.toFixed(1)
        } µs CPU/msg), each ${figures.consumedEach.toFixed(0)}/s, p50 ${figures.p50.toFixed(2)} ms, p99 ${
          figures.p99.toFixed(2)
        } ms`
      )
      results.push(figures)
    }
    return {
      name,
      count,
      produced: median(results.map((r) => r.produced)),
      produceCpuUs: median(results.map((r) => r.produceCpuUs)),
      consumeCpuUs: median(results.map((r) => r.consumeCpuUs)),
      consumedBatch: median(results.map((r) => r.consumedBatch)),
      consumedEach: median(results.map((r) => r.consumedEach)),
      p50: median(results.map((r) => r.p50)),
      p99: median(results.map((r) => r.p99))
    }
  })

const quiet = Logger.minimumLogLevel(LogLevel.Error)

const main = Effect.gen(function*() {
  const rows = []
  if (only === "all" || only === "embedded") {
    rows.push(yield* bench("embedded", EmbeddedBus.layer, Number(arg("embedded-messages", "1000000")), 5000, 2000))
  }
  if (only === "all" || only === "kafka") {
    rows.push(
      yield* bench(
        `kafka (${process.env.KAFKA_BROKERS ?? "127.0.0.1:9092"})`,
        KafkaBus.layer,
        Number(arg("kafka-messages", "300000")),
        50000,
        1000
      )
    )
  }
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US")
  console.log(
    `\nMessageBus benchmark: ${messageSize}-byte messages, ${partitions} partitions, median of ${runs} runs\n`
  )
  console.log(
    "| implementation | messages | produce msg/s | produce CPU µs/msg | consume msg/s (batch handler) | consume CPU µs/msg | consume msg/s (per-record handler) | latency p50 ms | latency p99 ms |"
  )
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${fmt(r.count)} | ${fmt(r.produced)} | ${r.produceCpuUs.toFixed(1)} | ${fmt(r.consumedBatch)} | ${
        r.consumeCpuUs.toFixed(1)
      } | ${fmt(r.consumedEach)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} |`
    )
  }
})

Effect.runPromise(main.pipe(Effect.provide(quiet))).catch((error) => {
  console.error(error)
  process.exit(1)
})
