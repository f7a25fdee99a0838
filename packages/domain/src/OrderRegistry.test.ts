import { describe, expect, it } from "@effect/vitest"
import { RecordOrdersRequest, RecordOrdersResponse } from "@trading/proto/gen/trading/v1/raft_node"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Arb from "./internal/arbitraries.js"
import * as OrderRecord from "./OrderRecord.js"
import * as OrderRegistry from "./OrderRegistry.js"

const T = 1_760_000_000_000

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

  it("a snapshot built in slices equals the whole snapshot, even when the state moves on meanwhile", () => {
    fc.assert(
      fc.property(history, retentionArb, fc.integer({ min: 1, max: 5 }), (batches, settings, slice) => {
        const half = Math.floor(batches.length / 2)
        const [middle] = applyAll(batches.slice(0, half), OrderRegistry.initial(retention(settings)))
        const whole = OrderRegistry.snapshot(middle)
        const slices = OrderRegistry.snapshotSlices(middle, slice)
        let steps = 0
        let later = middle
        for (;;) {
          const step = slices.next()
          if (step.done === true) {
            expect(step.value).toEqual(whole)
            break
          }
          steps++
          // the runtime keeps applying between slices: that must not leak into the snapshot
          if (steps === 1) later = applyAll(batches.slice(half), later, half + 1)[0]
        }
        expect(steps).toBeGreaterThanOrEqual(Math.floor(OrderRegistry.size(middle) / slice))
        expect(OrderRegistry.snapshot(middle)).toEqual(whole)
      }),
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
    const invalid = RecordOrdersRequest.encode({
      records: [{ ...OrderRecord.toProto(record("b", T)), orderId: "" }]
    }).finish()
    const [after, result] = OrderRegistry.apply(state, invalid, 2)
    expect(after).toBe(state)
    const decoded = OrderRegistry.decodeResult(result)
    expect(Either.isLeft(decoded) && decoded.left.message).toBe("records[0].order_id: must not be empty")
    const [again, garbage] = OrderRegistry.apply(state, new Uint8Array([0xff, 0xff]), 3)
    expect(again).toBe(state)
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
