import { describe, expect, it } from "@effect/vitest"
import {
  OrderRecord as ProtoOrderRecord,
  ReadResponse,
  RecordOrdersRequest,
  RecordOrdersResponse
} from "@trading/proto/gen/trading/v1/raft_node"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Arb from "./internal/arbitraries.js"
import * as OrderRecord from "./OrderRecord.js"
import * as OrderRegistry from "./OrderRegistry.js"

const T = 1_760_000_000_000

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => Uint8Array.from(parts.flatMap((part) => [...part]))

const record = (orderId: string, at: number, status: "EXECUTED" | "REJECTED" = "EXECUTED"): OrderRecord.OrderRecord =>
  status === "EXECUTED"
    ? {
      orderId,
      eventId: `evt-${orderId}`,
      commandId: `cmd-${orderId}`,
      status,
      reason: "",
      filledQuantity: 5,
      fillPriceMicros: 100,
      recordedAtUnixMs: at
    }
    : {
      orderId,
      eventId: `evt-${orderId}-again`,
      commandId: `cmd-${orderId}-again`,
      status,
      reason: "max_notional: ...",
      filledQuantity: 0,
      fillPriceMicros: 0,
      recordedAtUnixMs: at
    }

const retention = (settings: Partial<OrderRegistry.Retention>) =>
  Either.getOrThrow(OrderRegistry.makeRetention(settings))

/** Applies batches at consecutive log indexes from 1; returns the final state and all outcomes. */
const applyAll = (
  batches: ReadonlyArray<ReadonlyArray<OrderRecord.OrderRecord>>,
  from: OrderRegistry.State,
  firstIndex = 1
) => {
  let state = from
  const outcomes: Array<OrderRecord.RecordOutcome> = []
  batches.forEach((batch, i) => {
    const [next, out] = OrderRegistry.applyRecords(state, batch, firstIndex + i)
    state = next
    outcomes.push(...out)
  })
  return [state, outcomes] as const
}

// Batches of records over a small pool of order ids. An order's logical time is fixed
// with its id (as the strategy and the executor derive both from the same tick), but
// arrival order is random, so inserts are not in time order.
const history = fc.tuple(
  fc.array(fc.integer({ min: 0, max: 30_000 }), { minLength: 31, maxLength: 31 }),
  fc.array(
    fc.array(fc.record({ id: fc.integer({ min: 0, max: 30 }), rejected: fc.boolean() }), {
      minLength: 1,
      maxLength: 5
    }),
    { maxLength: 40 }
  )
).map(([times, batches]) =>
  batches.map((batch) =>
    batch.map(({ id, rejected }) => record(`ord-${id}`, T + times[id]!, rejected ? "REJECTED" : "EXECUTED"))
  )
)
const retentionArb = fc.record({
  maxOrders: fc.integer({ min: 1, max: 20 }),
  maxAgeMs: fc.integer({ min: 1, max: 20_000 })
})

