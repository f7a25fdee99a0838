import { describe, expect, it } from "@effect/vitest"
import * as fc from "effect/FastCheck"
import * as IdIndex from "./IdIndex.js"

// Every entry must be reachable from its home slot without crossing an empty slot: what
// backward-shift deletion has to preserve (a tombstone-free linear probing table).
const checkInvariant = (index: IdIndex.IdIndex) => {
  let occupied = 0
  for (let slot = 0; slot <= index.mask; slot++) {
    const hash = index.hashes[slot]!
    if (hash === 0) continue
    occupied++
    for (let i = hash & index.mask; i !== slot; i = (i + 1) & index.mask) {
      expect(index.hashes[i], `slot ${slot} unreachable from its home ${hash & index.mask}`).not.toBe(0)
    }
  }
  expect(occupied).toBe(index.size)
  expect(index.size).toBeLessThanOrEqual((index.mask + 1) * 0.7)
}

const find = (index: IdIndex.IdIndex, hash: number, location: number) => IdIndex.slotOf(index, hash, location) >= 0

describe("IdIndex", () => {
  it("agrees with a Map under random inserts and deletes, with heavy collisions and growth", () => {
    // few distinct hashes (some sharing home slots, some wrapping around the table's end)
    // force long probe runs, so deletions shift entries back across wrapped runs
    const op = fc.oneof(
      fc.record({ insert: fc.constant(true as const), hash: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ insert: fc.constant(true as const), hash: fc.constantFrom(15, 31, 47, 0xffffffff, 0xfffffff0) }),
      fc.record({ insert: fc.constant(false as const), pick: fc.nat() })
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const index = IdIndex.make()
        const model = new Map<number, number>() // location -> hash
        let next = 1
        for (const o of ops) {
          if (o.insert) {
            const location = next++ * 1024 + 7
            IdIndex.insert(index, o.hash, location)
            model.set(location, o.hash)
          } else if (model.size > 0) {
            const locations = [...model.keys()]
            const location = locations[o.pick % locations.length]!
            const hash = model.get(location)!
            IdIndex.removeAt(index, IdIndex.slotOf(index, hash, location))
            model.delete(location)
            expect(find(index, hash, location)).toBe(false)
          }
          checkInvariant(index)
        }
        for (const [location, hash] of model) expect(find(index, hash, location)).toBe(true)
        expect(index.size).toBe(model.size)
      }),
      { numRuns: 300 }
    )
  })

  it("grows past its load limit and keeps every entry; sized tables do not grow", () => {
    const index = IdIndex.make()
    for (let i = 1; i <= 10_000; i++) IdIndex.insert(index, IdIndex.hashAscii(`ord-${i}`), i)
    checkInvariant(index)
    expect(index.mask + 1).toBe(16_384)
    for (let i = 1; i <= 10_000; i++) expect(find(index, IdIndex.hashAscii(`ord-${i}`), i)).toBe(true)
    for (let i = 1; i <= 10_000; i += 2) {
      IdIndex.removeAt(index, IdIndex.slotOf(index, IdIndex.hashAscii(`ord-${i}`), i))
    }
    checkInvariant(index)
    for (let i = 1; i <= 10_000; i++) expect(find(index, IdIndex.hashAscii(`ord-${i}`), i)).toBe(i % 2 === 0)
    const sized = IdIndex.make(10_000)
    const capacity = sized.mask + 1
    for (let i = 1; i <= 10_000; i++) IdIndex.insert(sized, IdIndex.hashAscii(`ord-${i}`), i)
    expect(sized.mask + 1).toBe(capacity)
  })

  it("hashes strings and their bytes alike, never to 0", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)) }), (s) => {
        const bytes = new TextEncoder().encode(`xx${s}`)
        expect(IdIndex.hashBytes(bytes, 2, bytes.length - 2)).toBe(IdIndex.hashAscii(s))
        expect(IdIndex.hashAscii(s)).not.toBe(0)
      })
    )
  })
})
