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
  it("is a FIFO of framed entries whose captures never change until released, across segment turnover", () => {
    // more appends than pops, so that captures hold entries whose segments are dropped later;
    // mostly small entries, so that many segments fill up, are dropped and come back
    const length = fc.oneof({ weight: 4, arbitrary: fc.nat(40) }, { weight: 1, arbitrary: fc.nat(300) })
    const op = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant("append" as const), length }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant("pop" as const), n: fc.integer({ min: 1, max: 3 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("capture" as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), pick: fc.nat() }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant("trim" as const) }) }
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 600 }),
        fc.array(op, { maxLength: 200, size: "max" }),
        (segmentBytes, ops) => {
          const arena = Arena.make(segmentBytes)
          const model: Array<{ key: number; length: number; loc: number }> = []
          // captures held, with the bytes each must keep showing until it is released
          const captures: Array<[Arena.Capture, Array<number>]> = []
          // the segment in use under each serial: a serial keeps its segment while it is live,
          // and a segment comes back under a new serial only when no held capture reads it
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
            } else if (o.kind === "release") {
              if (captures.length > 0) {
                const [released] = captures.splice(o.pick % captures.length, 1)
                Arena.release(arena, released![0])
                Arena.release(arena, released![0]) // twice is harmless
              }
            } else {
              Arena.trim(arena)
              // nothing before the head is kept
              expect(arena.segments.length).toBeLessThanOrEqual(Math.max(1, model.length + 1))
            }
            arena.segments.forEach((segment, i) => {
              const serial = arena.baseSerial + i
              const known = bySerial.get(serial)
              if (known === undefined) {
                for (const [captured] of captures) expect(captured.segments).not.toContain(segment)
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
        }
      ),
      { numRuns: 150 }
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

  it("reuses dropped segments, so a FIFO in a steady state allocates none", () => {
    const arena = Arena.make(1024)
    const seen = new Set<Uint8Array>()
    let key = 0
    for (let round = 0; round < 2_000; round++) {
      for (let i = 0; i < 10; i++) Arena.append(arena, key++, 88) // 100 bytes framed
      while (arena.count > 200) Arena.popHead(arena)
      Arena.trim(arena)
      arena.segments.forEach((segment) => seen.add(segment))
    }
    // 200 live entries span 20 or 21 segments of 1 KiB (10 entries each), plus the spares,
    // plus the smaller first segment (64 KiB is over the limit here: it is 1 KiB too)
    expect(seen.size).toBeLessThanOrEqual(21 + 1 + Arena.SPARE_LIMIT)
  })

  it("reuses no segment a held capture reads, and reuses again once it is released", () => {
    const arena = Arena.make(1024)
    let key = 0
    const churn = (rounds: number) => {
      const fresh = new Set<Uint8Array>()
      for (let round = 0; round < rounds; round++) {
        const before = new Set(arena.segments)
        for (let i = 0; i < 10; i++) Arena.append(arena, key++, 88)
        while (arena.count > 50) Arena.popHead(arena)
        Arena.trim(arena)
        for (const segment of arena.segments) if (!before.has(segment)) fresh.add(segment)
      }
      return fresh
    }
    churn(100)
    const captured = Arena.capture(arena)
    const held = new Set(captured.segments)
    const bytes = Arena.ranges(captured).map((r) => [...r])
    const duringHold = churn(100)
    for (const segment of duringHold) expect(held.has(segment)).toBe(false)
    expect(Arena.ranges(captured).map((r) => [...r])).toEqual(bytes)
    Arena.release(arena, captured)
    const afterRelease = churn(10)
    // the spares taken after the release include segments the capture read
    expect([...afterRelease].some((segment) => held.has(segment))).toBe(true)
  })
})
