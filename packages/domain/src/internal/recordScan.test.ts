import { describe, expect, it } from "@effect/vitest"
import { OrderRecord as ProtoOrderRecord } from "@trading/proto/gen/trading/v1/raft_node"
import * as Either from "effect/Either"
import * as fc from "effect/FastCheck"
import * as OrderRecord from "../OrderRecord.js"
import * as Arb from "./arbitraries.js"
import * as Canonical from "./canonicalRecord.js"
import * as Scan from "./recordScan.js"
import * as RegistryWire from "./registryWire.js"

const ascii = (s: string) => [...s].every((c) => c.charCodeAt(0) < 0x80)

// Damage that keeps bytes close to a record: the scan must never accept what the
// generated decoder and the Schema would not accept as the same record.
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() })
)

const mutate = (bytes: Uint8Array, ms: ReadonlyArray<typeof mutation extends fc.Arbitrary<infer M> ? M : never>) => {
  const out = [...bytes]
  for (const m of ms) {
    const at = out.length === 0 ? 0 : m.at % out.length
    if (m.kind === "set") out[at] = m.byte
    else if (m.kind === "insert") out.splice(at, 0, m.byte)
    else if (m.kind === "delete") out.splice(at, 1)
    else out.length = at
  }
  return new Uint8Array(out)
}

