// Key -> partition exactly as Kafka's default partitioner (Java client, and kafkajs's
// `DefaultPartitioner`): murmur2 (seed 0x9747b28c) of the key bytes, sign bit cleared,
// modulo the partition count. The embedded bus uses it so a key lands on the same
// partition number in both implementations.

const seed = 0x9747b28c
const m = 0x5bd1e995

/** 32-bit murmur2 of `bytes`, as a signed int like Java's. */
export const murmur2 = (bytes: Uint8Array): number => {
  const length = bytes.length
  let h = (seed ^ length) | 0
  const blocks = length - (length % 4)
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)
    k = Math.imul(k, m)
    k ^= k >>> 24
    k = Math.imul(k, m)
    h = Math.imul(h, m) ^ k
  }
  // the tail bytes, highest first, as the reference algorithm's fall-through switch does
  const tail = length % 4
  if (tail === 3) h ^= bytes[blocks + 2]! << 16
  if (tail >= 2) h ^= bytes[blocks + 1]! << 8
  if (tail >= 1) {
    h ^= bytes[blocks]!
    h = Math.imul(h, m)
  }
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h | 0
}

/** The partition Kafka's default partitioner picks for a non-null key. */
export const partitionForKey = (key: Uint8Array, partitions: number): number => (murmur2(key) & 0x7fffffff) % partitions

/**
 * `count` keys `${prefix}0`, `${prefix}1`, ... chosen so that they spread as evenly as the
 * partitioner allows over `partitions` (at most ceil(count / partitions) each), listed
 * partition by partition. Benchmarks use it so that every partition carries the same load.
 */
export const evenKeys = (prefix: string, count: number, partitions: number): Array<string> => {
  const byPartition: Array<Array<string>> = Array.from({ length: partitions }, () => [])
  const perPartition = Math.ceil(count / partitions)
  const encoder = new TextEncoder()
  let found = 0
  for (let i = 0; found < count; i++) {
    const key = `${prefix}${i}`
    const p = partitionForKey(encoder.encode(key), partitions)
    if (byPartition[p]!.length < perPartition) {
      byPartition[p]!.push(key)
      found++
    }
  }
  return byPartition.flat()
}
