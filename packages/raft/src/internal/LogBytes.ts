// The bytes of the log's entries, in segments that are reused once no entry lies in them.
//
// Why: V8 starts a full collection once the old generation's room, less what the process's
// ArrayBuffers grew by since the last one, falls to the young generation's size (ADR 0101).
// Each entry's bytes used to be an ArrayBuffer of their own, kept until the log is compacted
// past the entry: on a loaded node that growth started most of the full collections (an
// unsafe experiment with a ring buffer took the leader's from about 50 to 22-31 per bench:raft
// run and a follower's from 18 to 6; ADR 0100). Now the runtime copies an entry's bytes into
// a segment as the entry reaches the core (a proposal, or an append from the leader), and
// after a compaction makes the segments that no entry of the log lies in spares.
//
// Safety rests on one rule, which the runtime's contracts state (Transport, Storage,
// StateMachine): an entry's bytes are read only while the entry is in the core's log, or
// within the call that was given them. The transport encodes or copies a message when it
// sends it, the storage copies what it writes, the state machine copies what it keeps of a
// command. A segment is reused only when no entry of the log lies in it (by identity of the
// entries' buffers), checked at the end of a turn, when no output of the turn is pending.
//
// Linear, like the Raft core's state (ADR 0030): the functions update it in place.

/** Segment size: entries of more than a quarter of it keep buffers of their own. */
export const SEGMENT_BYTES = 1 << 20

export interface LogBytes {
  readonly segmentBytes: number
  /** At most this many bytes of spares are kept; other freed segments go to the GC. */
  readonly spareBytes: number
  /** Segments that may hold entries, oldest first; the last is the one being filled. */
  segments: Array<Uint8Array>
  /** Bytes used in the last segment. */
  used: number
  readonly spare: Array<Uint8Array>
}

export const make = (options: { readonly spareBytes: number; readonly segmentBytes?: number }): LogBytes => ({
  segmentBytes: options.segmentBytes ?? SEGMENT_BYTES,
  spareBytes: options.spareBytes,
  segments: [],
  used: 0,
  spare: []
})

/**
 * `entries` with bytes of their own: what a storage or a transport that keeps entries past
 * the call keeps of them (the log's bytes are reused after a compaction).
 */
export const ownEntries = <E extends { readonly data: Uint8Array }>(entries: ReadonlyArray<E>): Array<E> =>
  entries.map((e) => ({ ...e, data: e.data.slice() }))

const empty = new Uint8Array(0)
/** What freed segments are filled with: neither state machine here reads it as a command. */
const POISON = 0xff

/**
 * The entry bytes to keep in the log for `bytes`: a copy in the segment being filled (a
 * view), or `bytes` itself when it is empty or large (a buffer of its own already).
 */
export const copy = (store: LogBytes, bytes: Uint8Array): Uint8Array => {
  const n = bytes.length
  if (n === 0) return empty
  if (n > store.segmentBytes / 4) return bytes
  let last = store.segments[store.segments.length - 1]
  if (last === undefined || store.used + n > last.length) {
    last = store.spare.pop() ?? new Uint8Array(store.segmentBytes)
    store.segments.push(last)
    store.used = 0
  }
  const view = last.subarray(store.used, store.used + n)
  view.set(bytes)
  store.used += n
  return view
}

/**
 * Every segment but the last in which no entry of `live` (the log's entries, and any the
 * runtime still has to act on) lies becomes a spare, up to `spareBytes`. Call it only where
 * no other reference to an entry's bytes is left: at the end of a turn. A freed segment is
 * filled with 0xff (about 50 µs a MiB), so that a read of an entry wrongly freed finds no
 * command at all, which fails loudly, rather than another entry's bytes.
 */
export const release = (
  store: LogBytes,
  ...live: ReadonlyArray<ReadonlyArray<{ readonly data: Uint8Array }>>
): void => {
  const last = store.segments.length - 1
  if (last <= 0) return
  const inUse = new Set<ArrayBufferLike>()
  for (const entries of live) for (const e of entries) inUse.add(e.data.buffer)
  const kept: Array<Uint8Array> = []
  for (let i = 0; i < last; i++) {
    const segment = store.segments[i]!
    if (inUse.has(segment.buffer)) kept.push(segment)
    else {
      segment.fill(POISON)
      if ((store.spare.length + 1) * store.segmentBytes <= store.spareBytes) store.spare.push(segment)
    }
  }
  kept.push(store.segments[last]!)
  store.segments = kept
}