describe("OrderRegistry", () => {
  it("first writer wins: a second record for an order answers the stored one", () => {
    const [state, [first]] = OrderRegistry.applyRecords(OrderRegistry.initial(), [record("ord-1", T)], 7)
    expect(first).toEqual({ record: record("ord-1", T), created: true, index: 7, tooOld: false })
    const [after, [second]] = OrderRegistry.applyRecords(state, [record("ord-1", T, "REJECTED")], 8)
    expect(second).toEqual({ record: record("ord-1", T), created: false, index: 7, tooOld: false })
    expect(OrderRegistry.lookup(after, "ord-1")).toEqual(Option.some({ record: record("ord-1", T), index: 7 }))
    expect(OrderRegistry.lookup(after, "ord-2")).toEqual(Option.none())
    expect(OrderRegistry.size(after)).toBe(1)
  })

  it("answers lookups as bytes for the state machine's query", () => {
    const [state] = OrderRegistry.applyRecords(OrderRegistry.initial(), [record("a", T)], 5)
    expect(OrderRegistry.decodeQueryResult(OrderRegistry.query(state, OrderRegistry.encodeQuery("a")))).toEqual(
      Either.right(Option.some({ record: record("a", T), index: 5 }))
    )
    expect(OrderRegistry.decodeQueryResult(OrderRegistry.query(state, OrderRegistry.encodeQuery("b")))).toEqual(
      Either.right(Option.none())
    )
  })

  it("records a batch in one command, duplicates inside the batch included", () => {
    const [state, outcomes] = OrderRegistry.applyRecords(OrderRegistry.initial(), [
      record("a", T),
      record("b", T + 1),
      record("a", T + 2, "REJECTED")
    ], 4)
    expect(outcomes.map((o) => [o.record.orderId, o.record.status, o.created, o.index])).toEqual([
      ["a", "EXECUTED", true, 4],
      ["b", "EXECUTED", true, 4],
      ["a", "EXECUTED", false, 4]
    ])
    expect(OrderRegistry.size(state)).toBe(2)
  })

  it("evicts by age against the orders' own time and answers replays of evicted orders too_old", () => {
    const r = retention({ maxAgeMs: 1_000 })
    const [state] = applyAll([[record("old", T)], [record("new", T + 5_000)]], OrderRegistry.initial(r))
    expect(OrderRegistry.lookup(state, "old")).toEqual(Option.none())
    expect(state.horizonUnixMs).toBe(T)
    const [, outcomes] = OrderRegistry.applyRecords(state, [
      record("old", T), // evicted: must not be recorded (and executed) again
      record("late", T + 3_000), // older than clock - maxAge
      record("recent", T + 4_500)
    ], 3)
    expect(outcomes.map((o) => [o.record.orderId, o.created, o.tooOld, o.index])).toEqual([
      ["old", false, true, 0],
      ["late", false, true, 0],
      ["recent", true, false, 3]
    ])
  })

  it("evicts by count, oldest insert first, and refuses orders at or before the evicted ones' time", () => {
    const r = retention({ maxOrders: 2 })
    const [state] = applyAll([[record("a", T)], [record("b", T + 1)], [record("c", T + 2)]], OrderRegistry.initial(r))
    expect(OrderRegistry.size(state)).toBe(2)
    expect(Option.isNone(OrderRegistry.lookup(state, "a"))).toBe(true)
    expect(state.horizonUnixMs).toBe(T)
    const [, outcomes] = OrderRegistry.applyRecords(state, [record("a", T), record("z", T), record("d", T + 3)], 4)
    expect(outcomes.map((o) => o.tooOld)).toEqual([true, true, false])
  })

  it("never gives an order two outcomes, and stays within its bounds, for any history and retention", () => {
    fc.assert(
      fc.property(history, retentionArb, (batches, settings) => {
        const [state, outcomes] = applyAll(batches, OrderRegistry.initial(retention(settings)))
        const canonical = new Map<string, OrderRecord.RecordOutcome>()
        for (const o of outcomes) {
          if (o.tooOld) {
            expect(o.created).toBe(false)
            continue
          }
          const seen = canonical.get(o.record.orderId)
          if (seen === undefined) {
            expect(o.created).toBe(true)
            canonical.set(o.record.orderId, o)
          } else {
            expect(o.created).toBe(false)
            expect([o.record, o.index]).toEqual([seen.record, seen.index])
          }
        }
        expect(OrderRegistry.size(state)).toBeLessThanOrEqual(settings.maxOrders)
      }),
      { numRuns: 300 }
    )
  })

  it("snapshots deterministically and restores a state that continues identically", () => {
    fc.assert(
      fc.property(history, retentionArb, fc.nat(), (batches, settings, cut) => {
        const at = cut % (batches.length + 1)
        const [middle] = applyAll(batches.slice(0, at), OrderRegistry.initial(retention(settings)))
        const bytes = OrderRegistry.snapshot(middle)
        expect(OrderRegistry.snapshot(applyAll(batches.slice(0, at), OrderRegistry.initial(retention(settings)))[0]))
          .toEqual(bytes)
        const restored = Either.getOrThrow(OrderRegistry.restore(bytes))
        expect(OrderRegistry.snapshot(restored)).toEqual(bytes)
        const [endRestored, afterRestore] = applyAll(batches.slice(at), restored, at + 1)
        const [endStraight, afterStraight] = applyAll(batches.slice(at), middle, at + 1)
        expect(afterRestore).toEqual(afterStraight)
        expect(OrderRegistry.snapshot(endRestored)).toEqual(OrderRegistry.snapshot(endStraight))
      }),
      { numRuns: 200 }
    )
  })

  it("a snapshot's parts are the whole snapshot, and stay so while the state moves on", () => {
    fc.assert(
      fc.property(
        history,
        retentionArb,
        fc.constantFrom(64, 256, 1024),
        (batches, settings, segmentBytes) => {
          // tiny segments: applying after the capture evicts entries, drops whole segments
          // and appends into the captured tail segment
          const half = Math.floor(batches.length / 2)
          const [middle] = applyAll(
            batches.slice(0, half),
            OrderRegistry.initial(retention(settings), { segmentBytes })
          )
          const captured = OrderRegistry.capture(middle)
          const whole = OrderRegistry.snapshot(
            applyAll(batches.slice(0, half), OrderRegistry.initial(retention(settings)))[0]
          )
          const parts = OrderRegistry.snapshotParts(captured)
          expect(concat(parts)).toEqual(whole)
          // views of the arena, not copies: as many parts as captured segments with entries, plus the header
          expect(parts.length).toBeLessThanOrEqual(1 + captured.entries.segments.length)
          // the runtime keeps applying while the parts are written: that must not leak into them
          const later = applyAll(batches.slice(half), middle, half + 1)[0]
          expect(concat(parts)).toEqual(whole)
          expect(OrderRegistry.snapshot(captured)).toEqual(whole)
          // and the state itself went on: it is the state of the whole history
          expect(OrderRegistry.snapshot(later)).toEqual(
            OrderRegistry.snapshot(applyAll(batches, OrderRegistry.initial(retention(settings)))[0])
          )
        }
      ),
      { numRuns: 200 }
    )
  })

  it("keeps the retention settings in the snapshot", () => {
    const state = OrderRegistry.initial(retention({ maxOrders: 3, maxAgeMs: 60_000 }))
    expect(Either.getOrThrow(OrderRegistry.restore(OrderRegistry.snapshot(state))).retention).toEqual({
      maxOrders: 3,
      maxAgeMs: 60_000
    })
  })

  it("the bytes form answers what the typed form answers, in generated-protobuf encoding", () => {
    fc.assert(
      fc.property(fc.array(fc.array(Arb.orderRecord, { maxLength: 4 }), { maxLength: 8 }), (batches) => {
        let typed = OrderRegistry.initial()
        let bytes = OrderRegistry.initial()
        batches.forEach((batch, i) => {
          const [nextTyped, outcomes] = OrderRegistry.applyRecords(typed, batch, i + 1)
          const [nextBytes, result] = OrderRegistry.apply(bytes, OrderRegistry.encodeCommand(batch), i + 1)
          expect(OrderRegistry.decodeResult(result)).toEqual(Either.right(outcomes))
          expect(result.subarray(1)).toEqual(
            RecordOrdersResponse.encode({ outcomes: outcomes.map(OrderRecord.outcomeToProto) }).finish()
          )
          typed = nextTyped
          bytes = nextBytes
        })
        expect(OrderRegistry.snapshot(bytes)).toEqual(OrderRegistry.snapshot(typed))
      }),
      { numRuns: 100 }
    )
  })

  it("rejects an undecodable command deterministically and leaves the state unchanged", () => {
    const [state] = OrderRegistry.applyRecords(OrderRegistry.initial(), [record("a", T)], 1)
    const before = OrderRegistry.snapshot(state)
    const invalid = RecordOrdersRequest.encode({
      records: [{ ...OrderRecord.toProto(record("b", T)), orderId: "" }]
    }).finish()
    const [after, result] = OrderRegistry.apply(state, invalid, 2)
    expect(after).toBe(state)
    expect(OrderRegistry.snapshot(after)).toEqual(before)
    const decoded = OrderRegistry.decodeResult(result)
    expect(Either.isLeft(decoded) && decoded.left.message).toBe("records[0].order_id: must not be empty")
    const [again, garbage] = OrderRegistry.apply(state, new Uint8Array([0xff, 0xff]), 3)
    expect(again).toBe(state)
    expect(OrderRegistry.snapshot(again)).toEqual(before)
    expect(Either.isLeft(OrderRegistry.decodeResult(garbage))).toBe(true)
  })

  it("refuses corrupt snapshots with a typed error", () => {
    const [state] = OrderRegistry.applyRecords(OrderRegistry.initial(), [record("a", T), record("b", T)], 1)
    const bytes = OrderRegistry.snapshot(state)
    for (const corrupt of [new Uint8Array(3), bytes.subarray(0, bytes.length - 1), new Uint8Array([...bytes, 0])]) {
      const restored = OrderRegistry.restore(corrupt)
      expect(Either.isLeft(restored) && restored.left.message).toMatch(/^not an order registry snapshot: /)
    }
  })

  it("is not slowed down by eviction: a full registry applies each record with bounded work", () => {
    // 200 records into a registry bounded at 10: each insert evicts exactly one entry once
    // full, so the state never holds more than 10 and every eviction raised the horizon.
    const r = retention({ maxOrders: 10 })
    const [state] = applyAll(
      Array.from({ length: 200 }, (_, i) => [record(`o${i}`, T + i)]),
      OrderRegistry.initial(r)
    )
    expect(OrderRegistry.size(state)).toBe(10)
    expect(state.horizonUnixMs).toBe(T + 189)
    expect(OrderRegistry.lookup(state, "o190")._tag).toBe("Some")
  })
})

