/**
 * A table of things in flight (calls waiting for their answer), each value dropped from the
 * table's memory as it is taken.
 *
 * Why not a bare `Map`: when deletions pile up, V8 rehashes a `Map` into a new table and
 * leaves the old table as it was, every entry in it and a link to its successor (for
 * iterators still walking it). Once one table of a long-lived `Map` has been promoted to the
 * old generation, the young-generation collector treats its slots as roots until the next
 * full collection: every later table and every value any of them held survive each scavenge
 * and are promoted, though nothing reaches them. A `Map` with an entry per call in flight
 * then keeps every call's data alive through the scavenges (the benchmark's client kept
 * 3-4 MB per scavenge; docs/adr/0098-in-flight-tables.md). Here the `Map` holds cells and a
 * taken cell is emptied, so an old table holds empty cells and the chain of tables costs a
 * few bytes per entry.
 */
export interface InFlight<K, V> {
  readonly size: number
  readonly set: (key: K, value: V) => void
  /** The value under `key` (undefined when there is none), removed from the table. */
  readonly take: (key: K) => V | undefined
  /** Every value, removed from the table (in insertion order). */
  readonly takeAll: () => Array<V>
}

interface Cell<V> {
  value: V | undefined
}

export const make = <K, V>(): InFlight<K, V> => {
  const cells = new Map<K, Cell<V>>()
  const empty = (cell: Cell<V>) => {
    const value = cell.value as V
    cell.value = undefined
    return value
  }
  return {
    get size() {
      return cells.size
    },
    set: (key, value) => void cells.set(key, { value }),
    take: (key) => {
      const cell = cells.get(key)
      if (cell === undefined) return undefined
      cells.delete(key)
      return empty(cell)
    },
    takeAll: () => {
      const values = Array.from(cells.values(), empty)
      cells.clear()
      return values
    }
  }
}
