// The raft-node's own settings (the shared ones, ports/log level/TLS, come from platform's
// ServerConfig). Every variable is validated: a set-but-invalid value stops the process
// with a line naming it; nothing silently falls back to a default.
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"

export interface RaftNodeSettings {
  readonly nodeId: string
  /** host:port the consensus transport listens on. */
  readonly bindAddr: string
  /** host:port peers use to reach this node's consensus transport. */
  readonly advertiseAddr: string
  /** host:port clients use to reach this node's RaftNodeService (announced in Join). */
  readonly grpcAdvertiseAddr: string
  readonly dataDir: string
  readonly bootstrap: boolean
  readonly joinAddr: Option.Option<string>
  readonly clusterSecret: Option.Option<Redacted.Redacted<string>>
  /** Length of one Raft tick; the election timeout is electionTicks..2*electionTicks ticks. */
  readonly tickMs: number
  readonly electionTicks: number
  readonly heartbeatTicks: number
  readonly snapshotEvery: number
  readonly snapshotBytes: number
  /** /healthz reports unhealthy when commitIndex - appliedIndex exceeds this. */
  readonly maxAppliedLag: number
  readonly maxOrders: number
  readonly maxAgeMs: number
  /**
   * On a graceful stop, a leader first hands leadership to another voter. Off when the
   * whole cluster stops together (the all-in-one process): there is nobody to hand it to.
   */
  readonly transferOnStop: boolean
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/

const hostPort = (name: string) =>
  Config.string(name).pipe(
    Config.validate({
      message: "expected host:port with a port 1..65535 (e.g. 127.0.0.1:7000)",
      validation: (s) => parseHostPort(s) !== undefined
    })
  )

/** `host:port` -> parts; IPv6 hosts in brackets. */
export const parseHostPort = (s: string): { host: string; port: number } | undefined => {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s)
  if (m === null) return undefined
  const port = Number(m[2])
  return port >= 1 && port <= 65535 ? { host: m[1]!, port } : undefined
}

const positive = (name: string, fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  Config.integer(name).pipe(
    Config.validate({ message: `expected an integer 1..${max}`, validation: (n) => n >= 1 && n <= max }),
    Config.withDefault(fallback)
  )

const bool = (name: string, fallback: boolean) =>
  Config.string(name).pipe(
    Config.mapOrFail((s) => {
      const v = s.trim().toLowerCase()
      if (["true", "1", "yes"].includes(v)) return Either.right(true)
      if (["false", "0", "no", ""].includes(v)) return Either.right(false)
      return Either.left(ConfigError.InvalidData([name], `expected true or false, got "${s}"`))
    }),
    Config.withDefault(fallback)
  )

const grpcPort = Config.integer("PORT_GRPC").pipe(Config.withDefault(50070), Config.orElse(() => Config.succeed(50070)))

export const raftNodeConfig: Config.Config<RaftNodeSettings> = Config.all({
  nodeId: Config.string("RAFT_NODE_ID").pipe(
    Config.validate({
      message: "expected 1-63 letters, digits, '.', '_' or '-' (starting with a letter or digit)",
      validation: (s) => ID_PATTERN.test(s)
    })
  ),
  bindAddr: hostPort("RAFT_BIND_ADDR").pipe(Config.withDefault("127.0.0.1:7000")),
  advertiseAddr: Config.option(hostPort("RAFT_ADVERTISE_ADDR")),
  grpcAdvertiseAddr: Config.option(hostPort("RAFT_GRPC_ADVERTISE_ADDR")),
  grpcPort,
  dataDir: Config.option(Config.nonEmptyString("RAFT_DATA_DIR")),
  bootstrap: bool("RAFT_BOOTSTRAP", false),
  joinAddr: Config.option(hostPort("RAFT_JOIN_ADDR")),
  clusterSecret: Config.option(Config.redacted("RAFT_CLUSTER_SECRET")),
  tickMs: positive("RAFT_TICK_MS", 10, 1000),
  electionTicks: positive("RAFT_ELECTION_TICKS", 30, 10_000),
  heartbeatTicks: positive("RAFT_HEARTBEAT_TICKS", 5, 10_000),
  snapshotEvery: positive("RAFT_SNAPSHOT_EVERY", 4096),
  // 8 MiB: the in-memory log (up to 1.5x this with the spread) is most of a node's RSS above
  // its registry at 10,000 orders/s; a snapshot is written without copying the state (ADR 0036)
  snapshotBytes: positive("RAFT_SNAPSHOT_BYTES", 8 * 1024 * 1024),
  maxAppliedLag: positive("RAFT_MAX_APPLIED_LAG", 10_000),
  // 150,000 orders (~25 MB of arena): a node stays under 150 MB of RSS at 10,000 orders/s
  // (bench:pipeline); that is 15 s of orders at that rate, 2.5 minutes at 1,000/s (ADR 0042, update)
  maxOrders: positive("RAFT_RETENTION_MAX_ORDERS", 150_000),
  maxAgeMs: positive("RAFT_RETENTION_MAX_AGE_MS", 24 * 60 * 60 * 1000),
  transferOnStop: bool("RAFT_TRANSFER_ON_STOP", true)
}).pipe(
  Config.mapOrFail((c) => {
    if (c.heartbeatTicks >= c.electionTicks) {
      return Either.left(
        ConfigError.InvalidData(["RAFT_HEARTBEAT_TICKS"], "expected fewer ticks than RAFT_ELECTION_TICKS")
      )
    }
    if (c.bootstrap && Option.isSome(c.joinAddr)) {
      return Either.left(
        ConfigError.InvalidData(["RAFT_JOIN_ADDR"], "expected to be unset when RAFT_BOOTSTRAP=true (choose one)")
      )
    }
    const advertiseAddr = Option.getOrElse(c.advertiseAddr, () => c.bindAddr)
    // clients reach this node on PORT_GRPC at the host peers already use for it
    const host = parseHostPort(advertiseAddr)!.host
    const advertiseHost = host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host
    return Either.right({
      nodeId: c.nodeId,
      bindAddr: c.bindAddr,
      advertiseAddr,
      grpcAdvertiseAddr: Option.getOrElse(c.grpcAdvertiseAddr, () => `${advertiseHost}:${c.grpcPort}`),
      dataDir: Option.getOrElse(c.dataDir, () => `./.data/raft/${c.nodeId}`),
      bootstrap: c.bootstrap,
      joinAddr: c.joinAddr,
      clusterSecret: c.clusterSecret,
      tickMs: c.tickMs,
      electionTicks: c.electionTicks,
      heartbeatTicks: c.heartbeatTicks,
      snapshotEvery: c.snapshotEvery,
      snapshotBytes: c.snapshotBytes,
      maxAppliedLag: c.maxAppliedLag,
      maxOrders: c.maxOrders,
      maxAgeMs: c.maxAgeMs,
      transferOnStop: c.transferOnStop
    })
  })
)