// ---- model-based: the registry against a plain Map + array of the documented rules ------

interface Model {
  readonly retention: OrderRegistry.Retention
  readonly entries: Map<string, OrderRegistry.Entry>
  readonly order: Array<OrderRegistry.Entry>
  clock: number
  horizon: number
}

const modelOf = (r: OrderRegistry.Retention): Model => ({
  retention: r,
  entries: new Map(),
  order: [],
  clock: 0,
  horizon: 0
})

const modelApply = (m: Model, records: ReadonlyArray<OrderRecord.OrderRecord>, index: number) =>
  records.map((record): OrderRecord.RecordOutcome => {
    const stored = m.entries.get(record.orderId)
    if (stored !== undefined) return { record: stored.record, created: false, index: stored.index, tooOld: false }
    const t = record.recordedAtUnixMs
    if (t <= m.horizon || t < m.clock - m.retention.maxAgeMs) return { record, created: false, index: 0, tooOld: true }
    const entry = { record, index }
    m.entries.set(record.orderId, entry)
    m.order.push(entry)
    m.clock = Math.max(m.clock, t)
    while (
      m.order.length > m.retention.maxOrders ||
      (m.order.length > 0 && m.order[0]!.record.recordedAtUnixMs < m.clock - m.retention.maxAgeMs)
    ) {
      const evicted = m.order.shift()!
      m.entries.delete(evicted.record.orderId)
      m.horizon = Math.max(m.horizon, evicted.record.recordedAtUnixMs)
    }
    return { record, created: true, index, tooOld: false }
  })

