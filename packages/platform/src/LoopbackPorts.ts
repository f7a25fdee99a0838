// Free loopback ports for servers that must come back on the same port: a raft node's
// addresses are in the cluster's membership, and tests restart services on theirs. They are
// chosen outside the kernel's ephemeral range, because ports in that range are handed out to
// anyone: to every bind on port 0 (a service started with PORT_GRPC=0) and to the local end
// of outgoing connections. While a node is down, such a socket can take its port and the
// restart fails with EADDRINUSE (seen in CI). Below the range, a port is only ever taken by
// someone asking for that number.
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { readFileSync } from "node:fs"
import { createServer, type Server } from "node:net"

export interface PortRange {
  readonly low: number
  readonly high: number
}

/** Linux's `ip_local_port_range` (its default when unreadable); IANA's dynamic range elsewhere. */
export const ephemeralRange = (): PortRange => {
  if (process.platform !== "linux") return { low: 49_152, high: 65_535 }
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number)
    if (Number.isInteger(low) && Number.isInteger(high)) return { low: low!, high: high! }
  } catch {
    // not readable (a sandbox): the kernel's default
  }
  return { low: 32_768, high: 60_999 }
}

/** Where to choose from: the wider of 10,000 up to the ephemeral range and above it. */
export const band = (ephemeral: PortRange = ephemeralRange()): PortRange => {
  const below = { low: 10_000, high: ephemeral.low - 1 }
  const above = { low: ephemeral.high + 1, high: 65_535 }
  return size(below) >= size(above) ? below : above
}

export const size = (range: PortRange): number => Math.max(0, range.high - range.low + 1)

const listen = (port: number): Effect.Effect<Server | undefined> =>
  Effect.async<Server | undefined>((resume) => {
    const server = createServer()
    server.once("error", () => resume(Effect.succeed(undefined)))
    server.listen({ port, host: "127.0.0.1", exclusive: true }, () => resume(Effect.succeed(server)))
  })

const close = (server: Server): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
  })

/** Listens on 127.0.0.1:`port` for the scope's life: the server, or undefined when the port is taken. */
export const hold = (port: number): Effect.Effect<Server | undefined, never, Scope.Scope> =>
  Effect.acquireRelease(listen(port), (server) => server === undefined ? Effect.void : close(server))

/**
 * `count` distinct ports of `range` that nobody listened on when asked, trying them in order
 * from `start` (wrapping around). Each is held until all are found, so none is returned
 * twice; all are released before this returns (the caller binds them next).
 */
export const reserve = (
  count: number,
  range: PortRange = band(),
  start: number = range.low + Math.floor(Math.random() * size(range))
): Effect.Effect<ReadonlyArray<number>, Error> =>
  Effect.scoped(Effect.gen(function*() {
    const found: Array<number> = []
    for (let i = 0; i < size(range) && found.length < count; i++) {
      const port = range.low + ((start - range.low + i) % size(range))
      if ((yield* hold(port)) !== undefined) found.push(port)
    }
    if (found.length < count) {
      return yield* Effect.fail(
        new Error(`only ${found.length} of ${count} free loopback ports in ${range.low}-${range.high}`)
      )
    }
    return found
  }))
