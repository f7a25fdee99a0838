// Per-symbol sequence numbers (pure). The strategy ignores a tick whose sequence is not
// above the last one it applied, so sequences must grow per symbol across every source
// and across restarts of the ingestor, without any stored counter. Each one is therefore
// max(previous + 1, clock ms * 1000): a restarted ingestor starts above everything it
// issued before as long as its clock moved forward and it issued fewer than 1000 ticks of
// one symbol per millisecond. (ms * 1000 stays below 2^53 until the year 2255.)
export type Sequences = ReadonlyMap<string, number>

export const SEQUENCES_PER_MS = 1000

export const empty: Sequences = new Map()

/** The next sequence of `symbol` at `nowMs`, and the updated table. */
export const next = (sequences: Sequences, symbol: string, nowMs: number): readonly [number, Sequences] => {
  const previous = sequences.get(symbol)
  const floor = nowMs * SEQUENCES_PER_MS
  const sequence = previous === undefined || previous < floor ? floor : previous + 1
  const updated = new Map(sequences)
  updated.set(symbol, sequence)
  return [sequence, updated]
}

/** Assigns sequences to many symbols at once (one table copy). */
export const assign = (
  sequences: Sequences,
  symbols: ReadonlyArray<string>,
  nowMs: number
): readonly [ReadonlyArray<number>, Sequences] => {
  const updated = new Map(sequences)
  const floor = nowMs * SEQUENCES_PER_MS
  const assigned = symbols.map((symbol) => {
    const previous = updated.get(symbol)
    const sequence = previous === undefined || previous < floor ? floor : previous + 1
    updated.set(symbol, sequence)
    return sequence
  })
  return [assigned, updated]
}
