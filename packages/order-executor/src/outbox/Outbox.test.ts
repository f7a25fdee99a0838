import { SqliteClient } from "@effect/sql-sqlite-node"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Outbox from "./Outbox.js"

const tempDb = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "outbox-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => join(dir, "outbox.db")))

// Opens the outbox on a real SQLite file; closing the scope closes the connection.
const open = (filename: string) =>
  Layer.build(Outbox.layer.pipe(Layer.provide(SqliteClient.layer({ filename })))).pipe(
    Effect.map((ctx) => Context.get(ctx, Outbox.Outbox))
  )

const message = (n: number): Outbox.OutboxMessage => ({
  eventId: `evt-${n}`,
  orderId: `ord-${n}`,
  topic: "orders.events",
  key: `ord-${n}`,
  payload: new Uint8Array([n, 1, 2, 3]),
  headers: { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" }
})

const position = (partition: number, nextOffset: string): Outbox.ConsumedPosition => ({
  topic: "orders.commands",
  partition,
  nextOffset
})

describe("Outbox (real SQLite file)", () => {
  it.scoped("is idempotent by event id", () =>
    Effect.gen(function*() {
      const outbox = yield* open(yield* tempDb)
      expect(yield* outbox.record([message(1), message(2)], [position(0, "2")], 1_000)).toBe(2)
      expect(yield* outbox.record([message(2), message(3)], [position(0, "3")], 1_001)).toBe(1)
      const pending = yield* outbox.pending(10)
      expect(pending.map((m) => m.eventId)).toEqual(["evt-1", "evt-2", "evt-3"])
      expect(pending[0]!.payload).toEqual(new Uint8Array([1, 1, 2, 3]))
      expect(pending[0]!.headers).toEqual(message(1).headers)
    }))

  it.scoped("writes rows and positions atomically: a failed transaction leaves neither", () =>
    Effect.gen(function*() {
      const outbox = yield* open(yield* tempDb)
      yield* outbox.record([message(1)], [position(0, "1")], 1_000)
      // a NOT NULL violation in the position makes the whole transaction roll back
      const broken = { topic: "orders.commands", partition: 1, nextOffset: null as unknown as string }
      const result = yield* outbox.record([message(2)], [broken], 1_001).pipe(Effect.either)
      expect(result._tag).toBe("Left")
      expect((yield* outbox.pending(10)).map((m) => m.eventId)).toEqual(["evt-1"])
      expect(yield* outbox.positions("orders.commands")).toEqual([position(0, "1")])
    }))

  it.scoped("survives closing and reopening the file", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      yield* Effect.scoped(Effect.flatMap(open(filename), (o) => o.record([message(7)], [position(2, "8")], 5)))
      const reopened = yield* open(filename)
      expect((yield* reopened.pending(10)).map((m) => m.eventId)).toEqual(["evt-7"])
      expect(yield* reopened.positions("orders.commands")).toEqual([position(2, "8")])
    }))

  it.scoped("marks rows published and reports lag", () =>
    Effect.gen(function*() {
      const outbox = yield* open(yield* tempDb)
      yield* outbox.record([message(1), message(2), message(3)], [], 100)
      expect(yield* outbox.lag).toEqual({ pending: 3, oldestPendingAt: Option.some(100) })
      const [first] = yield* outbox.pending(1)
      yield* outbox.markPublished([first!.seq], 200)
      expect(yield* outbox.markPublishedByEventId(["evt-3", "evt-unknown"], 200)).toBe(1)
      expect((yield* outbox.pending(10)).map((m) => m.eventId)).toEqual(["evt-2"])
      expect((yield* outbox.lag).pending).toBe(1)
    }))

  it.scoped("looks up an order's outcome whether or not it was published", () =>
    Effect.gen(function*() {
      const outbox = yield* open(yield* tempDb)
      yield* outbox.record([message(4)], [], 1)
      expect(Option.map(yield* outbox.findByOrderId("ord-4"), (m) => m.eventId)).toEqual(Option.some("evt-4"))
      expect(yield* outbox.findByOrderId("ord-404")).toEqual(Option.none())
    }))

  it.scoped("prunes only published rows past retention, keeping the newest ones", () =>
    Effect.gen(function*() {
      const outbox = yield* open(yield* tempDb)
      yield* outbox.record([1, 2, 3, 4, 5].map(message), [], 0)
      const rows = yield* outbox.pending(10)
      yield* outbox.markPublished(rows.slice(0, 4).map((r) => r.seq), 1_000) // evt-5 stays pending
      // at t=10_000 everything published is older than 5 s; the newest published one is kept
      const removed = yield* outbox.prune({ retainPublishedMs: 5_000, keepPublished: 1 }, 10_000)
      expect(removed).toBe(3)
      expect(Option.isSome(yield* outbox.findByOrderId("ord-4"))).toBe(true)
      expect(Option.isNone(yield* outbox.findByOrderId("ord-1"))).toBe(true)
      expect((yield* outbox.pending(10)).map((m) => m.eventId)).toEqual(["evt-5"])
    }))

  it.scoped("remembers the event ids of pruned rows so a replayed message is not written again", () =>
    Effect.gen(function*() {
      const outbox = yield* open(yield* tempDb)
      yield* outbox.record([message(1)], [], 0)
      yield* outbox.markPublished((yield* outbox.pending(10)).map((r) => r.seq), 1_000)
      expect(yield* outbox.prune({ retainPublishedMs: 0, keepPublished: 0, rememberIdsMs: 60_000 }, 2_000)).toBe(1)
      expect(yield* outbox.wasPublished("evt-1")).toBe(true)
      expect(yield* outbox.record([message(1)], [], 3_000)).toBe(0)
      // after rememberIdsMs the id is forgotten (the registry answers too_old by then)
      yield* outbox.prune({ retainPublishedMs: 0, keepPublished: 0, rememberIdsMs: 60_000 }, 62_000)
      expect(yield* outbox.wasPublished("evt-1")).toBe(false)
    }))

  it.scoped("refuses a second opener of the same file while the first holds it", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      yield* open(filename)
      // the client throws while opening (after SQLite's busy timeout): a defect, not a failure
      const second = yield* Effect.scoped(open(filename)).pipe(Effect.exit)
      expect(Exit.isFailure(second) && Cause.pretty(second.cause)).toMatch(/database is locked/)
    }))
})
