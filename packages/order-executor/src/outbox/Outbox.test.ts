import { describe, expect, it } from "@effect/vitest"
import { OrderEvent } from "@trading/domain"
import Database from "better-sqlite3"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Outbox from "./Outbox.js"
import * as Schema from "./schema.js"

const tempDb = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "outbox-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
).pipe(Effect.map((dir) => join(dir, "outbox.db")))

// Opens the outbox on a real SQLite file; closing the scope closes the connection.
const open = (filename: string) =>
  Layer.build(Outbox.layer(filename)).pipe(
    Effect.map((ctx) => Context.get(ctx, Outbox.Outbox))
  )

const message = (n: number): Outbox.OutboxMessage => ({
  registryIndex: 100 + n,
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
      expect(
        yield* outbox.markPublishedByKey([
          { registryIndex: 103, eventId: "evt-3" },
          { registryIndex: 104, eventId: "evt-unknown" },
          { registryIndex: 101, eventId: "evt-3" } // another key: not this row
        ], 200)
      ).toBe(1)
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
      expect(yield* outbox.wasPublished({ registryIndex: 101, eventId: "evt-1" })).toBe(true)
      expect(yield* outbox.record([message(1)], [], 3_000)).toBe(0)
      // no orders for days (the wall clock goes on, the orders' clock does not): the registry
      // still holds the order, so the key stays and a replay is still not written again
      yield* outbox.prune({ retainPublishedMs: 0, keepPublished: 0, rememberIdsMs: 60_000 }, 3 * 86_400_000)
      expect(yield* outbox.wasPublished({ registryIndex: 101, eventId: "evt-1" })).toBe(true)
      expect(yield* outbox.record([message(1)], [], 3 * 86_400_000)).toBe(0)
      // orders flow again: once a round is rememberIdsMs past the key, the id is forgotten
      // (the registry answers too_old by then)
      yield* outbox.record([message(2)], [], 3 * 86_400_000)
      yield* outbox.markPublished((yield* outbox.pending(10)).map((r) => r.seq), 3 * 86_400_000)
      yield* outbox.prune({ retainPublishedMs: 0, keepPublished: 0, rememberIdsMs: 60_000 }, 3 * 86_400_000)
      expect(yield* outbox.wasPublished({ registryIndex: 101, eventId: "evt-1" })).toBe(false)
    }))

  it.scoped("refuses a file written by a newer build, naming both schema versions", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      const db = new Database(filename)
      db.pragma(`user_version = ${Schema.version + 1}`)
      db.close()
      const exit = yield* Effect.scoped(open(filename)).pipe(Effect.exit)
      expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain(
        `outbox schema version ${Schema.version + 1} is newer than this build's (${Schema.version})`
      )
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

const keyOf = (n: number): Outbox.EventKey => ({ registryIndex: 100 + n, eventId: `evt-${n}` })
const seqsOf = (rows: ReadonlyArray<Outbox.StoredMessage>) => rows.map((r) => r.seq)

describe("Outbox publish progress (a watermark and rows found ahead of it)", () => {
  it.scoped("rows found on the topic ahead of the relay are skipped, and the watermark moves over them", () =>
    Effect.gen(function*() {
      const outbox = yield* open(yield* tempDb)
      yield* outbox.record([1, 2, 3, 4, 5].map(message), [], 100)
      expect(yield* outbox.markPublishedByKey([keyOf(3)], 200)).toBe(1)
      expect(yield* outbox.markPublishedByKey([keyOf(3)], 201)).toBe(0) // already marked
      expect((yield* outbox.pending(10)).map((m) => m.eventId)).toEqual(["evt-1", "evt-2", "evt-4", "evt-5"])
      const [first, second] = yield* outbox.pending(10)
      yield* outbox.markPublished([first!.seq], 300)
      yield* outbox.markPublished([second!.seq], 300) // the watermark passes evt-3 too
      expect((yield* outbox.pending(10)).map((m) => m.eventId)).toEqual(["evt-4", "evt-5"])
      expect((yield* outbox.lag).pending).toBe(2)
      for (const n of [1, 2, 3]) expect(yield* outbox.wasPublished(keyOf(n))).toBe(true)
      expect(yield* outbox.wasPublished(keyOf(4))).toBe(false)
      // a set that is not a prefix of what is pending: the first of them waits, the rest are marked
      const rest = yield* outbox.pending(10)
      yield* outbox.markPublished([rest[1]!.seq], 400)
      expect((yield* outbox.pending(10)).map((m) => m.eventId)).toEqual(["evt-4"])
      yield* outbox.markPublished(seqsOf(rest), 500)
      expect(yield* outbox.lag).toEqual({ pending: 0, oldestPendingAt: Option.none() })
    }))

  it.scoped("keeps its progress across a reopen", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      yield* Effect.scoped(Effect.gen(function*() {
        const outbox = yield* open(filename)
        yield* outbox.record([1, 2, 3].map(message), [], 100)
        yield* outbox.markPublishedByKey([keyOf(3)], 150)
        yield* outbox.markPublished(seqsOf(yield* outbox.pending(1)), 200)
      }))
      const reopened = yield* open(filename)
      expect((yield* reopened.pending(10)).map((m) => m.eventId)).toEqual(["evt-2"])
      yield* reopened.record([message(4)], [], 300)
      expect((yield* reopened.pending(10)).map((m) => m.eventId)).toEqual(["evt-2", "evt-4"])
    }))

  it.scoped("prunes by the time of the publish round, remembering the keys it deletes", () =>
    Effect.gen(function*() {
      const outbox = yield* open(yield* tempDb)
      expect(yield* outbox.prune({ retainPublishedMs: 0, keepPublished: 0 }, 1)).toBe(0) // nothing published yet
      yield* outbox.record([1, 2, 3, 4].map(message), [], 0)
      const rows = yield* outbox.pending(10)
      yield* outbox.markPublished(seqsOf(rows.slice(0, 2)), 1_000)
      yield* outbox.markPublished(seqsOf(rows.slice(2, 3)), 2_000)
      // at 2,200, with 500 ms of retention: the first round only
      expect(yield* outbox.prune({ retainPublishedMs: 500, keepPublished: 0 }, 2_200)).toBe(2)
      expect(Option.isNone(yield* outbox.findByOrderId("ord-1"))).toBe(true)
      expect(Option.isSome(yield* outbox.findByOrderId("ord-3"))).toBe(true)
      expect(yield* outbox.wasPublished(keyOf(1))).toBe(true)
      expect(yield* outbox.record([message(1)], [], 2_300)).toBe(0) // remembered: not written again
      // the next round goes later; the pending row never
      expect(yield* outbox.prune({ retainPublishedMs: 500, keepPublished: 0 }, 9_000)).toBe(1)
      expect((yield* outbox.pending(10)).map((m) => m.eventId)).toEqual(["evt-4"])
      // forgotten after rememberIdsMs, measured from the publish time to the newest round
      // (2,000 here, however late the wall clock)
      yield* outbox.prune({ retainPublishedMs: 500, keepPublished: 0, rememberIdsMs: 7_500 }, 9_000)
      expect(yield* outbox.wasPublished(keyOf(1))).toBe(true)
      yield* outbox.prune({ retainPublishedMs: 500, keepPublished: 0, rememberIdsMs: 500 }, 9_000)
      expect(yield* outbox.wasPublished(keyOf(1))).toBe(false)
      expect(yield* outbox.wasPublished(keyOf(3))).toBe(true)
    }))

  it.scoped("keeps the newest published rows, counting the ones found ahead of the watermark", () =>
    Effect.gen(function*() {
      const outbox = yield* open(yield* tempDb)
      yield* outbox.record([1, 2, 3, 4].map(message), [], 0)
      yield* outbox.markPublishedByKey([keyOf(4)], 500)
      const rows = yield* outbox.pending(2)
      yield* outbox.markPublished(seqsOf(rows), 1_000) // 1 and 2 below the watermark, 4 ahead, 3 pending
      expect(yield* outbox.prune({ retainPublishedMs: 0, keepPublished: 2 }, 5_000)).toBe(1)
      expect(Option.isNone(yield* outbox.findByOrderId("ord-1"))).toBe(true)
      expect(Option.isSome(yield* outbox.findByOrderId("ord-2"))).toBe(true)
      expect(yield* outbox.prune({ retainPublishedMs: 0, keepPublished: 3 }, 5_000)).toBe(0)
    }))

  it.scoped("finds an order by key, and by order id alone across many time buckets", () =>
    Effect.gen(function*() {
      const outbox = yield* open(yield* tempDb)
      // one row every 100 ms over about 20 minutes: thousands of buckets, several walk steps
      for (let n = 0; n < 12_000; n += 100) {
        yield* outbox.record(
          Array.from({ length: 100 }, (_, i) => message(n + i)),
          [],
          1_760_000_000_000 + (n + 0) * 100
        )
      }
      expect(Option.map(yield* outbox.findByKey(keyOf(5)), (m) => m.orderId)).toEqual(Option.some("ord-5"))
      expect(yield* outbox.findByKey({ registryIndex: 1, eventId: "evt-5" })).toEqual(Option.none())
      for (const n of [0, 5_000, 11_999]) {
        expect(Option.map(yield* outbox.findByOrderId(`ord-${n}`), (m) => m.eventId)).toEqual(Option.some(`evt-${n}`))
      }
      expect(yield* outbox.findByOrderId("ord-none")).toEqual(Option.none())
    }))
})

