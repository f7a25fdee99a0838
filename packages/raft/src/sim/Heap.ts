/** A binary min-heap of timed events; ties break by insertion order so runs are deterministic. */
export interface Timed {
  readonly at: number
  readonly seq: number
}

export interface Heap<A extends Timed> {
  readonly items: Array<A>
}

const before = (x: Timed, y: Timed): boolean => x.at < y.at || (x.at === y.at && x.seq < y.seq)

export const makeHeap = <A extends Timed>(): Heap<A> => ({ items: [] })

export const push = <A extends Timed>(h: Heap<A>, item: A): void => {
  const a = h.items
  a.push(item)
  let i = a.length - 1
  while (i > 0) {
    const parent = (i - 1) >> 1
    if (!before(a[i]!, a[parent]!)) break
    const tmp = a[i]!
    a[i] = a[parent]!
    a[parent] = tmp
    i = parent
  }
}

export const pop = <A extends Timed>(h: Heap<A>): A | undefined => {
  const a = h.items
  if (a.length === 0) return undefined
  const top = a[0]!
  const last = a.pop()!
  if (a.length > 0) {
    a[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < a.length && before(a[l]!, a[m]!)) m = l
      if (r < a.length && before(a[r]!, a[m]!)) m = r
      if (m === i) break
      const tmp = a[i]!
      a[i] = a[m]!
      a[m] = tmp
      i = m
    }
  }
  return top
}
