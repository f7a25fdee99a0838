// An append-only FIFO of framed entries in fixed byte segments, off the JS heap.
//
// The order registry keeps hundreds of thousands of small records. As JS objects they cost
// ~500 bytes each and make every major GC trace them all (the raft-node's latency tail);
// here they are bytes in a few large `Uint8Array`s that the GC does not look into.
//
// An entry is framed exactly as in the registry's snapshot (v1): `f64 key | u32 length |
// payload`, big-endian. Entries are appended at the tail in order and consumed from the
// head (oldest first), so a snapshot of the live entries is a few segment ranges, written
// as they are. An entry never straddles two segments: one that does not fit starts a new
// segment. A segment is dropped once the head has passed it, and bytes before a segment's
// end never change while it is live: a `Capture` (the segment references plus the head and
// tail positions) stays a consistent view while appends and evictions go on, until it is
// released. Such a capture is O(number of segments), i.e. tens for a registry of a few
// hundred thousand entries.
//
// Dropped full-size segments are kept as spares and reused for new segments (ADR 0100), but
// only while no capture is held: a segment dropped under a held capture waits until every
// capture is released. Why reuse: V8 starts a full collection once the old generation's
// room, less what the process's ArrayBuffers grew by since the last one, falls to the young
// generation's size (ADR 0101), and a fresh 1 MiB segment every few dozen milliseconds at
// 70,000 orders/s made a third of the raft-node leader's full collections.
//
// A location is `serial * SEGMENT_LIMIT + offset`: the segment's serial number (never
// reused) and the entry's offset in it. It is exact in a float64 for 2^33 segments.
//
// The arena is linear, like the Raft core's state (ADR 0030): functions mutate it in place.

/** Largest segment (and so the bound on offsets); a location packs serial and offset with it. */
export const SEGMENT_LIMIT = 1 << 20
/** Bytes of framing before an entry's payload: f64 key, u32 payload length. */
export const FRAME = 12
/** The first segment is small so that small registries (tests, the simulator) stay small. */
const FIRST_SEGMENT = 64 * 1024
/**
 * Most dropped segments kept for reuse (and most kept while a capture is held): at the
 * raft-node's eviction rate a snapshot's write drops two or three; the rest go to the GC.
 */
export const SPARE_LIMIT = 4

export interface Arena {
  /** Live segments, oldest first: `segments[i]` has serial `baseSerial + i`. */
  readonly segments: Array<Uint8Array>
  readonly views: Array<DataView>
  /** Bytes used in each segment; the last (tail) one grows as entries are appended. */
  readonly ends: Array<number>
  baseSerial: number
  headSerial: number
  headOffset: number
  /** Number of entries between head and tail. */
  count: number
  /** Bytes of the live entries (frames included): exactly the snapshot's entry section. */
  bytes: number
  nextSegmentBytes: number
  readonly maxSegmentBytes: number
  /** Captures not yet released: while there is one, no dropped segment is reused. */
  readonly held: Set<Capture>
  /** Dropped full-size segments that a held capture may still read. */
  readonly retired: Array<Uint8Array>
  /** Dropped full-size segments free for reuse. */
  readonly spare: Array<Uint8Array>
}

export const make = (maxSegmentBytes: number = SEGMENT_LIMIT): Arena => {
  const max = Math.max(FRAME, Math.min(SEGMENT_LIMIT, Math.floor(maxSegmentBytes)))
  const first = new Uint8Array(Math.min(FIRST_SEGMENT, max))
  return {
    segments: [first],
    views: [new DataView(first.buffer)],
    ends: [0],
    baseSerial: 0,
    headSerial: 0,
    headOffset: 0,
    count: 0,
    bytes: 0,
    nextSegmentBytes: Math.min(first.length * 2, max),
    maxSegmentBytes: max,
    held: new Set(),
    retired: [],
    spare: []
  }
}

export const location = (serial: number, offset: number): number => serial * SEGMENT_LIMIT + offset

const serialOf = (loc: number): number => Math.floor(loc / SEGMENT_LIMIT)

/** The segment holding a location (which must be live or appended in the current batch). */
export const segmentAt = (arena: Arena, loc: number): Uint8Array => arena.segments[serialOf(loc) - arena.baseSerial]!

export const offsetOf = (loc: number): number => loc % SEGMENT_LIMIT

export const keyAt = (arena: Arena, loc: number): number =>
  arena.views[serialOf(loc) - arena.baseSerial]!.getFloat64(loc % SEGMENT_LIMIT)

export const payloadLengthAt = (arena: Arena, loc: number): number =>
  arena.views[serialOf(loc) - arena.baseSerial]!.getUint32(loc % SEGMENT_LIMIT + 8)

/**
 * Appends an entry with a `payloadLength`-byte payload and returns its location; the caller
 * writes the payload at `offsetOf(loc) + FRAME` of `segmentAt(arena, loc)` before anything
 * else reads it.
 */
