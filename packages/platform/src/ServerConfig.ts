// The configuration every service process shares (ports, logging, tracing, TLS, shutdown
// budget). Each service passes its own port defaults from the port plan (ADR 0003); the
// values are read once at start, validated, and handed to the platform layers as a service.
// A present-but-invalid value is an error, never silently replaced by the default.
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { hostname } from "node:os"

/** Per-service defaults (the port plan) and the name that annotates every log line. */
export interface ServiceDefaults {
  readonly name: string
  readonly grpcPort: number
  readonly httpPort: number
  /** Where the node id comes from when `NODE_ID` is unset (raft-node passes `RAFT_NODE_ID`). */
  readonly nodeId?: Config.Config<string> | undefined
}

export type LogFormat = "auto" | "json" | "pretty"
export type TraceMode = "off" | "console" | "otlp"

export interface TlsPaths {
  readonly cert: string
  readonly key: string
  /** CA bundle: servers require client certificates signed by it, clients verify servers with it. */
  readonly ca: Option.Option<string>
}

export interface ServerSettings {
  readonly service: string
  readonly nodeId: string
  readonly host: string
  readonly grpcPort: number
  readonly httpPort: number
  readonly logLevel: LogLevel.LogLevel
  readonly logFormat: LogFormat
  readonly trace: TraceMode
  readonly otlpUrl: string
  readonly tls: Option.Option<TlsPaths>
  readonly clientDeadline: Duration.Duration
  readonly drainTimeout: Duration.Duration
  readonly shutdownTimeout: Duration.Duration
  readonly healthInterval: Duration.Duration
}

const levels = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error
} as const

/** An integer port; 0 asks the OS for any free port (tests). */
export const port = (name: string, fallback: number): Config.Config<number> =>
  Config.integer(name).pipe(
    Config.validate({
      message: "expected an integer port 0..65535 (0 = any free port)",
      validation: (n) => n >= 0 && n <= 65535
    }),
    Config.withDefault(fallback)
  )

/** A positive number of milliseconds, as a Duration. */
export const millis = (name: string, fallback: number): Config.Config<Duration.Duration> =>
  Config.integer(name).pipe(
    Config.validate({ message: "expected a positive integer (milliseconds)", validation: (n) => n > 0 }),
    Config.withDefault(fallback),
    Config.map(Duration.millis)
  )

const tls: Config.Config<Option.Option<TlsPaths>> = Config.all({
  cert: Config.option(Config.nonEmptyString("GRPC_TLS_CERT")),
  key: Config.option(Config.nonEmptyString("GRPC_TLS_KEY")),
  ca: Config.option(Config.nonEmptyString("GRPC_TLS_CA"))
}).pipe(
  Config.mapOrFail(({ ca, cert, key }) => {
    if (Option.isSome(cert) && Option.isSome(key)) {
      return Either.right(Option.some({ cert: cert.value, key: key.value, ca }))
    }
    if (Option.isNone(cert) && Option.isNone(key) && Option.isNone(ca)) return Either.right(Option.none())
    return Either.left(ConfigError.InvalidData(
      [Option.isNone(cert) ? "GRPC_TLS_CERT" : "GRPC_TLS_KEY"],
      "expected GRPC_TLS_CERT and GRPC_TLS_KEY to be set together (GRPC_TLS_CA is optional and needs both)"
    ))
  })
)

/** The shared server configuration with the given service's defaults. */
export const config = (defaults: ServiceDefaults): Config.Config<ServerSettings> =>
  Config.all({
    service: Config.succeed(defaults.name),
    nodeId: Config.nonEmptyString("NODE_ID").pipe(
      Config.orElse(() => defaults.nodeId ?? Config.fail("unset")),
      Config.orElse(() => Config.succeed(hostname()))
    ),
    host: Config.nonEmptyString("BIND_HOST").pipe(Config.withDefault("0.0.0.0")),
    grpcPort: port("PORT_GRPC", defaults.grpcPort),
    httpPort: port("PORT_HTTP", defaults.httpPort),
    logLevel: Config.literal("debug", "info", "warn", "error")("LOG_LEVEL").pipe(
      Config.withDefault("info" as const),
      Config.map((name) => levels[name])
    ),
    logFormat: Config.literal("auto", "json", "pretty")("LOG_FORMAT").pipe(Config.withDefault("auto" as const)),
    trace: Config.literal("off", "console", "otlp")("TRACE").pipe(Config.withDefault("off" as const)),
    otlpUrl: Config.url("TRACE_OTLP_URL").pipe(
      Config.map((url) => url.toString()),
      Config.withDefault("http://127.0.0.1:4318/v1/traces")
    ),
    tls,
    clientDeadline: millis("GRPC_DEADLINE_MS", 5_000),
    drainTimeout: millis("SHUTDOWN_DRAIN_MS", 5_000),
    shutdownTimeout: millis("SHUTDOWN_TIMEOUT_MS", 15_000),
    healthInterval: millis("HEALTH_INTERVAL_MS", 5_000)
  })

/** The validated settings of this process. */
export class ServerConfig extends Context.Tag("@trading/platform/ServerConfig")<ServerConfig, ServerSettings>() {
  /** See {@link config}. */
  static readonly config = (defaults: ServiceDefaults) => config(defaults)
  /** See {@link describeError}. */
  static readonly describeError = (error: ConfigError.ConfigError) => describeError(error)
  static readonly port = (name: string, fallback: number) => port(name, fallback)
  static readonly millis = (name: string, fallback: number) => millis(name, fallback)

  static readonly layer = (defaults: ServiceDefaults): Layer.Layer<ServerConfig, ConfigError.ConfigError> =>
    Layer.effect(ServerConfig, config(defaults))

  /** Fixed settings for tests: loopback, free ports, quiet logs, short timeouts. */
  static readonly testSettings = (overrides: Partial<ServerSettings> = {}): ServerSettings => ({
    service: "test",
    nodeId: "test-node",
    host: "127.0.0.1",
    grpcPort: 0,
    httpPort: 0,
    logLevel: LogLevel.Info,
    logFormat: "json",
    trace: "off",
    otlpUrl: "http://127.0.0.1:4318/v1/traces",
    tls: Option.none(),
    clientDeadline: Duration.seconds(5),
    drainTimeout: Duration.seconds(2),
    shutdownTimeout: Duration.seconds(5),
    healthInterval: Duration.seconds(1),
    ...overrides
  })

  static readonly layerTest = (overrides: Partial<ServerSettings> = {}): Layer.Layer<ServerConfig> =>
    Layer.succeed(ServerConfig, ServerConfig.testSettings(overrides))
}

/**
 * One line per problem, naming the variable and the expected form, e.g.
 * `PORT_GRPC: expected an integer port 0..65535 (0 = any free port)`.
 */
export const describeError = (error: ConfigError.ConfigError): ReadonlyArray<string> =>
  ConfigError.reduceWithContext(error, undefined, {
    andCase: (_, left: ReadonlyArray<string>, right: ReadonlyArray<string>) => [...left, ...right],
    // Or arises from fallbacks: when every branch failed, report them all.
    orCase: (_, left: ReadonlyArray<string>, right: ReadonlyArray<string>) => [...left, ...right],
    invalidDataCase: (_, path, message) => [`${path.join(".")}: ${message}`],
    missingDataCase: (_, path, message) => [`${path.join(".")}: ${message}`],
    sourceUnavailableCase: (_, path, message) => [`${path.join(".")}: ${message}`],
    unsupportedCase: (_, path, message) => [`${path.join(".")}: ${message}`]
  }).filter((line, index, all) => all.indexOf(line) === index)
