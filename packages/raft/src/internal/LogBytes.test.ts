import { describe, expect, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import * as LogBytes from "./LogBytes.js"

// An entry's bytes: its number's low byte repeated, so a reused segment shows in a read.
const bytesOf = (n: number, length: number) => new Uint8Array(length).fill(n & 0xff)
/** Whether `data` still holds entry `n`'s bytes (a plain loop: expect's deep equality is slow here). */
const intact = (n: number, data: Uint8Array) => data.every((b) => b === (n & 0xff))

describe("LogBytes", () => {
  it("keeps every live entry's bytes as copied, whatever is appended, cut, compacted and released", () => {
    const op = fc.oneof(
      { weight: 6, arbitrary: fc.record({ kind: fc.constant("append" as const), length: fc.nat(120) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("large" as const) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant("compact" as const), keep: fc.nat(12) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("truncate" as const), drop: fc.nat(5) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("hold" as const), n: fc.nat(4) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("unhold" as const) }) }
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 64, max: 1024 }),
        fc.integer({ min: 0, max: 4096 }),
        fc.array(op, { maxLength: 300, size: "max" }),
        (segmentBytes, spareBytes, ops) => {
          const store = LogBytes.make({ segmentBytes, spareBytes })
          // the log, and entries the runtime still has to act on (held outputs)
          let log: Array<{ n: number; data: Uint8Array }> = []
          let held: Array<{ n: number; data: Uint8Array }> = []
          let next = 1
          for (const o of ops) {
            if (o.kind === "append" || o.kind === "large") {
              const length = o.kind === "large" ? segmentBytes : o.length
              const original = bytesOf(next, length)
              const data = LogBytes.copy(store, original)
              if (data.length !== length || !intact(next, data)) expect.fail(`entry ${next} was not copied`)
              if (length > 0 && length <= segmentBytes / 4) expect(data.buffer).not.toBe(original.buffer)
              log.push({ n: next++, data })
            } else if (o.kind === "truncate") {
              log = log.slice(0, Math.max(0, log.length - o.drop))
            } else if (o.kind === "hold") {
              held = log.slice(0, o.n)
            } else if (o.kind === "unhold") {
              held = []
            } else {
              log = log.slice(Math.max(0, log.length - o.keep))
              LogBytes.release(store, log, held)
            }
            for (const e of [...log, ...held]) if (!intact(e.n, e.data)) expect.fail(`entry ${e.n} was overwritten`)
            expect(store.spare.length * segmentBytes).toBeLessThanOrEqual(spareBytes)
          }
        }
      ),
      { numRuns: 200 }
    )
  })

  it("reuses freed segments, so a log compacted as it grows allocates none once warm", () => {
    const store = LogBytes.make({ segmentBytes: 1024, spareBytes: 64 * 1024 })
    const seen = new Set<ArrayBufferLike>()
    let log: Array<{ data: Uint8Array }> = []
    for (let i = 0; i < 5_000; i++) {
      log.push({ data: LogBytes.copy(store, bytesOf(i, 100)) })
      if (log.length === 100) {
        log = log.slice(90)
        LogBytes.release(store, log)
      }
      for (const segment of store.segments) seen.add(segment.buffer)
    }
    // at most 100 entries of 100 bytes live (10 to a segment): 10 segments, one partly filled, plus spares
    expect(seen.size).toBeLessThanOrEqual(12)
    // empty and large entries are not copied
    const empty = new Uint8Array(0)
    expect(LogBytes.copy(store, empty).length).toBe(0)
    const large = bytesOf(1, 300)
    expect(LogBytes.copy(store, large)).toBe(large)
  })
})
