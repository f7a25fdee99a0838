/**
 * Linearizability of a first-writer-wins registry history, checked key by key (keys are
 * independent, so the history is linearizable iff every key's sub-history is).
 *
 * For each key this is a Wing & Gong search with Lowe's memoisation: repeatedly pick an
 * operation that is minimal in real-time order (invoked before every pending completed
 * operation responded), apply it to the sequential model, and backtrack when the model's
 * answer differs from the recorded one. Visited (set of linearized operations, model state)
 * pairs are remembered so each is explored once.
 *
 * Operations without a response (the client timed out, the node crashed) may have taken
 * effect at any point after their invocation or not at all. A pending read constrains
 * nothing and is dropped; a pending write matters only if some answer shows its value.
 */

export interface HistoryOp {
  readonly id: number
  readonly key: string
  readonly kind: "write" | "read"
  /** The written value (writes only). */
  readonly value: string
  /** Logical timestamps; `response` is null when the outcome is unknown. */
  readonly invoke: number
  readonly response: number | null
  /** Winner for a write, value (or null) for a read. */
  readonly result: string | null
}

export type LinearizabilityResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly key: string; readonly ops: ReadonlyArray<HistoryOp> }

const mix = (x: number): number => {
  let z = (x + 0x9e3779b9) >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

export const checkKey = (all: ReadonlyArray<HistoryOp>): boolean => {
  const observed = new Set<string>()
  for (const op of all) if (op.response !== null && op.result !== null) observed.add(op.result)
  const ops = all.filter((op) => op.response !== null || (op.kind === "write" && observed.has(op.value))).sort((a, b) =>
    a.invoke - b.invoke
  )
  const n = ops.length
  const resp = ops.map((op) => op.response ?? Infinity)
  const required = ops.reduce((k, op) => k + (op.response !== null ? 1 : 0), 0)
  // Two independent 32-bit Zobrist lanes identify the set of linearized operations.
  const z1 = ops.map((_, i) => mix(i * 2 + 1))
  const z2 = ops.map((_, i) => mix(i * 2 + 0x51ed27))
  const done = new Uint8Array(n)
  const visited = new Set<string>()

  const search = (state: string | null, requiredLeft: number, h1: number, h2: number): boolean => {
    if (requiredLeft === 0) return true
    let minResp = Infinity
    for (let i = 0; i < n; i++) if (done[i] === 0 && resp[i]! < minResp) minResp = resp[i]!
    for (let i = 0; i < n; i++) {
      if (done[i] === 1) continue
      const op = ops[i]!
      if (op.invoke > minResp) break // sorted by invocation: no later op is minimal either
      let next = state
      let answer: string | null
      if (op.kind === "write") {
        next = state ?? op.value
        answer = next
      } else answer = state
      if (op.response !== null && answer !== op.result) continue
      const n1 = (h1 ^ z1[i]!) >>> 0
      const n2 = (h2 ^ z2[i]!) >>> 0
      const key = `${n1}:${n2}:${next ?? "\u0000"}`
      if (visited.has(key)) continue
      visited.add(key)
      done[i] = 1
      if (search(next, requiredLeft - (op.response !== null ? 1 : 0), n1, n2)) return true
      done[i] = 0
    }
    return false
  }
  return search(null, required, 0, 0)
}

export const checkLinearizable = (history: ReadonlyArray<HistoryOp>): LinearizabilityResult => {
  const byKey = new Map<string, Array<HistoryOp>>()
  for (const op of history) {
    const list = byKey.get(op.key)
    if (list === undefined) byKey.set(op.key, [op])
    else list.push(op)
  }
  for (const [key, ops] of byKey) if (!checkKey(ops)) return { ok: false, key, ops }
  return { ok: true }
}