/** The documented snapshot format, written with the generated encoder. */
const modelSnapshot = (m: Model): Uint8Array => {
  const records = m.order.map((e) => ProtoOrderRecord.encode(OrderRecord.toProto(e.record)).finish())
  const out = new Uint8Array(41 + records.reduce((n, r) => n + 12 + r.length, 0))
  const view = new DataView(out.buffer)
  out.set([0x4f, 0x52, 0x45, 0x47, 1])
  view.setFloat64(5, m.retention.maxOrders)
  view.setFloat64(13, m.retention.maxAgeMs)
  view.setFloat64(21, m.clock)
  view.setFloat64(29, m.horizon)
  view.setUint32(37, records.length)
  let pos = 41
  m.order.forEach((e, i) => {
    view.setFloat64(pos, e.index)
    view.setUint32(pos + 8, records[i]!.length)
    out.set(records[i]!, pos + 12)
    pos += 12 + records[i]!.length
  })
  return out
}

/** What `apply` answered before the compact store: decode, apply, the generated encoder. */
const modelApplyBytes = (m: Model, command: Uint8Array, index: number): Uint8Array => {
  const decoded = OrderRegistry.decodeCommand(command)
  if (Either.isLeft(decoded)) return new Uint8Array([1, ...new TextEncoder().encode(decoded.left.message)])
  const outcomes = modelApply(m, decoded.right, index)
  const response = RecordOrdersResponse.encode({ outcomes: outcomes.map(OrderRecord.outcomeToProto) }).finish()
  return new Uint8Array([0, ...response])
}

