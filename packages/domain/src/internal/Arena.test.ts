import { describe, expect, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import * as Arena from "./Arena.js"

// An entry's payload: its key's low byte repeated, so a read can be checked against the key.
const fill = (arena: Arena.Arena, loc: number, length: number, key: number) =>
  Arena.segmentAt(arena, loc).fill(
    key & 0xff,
    Arena.offsetOf(loc) + Arena.FRAME,
    Arena.offsetOf(loc) + Arena.FRAME + length
  )

/** The bytes a capture describes, in order (what a snapshot copies). */
const bytesOf = (captured: Arena.Capture): Array<number> => {
  const out: Array<number> = []
  captured.segments.forEach((segment, i) => out.push(...segment.subarray(captured.starts[i], captured.ends[i])))
  return out
}

/** The framed bytes the model's entries should occupy. */
const framed = (entries: ReadonlyArray<{ key: number; length: number }>): Array<number> => {
  const out: Array<number> = []
  for (const { key, length } of entries) {
    const frame = new DataView(new ArrayBuffer(Arena.FRAME))
    frame.setFloat64(0, key)
    frame.setUint32(8, length)
    out.push(...new Uint8Array(frame.buffer), ...new Array<number>(length).fill(key & 0xff))
  }
  return out
}

describe("Arena", () => {
  it("is a FIFO of framed entries whose captures never change, across segment turnover", () => {
    // more appends than pops, so that captures hold entries whose segments are dropped later
    const op = fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({ kind: fc.constant("append" as const), length: fc.integer({ min: 0, max: 300 }) })
      },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant("pop" as const), n: fc.integer({ min: 1, max: 3 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("capture" as const) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant("trim" as const) }) }
    )
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 600 }), fc.array(op, { maxLength: 200 }), (segmentBytes, ops) => {
        const arena = Arena.make(segmentBytes)
        const model: Array<{ key: number; length: number; loc: number }> = []
        const captures: Array<[Arena.Capture, Array<number>]> = []
        // every segment ever used, by serial: a segment is never reused under another serial
        const bySerial = new Map<number, Uint8Array>()
        let key = 1
        for (const o of ops) {
          if (o.kind === "append") {
            const loc = Arena.append(arena, key, o.length)
            fill(arena, loc, o.length, key)
            model.push({ key: key++, length: o.length, loc })
          } else if (o.kind === "pop") {
            for (let i = 0; i < o.n && model.length > 0; i++) {
              const oldest = model.shift()!
              expect(Arena.head(arena)).toBe(oldest.loc)
              expect(Arena.keyAt(arena, oldest.loc)).toBe(oldest.key)
              expect(Arena.payloadLengthAt(arena, oldest.loc)).toBe(oldest.length)
              Arena.popHead(arena)
            }
          } else if (o.kind === "capture") {
            captures.push([Arena.capture(arena), framed(model)])
          } else {
            Arena.trim(arena)
            // nothing before the head is kept
            expect(arena.segments.length).toBeLessThanOrEqual(Math.max(1, model.length + 1))
          }
          arena.segments.forEach((segment, i) => {
            const serial = arena.baseSerial + i
            const known = bySerial.get(serial)
            if (known === undefined) {
              expect([...bySerial.values()]).not.toContain(segment)
              bySerial.set(serial, segment)
            } else expect(segment).toBe(known)
          })
          for (const [captured, expected] of captures) expect(bytesOf(captured)).toEqual(expected)
          expect(arena.count).toBe(model.length)
          expect(arena.bytes).toBe(model.reduce((n, e) => n + Arena.FRAME + e.length, 0))
          if (model.length > 0) expect(Arena.head(arena)).toBe(model[0]!.loc)
          for (const e of model) {
            expect(Arena.keyAt(arena, e.loc)).toBe(e.key)
            if (e.length > 0) {
              expect(Arena.segmentAt(arena, e.loc)[Arena.offsetOf(e.loc) + Arena.FRAME + e.length - 1]).toBe(
                e.key & 0xff
              )
            }
          }
        }
        captures.push([Arena.capture(arena), framed(model)])
        for (const [captured, expected] of captures) {
          expect(bytesOf(captured)).toEqual(expected)
          // its ranges (what a snapshot writes) are the same bytes, with no empty range
          const ranges = Arena.ranges(captured)
          expect(ranges.flatMap((r) => [...r])).toEqual(expected)
          expect(ranges.every((r) => r.length > 0)).toBe(true)
        }
      }),
      { numRuns: 300 }
    )
  })

  it("starts small and grows its segments up to the limit", () => {
    const arena = Arena.make()
    for (let i = 0; i < 20_000; i++) Arena.append(arena, i, 200)
    const sizes = arena.segments.map((s) => s.length)
    expect(sizes[0]).toBe(64 * 1024)
    expect(Math.max(...sizes)).toBe(Arena.SEGMENT_LIMIT)
    for (let i = 0; i < 19_900; i++) Arena.popHead(arena)
    Arena.trim(arena)
    expect(arena.segments.length).toBe(1)
    expect(Arena.keyAt(arena, Arena.head(arena))).toBe(19_900)
    expect(arena.baseSerial).toBe(arena.headSerial)
  })
})
