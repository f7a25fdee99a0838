import { describe, expect, it } from "@effect/vitest"
import { ServerConfig } from "@trading/platform"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { raftNodeConfig } from "./RaftNodeConfig.js"

const read = (env: Record<string, string>) =>
  Effect.runSync(
    Effect.either(Effect.withConfigProvider(raftNodeConfig, ConfigProvider.fromMap(new Map(Object.entries(env)))))
  )

const problems = (env: Record<string, string>) => {
  const result = read(env)
  if (Either.isRight(result)) throw new Error("expected a configuration error")
  return ServerConfig.describeError(result.left).join("\n")
}

describe("RaftNodeConfig", () => {
  it("applies the documented defaults", () => {
    const c = Either.getOrThrow(read({ RAFT_NODE_ID: "n1" }))
    expect(c).toMatchObject({
      nodeId: "n1",
      bindAddr: "127.0.0.1:7000",
      advertiseAddr: "127.0.0.1:7000",
      grpcAdvertiseAddr: "127.0.0.1:50070",
      dataDir: "./.data/raft/n1",
      bootstrap: false,
      joinAddr: Option.none(),
      clusterSecret: Option.none(),
      transferOnStop: true,
      snapshotEvery: 4096,
      snapshotBytes: 8 * 1024 * 1024,
      maxOrders: 150_000
    })
  })

  it("rejects a snapshot size that is not a positive integer, naming it", () => {
    expect(problems({ RAFT_NODE_ID: "n1", RAFT_SNAPSHOT_BYTES: "0" })).toContain("RAFT_SNAPSHOT_BYTES")
    expect(Either.getOrThrow(read({ RAFT_NODE_ID: "n1", RAFT_SNAPSHOT_BYTES: "1048576" })).snapshotBytes).toBe(1048576)
  })

  it("turns the leadership transfer on stop off with RAFT_TRANSFER_ON_STOP=false", () => {
    const c = Either.getOrThrow(read({ RAFT_NODE_ID: "n1", RAFT_TRANSFER_ON_STOP: "false" }))
    expect(c.transferOnStop).toBe(false)
    expect(problems({ RAFT_NODE_ID: "n1", RAFT_TRANSFER_ON_STOP: "maybe" })).toContain("RAFT_TRANSFER_ON_STOP")
  })

  it("derives the client address from the advertised host and PORT_GRPC", () => {
    const c = Either.getOrThrow(read({
      RAFT_NODE_ID: "n2",
      RAFT_BIND_ADDR: "0.0.0.0:7001",
      RAFT_ADVERTISE_ADDR: "10.0.0.2:7001",
      PORT_GRPC: "50071",
      RAFT_JOIN_ADDR: "10.0.0.1:50070"
    }))
    expect(c.grpcAdvertiseAddr).toBe("10.0.0.2:50071")
    expect(c.joinAddr).toEqual(Option.some("10.0.0.1:50070"))
  })

  it("requires RAFT_NODE_ID", () => {
    expect(problems({})).toContain("RAFT_NODE_ID")
  })

  it("names each bad variable", () => {
    const text = problems({
      RAFT_NODE_ID: "bad id!",
      RAFT_BIND_ADDR: "localhost",
      RAFT_BOOTSTRAP: "maybe",
      RAFT_JOIN_ADDR: "nowhere:99999",
      RAFT_TICK_MS: "0"
    })
    for (const name of ["RAFT_NODE_ID", "RAFT_BIND_ADDR", "RAFT_BOOTSTRAP", "RAFT_JOIN_ADDR", "RAFT_TICK_MS"]) {
      expect(text).toContain(name)
    }
  })

  it("refuses bootstrap and join together", () => {
    expect(problems({ RAFT_NODE_ID: "n1", RAFT_BOOTSTRAP: "true", RAFT_JOIN_ADDR: "127.0.0.1:50070" })).toContain(
      "RAFT_JOIN_ADDR"
    )
  })
})
