// An open-addressing hash table from a 32-bit key hash to a float64 location, in two typed
// arrays: 12 bytes a slot and nothing for the GC to trace, where an immutable hash map
// costs a few hundred bytes of small objects per entry.
//
// Linear probing, because a probe sequence is a run of adjacent slots (cheap on caches),
// and it allows deletion by backward shift: no tombstones, so a table that sees as many
// deletions as insertions (the registry evicts one order per insert once full) never
// degrades. The stored hash makes a probe step one integer compare; the caller compares
// the actual keys (which live elsewhere, e.g. in the arena) only on a hash match. Hash 0
// marks an empty slot, so hashes are never 0 (see `hashBytes`). The table doubles when
// its load passes MAX_LOAD; it never shrinks (the registry is bounded by its retention).
//
// Linear (mutated in place) like the arena it indexes.

const MAX_LOAD = 0.7
const MIN_CAPACITY = 16

export interface IdIndex {
  hashes: Uint32Array
  locations: Float64Array
  mask: number
  size: number
}

const capacityFor = (entries: number): number => {
  let capacity = MIN_CAPACITY
  while (entries > capacity * MAX_LOAD) capacity *= 2
  return capacity
}

/** An empty table sized so that `entries` insertions do not grow it. */
export const make = (entries = 0): IdIndex => {
  const capacity = capacityFor(entries)
  return { hashes: new Uint32Array(capacity), locations: new Float64Array(capacity), mask: capacity - 1, size: 0 }
}

/**
 * The first slot at or after `slot` (in probe order) holding `hash`, or -1 when the probe
 * reaches an empty slot. Start at `hash & index.mask`; continue from `(found + 1) & mask`.
 */
export const probe = (index: IdIndex, hash: number, slot: number): number => {
  const { hashes, mask } = index
  for (let i = slot;; i = (i + 1) & mask) {
    const h = hashes[i]!
    if (h === hash) return i
    if (h === 0) return -1
  }
}

/** The slot holding this hash and location, or -1. */
export const slotOf = (index: IdIndex, hash: number, location: number): number => {
  for (
    let slot = probe(index, hash, hash & index.mask);
    slot >= 0;
    slot = probe(index, hash, (slot + 1) & index.mask)
  ) {
    if (index.locations[slot] === location) return slot
  }
  return -1
}

const place = (hashes: Uint32Array, locations: Float64Array, mask: number, hash: number, location: number): void => {
  let i = hash & mask
  while (hashes[i] !== 0) i = (i + 1) & mask
  hashes[i] = hash
  locations[i] = location
}

/** Adds an entry; the caller has checked that its key is not present. */
export const insert = (index: IdIndex, hash: number, location: number): void => {
  if (index.size + 1 > (index.mask + 1) * MAX_LOAD) grow(index)
  place(index.hashes, index.locations, index.mask, hash, location)
  index.size++
}

const grow = (index: IdIndex): void => {
  const { hashes, locations } = index
  const capacity = hashes.length * 2
  const nextHashes = new Uint32Array(capacity)
  const nextLocations = new Float64Array(capacity)
  const mask = capacity - 1
  for (let i = 0; i < hashes.length; i++) {
    if (hashes[i] !== 0) place(nextHashes, nextLocations, mask, hashes[i]!, locations[i]!)
  }
  index.hashes = nextHashes
  index.locations = nextLocations
  index.mask = mask
}

/**
 * Empties a slot and shifts later entries of the probe run back into it, so every entry
 * stays reachable from its home slot without crossing an empty one (no tombstones).
 */
export const removeAt = (index: IdIndex, slot: number): void => {
  // a caller removes what it found: a miss means a corrupt table, which must not go on
  if (!(slot >= 0 && index.hashes[slot] !== 0)) throw new Error(`IdIndex: no entry at slot ${slot}`)
  const { hashes, locations, mask } = index
  let hole = slot
  for (let i = (slot + 1) & mask;; i = (i + 1) & mask) {
    const h = hashes[i]!
    if (h === 0) break
    const home = h & mask
    // the entry at i may move to the hole unless its home lies cyclically in (hole, i]
    const stays = hole <= i ? hole < home && home <= i : hole < home || home <= i
    if (!stays) {
      hashes[hole] = h
      locations[hole] = locations[i]!
      hole = i
    }
  }
  hashes[hole] = 0
  locations[hole] = 0
  index.size--
}

// FNV-1a over the bytes, then murmur3's finalizer so that ids differing in their last
// characters spread over the low bits linear probing uses. Deterministic (no seed): the
// table's layout is never observable, but replicas and replays must behave alike.
const finish = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  h >>>= 0
  return h === 0 ? 1 : h
}

/** Hash of `bytes[start, start + length)`; never 0. */
export const hashBytes = (bytes: Uint8Array, start: number, length: number): number => {
  let h = 0x811c9dc5
  for (let i = start; i < start + length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193)
  return finish(h)
}

/** Hash of an ASCII string, equal to `hashBytes` of its bytes (char codes). */
export const hashAscii = (s: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return finish(h)
}