// Commands in encodings a proposer may produce, and ones it should not: the fast path must
// take exactly the unambiguous valid ones, and every other form must answer what the
// generated decoder and the Schema answer.
type Encoding = "canonical" | "defaults" | "long-varints" | "unknown-field" | "reordered" | "repeated-id" | "invalid"

const varint = (n: number, long: boolean): Array<number> => {
  const out: Array<number> = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  return long ? [...out, n | 0x80, 0x00] : [...out, n]
}

const encodeVariant = (record: OrderRecord.OrderRecord, encoding: Encoding): Array<number> => {
  const long = encoding === "long-varints"
  const text = (field: number, s: string) => {
    const bytes = [...new TextEncoder().encode(s)]
    return bytes.length === 0 && encoding !== "defaults"
      ? []
      : [(field << 3) | 2, ...varint(bytes.length, long), ...bytes]
  }
  const number = (field: number, n: number) =>
    n === 0 && encoding !== "defaults" ? [] : [field << 3, ...varint(n, long)]
  const p = OrderRecord.toProto(record)
  const fields = [
    text(1, encoding === "invalid" ? `${p.orderId} ` : p.orderId),
    text(2, p.eventId),
    text(3, p.commandId),
    number(4, p.status),
    text(5, p.reason),
    number(6, p.filledQuantity),
    number(7, p.fillPriceMicros),
    number(8, p.recordedAtUnixMs)
  ]
  if (encoding === "unknown-field") fields.push([0x78, 0x01]) // field 15
  if (encoding === "reordered") fields.unshift(fields.pop()!)
  if (encoding === "repeated-id") fields.unshift(text(1, "overwritten"))
  return fields.flat()
}

const encodeCommandVariant = (
  records: ReadonlyArray<OrderRecord.OrderRecord>,
  encodings: ReadonlyArray<Encoding>
): Uint8Array =>
  new Uint8Array(records.flatMap((r, i) => {
    const bytes = encodeVariant(r, encodings[i % encodings.length]!)
    return [0x0a, ...varint(bytes.length, false), ...bytes]
  }))

const LONG_ID = "x".repeat(125)
const idOf = (k: number) => k % 7 === 6 ? `${LONG_ID}${100 + k}` : `o${k}` // 128-character ids too

