// The order-executor's own settings (ports, log level, TLS come from platform's
// ServerConfig). Every variable is validated: a set-but-invalid value stops the process
// naming it; nothing silently falls back to a default.
import { RiskLimits } from "@trading/domain"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import { join } from "node:path"
import { commandsGroup, commandsTopic, eventsTopic, type TopicNames } from "./Topics.js"

export interface ExecutorSettings extends TopicNames {
  /** SQLite file of the outbox. */
  readonly dbPath: string
  readonly limits: RiskLimits.RiskLimits
  /** Names this executor's relay-scan consumer group (one outbox per instance). */
  readonly instance: string
  /** Shortest time between two relay rounds, and longest wait for new rows (ADR 0085). */
  readonly relayInterval: Duration.Duration
  readonly relayBatch: number
  readonly retainPublished: Duration.Duration
  readonly keepPublished: number
  readonly rememberIds: Duration.Duration
  /** /healthz fails when the oldest unpublished outbox row is older than this. */
  readonly maxOutboxLag: Duration.Duration
}

const positiveInt = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "expected a positive integer", validation: (n) => n > 0 }),
    Config.withDefault(fallback)
  )

const millis = (name: string, fallback: number) =>
  positiveInt(name, fallback).pipe(Config.map((ms) => Duration.millis(ms)))

const optionalInt = (name: string) =>
  Config.option(
    Config.integer(name).pipe(
      Config.validate({ message: "expected a positive integer", validation: (n) => n > 0 })
    )
  )

const riskLimits: Config.Config<RiskLimits.RiskLimits> = Config.all({
  maxOrderQuantity: optionalInt("RISK_MAX_ORDER_QUANTITY"),
  maxNotionalMicros: optionalInt("RISK_MAX_NOTIONAL_MICROS"),
  priceBandBps: Config.option(Config.integer("RISK_PRICE_BAND_BPS")),
  allowedSymbols: Config.string("RISK_ALLOWED_SYMBOLS").pipe(
    Config.withDefault(""),
    Config.map((s) => s.split(",").map((x) => x.trim()).filter((x) => x.length > 0))
  )
}).pipe(Config.mapOrFail((c) => {
  const partial: Partial<{ -readonly [K in keyof RiskLimits.RiskLimits]: RiskLimits.RiskLimits[K] }> = {
    allowedSymbols: c.allowedSymbols
  }
  if (c.maxOrderQuantity._tag === "Some") partial.maxOrderQuantity = c.maxOrderQuantity.value
  if (c.maxNotionalMicros._tag === "Some") partial.maxNotionalMicros = c.maxNotionalMicros.value
  if (c.priceBandBps._tag === "Some") partial.priceBandBps = c.priceBandBps.value
  return Either.mapLeft(RiskLimits.makeRiskLimits(partial), (e) => ConfigError.InvalidData(["RISK_LIMITS"], e.message))
}))

const name = (variable: string, fallback: string) =>
  Config.string(variable).pipe(
    Config.validate({
      message: "expected a Kafka name of letters, digits, '.', '_' or '-'",
      validation: (s) => /^[\w.-]{1,200}$/.test(s)
    }),
    Config.withDefault(fallback)
  )

export const executorConfig: Config.Config<ExecutorSettings> = Config.all({
  commandsTopic: name("COMMANDS_TOPIC", commandsTopic),
  eventsTopic: name("EVENTS_TOPIC", eventsTopic),
  group: name("EXECUTOR_GROUP", commandsGroup),
  dataDir: Config.nonEmptyString("DATA_DIR").pipe(Config.withDefault("./.data")),
  dbPath: Config.option(Config.nonEmptyString("EXECUTOR_DB_PATH")),
  limits: riskLimits,
  instance: Config.string("EXECUTOR_INSTANCE").pipe(
    Config.withDefault("default"),
    Config.validate({
      message: "expected 1-64 letters, digits, '.', '_' or '-'",
      validation: (s) => /^[\w.-]{1,64}$/.test(s)
    })
  ),
  relayInterval: millis("OUTBOX_RELAY_INTERVAL_MS", 5),
  relayBatch: positiveInt("OUTBOX_RELAY_BATCH", 1000),
  retainPublished: millis("OUTBOX_RETAIN_PUBLISHED_MS", 60 * 60 * 1000),
  keepPublished: Config.integer("OUTBOX_KEEP_PUBLISHED").pipe(
    Config.validate({ message: "expected an integer >= 0", validation: (n) => n >= 0 }),
    Config.withDefault(10_000)
  ),
  rememberIds: millis("OUTBOX_REMEMBER_IDS_MS", 25 * 60 * 60 * 1000),
  maxOutboxLag: millis("OUTBOX_MAX_LAG_MS", 30_000)
}).pipe(Config.map(({ dataDir, dbPath, ...rest }) => ({
  ...rest,
  dbPath: dbPath._tag === "Some" ? dbPath.value : join(dataDir, "order-executor", "outbox.db")
})))
