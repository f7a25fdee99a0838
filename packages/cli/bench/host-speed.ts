// How fast this host runs JavaScript right now: a fixed, single-threaded workload of the kind
// the services do (small records made, keyed in a Map, written to bytes, sorted), timed.
//
// The development machine is a VM on a shared host whose speed changes by half within an
// hour with the same code (docs/benchmarks.md, twelfth and thirteenth sessions); without a
// figure for it, runs could only be compared through their own results. The benchmarks print
// this before they start their processes and again at the end, so a reader can tell a slow
// run of a build from a slow host. Lower is faster; it is a yardstick, not a target.

const RECORDS = 60_000

/** One pass of the workload; returns a checksum so that nothing can be optimized away. */
const workload = (): number => {
  const byId = new Map<string, { id: string; qty: number; price: number; side: string }>()
  for (let i = 0; i < RECORDS; i++) {
    const id = `order-${i * 7919 % RECORDS}`
    byId.set(id, { id, qty: i % 100, price: 1_000_000 + i, side: i % 2 === 0 ? "BUY" : "SELL" })
  }
  const bytes = new TextEncoder().encode(JSON.stringify([...byId.values()]))
  const sorted = [...byId.keys()].sort()
  let sum = bytes.length
  for (let i = 0; i < sorted.length; i += 997) sum += sorted[i]!.length
  return sum
}

/** Milliseconds the workload takes: the median of `runs` timed passes after one untimed pass. */
export const measure = (runs = 5): number => {
  workload()
  const times: Array<number> = []
  let check = 0
  for (let i = 0; i < runs; i++) {
    const started = performance.now()
    check += workload()
    times.push(performance.now() - started)
  }
  if (check === 0) throw new Error("host speed workload produced nothing")
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]!
}

/** The line the benchmarks print: the readings in order (e.g. at the start and at the end). */
export const describe = (readings: ReadonlyArray<readonly [string, number]>): string =>
  `host speed (fixed JavaScript workload, median of 5 passes; lower is faster): ${
    readings.map(([when, ms]) => `${ms.toFixed(0)} ms ${when}`).join(", ")
  }`