const modelRecord = fc.record({
  id: fc.integer({ min: 0, max: 40 }),
  shift: fc.option(fc.integer({ min: -5, max: 5 }), { freq: 4 }), // mostly fixed with the id
  status: fc.constantFrom<OrderRecord.OrderRecord["status"]>("ACCEPTED", "REJECTED", "EXECUTED"),
  reason: fc.constantFrom("no", "max_notional: 12 > 10", "prix refusé ✗"),
  filled: fc.oneof(fc.integer({ min: 1, max: 300 }), fc.constant(Number.MAX_SAFE_INTEGER))
})

const op = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      _tag: fc.constant("batch" as const),
      records: fc.array(modelRecord, { maxLength: 8 }),
      typed: fc.boolean(),
      encodings: fc.array(
        fc.constantFrom<Encoding>(
          "canonical",
          "canonical",
          "canonical",
          "defaults",
          "long-varints",
          "unknown-field",
          "reordered",
          "repeated-id",
          "invalid"
        ),
        { minLength: 1, maxLength: 3 }
      )
    })
  },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("lookup" as const), id: fc.integer({ min: 0, max: 40 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ _tag: fc.constant("restore" as const), segmentBytes: fc.constantFrom(48, 100, 200, 4096) })
  },
  {
    weight: 1,
    arbitrary: fc.record({ _tag: fc.constant("capture" as const) })
  },
  {
    weight: 1,
    arbitrary: fc.record({ _tag: fc.constant("release" as const), pick: fc.nat() })
  }
)

