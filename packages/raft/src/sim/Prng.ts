/**
 * The simulator's single source of randomness: xoshiro128** seeded through splitmix32.
 * 32-bit integer arithmetic only, so a seed gives the same stream on every machine.
 */
export interface Prng {
  /** Uniform in [0, 1). */
  readonly next: () => number
  /** Uniform integer in [0, n). */
  readonly int: (n: number) => number
  /** True with probability p. */
  readonly chance: (p: number) => boolean
  readonly pick: <A>(items: ReadonlyArray<A>) => A
}

const splitmix32 = (seed: number) => {
  let state = seed >>> 0
  return (): number => {
    state = (state + 0x9e3779b9) >>> 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k))

export const makePrng = (seed: number): Prng => {
  const sm = splitmix32(seed)
  let a = sm()
  let b = sm()
  let c = sm()
  let d = sm()
  if ((a | b | c | d) === 0) a = 1
  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0
    const t = b << 9
    c ^= a
    d ^= b
    b ^= c
    a ^= d
    c ^= t
    d = rotl(d, 11)
    return result
  }
  const next = () => nextU32() / 4294967296
  const int = (n: number) => Math.floor(next() * n)
  return {
    next,
    int,
    chance: (p) => p > 0 && next() < p,
    pick: (items) => items[int(items.length)]!
  }
}
