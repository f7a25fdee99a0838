import { describe, expect, it } from "@effect/vitest"
import { Partitioners } from "kafkajs"
import { evenKeys, partitionForKey } from "./Partitioner.js"

// kafkajs's DefaultPartitioner is the Java-compatible murmur2 one: ours must agree with it
// for every key length (tail handling) and partition count.
describe("Partitioner", () => {
  const kafkajs = Partitioners.DefaultPartitioner()
  const encoder = new TextEncoder()

  it("matches kafkajs's DefaultPartitioner", () => {
    for (const partitions of [1, 2, 3, 7, 12]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, partition) => ({
        partitionId: partition,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [0],
        isr: [0]
      }))
      for (let i = 0; i < 500; i++) {
        const key = `key-${i}-${"x".repeat(i % 9)}`
        const expected = kafkajs({ topic: "t", partitionMetadata, message: { key: Buffer.from(key), value: null } })
        expect(partitionForKey(encoder.encode(key), partitions)).toBe(expected)
      }
    }
  })

  it("matches Java Kafka's known values", () => {
    // Utils.murmur2 reference: "21" -> -973932308, "foobar" -> -790332482 (from Kafka's own tests)
    expect(partitionForKey(encoder.encode("21"), 2 ** 31 - 1)).toBe((-973932308 & 0x7fffffff) % (2 ** 31 - 1))
    expect(partitionForKey(encoder.encode("foobar"), 2 ** 31 - 1)).toBe((-790332482 & 0x7fffffff) % (2 ** 31 - 1))
  })

  it("evenKeys spreads keys evenly over the partitions, listed partition by partition", () => {
    for (const [count, partitions] of [[12, 3], [10, 3], [1, 4], [7, 1]] as const) {
      const keys = evenKeys("SYM", count, partitions)
      expect(keys).toHaveLength(count)
      expect(new Set(keys).size).toBe(count)
      const owners = keys.map((k) => partitionForKey(encoder.encode(k), partitions))
      expect([...owners].sort((a, b) => a - b)).toEqual(owners)
      for (let p = 0; p < partitions; p++) {
        expect(owners.filter((o) => o === p).length).toBeLessThanOrEqual(Math.ceil(count / partitions))
      }
    }
  })
})
