// An immutable first-in-first-out queue (two cons lists, the back one reversed lazily).
// push and pop are O(1) amortised when each version is used once, which is how a Raft
// apply loop uses state; older versions stay valid (and correct) for readers like a
// snapshotter, they just do not share the amortisation.

type List<A> = { readonly head: A; readonly tail: List<A> } | undefined

export interface Fifo<A> {
  readonly front: List<A>
  readonly back: List<A>
  readonly size: number
}

export const empty = <A>(): Fifo<A> => ({ front: undefined, back: undefined, size: 0 })

export const push = <A>(queue: Fifo<A>, value: A): Fifo<A> => ({
  front: queue.front,
  back: { head: value, tail: queue.back },
  size: queue.size + 1
})

const reverse = <A>(list: List<A>): List<A> => {
  let out: List<A> = undefined
  for (let cell = list; cell !== undefined; cell = cell.tail) out = { head: cell.head, tail: out }
  return out
}

/** Moves the back list to the front when the front is empty, so `peek` and `pop` are O(1). */
const normalise = <A>(queue: Fifo<A>): Fifo<A> =>
  queue.front === undefined && queue.back !== undefined
    ? { front: reverse(queue.back), back: undefined, size: queue.size }
    : queue

/** The oldest element and the queue without it, or undefined when empty. */
export const pop = <A>(queue: Fifo<A>): readonly [A, Fifo<A>] | undefined => {
  const q = normalise(queue)
  if (q.front === undefined) return undefined
  return [q.front.head, { front: q.front.tail, back: q.back, size: q.size - 1 }]
}

export const peek = <A>(queue: Fifo<A>): readonly [A | undefined, Fifo<A>] => {
  const q = normalise(queue)
  return [q.front?.head, q]
}

/** Oldest first. */
export const toArray = <A>(queue: Fifo<A>): Array<A> => {
  const out: Array<A> = []
  for (let cell = queue.front; cell !== undefined; cell = cell.tail) out.push(cell.head)
  const back: Array<A> = []
  for (let cell = queue.back; cell !== undefined; cell = cell.tail) back.push(cell.head)
  for (let i = back.length - 1; i >= 0; i--) out.push(back[i]!)
  return out
}
