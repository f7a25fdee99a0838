// Process-level behaviour of a service built with runService: graceful shutdown on real
// signals, bad configuration refused before anything binds, one JSON line per log event,
// console traces continuing the caller's trace across processes.
import { MarketIngestorServiceService } from "@trading/proto/gen/trading/v1/market_ingestor"
import * as Effect from "effect/Effect"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { stripVTControlCharacters } from "node:util"
import { afterEach, describe, expect, it } from "vitest"
import * as GrpcClient from "../src/GrpcClient.js"
import { type Child, runOnTerminal, start } from "./childProcess.js"

const running: Array<Child> = []
const launch = (env: Record<string, string> = {}) => {
  const child = start(env)
  running.push(child)
  return child
}

afterEach(() => {
  // a failed assertion must not leave a service running
  for (const child of running.splice(0)) {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill("SIGKILL")
  }
})

const tick = (symbol: string, tickId: string) => ({
  tick: {
    schemaVersion: 1,
    tickId,
    symbol,
    priceMicros: 1,
    size: 1,
    observedAtUnixMs: 0,
    sequence: 0,
    source: "test"
  }
})

const ingest = (port: number, symbol: string, tickId: string) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const client = yield* GrpcClient.make(MarketIngestorServiceService, {
      address: `127.0.0.1:${port}`,
      deadline: "20 seconds"
    })
    const reply = yield* client.ingestTick(tick(symbol, tickId)).pipe(Effect.withSpan("test-client"))
    return reply
  })))

const ports = async (child: Child) => ({
  grpc: (await child.waitFor("gRPC server listening")).annotations.port as number,
  http: (await child.waitFor("HTTP server listening")).annotations.port as number
})

const shutdownOrder = [
  "service ready",
  "shutdown started",
  "gRPC server draining",
  "gRPC server stopped",
  "worker ticker stopped",
  "store closed",
  "HTTP server stopped",
  "service stopped"
]

const messages = (child: Child) => child.lines().map((line) => line.message)

describe("service process", () => {
  it("SIGTERM: stops intake, drains the in-flight call, closes in reverse order, exits 0", async () => {
    const child = launch({ FIXTURE_SLOW_MS: "1500" })
    await child.waitFor("service ready")
    const { grpc, http } = await ports(child)

    // the store check's first probe runs in its own fiber: wait until it has reported
    const healthz = async (): Promise<{ status: number; checks: Array<{ state: string }> }> => {
      const response = await fetch(`http://127.0.0.1:${http}/healthz`)
      const body = await response.json() as { checks: Array<{ state: string }> }
      if (body.checks.some((check) => check.state === "pending")) return healthz()
      return { status: response.status, checks: body.checks }
    }
    expect(await healthz()).toEqual({ status: 200, checks: [expect.objectContaining({ state: "ok" })] })

    const inFlight = ingest(grpc, "SLOW", "in-flight")
    await child.waitFor("slow call started")
    child.process.kill("SIGTERM")

    await expect(inFlight).resolves.toEqual({ tickId: "in-flight", sequence: 1 })
    expect(await child.exited).toEqual({ code: 0, signal: null })

    const seen = messages(child)
    const order = [...shutdownOrder.slice(0, 3), "slow call finished", ...shutdownOrder.slice(3)]
    expect(seen.filter((message) => order.includes(message))).toEqual(order)
  })

  it("SIGINT: same orderly shutdown, exit 0; every line is one JSON object with service and node id", async () => {
    const child = launch()
    await child.waitFor("service ready")
    child.process.kill("SIGINT")
    expect(await child.exited).toEqual({ code: 0, signal: null })

    const lines = child.lines()
    expect(lines.map((l) => l.message).filter((m) => shutdownOrder.includes(m))).toEqual(shutdownOrder)
    for (const line of lines) {
      expect(line.annotations).toMatchObject({ service: "fixture", nodeId: "fixture-1" })
    }
    // no line is written twice (a second logger would duplicate every event)
    const keys = child.stdout().split("\n").filter((l) => l !== "")
    expect(new Set(keys).size).toBe(keys.length)
    expect(child.stderr()).toBe("")
  })

  it("bad configuration stops the process before it binds, naming the variable and the expected form", async () => {
    const cases: Array<{ env: Record<string, string>; expected: string }> = [
      { env: { PORT_GRPC: "99999" }, expected: "PORT_GRPC: expected an integer port 0..65535 (0 = any free port)" },
      { env: { LOG_LEVEL: "shouting" }, expected: "LOG_LEVEL: Expected one of (debug, info, warn, error)" },
      { env: { PORT_HTTP: "eighty" }, expected: "PORT_HTTP: Expected an integer value but received \"eighty\"" },
      { env: { FIXTURE_SLOW_MS: "soon" }, expected: "FIXTURE_SLOW_MS: Expected an integer value" }
    ]
    const children = cases.map(({ env }) => launch(env))
    const exits = await Promise.all(children.map((child) => child.exited))
    cases.forEach(({ expected }, index) => {
      const child = children[index]!
      expect(exits[index]).toEqual({ code: 1, signal: null })
      expect(child.stderr()).toContain("fixture: invalid configuration")
      expect(child.stderr()).toContain(expected)
      expect(child.stdout()).not.toContain("listening")
    })
  })

  it("an HTTP port already in use fails the start loudly: exit 1, the error logged, gRPC never bound", async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve))
    try {
      const child = launch({ PORT_HTTP: String((blocker.address() as AddressInfo).port) })
      expect(await child.exited).toEqual({ code: 1, signal: null })
      const failed = child.lines().find((line) => line.message.startsWith("service failed"))
      expect(failed?.logLevel).toBe("ERROR")
      expect(failed?.message).toContain("EADDRINUSE")
      expect(child.stdout()).toContain("EADDRINUSE")
      expect(messages(child)).not.toContain("gRPC server listening")
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })

  it("on a terminal the same events are logged by the pretty logger instead of JSON", async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve))
    try {
      // a port in use makes the fixture log a few lines and exit on its own
      const { code, output } = await runOnTerminal({ PORT_HTTP: String((blocker.address() as AddressInfo).port) })
      expect(code).toBe(1)
      const plain = stripVTControlCharacters(output)
      expect(plain).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] ERROR \(#\d+\): service failed: ServeError/m)
      expect(plain).toMatch(/^ {2}service: fixture/m)
      expect(plain).not.toContain("{\"message\"")
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })

  it("TRACE=console prints the server's span tree under the caller's trace id", async () => {
    const child = launch({ TRACE: "console" })
    await child.waitFor("service ready")
    const { grpc } = await ports(child)
    const traceId = await Effect.runPromise(Effect.scoped(
      Effect.gen(function*() {
        const client = yield* GrpcClient.make(MarketIngestorServiceService, { address: `127.0.0.1:${grpc}` })
        yield* client.ingestTick(tick("ACME", "traced"))
        return (yield* Effect.currentSpan).traceId
      }).pipe(Effect.withSpan("test-client"))
    ))
    child.process.kill("SIGTERM")
    expect((await child.exited).code).toBe(0)

    const tree = child.stderr().split("[fixture] ").find((block) => block.startsWith(`trace ${traceId}`))
    expect(tree).toBeDefined()
    const lines = tree!.trim().split("\n")
    expect(lines[1]).toMatch(
      /^grpc\.server \/trading\.v1\.MarketIngestorService\/IngestTick \[server\] \d+\.\d+ms .*rpc\.grpc\.status_code=OK/
    )
    expect(lines[2]).toMatch(/^└─ ingest \d+\.\d+ms$/)
  })
})
