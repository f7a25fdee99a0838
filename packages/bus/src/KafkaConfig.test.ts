import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { BusKind } from "./BusSelection.js"
import { KafkaConfig } from "./KafkaConfig.js"

const withEnv = (env: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("KafkaConfig", () => {
  it.effect("defaults to the local broker, as a mutable copy", () =>
    Effect.gen(function*() {
      const config = yield* KafkaConfig.pipe(withEnv({}))
      expect(config.brokers).toEqual(["127.0.0.1:9092"])
      expect(Object.isFrozen(config.brokers)).toBe(false)
      expect(config.clientId).toBe("trading")
    }))

  it.effect("reads comma-separated brokers", () =>
    Effect.gen(function*() {
      const config = yield* KafkaConfig.pipe(withEnv({ KAFKA_BROKERS: "10.0.0.1:9092,kafka-2:19092" }))
      expect(config.brokers).toEqual(["10.0.0.1:9092", "kafka-2:19092"])
    }))

  it.effect("rejects a malformed broker list, naming the variable and the expected form", () =>
    Effect.gen(function*() {
      for (const bad of ["localhost", "127.0.0.1:99999", "127.0.0.1:", "a:1,b"]) {
        const result = yield* Effect.either(KafkaConfig.pipe(withEnv({ KAFKA_BROKERS: bad })))
        expect(Either.isLeft(result)).toBe(true)
        const message = String(Either.getLeft(result).pipe((e) => e._tag === "Some" ? e.value : ""))
        expect(message).toContain("KAFKA_BROKERS")
        expect(message).toContain("host:port")
      }
    }))

  it.effect("MESSAGE_BUS picks kafka by default, embedded on request, and rejects anything else", () =>
    Effect.gen(function*() {
      expect(yield* BusKind.pipe(withEnv({}))).toBe("kafka")
      expect(yield* BusKind.pipe(withEnv({ MESSAGE_BUS: "embedded" }))).toBe("embedded")
      const bad = yield* Effect.either(BusKind.pipe(withEnv({ MESSAGE_BUS: "rabbit" })))
      expect(Either.isLeft(bad)).toBe(true)
    }))
})