describe("Outbox schema", () => {
  // a version 2 file as the executor left it: rows published or not (one found ahead of the
  // relay), a pruned row at the top of the sequence, a pruned event id remembered
  const versionTwo = (filename: string) => {
    const db = new Database(filename)
    Schema.migrate(db, 2)
    const insert = db.prepare(
      `INSERT INTO outbox (seq, event_id, order_id, topic, msg_key, payload, headers, created_at, published_at)
       VALUES (?, ?, ?, 'orders.events', ?, ?, '{}', ?, ?)`
    )
    const event = (n: number) =>
      OrderEvent.toBytes({
        schemaVersion: 1,
        eventId: `evt-${n}`,
        orderId: `ord-${n}`,
        commandId: `cmd-${n}`,
        symbol: "ACME",
        side: "BUY",
        quantity: 1,
        limitPriceMicros: 5,
        status: "EXECUTED",
        reason: "",
        filledQuantity: 1,
        fillPriceMicros: 5,
        registryIndex: 100 + n,
        occurredAtUnixMs: 1_760_000_000_000
      })
    const published = [1_000, 2_000, null, 2_500, null, 3_000]
    published.forEach((at, i) =>
      insert.run(i + 1, `evt-${i + 1}`, `ord-${i + 1}`, `ord-${i + 1}`, event(i + 1), 10, at)
    )
    db.prepare("DELETE FROM outbox WHERE seq = 6").run()
    db.prepare("INSERT INTO published_ids (event_id, published_at) VALUES ('evt-old', ?)").run(Date.now())
    db.close()
  }

  it.scoped("upgrades a version 2 file: rows, publish progress, the sequence and remembered ids carry over", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      versionTwo(filename)
      const outbox = yield* open(filename)
      expect((yield* outbox.pending(10)).map((m) => [m.seq, m.eventId, m.registryIndex])).toEqual([
        [3, "evt-3", 103],
        [5, "evt-5", 105]
      ])
      for (const n of [1, 2, 4]) expect(yield* outbox.wasPublished(keyOf(n))).toBe(true)
      expect(yield* outbox.wasPublished(keyOf(3))).toBe(false)
      expect(Option.map(yield* outbox.findByOrderId("ord-2"), (m) => m.eventId)).toEqual(Option.some("evt-2"))
      expect(yield* outbox.record([{ ...message(0), eventId: "evt-old" }], [], 20)).toBe(0)
      yield* outbox.record([message(7)], [], 20)
      expect(seqsOf(yield* outbox.pending(10))).toEqual([3, 5, 7]) // never 6 again
      // rounds from the old publish times: 1 and 2 are older than 2,100
      expect(yield* outbox.prune({ retainPublishedMs: 900, keepPublished: 0 }, 3_000)).toBe(2)
      yield* outbox.markPublished([3, 5, 7], 4_000)
      expect((yield* outbox.lag).pending).toBe(0)
    }))

  it.scoped("every statement reads through an index: no table scan on the write or publish path", () =>
    Effect.gen(function*() {
      const filename = yield* tempDb
      yield* Effect.scoped(Effect.flatMap(open(filename), (o) => o.record([1, 2, 3].map(message), [], 5)))
      const db = new Database(filename)
      const scans: Array<string> = []
      const plan = (name: string, sql: string) => {
        const params = (sql.match(/\?/g) ?? []).map(() => 1)
        const named = /@id/.test(sql) ? [{ id: "x", index: 1, hi: 1, lo: 1 }] : params
        for (const row of db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...named) as Array<{ detail: string }>) {
          // the small bookkeeping table of rows found ahead may be scanned; outbox tables never
          if (/^SCAN (outbox|o|published_keys|published_ids|published_through|t|p|l)\b/.test(row.detail)) {
            scans.push(`${name}: ${row.detail}`)
          }
        }
      }
      for (const [name, sql] of Object.entries(Outbox.Sql)) {
        if (typeof sql === "string") plan(name, sql)
      }
      plan("insert", Outbox.Sql.insert(4))
      db.close()
      expect(scans).toEqual([])
    }))
})

