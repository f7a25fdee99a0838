// The processor core on a real SQLite file and the embedded bus: determinism, restart from
// the stored state, a crash between producing and storing, and poison records.
import { describe, expect, it } from "@effect/vitest"
import { EmbeddedBus, MessageBus } from "@trading/bus"
import type { ConsumedRecord } from "@trading/bus"
import * as OrderCommand from "@trading/domain/OrderCommand"
import * as Tick from "@trading/domain/Tick"
import { Health, ServerConfig } from "@trading/platform"
import Database from "better-sqlite3"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Queue from "effect/Queue"
import * as Ref from "effect/Ref"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as TestTicks from "./internal/testTicks.js"
import * as StateStoreModule from "./StateStore.js"
import { StateStore } from "./StateStore.js"
import { ProcessorCoreLive, SqliteLive, TopicsLive } from "./StreamProcessorLive.js"
import * as TickProcessorModule from "./TickProcessor.js"
import { TickProcessor } from "./TickProcessor.js"

const platform = Layer.mergeAll(Health.layer, Logger.minimumLogLevel(LogLevel.Error)).pipe(
  Layer.provideMerge(ServerConfig.ServerConfig.layerTest())
)

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "processor-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const env = (stateFile: string) =>
  ConfigProvider.fromMap(
    new Map([["PROCESSOR_STATE_FILE", stateFile], ["TICKS_TOPIC", "ticks"], ["COMMANDS_TOPIC", "commands"]])
  )

/** A processor core on its own embedded bus and `stateFile`, until the scope closes. */
const core = (stateFile: string, storeOverride?: (store: StateStore["Type"]) => StateStore["Type"]) =>
  Effect.gen(function*() {
    const layer = storeOverride === undefined
      ? ProcessorCoreLive
      : TickProcessorModule.layer.pipe(
        Layer.provideMerge(Layer.scoped(StateStore, Effect.map(StateStoreModule.make, storeOverride))),
        Layer.provide(SqliteLive),
        Layer.provideMerge(TopicsLive)
      )
    const context = yield* Layer.build(layer.pipe(Layer.provideMerge(EmbeddedBus.layer), Layer.provideMerge(platform)))
      .pipe(Effect.withConfigProvider(env(stateFile)))
    return context
  })

/** Every command produced on the `commands` topic of the context's bus, in arrival order. */
const commandsOf = (context: Context.Context<MessageBus>) =>
  Effect.gen(function*() {
    const bus = Context.get(context, MessageBus)
    const queue = yield* Queue.unbounded<OrderCommand.OrderCommand>()
    yield* bus.consume({ group: "test-tail", topics: ["commands"] }, (record) =>
      Queue.offer(
        queue,
        Either.getOrThrowWith(
          OrderCommand.fromBytes(record.value),
          (e) => new Error(e.message + " " + Buffer.from(record.value).toString("hex"))
        )
      ))
    return queue
  })

const recordsOf = (ticks: ReadonlyArray<Tick.Tick>, partition = 0, from = 0): Array<ConsumedRecord> =>
  ticks.map((tick, i) => ({
    topic: "ticks",
    partition,
    offset: from + i,
    key: new TextEncoder().encode(tick.symbol),
    value: Tick.toBytes(tick),
    headers: {},
    timestamp: 0
  }))

/** `n` commands from the tail, sorted by command id (the commands topic's partitions interleave). */
const drain = (queue: Queue.Queue<OrderCommand.OrderCommand>, n: number) =>
  Effect.map(
    Queue.takeBetween(queue, n, n),
    (c) => [...c].sort((a, b) => a.commandId < b.commandId ? -1 : a.commandId > b.commandId ? 1 : 0)
  )

/** The commands of `processor` for ticks handled so far, given how many there must be. */
const emitted = (processor: TickProcessor["Type"]) =>
  Effect.gen(function*() {
    let total = 0
    for (const symbol of ["ACME", "GLOBEX"]) {
      const state = yield* processor.symbolState(symbol)
      if (state._tag === "Some") total += state.value.commandsEmitted
    }
    return total
  })

/** The commands an uninterrupted processor produces for `ticks` in one partition. */
const reference = (ticks: ReadonlyArray<Tick.Tick>, stateFile: string) =>
  Effect.scoped(Effect.gen(function*() {
    const context = yield* core(stateFile)
    const processor = Context.get(context, TickProcessor)
    const produced = yield* commandsOf(context)
    yield* processor.handleBatch({ topic: "ticks", partition: 0, records: recordsOf(ticks) })
    return yield* drain(produced, yield* emitted(processor))
  }))

