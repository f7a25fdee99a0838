// Proves that the project's Kafka client (kafkajs 2.2.4, unmaintained since 2023) still
// negotiates with the pinned Apache Kafka 4.x broker, which dropped many old protocol
// versions (KIP-896), and that the broker is configured as the project expects.
// Runs in the "integration" project: KAFKA_BROKERS comes from infra/kafka/vitest.global-setup.ts.
//
// kafkajs is a dependency of @trading/bus, not of the root, so it is loaded from there:
// this is exactly the copy the message bus runs with. (Plain vitest: `effect` is not a
// root dependency either, and these are promise-based client calls.)
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { describe, expect, it, onTestFinished } from "vitest"
import type * as KafkaJs from "../../../packages/bus/node_modules/kafkajs/types/index.js"

const busRequire = createRequire(new URL("../../../packages/bus/package.json", import.meta.url))
const kafkajs = busRequire("kafkajs") as typeof KafkaJs
const kafkajsVersion = (JSON.parse(readFileSync(busRequire.resolve("kafkajs/package.json"), "utf8")) as {
  version: string
}).version

const brokers = (process.env.KAFKA_BROKERS ?? "").split(",").filter((b) => b.length > 0)

const kafka = new kafkajs.Kafka({
  clientId: "infra-broker-test",
  brokers,
  logLevel: kafkajs.logLevel.NOTHING,
  retry: { retries: 2, initialRetryTime: 100 }
})

// Connects a client and disconnects it when the test ends, passed or failed, so a failed
// assertion never leaves a group member behind to stall the next test. Finished hooks
// run in reverse order of registration, like a scope's finalizers.
const connected = async <C extends { connect: () => Promise<void>; disconnect: () => Promise<void> }>(
  client: C
): Promise<C> => {
  await client.connect()
  onTestFinished(() => client.disconnect())
  return client
}

const uniqueTopic = (name: string) => `infra-it.${name}.${Date.now()}.${Math.floor(Math.random() * 1e6)}`

const createTopic = async (admin: KafkaJs.Admin, topic: string, numPartitions: number): Promise<boolean> => {
  const created = await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true })
  onTestFinished(() => admin.deleteTopics({ topics: [topic] }))
  return created
}

describe("local Kafka broker with kafkajs", () => {
  it("runs against the pinned kafkajs", () => {
    expect(brokers.length).toBeGreaterThan(0)
    expect(kafkajsVersion).toBe("2.2.4")
  })

  it("negotiates API versions and reads cluster metadata", async () => {
    const admin = await connected(kafka.admin())
    const cluster = await admin.describeCluster()
    expect(cluster.brokers).toHaveLength(1)
    expect(cluster.controller).toBe(cluster.brokers[0]!.nodeId)
    expect(cluster.clusterId.length).toBeGreaterThan(0)
  })

  it("creates topics idempotently and refuses automatic topic creation", async () => {
    const admin = await connected(kafka.admin())
    const topic = uniqueTopic("admin")
    expect(await createTopic(admin, topic, 3)).toBe(true)
    // a second create of the same topic is a no-op, not an error
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] })).toBe(false)
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] })
    expect(metadata.topics[0]!.partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2])
    expect(metadata.topics[0]!.partitions.every((p) => p.leader >= 0)).toBe(true)

    // auto.create.topics.enable=false: producing to a missing topic fails instead of
    // quietly creating a one-partition topic
    const producer = await connected(kafka.producer({ allowAutoTopicCreation: true, retry: { retries: 1 } }))
    const missing = uniqueTopic("missing")
    await expect(producer.send({ topic: missing, messages: [{ value: "x" }] })).rejects.toThrow()
    expect(await admin.listTopics()).not.toContain(missing)
  })

  it("idempotent producer and consumer group round-trip with manual commits", async () => {
    const admin = await connected(kafka.admin())
    const topic = uniqueTopic("roundtrip")
    const groupId = `${topic}.group`
    await createTopic(admin, topic, 3)

    // the producer settings the bus uses: idempotent, acks from all replicas
    const producer = await connected(kafka.producer({ idempotent: true, maxInFlightRequests: 1 }))
    const keys = ["AAPL", "MSFT", "GOOG", "TSLA", "NVDA"]
    const traceparent = `00-${"a".repeat(32)}-${"b".repeat(16)}-01`
    const messages = Array.from({ length: 50 }, (_, i) => ({
      key: keys[i % keys.length]!,
      value: `${keys[i % keys.length]}:${i}`,
      headers: { traceparent }
    }))
    await producer.send({ topic, acks: -1, messages })

    const consumer = await connected(kafka.consumer({ groupId, maxWaitTimeInMs: 100 }))
    await consumer.subscribe({ topic, fromBeginning: true })
    const received: Array<{ key: string; value: string; traceparent: string }> = []
    await new Promise<void>((resolve, reject) => {
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ message, partition }) => {
          received.push({
            key: message.key!.toString(),
            value: message.value!.toString(),
            traceparent: message.headers!.traceparent!.toString()
          })
          await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }])
          if (received.length === messages.length) resolve()
        }
      }).catch(reject)
    })

    // everything arrived once, in production order per key, headers intact
    expect(received).toHaveLength(messages.length)
    for (const key of keys) {
      expect(received.filter((r) => r.key === key).map((r) => r.value)).toEqual(
        messages.filter((m) => m.key === key).map((m) => m.value)
      )
    }
    expect(new Set(received.map((r) => r.traceparent))).toEqual(new Set([traceparent]))

    // the committed offsets are the log end offsets (OffsetCommit/OffsetFetch work); a
    // partition that no key hashed to has no commit, which Kafka reports as -1
    const ends = await admin.fetchTopicOffsets(topic)
    const committed = await admin.fetchOffsets({ groupId, topics: [topic] })
    expect(ends.reduce((sum, p) => sum + Number(p.offset), 0)).toBe(messages.length)
    const byPartition = (rows: ReadonlyArray<{ partition: number; offset: string }>) =>
      Object.fromEntries(rows.map((r) => [r.partition, r.offset === "0" ? "-1" : r.offset]))
    expect(byPartition(committed[0]!.partitions)).toEqual(byPartition(ends))

    const groups = await admin.describeGroups([groupId])
    expect(groups.groups[0]!.state).toBe("Stable")
    expect(groups.groups[0]!.members).toHaveLength(1)
  })
})