describe("OrderRegistry against a reference model", () => {
  it("answers, evicts, snapshots and restores as the documented rules say, for any history", () => {
    fc.assert(
      fc.property(
        // small times and ages: many records exactly at `clock - maxAgeMs` or at `horizon`
        fc.record({
          maxOrders: fc.integer({ min: 1, max: 30 }),
          maxAgeMs: fc.oneof(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 20_000 }))
        }),
        fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 41, maxLength: 41 }),
        fc.constantFrom(1, 300),
        fc.constantFrom(48, 100, 200, 4096, undefined),
        fc.array(op, { maxLength: 80, size: "max" }),
        (settings, times, scale, segmentBytes, ops) => {
          const r = retention(settings)
          let state = OrderRegistry.initial(r, { segmentBytes })
          const model = modelOf(r)
          // captures held, their parts taken at once and checked when released and at the end
          const captures: Array<{
            captured: OrderRegistry.Capture
            from: OrderRegistry.State
            parts: ReadonlyArray<Uint8Array>
            expected: Uint8Array
          }> = []
          let index = 0
          for (const o of ops) {
            switch (o._tag) {
              case "batch": {
                const records = o.records.map(({ filled, id, reason, shift, status }): OrderRecord.OrderRecord => ({
                  orderId: idOf(id),
                  eventId: `evt-${id}-${status}`,
                  commandId: `cmd-${id}`,
                  status,
                  reason: status === "REJECTED" ? reason : "",
                  filledQuantity: status === "EXECUTED" ? filled : 0,
                  fillPriceMicros: status === "EXECUTED" ? 101_250_000 : 0,
                  recordedAtUnixMs: T + (times[id]! + (shift ?? 0)) * scale
                }))
                index++
                if (o.typed) {
                  const [next, outcomes] = OrderRegistry.applyRecords(state, records, index)
                  state = next
                  expect(outcomes).toEqual(modelApply(model, records, index))
                } else {
                  const command = encodeCommandVariant(records, o.encodings)
                  const [next, result] = OrderRegistry.apply(state, command, index)
                  state = next
                  expect(result).toEqual(modelApplyBytes(model, command, index))
                }
                break
              }
              case "lookup": {
                const id = idOf(o.id)
                const expected = Option.fromNullable(model.entries.get(id))
                expect(OrderRegistry.lookup(state, id)).toEqual(expected)
                expect(OrderRegistry.query(state, OrderRegistry.encodeQuery(id))).toEqual(
                  ReadResponse.encode(
                    Option.match(expected, {
                      onNone: () => ({ found: false, record: undefined, index: 0 }),
                      onSome: (e) => ({ found: true, record: OrderRecord.toProto(e.record), index: e.index })
                    })
                  ).finish()
                )
                break
              }
              case "restore": {
                const bytes = OrderRegistry.snapshot(state)
                expect(bytes).toEqual(modelSnapshot(model))
                state = Either.getOrThrow(OrderRegistry.restore(bytes, { segmentBytes: o.segmentBytes }))
                break
              }
              case "capture": {
                const captured = OrderRegistry.capture(state)
                const expected = modelSnapshot(model)
                captures.push({ captured, from: state, parts: OrderRegistry.snapshotParts(captured), expected })
                break
              }
              case "release": {
                // a released capture's parts may change from now on (its segments are reused)
                if (captures.length === 0) break
                const [{ captured, expected, from, parts }] = captures.splice(o.pick % captures.length, 1)
                expect(concat(parts)).toEqual(expected)
                OrderRegistry.release(from, captured)
                break
              }
            }
            expect(OrderRegistry.size(state)).toBe(model.order.length)
            expect([state.clockUnixMs, state.horizonUnixMs]).toEqual([model.clock, model.horizon])
          }
          expect(OrderRegistry.snapshot(state)).toEqual(modelSnapshot(model))
          for (const { captured, expected, parts } of captures) {
            expect(OrderRegistry.snapshot(captured)).toEqual(expected)
            expect(concat(parts)).toEqual(expected)
          }
        }
      ),
      { numRuns: 300 }
    )
  })

  it("restores snapshots written by the previous (persistent) implementation", () => {
    // written by the HashMap + FIFO registry this store replaced: maxOrders 3, maxAgeMs 60 s,
    // ord-1 evicted, ord-2 REJECTED with a non-ASCII reason, ord-3 and ord-4 at index 9
    const v1 = Uint8Array.from(
      Buffer.from(
        "4f52454701400800000000000040ed4c000000000042799c82cc00300042799c82cc00000000000003401c000000" +
          "000000000000380a056f72642d3212056576742d321a05636d642d3220022a186d61785f6e6f74696f6e616c3a20" +
          "31203e20302028c3a929408180b3c19c3340220000000000000000001e0a056f72642d3312056576742d331a0563" +
          "6d642d332001408280b3c19c3340220000000000000000001e0a056f72642d3412056576742d341a05636d642d34" +
          "2001408380b3c19c33",
        "hex"
      )
    )
    const state = Either.getOrThrow(OrderRegistry.restore(v1))
    expect(OrderRegistry.snapshot(state)).toEqual(v1)
    expect([OrderRegistry.size(state), state.clockUnixMs, state.horizonUnixMs]).toEqual([3, T + 3, T])
    expect(OrderRegistry.lookup(state, "ord-2")).toEqual(Option.some({
      record: {
        orderId: "ord-2",
        eventId: "evt-2",
        commandId: "cmd-2",
        status: "REJECTED",
        reason: "max_notional: 1 > 0 (é)",
        filledQuantity: 0,
        fillPriceMicros: 0,
        recordedAtUnixMs: T + 1
      },
      index: 7
    }))
    const [, [again]] = OrderRegistry.applyRecords(state, [record("ord-1", T)], 10)
    expect(again!.tooOld).toBe(true)
  })
})

describe("OrderRegistry typed apply", () => {
  it("refuses a batch holding a record the store cannot hold, recording none of it", () => {
    const [state] = OrderRegistry.applyRecords(OrderRegistry.initial(), [record("a", T)], 1)
    const before = OrderRegistry.snapshot(state)
    for (const bad of [{ ...record("", T) }, { ...record("é", T) }, { ...record("b", T), filledQuantity: -1 }]) {
      expect(() => OrderRegistry.applyRecords(state, [record("c", T), bad], 2)).toThrow(RangeError)
      expect(OrderRegistry.snapshot(state)).toEqual(before)
    }
  })
})