const key = (c: OrderCommand.OrderCommand) =>
  `${c.commandId}|${c.orderId}|${c.side}|${c.quantity}|${c.limitPriceMicros}`

describe("TickProcessor", () => {
  const ticks = TestTicks.wave(["ACME", "GLOBEX"], 120)

  it.live("the same ticks give the same commands, ids included, on another processor", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const a = yield* reference(ticks, join(dir, "a.sqlite"))
      const b = yield* reference(ticks, join(dir, "b.sqlite"))
      expect(a.length).toBeGreaterThan(10)
      expect(a.some((c) => c.side === "BUY") && a.some((c) => c.side === "SELL")).toBe(true)
      expect(b).toEqual(a)
    }).pipe(Effect.scoped))

  it.live("a restarted processor continues from its stored state and skips what the state covers", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const expected = yield* reference(ticks, join(dir, "ref.sqlite"))
      const file = join(dir, "restart.sqlite")
      const records = recordsOf(ticks)
      const firstRun = yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* core(file)
        const processor = Context.get(context, TickProcessor)
        const produced = yield* commandsOf(context)
        yield* processor.handleBatch({ topic: "ticks", partition: 0, records: records.slice(0, 100) })
        return yield* drain(produced, yield* emitted(processor))
      }))
      // "restart": a new process on the same file; Kafka redelivers from an older offset (60)
      const secondRun = yield* Effect.scoped(Effect.gen(function*() {
        const context = yield* core(file)
        const processor = Context.get(context, TickProcessor)
        expect(yield* processor.positions).toEqual(new Map([[0, 100]]))
        const produced = yield* commandsOf(context)
        yield* processor.handleBatch({ topic: "ticks", partition: 0, records: records.slice(60) })
        const before = firstRun.length
        return yield* drain(produced, (yield* emitted(processor)) - before)
      }))
      // nothing was decided twice, nothing skipped, nothing changed
      expect([...firstRun, ...secondRun].map(key).sort()).toEqual(expected.map(key).sort())
    }).pipe(Effect.scoped))

  it.live("a crash after producing but before storing replays identical commands from the old state", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const expected = yield* reference(ticks, join(dir, "ref.sqlite"))
      const records = recordsOf(ticks)
      const saves = yield* Ref.make(0)
      // the second save fails, as if the process died right after producing that batch
      const context = yield* core(join(dir, "crash.sqlite"), (store) => ({
        ...store,
        save: (...args) =>
          Effect.flatMap(
            Ref.updateAndGet(saves, (n) => n + 1),
            (n) => n === 2 ? Effect.die("crash before the SQLite commit") : store.save(...args)
          )
      }))
      const processor = Context.get(context, TickProcessor)
      const produced = yield* commandsOf(context)
      yield* processor.handleBatch({ topic: "ticks", partition: 0, records: records.slice(0, 50) })
      const crashed = yield* Effect.exit(
        processor.handleBatch({ topic: "ticks", partition: 0, records: records.slice(50, 100) })
      )
      expect(crashed._tag).toBe("Failure")
      // redelivery from the committed offset: the same batch again, then the rest
      yield* processor.handleBatch({ topic: "ticks", partition: 0, records: records.slice(50) })
      expect(yield* emitted(processor)).toBe(expected.length)
      // the crashed batch's commands were produced twice: once before the crash, once on redelivery
      const crashedTicks = new Set(ticks.slice(50, 100).map((t) => t.tickId))
      const duplicates = expected.filter((c) => crashedTicks.has(c.sourceTickId)).length
      expect(duplicates).toBeGreaterThan(0)
      const list = yield* drain(produced, expected.length + duplicates)
      // at least once: duplicates exist, but each is identical to the uninterrupted run's command
      const distinct = [...new Map(list.map((c) => [c.commandId, c])).values()]
      expect(new Set(distinct.map(key))).toEqual(new Set(expected.map(key)))
    }).pipe(Effect.scoped))
})

describe("state file", () => {
  it.scoped("a file written by a newer build is refused at start, naming both schema versions", () =>
    Effect.gen(function*() {
      const stateFile = join(yield* tempDir, "state.db")
      const db = new Database(stateFile)
      db.pragma("user_version = 99")
      db.close()
      const exit = yield* Effect.exit(Effect.scoped(core(stateFile)))
      expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toMatch(
        /state file schema version 99 is newer than this build's/
      )
    }))
})