export const append = (arena: Arena, key: number, payloadLength: number): number => {
  const size = FRAME + payloadLength
  let last = arena.segments.length - 1
  if (arena.ends[last]! + size > arena.segments[last]!.length) {
    // a new segment: a spare when it will do; oversize entries get one of their own size
    // (never more than a few KB), which is never reused
    const reuse = arena.spare.length > 0 && arena.nextSegmentBytes === arena.maxSegmentBytes &&
      size <= arena.maxSegmentBytes
    const segment = reuse ? arena.spare.pop()! : new Uint8Array(Math.max(arena.nextSegmentBytes, size))
    arena.nextSegmentBytes = Math.min(arena.nextSegmentBytes * 2, arena.maxSegmentBytes)
    arena.segments.push(segment)
    arena.views.push(new DataView(segment.buffer))
    arena.ends.push(0)
    last++
    if (arena.count === 0) {
      arena.headSerial = arena.baseSerial + last
      arena.headOffset = 0
    }
  }
  const offset = arena.ends[last]!
  const view = arena.views[last]!
  view.setFloat64(offset, key)
  view.setUint32(offset + 8, payloadLength)
  arena.ends[last] = offset + size
  arena.count++
  arena.bytes += size
  return location(arena.baseSerial + last, offset)
}

/** Location of the oldest entry; meaningful only when `count > 0`. */
export const head = (arena: Arena): number => location(arena.headSerial, arena.headOffset)

/** Forgets the oldest entry (its bytes stay until `trim` drops a passed segment). */
export const popHead = (arena: Arena): void => {
  const i = arena.headSerial - arena.baseSerial
  const size = FRAME + arena.views[i]!.getUint32(arena.headOffset + 8)
  arena.headOffset += size
  arena.bytes -= size
  arena.count--
  // step over finished segments (an entry that did not fit left the rest of one unused)
  let j = i
  while (j < arena.segments.length - 1 && arena.headOffset >= arena.ends[j]!) {
    j++
    arena.headOffset = 0
  }
  arena.headSerial = arena.baseSerial + j
}

/**
 * Drops the segments the head has passed. Called once per applied batch, after its result
 * is encoded: outcomes of the batch may point into entries the batch itself evicted.
 */
export const trim = (arena: Arena): void => {
  const passed = arena.headSerial - arena.baseSerial
  if (passed === 0) return
  const dropped = arena.segments.splice(0, passed)
  arena.views.splice(0, passed)
  arena.ends.splice(0, passed)
  arena.baseSerial = arena.headSerial
  const keep = arena.held.size === 0 ? arena.spare : arena.retired
  for (const segment of dropped) {
    if (segment.length === arena.maxSegmentBytes && keep.length < SPARE_LIMIT) keep.push(segment)
  }
}

/**
 * The live entries as of now: consistent until released, since bytes before `ends` never
 * change while a segment is live and no dropped segment is reused while a capture is held.
 */
export interface Capture {
  readonly segments: ReadonlyArray<Uint8Array>
  /** Live byte range of each captured segment: `[starts[i], ends[i])`. */
  readonly starts: ReadonlyArray<number>
  readonly ends: ReadonlyArray<number>
  readonly count: number
  readonly bytes: number
}

/** A capture of the live entries, held (it keeps dropped segments from reuse) until `release`. */
export const capture = (arena: Arena): Capture => {
  if (arena.count === 0) return { segments: [], starts: [], ends: [], count: 0, bytes: 0 }
  const from = arena.headSerial - arena.baseSerial
  const segments = arena.segments.slice(from)
  const ends = arena.ends.slice(from)
  const starts = ends.map(() => 0)
  starts[0] = arena.headOffset
  const captured = { segments, starts, ends, count: arena.count, bytes: arena.bytes }
  arena.held.add(captured)
  return captured
}

/**
 * Ends a capture: its bytes may be overwritten from now on. Once no capture is held, the
 * segments dropped meanwhile become spares. Releasing twice, or a capture of another arena
 * (one a restore replaced), does nothing.
 */
export const release = (arena: Arena, captured: Capture): void => {
  if (!arena.held.delete(captured) || arena.held.size > 0) return
  for (const segment of arena.retired.splice(0)) {
    if (arena.spare.length < SPARE_LIMIT) arena.spare.push(segment)
  }
}

/**
 * The captured entries as byte ranges of their segments, oldest first: views, not copies
 * (valid until the capture is released), whose concatenation is the snapshot's entry section.
 */
export const ranges = (captured: Capture): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let i = 0; i < captured.segments.length; i++) {
    if (captured.ends[i]! > captured.starts[i]!) {
      out.push(captured.segments[i]!.subarray(captured.starts[i]!, captured.ends[i]!))
    }
  }
  return out
}