describe("recordScan", () => {
  it("takes every canonical valid record with an ASCII reason, and writes it back unchanged", () => {
    fc.assert(
      fc.property(Arb.orderRecord.filter((r) => ascii(r.reason)), (record) => {
        const bytes = RegistryWire.encodeRecord(record)
        const fields = new Float64Array(Scan.STRIDE)
        expect(Scan.scanRecord(bytes, 0, bytes.length, fields, 0)).toBe(true)
        expect(fields[Scan.CANONICAL_LENGTH]).toBe(bytes.length)
        const out = new Uint8Array(bytes.length)
        expect(Scan.writeCanonical(bytes, fields, 0, out, 0)).toBe(bytes.length)
        expect(out).toEqual(bytes)
        expect(Canonical.decode(out, 0, out.length)).toEqual(record)
        expect(Canonical.recordedAt(out, 0, out.length)).toBe(record.recordedAtUnixMs)
        expect(Canonical.orderIdLength(out, 0)).toBe(record.orderId.length)
      }),
      { numRuns: 500 }
    )
  })

  it("accepts only what the generated decoder and the Schema accept, as the same record", () => {
    fc.assert(
      fc.property(Arb.orderRecord, fc.array(mutation, { minLength: 1, maxLength: 3 }), (record, ms) => {
        const bytes = mutate(ProtoOrderRecord.encode(OrderRecord.toProto(record)).finish(), ms)
        // inside a larger buffer: the scan must stay within its range
        const framed = new Uint8Array([0x0a, ...bytes, 0x0a, 0x01])
        const fields = new Float64Array(Scan.STRIDE * 2).fill(-1)
        if (!Scan.scanRecord(framed, 1, 1 + bytes.length, fields, Scan.STRIDE)) return
        const decoded = OrderRecord.fromProto(ProtoOrderRecord.decode(bytes))
        expect(Either.isRight(decoded)).toBe(true)
        const canonical = RegistryWire.encodeRecord(Either.getOrThrow(decoded))
        const out = new Uint8Array(canonical.length + 2)
        expect(Scan.writeCanonical(framed, fields, Scan.STRIDE, out, 1)).toBe(1 + canonical.length)
        expect(out.subarray(1, 1 + canonical.length)).toEqual(canonical)
        expect(fields[Scan.CANONICAL_LENGTH + Scan.STRIDE]).toBe(canonical.length)
        expect(fields[0]).toBe(-1) // the slots of another record are left alone
      }),
      { numRuns: 3000 }
    )
  })

  it("draws the line where the Schema does: lengths, ranges and statuses at their limits", () => {
    const base: ProtoOrderRecord = OrderRecord.toProto({
      orderId: "ord-1",
      eventId: "evt-1",
      commandId: "cmd-1",
      status: "REJECTED",
      reason: "no",
      filledQuantity: 0,
      fillPriceMicros: 0,
      recordedAtUnixMs: 1_760_000_000_000
    })
    const executed = { ...base, status: 3, reason: "", filledQuantity: 1, fillPriceMicros: 1 }
    const cases: Array<ProtoOrderRecord> = [
      base,
      { ...base, orderId: "o".repeat(128) },
      { ...base, orderId: "o".repeat(129) },
      { ...base, eventId: "e".repeat(128) },
      { ...base, commandId: "c".repeat(129) },
      { ...base, orderId: "ord 1" },
      { ...base, orderId: "ord\u007f" },
      { ...base, reason: "r".repeat(1024) },
      { ...base, reason: "r".repeat(1025) },
      { ...base, reason: "" },
      { ...base, reason: "\u0001 control characters are text" },
      { ...base, status: 0 },
      { ...base, status: 4 },
      { ...base, status: 1, reason: "" },
      { ...base, recordedAtUnixMs: 946_684_800_000 - 1 },
      { ...base, recordedAtUnixMs: 946_684_800_000 },
      { ...base, recordedAtUnixMs: 4_102_444_800_000 - 1 },
      { ...base, recordedAtUnixMs: 4_102_444_800_000 },
      executed,
      { ...executed, filledQuantity: 0 },
      { ...executed, fillPriceMicros: 0 },
      { ...executed, filledQuantity: Number.MAX_SAFE_INTEGER },
      { ...executed, fillPriceMicros: -1 }
    ]
    for (const message of cases) {
      const bytes = ProtoOrderRecord.encode(message).finish()
      const valid = Either.isRight(OrderRecord.fromProto(ProtoOrderRecord.decode(bytes)))
      const fields = new Float64Array(Scan.STRIDE)
      expect(Scan.scanRecord(bytes, 0, bytes.length, fields, 0), JSON.stringify(message)).toBe(valid)
    }
    // beyond 2^53: the generated decoder throws, the scan declines
    const huge = [...ProtoOrderRecord.encode(executed).finish()]
    huge.splice(huge.indexOf(0x30), 2, 0x30, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10)
    expect(() => ProtoOrderRecord.decode(new Uint8Array(huge))).toThrow()
    expect(Scan.scanRecord(new Uint8Array(huge), 0, huge.length, new Float64Array(Scan.STRIDE), 0)).toBe(false)
  })

  it("takes commands of fast-path records, and leaves any other field to the generated decoder", () => {
    const record = RegistryWire.encodeRecord({
      orderId: "ord-1",
      eventId: "evt-1",
      commandId: "cmd-1",
      status: "ACCEPTED",
      reason: "",
      filledQuantity: 0,
      fillPriceMicros: 0,
      recordedAtUnixMs: 1_760_000_000_000
    })
    const scan = Scan.makeScan()
    const command = (...records: Array<Array<number>>) => new Uint8Array(records.flat())
    const framedRecord = [0x0a, record.length, ...record]
    expect(Scan.scanCommand(command(), scan)).toBe(true)
    expect(scan.count).toBe(0)
    // more records than the scratch holds at first: it grows
    expect(Scan.scanCommand(command(...new Array(100).fill(framedRecord)), scan)).toBe(true)
    expect(scan.count).toBe(100)
    expect(Scan.scanCommand(command(framedRecord, [0x10, 0x01]), scan)).toBe(false) // unknown field
    expect(Scan.scanCommand(command(framedRecord, [0x0a, record.length + 1, ...record]), scan)).toBe(false) // overrun
    expect(Scan.scanCommand(command([0x0a, record.length + 2, ...record, 0x78, 0x01]), scan)).toBe(false) // field 15
  })
})

describe("copy", () => {
  it("copies any run (a byte loop for short runs, a view for longer ones) and answers the end", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 600 }),
        fc.nat({ max: 600 }),
        fc.nat({ max: 600 }),
        fc.nat({ max: 50 }),
        (source, from, length, pos) => {
          const start = Math.min(from, source.length)
          const n = Math.min(length, source.length - start)
          const target = new Uint8Array(pos + n + 3).fill(7)
          expect(Scan.copy(source, start, n, target, pos)).toBe(pos + n)
          expect([...target.subarray(pos, pos + n)]).toEqual([...source.subarray(start, start + n)])
          expect([...target.subarray(0, pos)].every((b) => b === 7)).toBe(true)
          expect([...target.subarray(pos + n)]).toEqual([7, 7, 7])
        }
      )
    )
  })
})