describe("Outbox pending rows under any sequence of writes and marks", () => {
  // Model: rows in insert order (a key once), and which are published. Whatever path
  // `pending` takes (the rows just committed, or the file), it must answer the model's rows.
  type Op =
    | { readonly _tag: "record"; readonly ns: ReadonlyArray<number> }
    | { readonly _tag: "relay"; readonly take: number }
    | { readonly _tag: "mark"; readonly picks: ReadonlyArray<number> }
    | { readonly _tag: "scan"; readonly ns: ReadonlyArray<number> }
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      _tag: fc.constant("record" as const),
      ns: fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 8 })
    }),
    fc.record({ _tag: fc.constant("relay" as const), take: fc.integer({ min: 1, max: 6 }) }),
    fc.record({ _tag: fc.constant("mark" as const), picks: fc.array(fc.nat(), { maxLength: 4 }) }),
    fc.record({ _tag: fc.constant("scan" as const), ns: fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 4 }) })
  )

  it.scoped("a mark that is not a prefix of the pending rows marks them ahead, also for rows just committed", () =>
    Effect.gen(function*() {
      // found by the model below: the rows just committed answered `pending` from memory
      // after one of them was marked ahead in the file
      const outbox = yield* open(yield* tempDb)
      yield* outbox.record([17, 18, 30].map(message), [], 1_000)
      const rows = yield* outbox.pending(10)
      yield* outbox.markPublished([rows[2]!.seq], 1_001)
      expect((yield* outbox.pending(10)).map((m) => m.eventId)).toEqual(["evt-17", "evt-18"])
      expect((yield* outbox.lag).pending).toBe(2)
      yield* outbox.markPublished(seqsOf(yield* outbox.pending(10)), 1_002)
      expect(yield* outbox.pending(10)).toEqual([])
    }))

  it.scoped("answers exactly the rows not yet published, in seq order", () =>
    Effect.gen(function*() {
      const runs = fc.sample(fc.array(op, { minLength: 1, maxLength: 30 }), 60)
      for (const ops of runs) {
        yield* Effect.scoped(Effect.gen(function*() {
          const outbox = yield* open(yield* tempDb)
          const rows: Array<number> = []
          const published = new Set<number>()
          const expected = () => rows.filter((n) => !published.has(n)).map((n) => `evt-${n}`)
          let now = 1_000
          for (const o of ops) {
            now++
            switch (o._tag) {
              case "record": {
                yield* outbox.record(o.ns.map(message), [], now)
                for (const n of o.ns) if (!rows.includes(n)) rows.push(n)
                break
              }
              case "relay": {
                const batch = yield* outbox.pending(o.take)
                yield* outbox.markPublished(batch.map((m) => m.seq), now)
                for (const m of batch) published.add(Number(m.eventId.slice(4)))
                break
              }
              case "mark": {
                const all = yield* outbox.pending(100)
                const chosen = o.picks.filter((i) => i < all.length).map((i) => all[i]!)
                yield* outbox.markPublished(chosen.map((m) => m.seq), now)
                for (const m of chosen) published.add(Number(m.eventId.slice(4)))
                break
              }
              case "scan": {
                yield* outbox.markPublishedByKey(o.ns.map(keyOf), now)
                for (const n of o.ns) if (rows.includes(n)) published.add(n)
                break
              }
            }
            // the operations in the message: a failing sample can be replayed
            expect((yield* outbox.pending(1_000)).map((m) => m.eventId), JSON.stringify(ops)).toEqual(expected())
            expect((yield* outbox.lag).pending, JSON.stringify(ops)).toBe(expected().length)
          }
        }))
      }
    }))
})
