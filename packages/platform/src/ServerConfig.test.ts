import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { config, describeError } from "./ServerConfig.js"

const load = (env: Record<string, string>) =>
  Effect.runSyncExit(
    Effect.withConfigProvider(
      config({ name: "svc", grpcPort: 50053, httpPort: 8083 }),
      ConfigProvider.fromMap(new Map(Object.entries(env)))
    )
  )

const problems = (env: Record<string, string>) => {
  const exit = load(env)
  if (Exit.isSuccess(exit)) throw new Error("expected invalid configuration")
  return describeError(Option.getOrThrow(Cause.failureOption(exit.cause)))
}

describe("ServerConfig", () => {
  it("uses the service's defaults when nothing is set", () => {
    const exit = load({})
    expect(Exit.isSuccess(exit)).toBe(true)
    if (Exit.isSuccess(exit)) {
      expect(exit.value).toMatchObject({
        service: "svc",
        grpcPort: 50053,
        httpPort: 8083,
        trace: "off",
        host: "0.0.0.0"
      })
      expect(exit.value.logLevel).toBe(LogLevel.Info)
      expect(Duration.toMillis(exit.value.clientDeadline)).toBe(5000)
      expect(Option.isNone(exit.value.tls)).toBe(true)
    }
  })

  it("reads every variable", () => {
    const exit = load({
      PORT_GRPC: "0",
      PORT_HTTP: "9000",
      LOG_LEVEL: "debug",
      LOG_FORMAT: "pretty",
      TRACE: "console",
      NODE_ID: "n1",
      GRPC_TLS_CERT: "c.pem",
      GRPC_TLS_KEY: "k.pem",
      GRPC_TLS_CA: "ca.pem",
      GRPC_DEADLINE_MS: "250"
    })
    expect(Exit.isSuccess(exit) && exit.value).toMatchObject({
      grpcPort: 0,
      httpPort: 9000,
      logLevel: LogLevel.Debug,
      logFormat: "pretty",
      trace: "console",
      nodeId: "n1",
      tls: Option.some({ cert: "c.pem", key: "k.pem", ca: Option.some("ca.pem") })
    })
  })

  it("names the variable and the expected form for bad values (never falls back to the default)", () => {
    expect(problems({ LOG_LEVEL: "shouting" })).toEqual([
      "LOG_LEVEL: Expected one of (debug, info, warn, error) but received \"shouting\""
    ])
    expect(problems({ PORT_GRPC: "99999" })).toEqual([
      "PORT_GRPC: expected an integer port 0..65535 (0 = any free port)"
    ])
    expect(problems({ PORT_HTTP: "eighty" })).toEqual(["PORT_HTTP: Expected an integer value but received \"eighty\""])
    expect(problems({ TRACE: "loud" })[0]).toMatch(/^TRACE: Expected one of \(off, console, otlp\)/)
    expect(problems({ GRPC_DEADLINE_MS: "-5" })).toEqual([
      "GRPC_DEADLINE_MS: expected a positive integer (milliseconds)"
    ])
    expect(problems({ GRPC_TLS_CERT: "c.pem" })[0]).toMatch(/^GRPC_TLS_KEY: expected GRPC_TLS_CERT and GRPC_TLS_KEY/)
  })

  it("reports every bad variable at once", () => {
    expect(problems({ PORT_GRPC: "-1", LOG_LEVEL: "loud" })).toHaveLength(2)
  })

  it("takes the node id from the service's own variable when NODE_ID is unset", () => {
    const exit = Effect.runSyncExit(Effect.withConfigProvider(
      config({ name: "raft-node", grpcPort: 50070, httpPort: 8090, nodeId: Config.nonEmptyString("RAFT_NODE_ID") }),
      ConfigProvider.fromMap(new Map([["RAFT_NODE_ID", "n2"]]))
    ))
    expect(Exit.isSuccess(exit) && exit.value.nodeId).toBe("n2")
  })
})
